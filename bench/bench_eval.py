#!/usr/bin/env python
"""Evaluation at scale, and dense against row-sparse embedding gradients.

--ml100k       d2l.evaluate_ranking against ours (rs.evaluate_ranking, the
               same signature) on the same network: the book's NeuMF on
               MovieLens 100K, with the book's item range; both must give
               the same Hit@50 and AUC.
--ml20m        full ranking of all 138,493 users against 26,744 items (the
               shape of ML-20M) by a GMF with random weights, the evaluator
               built from 20M synthetic interactions with popularity skew
               (no file is read); time and peak memory.
--sparse-grad  time per training step (forward, backward, Adam) of MF and
               GMF at ML-100K, ML-1M and ML-20M table sizes, batches of 512
               and 65,536 (--batches), with dense and with row-sparse
               embedding gradients (lazy Adam).

    python bench/bench_eval.py --ml100k --data-dir ../shared/data/ml-100k
    python bench/bench_eval.py --ml20m
    python bench/bench_eval.py --sparse-grad

With no part named, runs every part (--ml100k only with a data folder).
"""
import argparse
import os
import resource
import statistics
import sys
import threading
import time

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, init, np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import d2l_recsys as rs  # noqa: E402
import record  # noqa: E402
from d2l_recsys.data import Interactions  # noqa: E402
from d2l_recsys.ranking import RankingEvaluator  # noqa: E402

ML20M = dict(num_users=138_493, num_items=26_744, num_ratings=20_000_263)
TABLES = {'ML-100K': (943, 1_682), 'ML-1M': (6_040, 3_706),
          'ML-20M': (138_493, 26_744)}


def peak_rss_gb():
    """The process's peak resident memory so far (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def rss_gb():
    """The process's resident memory now."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 30


class RssWatch:
    """The highest resident memory seen while the block runs (sampled every
    20 ms by a thread), for the peak of one phase of the process."""

    def __enter__(self):
        self.peak, self._stop = rss_gb(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_gb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_gb())


# --------------------------------------------------------------------------
# (a) ML-100K: ours against d2l's evaluate_ranking
# --------------------------------------------------------------------------
def book_setup(data_dir, epochs):
    """The book's seq-aware split as d2l builds it (test dict, training
    candidates) and its NeuMF (sigmoid output, Normal(0.01) everywhere):
    untrained, or trained ``epochs`` epochs by the book's pipeline."""
    import book
    from book import d2l
    book.point_d2l_at(data_dir)
    if epochs:
        _, net, test, cands = book.book_neumf([mx.cpu()], epochs)
        return d2l, net, test, cands
    df, nu, ni = d2l.read_data_ml100k()
    train_data, test_data = d2l.split_data_ml100k(df, nu, ni, 'seq-aware')
    cands = d2l.load_data_ml100k(train_data, nu, ni, feedback='implicit')[3]
    test = d2l.load_data_ml100k(test_data, nu, ni, feedback='implicit')[3]
    cfg = book.BOOK_NEUMF
    mx.random.seed(0)
    net = rs.NeuMF(cfg['num_factors'], nu, ni, list(cfg['nums_hiddens']),
                   output_activation='sigmoid',
                   dense_init=init.Normal(book.INIT_SIGMA))
    net.initialize(init.Normal(book.INIT_SIGMA))
    return d2l, net, test, cands


def bench_ml100k(data_dir, repeats, epochs):
    d2l, net, test, cands = book_setup(data_dir, epochs)
    devices = [mx.cpu()]
    nu, ni = 943, 1682
    start, cpu = time.perf_counter(), time.process_time()
    theirs = d2l.evaluate_ranking(net, test, None, cands, nu, ni, devices)
    t_theirs = time.perf_counter() - start
    c_theirs = time.process_time() - cpu
    times, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        mine = rs.evaluate_ranking(net, test, None, cands, nu, ni, devices,
                                   item_range=nu)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    t_mine, c_mine = statistics.median(times), statistics.median(cpus)
    same = abs(mine[0] - float(theirs[0])) < 1e-6 and \
        abs(mine[1] - float(theirs[1])) < 1e-6      # d2l's are float32
    state = f'trained {epochs} epochs' if epochs else 'untrained'
    print(f'ML-100K evaluate_ranking, the book\'s NeuMF ({state}), '
          f'book item range:\n'
          f'  d2l:  {t_theirs:7.3f} s ({c_theirs:7.3f} s CPU)  Hit@50 '
          f'{float(theirs[0]):.4f}  AUC {float(theirs[1]):.4f}\n'
          f'  ours: {t_mine:7.3f} s ({c_mine:7.3f} s CPU, all threads)  '
          f'Hit@50 {mine[0]:.4f}  AUC {mine[1]:.4f}  (median of {repeats}; '
          f'fastest {min(times):.3f} s)\n'
          f'  same numbers: {same}; speed-up {t_theirs / t_mine:.0f}x in '
          f'time, {c_theirs / c_mine:.0f}x in CPU time', flush=True)
    return dict(part='ml100k', network=state, d2l_seconds=t_theirs,
                d2l_cpu_seconds=c_theirs, d2l_hit_rate=float(theirs[0]),
                d2l_auc=float(theirs[1]), ours_seconds=t_mine,
                ours_cpu_seconds=c_mine, ours_hit_rate=float(mine[0]),
                ours_auc=float(mine[1]), repeats=repeats,
                same_numbers=bool(same),
                speedup=t_theirs / t_mine, cpu_speedup=c_theirs / c_mine)


# --------------------------------------------------------------------------
# (b) ML-20M shape: full ranking of every user
# --------------------------------------------------------------------------
def synthetic_interactions(num_users, num_items, num_ratings, seed=0):
    """Distinct (user, item) pairs with ML-like skew: item popularity
    ~ 1 / (rank + 10), user activity log-normal, at least 20 per user.
    Returns (users, items) int64, about ``num_ratings`` pairs."""
    rng = onp.random.default_rng(seed)
    item_p = 1 / (onp.arange(num_items) + 10.0)
    item_p = rng.permutation(item_p / item_p.sum())
    activity = rng.lognormal(0, 1.2, num_users)
    n = int(num_ratings * 1.1)
    users = rng.choice(num_users, n, p=activity / activity.sum())
    items = rng.choice(num_items, n, p=item_p)
    floor = onp.repeat(onp.arange(num_users), 20)        # 20 per user
    keys = onp.unique(onp.r_[users * num_items + items,
                             floor * num_items +
                             rng.integers(0, num_items, len(floor))])
    keep = onp.sort(rng.choice(len(keys), min(num_ratings, len(keys)),
                               replace=False))
    keys = keys[keep]
    return keys // num_items, keys % num_items


def leave_one_out(users, items, seed=0):
    """One random interaction per user held out: (train, test) pairs."""
    rng = onp.random.default_rng(seed)
    perm = rng.permutation(len(users))
    _, first = onp.unique(users[perm], return_index=True)
    test = onp.zeros(len(users), dtype=bool)
    test[perm[first]] = True
    return (users[~test], items[~test]), (users[test], items[test])


def bench_ml20m(num_factors, protocols, chunk_users):
    nu, ni = ML20M['num_users'], ML20M['num_items']
    start = time.perf_counter()
    users, items = synthetic_interactions(nu, ni, ML20M['num_ratings'])
    (tu, ti), (su, si) = leave_one_out(users, items)
    del users, items
    print(f'ML-20M shape: {nu:,} users x {ni:,} items, {len(tu):,} training '
          f'and {len(su):,} held-out interactions (synthetic, '
          f'{time.perf_counter() - start:.0f} s to make); RSS now '
          f'{rss_gb():.2f} GB', flush=True)
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
        with RssWatch() as building:
            ev = RankingEvaluator(tu, ti, su, si, nu, ni,
                                  protocol.split('-')[0], top_k=10,
                                  test_negatives=negatives,
                                  chunk_users=chunk_users,
                                  full_ranking=protocol != 'ncf-lean')
        built = time.perf_counter() - start
        before = rss_gb()
        start = time.perf_counter()
        with RssWatch() as watch:
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
              f'it ({peak_rss_gb():.2f} GB for the whole process so far); '
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

    def step():
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
    times = {False: [], True: []}
    for s in range(steps + 3):
        for sparse, step in runs.items():
            begin = time.perf_counter()
            step()
            if s >= 3:                              # warm-up steps
                times[sparse].append(time.perf_counter() - begin)
    return [statistics.median(times[s]) * 1e3 for s in (False, True)]


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
                   'epochs with the book\'s pipeline first (slow)')
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
    record.add_option(p)
    args = p.parse_args()
    rows = []
    every = not (args.ml100k or args.ml20m or args.sparse_grad)
    if args.ml100k or (every and args.data_dir):
        if not args.data_dir:
            p.error('--ml100k needs --data-dir (or $D2L_RECSYS_DATA)')
        rows.append(bench_ml100k(args.data_dir, args.repeats,
                                 args.book_epochs))
    if args.ml20m or every:
        rows += bench_ml20m(args.num_factors, args.protocols.split(','),
                            args.chunk_users)
    if args.sparse_grad or every:
        rows += bench_sparse_grad(args.steps,
                                  [int(b) for b in args.batches.split(',')])
    record.write(args.json, 'bench_eval', rows)


if __name__ == '__main__':
    main()
