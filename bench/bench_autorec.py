#!/usr/bin/env python
"""AutoRec's two formulations at MovieLens scale: seconds per epoch
(training + evaluation) and peak memory, dense against sparse.

ML-100K is the real data (random 90/10 split, seed 0); ML-1M, ML-10M and
ML-20M are synthetic ratings of their shapes (items x users, number of
ratings) with popularity skew on both sides, built in memory as CSR.  The
model is the book's item-based AutoRec (500 hidden units, dropout 0.05,
Adam, batches of 256 rows).  Every run is a subprocess of its own, so that
its peak memory (ru_maxrss) is its own.

Where a whole dense epoch would take many minutes (ML-10M, ML-20M) the
dense run times ``--dense-steps`` training steps and extrapolates to the
epoch; the table says so.

``--tuned`` runs the children with OpenMP on every core (MXNet's default is
half of them: one thread here) and glibc's transparent huge pages (MXNet
allocates every big temporary afresh, and 4 KB page faults then cost as
much as the arithmetic), the settings ``scripts/train_autorec.py`` uses:
see ``TUNED``.

    python bench/bench_autorec.py --data-dir ../shared/data/ml-100k
    python bench/bench_autorec.py --shapes ml-10m,ml-20m --tuned
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import record  # noqa: E402

# items, users, ratings
SHAPES = {'ml-100k': None, 'ml-1m': (3706, 6040, 1000209),
          'ml-10m': (10677, 69878, 10000054),
          'ml-20m': (26744, 138493, 20000263)}
# shapes where a dense epoch is timed on a few steps and extrapolated
PARTIAL = ('ml-10m', 'ml-20m')
# the process settings of --tuned
TUNED = {'OMP_NUM_THREADS': str(len(os.sched_getaffinity(0))),
         'GLIBC_TUNABLES': 'glibc.malloc.hugetlb=1'}


def synthetic(num_rows, width, nnz, test_ratio=0.1, seed=0):
    """Train/test ``Interactions`` with ``nnz`` ratings 1-5 in all, rows and
    columns drawn with log-normal popularity (a few rows and columns hold
    most ratings, as in MovieLens)."""
    import numpy as onp
    from d2l_recsys.data import Interactions
    rng = onp.random.default_rng(seed)
    p_row, p_col = [w / w.sum() for w in (rng.lognormal(0, 1.5, num_rows),
                                          rng.lognormal(0, 1.2, width))]
    keys = onp.zeros(0, dtype=onp.int64)
    while len(keys) < nnz:                        # distinct (row, col)
        m = int((nnz - len(keys)) * 1.1) + 1000
        new = rng.choice(num_rows, m, p=p_row) * width + \
            rng.choice(width, m, p=p_col)
        keys = onp.unique(onp.concatenate([keys, new]))
    keys = keys[rng.permutation(len(keys))[:nnz]]
    values = rng.integers(1, 6, nnz).astype(onp.float32)
    test = rng.random(nnz) < test_ratio
    return [Interactions.from_pairs(keys[m] // width, keys[m] % width,
                                    values[m], num_rows, width)
            for m in (~test, test)]


def iterators(shape, formulation, data_dir):
    """``(width, train_iter, test_iter)`` as a run would build them."""
    from d2l_recsys.data import rating_split
    from d2l_recsys.data.rows import RowIter, autorec_iters
    if SHAPES[shape] is None:
        train, test, num_users, num_items = rating_split(data_dir, seed=0)
        return autorec_iters(train, test, num_users, num_items, seed=0,
                             formulation=formulation)
    train, test = synthetic(*SHAPES[shape])
    return (train.shape[1],
            RowIter(train, batch_size=256, shuffle=True,
                    last_batch='rollover', seed=0,
                    csr=formulation == 'sparse'),
            RowIter(train, test, batch_size=1024, csr=True))


def child(shape, formulation, data_dir, epochs, dense_steps):
    """One configuration; prints a JSON line."""
    import mxnet as mx
    import numpy as onp
    from mxnet import autograd, gluon, init
    import d2l_recsys as rs
    from d2l_recsys.losses import ObservedL2Loss
    start = time.perf_counter()
    width, train_iter, test_iter = iterators(shape, formulation, data_dir)
    data_seconds = time.perf_counter() - start
    mx.random.seed(0)
    net = rs.AutoRec(500, width, dropout=0.05)
    net.initialize(init.Normal(0.01))
    loss = ObservedL2Loss() if formulation == 'sparse' else \
        rs.MaskedL2Loss()
    net.hybridize()
    loss.hybridize()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.002, 'wd': 1e-5})
    partial = formulation == 'dense' and shape in PARTIAL
    steps, train_times, eval_times, rmse = len(train_iter), [], [], None
    for _ in range(epochs):
        start, sums, done = time.perf_counter(), [], 0
        for x in train_iter:
            with autograd.record():
                l = loss(net(x), x)
            l.backward()
            trainer.step(x.shape[0])
            sums.append(l.sum())
            done += 1
            if partial and done == dense_steps + 1:
                break
            if partial and done == 1:     # the first step warms up
                mx.nd.waitall()
                start = time.perf_counter()
        train_loss = sum(float(s) for s in sums)
        seconds = time.perf_counter() - start
        train_times.append(seconds / dense_steps * steps if partial
                           else seconds)
        start = time.perf_counter()
        rmse = rs.evaluate_autorec(net, test_iter, [mx.cpu()])
        eval_times.append(time.perf_counter() - start)
    print(json.dumps(dict(
        shape=shape, formulation=formulation, partial=partial,
        steps=steps, data_s=data_seconds,
        train_s=float(onp.median(train_times)),
        eval_s=float(onp.median(eval_times)),
        train_loss=train_loss, rmse=rmse,
        peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    what = p.add_argument_group('what runs')
    what.add_argument('--shapes', default=','.join(SHAPES))
    what.add_argument('--formulations', default='dense,sparse')
    what.add_argument('--data-dir', default=os.environ.get('D2L_RECSYS_DATA'),
                      help='the real ML-100K (for the ml-100k row)')
    how = p.add_argument_group('how it runs')
    how.add_argument('--epochs', type=int, default=0, help='epochs per run '
                     '(default: 5 for ML-100K, else 1; the median is '
                     'reported)')
    how.add_argument('--dense-steps', type=int, default=5,
                     help='steps timed for a partial dense epoch')
    how.add_argument('--tuned', action='store_true',
                     help='all cores for OpenMP, huge pages (TUNED)')
    p.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    record.add_option(p)
    args = p.parse_args()
    if args.child:
        epochs = args.epochs or (5 if args.child[0] == 'ml-100k' else 1)
        return child(*args.child, args.data_dir, epochs, args.dense_steps)
    print(f"{'shape':8s} {'formulation':11s} {'epoch s':>8s} "
          f"{'train s':>8s} {'eval s':>7s} {'peak MB':>8s}  note")
    results = []
    for shape in args.shapes.split(','):
        for formulation in args.formulations.split(','):
            cmd = [sys.executable, os.path.abspath(__file__), '--child',
                   shape, formulation, '--epochs', str(args.epochs),
                   '--dense-steps', str(args.dense_steps)]
            if args.data_dir:
                cmd += ['--data-dir', args.data_dir]
            env = dict(os.environ, **(TUNED if args.tuned else {}))
            out = subprocess.run(cmd, capture_output=True, text=True,
                                 env=env)
            if out.returncode:
                print(f'{shape:8s} {formulation:11s} failed: '
                      f'{out.stderr.strip()[-300:]}')
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            note = (f"dense: {args.dense_steps} of {r['steps']} steps "
                    'timed, extrapolated' if r['partial'] else
                    f"rmse {r['rmse']:.4f}")
            print(f"{shape:8s} {formulation:11s} "
                  f"{r['train_s'] + r['eval_s']:8.2f} {r['train_s']:8.2f} "
                  f"{r['eval_s']:7.2f} {r['peak_mb']:8.0f}  {note}",
                  flush=True)
    by = {(r['shape'], r['formulation']): r for r in results}
    for shape in args.shapes.split(','):
        if (shape, 'dense') in by and (shape, 'sparse') in by:
            ratio = by[shape, 'dense']['train_s'] / \
                by[shape, 'sparse']['train_s']
            print(f'{shape}: a sparse training epoch is {ratio:.2f}x as '
                  'fast as a dense one')
    record.write(args.json, 'bench_autorec', results)


if __name__ == '__main__':
    main()
