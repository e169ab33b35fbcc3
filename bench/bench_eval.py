#!/usr/bin/env python
"""Evaluation at scale, and dense against row-sparse embedding gradients.

--ml100k       d2l.evaluate_ranking against ours (rs.evaluate_ranking, the
               same signature) on the same network: the book's NeuMF on
               MovieLens 100K, with the book's item range; both must give
               the same Hit@50 and AUC; ours also over every unseen item.
               The network is untrained, or trained --book-epochs epochs
               by the book's pipeline first: then the whole book-protocol
               run is timed too, the book's pipeline against
               scripts/train_neumf.py --protocol book (rs's run_ranking).
--ml20m        full ranking of all 138,493 users against 26,744 items (the
               shape of ML-20M) by a GMF with random weights, the evaluator
               built from 20M synthetic interactions with popularity skew
               (no file is read); time and peak memory.
--sparse-grad  time per training step (forward, backward, Adam) of MF and
               GMF at ML-100K, ML-1M and ML-20M table sizes, batches of 512
               and 65,536 (--batches), with dense and with row-sparse
               embedding gradients (lazy Adam).

    python bench/bench_eval.py --ml100k --data-dir ../shared/data/ml-100k
    python bench/bench_eval.py --ml100k --book-epochs 10 \\
        --json bench/results/ranking.json
    python bench/bench_eval.py --ml20m
    python bench/bench_eval.py --sparse-grad

With no part named, runs every part (--ml100k only with a data folder).
"""
import argparse
import os
import statistics
import time

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, init, np

import harness
import d2l_recsys as rs
from d2l_recsys.data import Interactions
from d2l_recsys.data.synthetic import SHAPES
from d2l_recsys.defaults import INIT_SIGMA, PROTOCOL_DEFAULTS
from d2l_recsys.ranking import RankingEvaluator

BOOK_NEUMF = PROTOCOL_DEFAULTS['book']
TABLES = {name.upper(): (SHAPES[name]['num_users'],
                         SHAPES[name]['num_items'])
          for name in ('ml-100k', 'ml-1m', 'ml-20m')}


# --------------------------------------------------------------------------
# (a) ML-100K: ours against d2l's evaluate_ranking
# --------------------------------------------------------------------------
def book_network(d2l, devices, epochs):
    """The book's seq-aware split as d2l builds it (test dict, training
    candidates) and its NeuMF (sigmoid output, Normal(0.01) everywhere),
    untrained or trained ``epochs`` epochs by the book's pipeline
    (``rs.PRDataset``, BPR, Adam, ``d2l.train_ranking`` with
    ``d2l.evaluate_ranking`` after every epoch).  Returns ``(seconds from
    reading the data to the end of training, net, test, candidates)``."""
    cfg = BOOK_NEUMF
    start = time.perf_counter()
    df, nu, ni = d2l.read_data_ml100k()
    train_data, test_data = d2l.split_data_ml100k(df, nu, ni, 'seq-aware')
    users, items, _, cands = d2l.load_data_ml100k(train_data, nu, ni,
                                                  feedback='implicit')
    test = d2l.load_data_ml100k(test_data, nu, ni, feedback='implicit')[3]
    mx.random.seed(0)
    net = rs.NeuMF(cfg['num_factors'], nu, ni, list(cfg['nums_hiddens']),
                   output_activation='sigmoid',
                   dense_init=init.Normal(INIT_SIGMA))
    net.initialize(init.Normal(INIT_SIGMA), ctx=devices)
    if epochs:
        train_iter = gluon.data.DataLoader(
            rs.PRDataset(users, items, cands, ni), cfg['batch_size'], True,
            last_batch='rollover', num_workers=d2l.get_dataloader_workers())
        trainer = gluon.Trainer(net.collect_params(), 'adam', {
            'learning_rate': cfg['lr'], 'wd': cfg['wd']})
        d2l.train_ranking(net, train_iter, test, d2l.BPRLoss(), trainer,
                          None, nu, ni, epochs, devices, d2l.evaluate_ranking,
                          cands)
    return time.perf_counter() - start, net, test, cands


def whole_run(data_dir, book_seconds, epochs):
    """The whole-run row: the book's pipeline against ours."""
    from d2l_recsys.runs import run_ranking
    ours = run_ranking(model='neumf', protocol='book', data_dir=data_dir,
                       devices='cpu', verbose=False)
    total = ours['seconds']['total']
    print(f'whole book-protocol run: the book\'s {epochs} epochs '
          f'{book_seconds:.1f} s, ours {total:.1f} s (Hit@50 '
          f"{ours['hit_rate@50']:.4f}, AUC {ours['auc']:.4f}): "
          f'{book_seconds / total:.0f}x', flush=True)
    return dict(part='whole-run', ours_seconds=total,
                ours_hit_rate=ours['hit_rate@50'], ours_auc=ours['auc'],
                book_epochs=epochs, book_seconds=book_seconds,
                speedup=book_seconds / total)


def bench_ml100k(data_dir, repeats, epochs):
    d2l = harness.point_d2l_at(data_dir)
    devices = [mx.cpu()]
    book_seconds, net, test, cands = book_network(d2l, devices, epochs)
    rows = [whole_run(data_dir, book_seconds, epochs)] if epochs else []
    args = (net, test, None, cands, 943, 1682, devices)
    theirs, t_theirs, c_theirs = harness.timed(d2l.evaluate_ranking, *args)
    theirs = [float(x) for x in theirs]                 # d2l's: float32
    runs = [harness.timed(rs.evaluate_ranking, *args, item_range=943)
            for _ in range(repeats)]
    mine = runs[0][0]
    t_mine = statistics.median(r[1] for r in runs)
    c_mine = statistics.median(r[2] for r in runs)
    every = rs.evaluate_ranking(*args)
    same = all(abs(a - b) < 1e-6 for a, b in zip(mine, theirs))
    state = f'trained {epochs} epochs' if epochs else 'untrained'
    print(f'ML-100K evaluate_ranking, the book\'s NeuMF ({state}), '
          f'book item range:\n'
          f'  d2l:  {t_theirs:7.3f} s ({c_theirs:7.3f} s CPU)  Hit@50 '
          f'{theirs[0]:.4f}  AUC {theirs[1]:.4f}\n'
          f'  ours: {t_mine:7.3f} s ({c_mine:7.3f} s CPU, all threads)  '
          f'Hit@50 {mine[0]:.4f}  AUC {mine[1]:.4f}  (median of {repeats}; '
          f'fastest {min(r[1] for r in runs):.3f} s); every unseen item: '
          f'Hit@50 {every[0]:.4f}  AUC {every[1]:.4f}\n'
          f'  same numbers: {same}; speed-up {t_theirs / t_mine:.0f}x in '
          f'time, {c_theirs / c_mine:.0f}x in CPU time', flush=True)
    return rows + [dict(
        part='ml100k', network=state, d2l_seconds=t_theirs,
        d2l_cpu_seconds=c_theirs, d2l_hit_rate=theirs[0],
        d2l_auc=theirs[1], ours_seconds=t_mine, ours_cpu_seconds=c_mine,
        ours_hit_rate=float(mine[0]), ours_auc=float(mine[1]),
        repeats=repeats, same_numbers=bool(same),
        speedup=t_theirs / t_mine, cpu_speedup=c_theirs / c_mine,
        all_items_hit_rate=float(every[0]), all_items_auc=float(every[1]))]


# --------------------------------------------------------------------------
# (b) ML-20M shape: full ranking of every user
# --------------------------------------------------------------------------
def leave_one_out(users, items, seed=0):
    """One random interaction per user held out: (train, test) pairs."""
    rng = onp.random.default_rng(seed)
    perm = rng.permutation(len(users))
    _, first = onp.unique(users[perm], return_index=True)
    test = onp.zeros(len(users), dtype=bool)
    test[perm[first]] = True
    return (users[~test], items[~test]), (users[test], items[test])


def bench_ml20m(num_factors, protocols, chunk_users):
    shape = SHAPES['ml-20m']
    nu, ni = shape['num_users'], shape['num_items']
    start = time.perf_counter()
    users, items = harness.skewed_pairs(nu, ni, shape['num_ratings'])
    (tu, ti), (su, si) = leave_one_out(users, items)
    del users, items
    print(f'ML-20M shape: {nu:,} users x {ni:,} items, {len(tu):,} training '
          f'and {len(su):,} held-out interactions (synthetic, '
          f'{time.perf_counter() - start:.0f} s to make); RSS now '
          f'{harness.rss_gib():.2f} GB', flush=True)
    mx.random.seed(0)
    net = rs.GMF(num_factors, nu, ni)
    net.initialize(init.Normal(0.1))
    devices = [mx.cpu()]
    rows = []
    for protocol in protocols:
        negatives = None
        if protocol.startswith('ncf'):
            start = time.perf_counter()
            seen = Interactions.from_pairs(onp.r_[tu, su], onp.r_[ti, si],
                                           None, nu, ni)
            negatives = rs.sample_test_negatives(
                seen, 99, onp.random.default_rng(0))
            del seen
            print(f'  99 test negatives per user (same draws as the old '
                  f'per-user loop): {time.perf_counter() - start:.1f} s',
                  flush=True)
        start = time.perf_counter()
        with harness.RssWatch() as building:
            ev = RankingEvaluator(tu, ti, su, si, nu, ni,
                                  protocol.split('-')[0], top_k=10,
                                  test_negatives=negatives,
                                  chunk_users=chunk_users,
                                  full_ranking=protocol != 'ncf-lean')
        built = time.perf_counter() - start
        before = harness.rss_gib()
        start = time.perf_counter()
        with harness.RssWatch() as watch:
            res = ev(net, devices)
        secs = time.perf_counter() - start
        shown = {k: round(v, 4) for k, v in res.items()
                 if isinstance(v, float)}
        if 'full_ranking' in res:
            shown['full HR@10'] = round(res['full_ranking']['hit_rate@10'], 4)
        print(f'  {protocol:8s} GMF({num_factors}): evaluation '
              f'{secs:6.1f} s for {res["eval_users"]:,} users (evaluator '
              f'built in {built:.1f} s, peak {building.peak:.2f} GB; '
              f'{ev.chunk_users} users per chunk); '
              f'RSS {before:.2f} GB before, peak {watch.peak:.2f} GB during '
              f'it ({harness.peak_gib():.2f} GB for the whole process so '
              'far); '
              f'{shown}', flush=True)
        rows.append(dict(part='ml20m', protocol=protocol, users=nu,
                         items=ni, eval_users=res['eval_users'],
                         build_seconds=built, seconds=secs,
                         peak_gb=watch.peak))
    return rows


# --------------------------------------------------------------------------
# (c) dense against row-sparse embedding gradients
# --------------------------------------------------------------------------
def training_step(model, num_users, num_items, batch_size, sparse_grad):
    """A function running one training step (forward, backward, Adam) of a
    hybridized MF (the book's: 30 factors, wd 1e-5) or GMF (the NCF
    code's: 8 factors) on random batches, and waiting for it."""
    mx.random.seed(0)
    if model == 'MF':
        net = rs.MF(30, num_users, num_items, sparse_grad=sparse_grad)
        loss, wd = gluon.loss.L2Loss(), 1e-5
    else:
        net = rs.GMF(8, num_users, num_items, sparse_grad=sparse_grad)
        loss, wd = gluon.loss.SigmoidBCELoss(), 0.0
    net.initialize(init.Normal(0.01))
    net.hybridize()
    loss.hybridize()
    opts = {'learning_rate': 1e-3, 'wd': wd}
    if sparse_grad:
        opts['lazy_update'] = True
    trainer = gluon.Trainer(net.collect_params(), 'adam', opts)
    rng = onp.random.default_rng(0)
    batches = [(np.array(rng.integers(0, num_users, batch_size),
                         dtype='int32'),
                np.array(rng.integers(0, num_items, batch_size),
                         dtype='int32'),
                np.array(rng.integers(0, 2, batch_size), dtype='float32'))
               for _ in range(4)]
    count = [0]

    def step(_):
        u, i, y = batches[count[0] % 4]
        count[0] += 1
        with autograd.record():
            l = loss(net(u, i), y)
        l.backward()
        trainer.step(batch_size)
        mx.nd.waitall()
    return step


def dense_sparse_ms(model, num_users, num_items, batch_size, steps):
    """Median ms per step with dense and with row-sparse gradients, their
    steps interleaved so that both see the same machine load."""
    runs = {sparse: training_step(model, num_users, num_items, batch_size,
                                  sparse) for sparse in (False, True)}
    ms = harness.interleaved(runs, steps + 3, warmup=3)
    return [ms[False], ms[True]]


def bench_sparse_grad(steps, batches):
    print('ms per training step (median of interleaved steps), hybridized, '
          'Adam; sparse = row-sparse embedding gradients, lazy_update',
          flush=True)
    print(f'{"model":5s} {"table":8s} {"params":>10s} {"batch":>6s} '
          f'{"dense":>8s} {"sparse":>8s}  faster', flush=True)
    rows = []
    for model in ('MF', 'GMF'):
        k = 31 if model == 'MF' else 8          # MF: factors and a bias
        for name, (nu, ni) in TABLES.items():
            for batch in batches:
                dense, sparse = dense_sparse_ms(model, nu, ni, batch, steps)
                print(f'{model:5s} {name:8s} {(nu + ni) * k:10,d} '
                      f'{batch:6d} {dense:8.2f} {sparse:8.2f}  '
                      f'{"sparse" if sparse < dense else "dense"} '
                      f'({max(dense, sparse) / min(dense, sparse):.1f}x)',
                      flush=True)
                rows.append(dict(part='sparse-grad', model=model,
                                 table=name, params=(nu + ni) * k,
                                 batch=batch, dense_ms=dense,
                                 sparse_ms=sparse, speedup=dense / sparse))
    return rows


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--ml100k', action='store_true')
    p.add_argument('--ml20m', action='store_true')
    p.add_argument('--sparse-grad', action='store_true')
    p.add_argument('--data-dir', default=os.environ.get('D2L_RECSYS_DATA'),
                   help='MovieLens 100K folder, for --ml100k')
    p.add_argument('--repeats', type=int, default=5,
                   help='timed runs of our evaluate_ranking (median)')
    p.add_argument('--book-epochs', type=int, default=0,
                   help='for --ml100k: train the book\'s NeuMF this many '
                   'epochs with the book\'s pipeline first, and time the '
                   'whole run against ours (slow; the book\'s is 10)')
    p.add_argument('--num-factors', type=int, default=8,
                   help='GMF width for --ml20m (the NCF default)')
    p.add_argument('--protocols', default='book',
                   help='for --ml20m, comma-separated: book, ncf (with '
                   'full ranking), ncf-lean (candidates only)')
    p.add_argument('--chunk-users', type=int, default=None)
    p.add_argument('--steps', type=int, default=20,
                   help='timed steps per --sparse-grad setting')
    p.add_argument('--batches', default='512,65536',
                   help='batch sizes for --sparse-grad, comma-separated')
    harness.add_option(p)
    args = p.parse_args()
    rows = []
    every = not (args.ml100k or args.ml20m or args.sparse_grad)
    if args.ml100k or (every and args.data_dir):
        if not args.data_dir:
            p.error('--ml100k needs --data-dir (or $D2L_RECSYS_DATA)')
        rows += bench_ml100k(args.data_dir, args.repeats,
                             args.book_epochs)
    if args.ml20m or every:
        rows += bench_ml20m(args.num_factors, args.protocols.split(','),
                            args.chunk_users)
    if args.sparse_grad or every:
        rows += bench_sparse_grad(args.steps,
                                  [int(b) for b in args.batches.split(',')])
    harness.write(args.json, 'bench_eval', rows)


if __name__ == '__main__':
    main()
