#!/usr/bin/env python
"""Caser (d2l, "Sequence-Aware Recommender Systems") on MovieLens 100K with
the book's settings (L 5, d 16, d' 4, k 10, dropout 0.05, BPR, Adam lr
0.04, wd 1e-5, 8 epochs, batches of 4,096, the seq-aware split):

1. training and evaluation, one run per seed: ``rs.run('caser', seed=S)``,
   an evaluation after every epoch (the book's protocol, every unseen item
   ranked); seconds from reading the data to the last evaluation;
2. the book's evaluation call, ``evaluate_ranking(net, test_iter,
   test_seq_iter, candidates, num_users, num_items, devices)`` with each
   user's latest items as ``test_seq_iter``, on the network the first seed
   trained: d2l's function against ours, both over the book's item range
   (they must give the same Hit@50 and AUC); ours also on the same network
   behind a plain ``forward`` without ``score_block`` (as the book's own
   class: every (user, item) pair through the network) and over every
   unseen item.  d2l's runs once over all users (minutes), ours is the
   median of ``--repeats``.

    D2L_RECSYS_DATA=~/ml-100k python bench/bench_caser.py \\
        --json bench/results/caser.json
"""
import argparse
import os
import statistics
import tempfile

import harness
from harness import timed


def book_inputs(rs, data_dir):
    """What the book's Caser section builds before its evaluation:
    ``(test_iter, test_seq, candidates, num_users, num_items)``, through
    this package's loaders (equal to d2l's)."""
    df, num_users, num_items = rs.read_data_ml100k(data_dir)
    train, test = rs.split_data_ml100k(df, num_users, num_items, 'seq-aware')
    users, items, _, candidates = rs.load_data_ml100k(
        train, num_users, num_items, feedback='implicit')
    test_iter = rs.load_data_ml100k(test, num_users, num_items,
                                    feedback='implicit')[3]
    seq = rs.SeqDataset(users, items, 5, num_users, num_items,
                        candidates).test_seq
    return test_iter, seq, candidates, num_users, num_items


def train_seeds(seeds, data_dir, folder):
    """One book-settings run per seed; its measurement and run folder."""
    from d2l_recsys.runs import run
    rows = []
    for seed in seeds:
        out = os.path.join(folder, f'caser-{seed}')
        res, wall, cpu = timed(run, 'caser', seed=seed, data_dir=data_dir,
                               devices='cpu', verbose=False, out=out)
        rows.append(dict(part='run', seed=seed, epochs=len(res['history']),
                         seconds=res['seconds']['total'], wall_seconds=wall,
                         cpu_seconds=cpu, hit_rate=res['hit_rate@50'],
                         auc=res['auc'], ndcg=res['ndcg@50']))
        print(f"seed {seed}: {res['seconds']['total']:.1f} s (wall "
              f"{wall:.1f} s), Hit@50 {res['hit_rate@50']:.4f}, AUC "
              f"{res['auc']:.4f}", flush=True)
    return rows


def summary(rows):
    """Mean and spread of the runs' figures."""
    def spread(key):
        values = [r[key] for r in rows]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return statistics.mean(values), sd
    out = dict(part='seeds', seeds=len(rows))
    for key in ('seconds', 'hit_rate', 'auc'):
        out[key], out[key + '_sd'] = spread(key)
    out['max_seconds'] = max(r['seconds'] for r in rows)
    return out


def evaluations(rs, d2l, net, inputs, repeats):
    """d2l's and our ``evaluate_ranking`` on ``net``, the book's call."""
    import mxnet as mx
    from mxnet import np
    from mxnet.gluon import nn

    class Plain(nn.Block):          # no score_block: the pair grid
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner

        def forward(self, user_id, seq, item_id):
            return self.inner(user_id, seq, item_id)

    test_iter, seq, cands, nu, ni = inputs
    devices = [mx.cpu()]
    print(f'd2l.evaluate_ranking over {nu} users ...', flush=True)
    theirs, t_theirs, c_theirs = timed(
        d2l.evaluate_ranking, net, test_iter, np.array(seq), cands, nu, ni,
        devices)
    theirs = tuple(float(x) for x in theirs)
    runs = [timed(rs.evaluate_ranking, net, test_iter, seq, cands, nu, ni,
                  devices, item_range=nu) for _ in range(repeats)]
    mine = runs[0][0]
    t_mine = statistics.median(r[1] for r in runs)
    c_mine = statistics.median(r[2] for r in runs)
    plain, t_plain, _ = timed(rs.evaluate_ranking, Plain(net), test_iter,
                              seq, cands, nu, ni, devices, item_range=nu)
    fixed = rs.evaluate_ranking(net, test_iter, seq, cands, nu, ni, devices)
    same = all(abs(a - b) <= 1e-6 for a, b in zip(mine, theirs))
    print(f'd2l:  {t_theirs:7.2f} s  Hit@50 {theirs[0]:.4f} AUC '
          f'{theirs[1]:.4f}\nours: {t_mine:7.3f} s  Hit@50 {mine[0]:.4f} AUC '
          f'{mine[1]:.4f} ({"same" if same else "different"}); pair grid '
          f'{t_plain:.2f} s; every unseen item: Hit@50 {fixed[0]:.4f} AUC '
          f'{fixed[1]:.4f}\nspeed-up {t_theirs / t_mine:.0f}x', flush=True)
    return dict(
        part='evaluate', network='trained, seed of the first run',
        users=nu, items=ni, d2l_seconds=t_theirs, d2l_cpu_seconds=c_theirs,
        d2l_hit_rate=theirs[0], d2l_auc=theirs[1], ours_seconds=t_mine,
        ours_cpu_seconds=c_mine, ours_hit_rate=mine[0], ours_auc=mine[1],
        repeats=repeats, same_numbers=same, speedup=t_theirs / t_mine,
        cpu_speedup=c_theirs / c_mine, plain_seconds=t_plain,
        plain_hit_rate=plain[0], plain_auc=plain[1],
        plain_speedup=t_theirs / t_plain, all_items_hit_rate=fixed[0],
        all_items_auc=fixed[1])


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--data-dir', default=os.environ.get(harness.DATA_ENV),
                   help='the ml-100k folder (default: $D2L_RECSYS_DATA)')
    p.add_argument('--seeds', type=int, default=5,
                   help='training runs, seeds 0..N-1')
    p.add_argument('--repeats', type=int, default=5,
                   help="timings of our evaluation (the median is kept)")
    harness.add_option(p)
    args = p.parse_args()
    if not args.data_dir:
        p.error('give --data-dir or set D2L_RECSYS_DATA to the ml-100k '
                'folder')
    import d2l_recsys as rs
    d2l = harness.no_plot()
    with tempfile.TemporaryDirectory() as folder:
        rows = train_seeds(range(args.seeds), args.data_dir, folder)
        net = rs.load_model(os.path.join(folder, 'caser-0'))[0]
        ev = evaluations(rs, d2l, net, book_inputs(rs, args.data_dir),
                         args.repeats)
    seeds = summary(rows)
    print(f"{seeds['seeds']} seeds: {seeds['seconds']:.1f} ± "
          f"{seeds['seconds_sd']:.1f} s a run (at most "
          f"{seeds['max_seconds']:.1f} s), Hit@50 {seeds['hit_rate']:.4f} "
          f"± {seeds['hit_rate_sd']:.4f}, AUC {seeds['auc']:.4f} ± "
          f"{seeds['auc_sd']:.4f}")
    harness.write(args.json, 'bench_caser', rows + [seeds, ev])


if __name__ == '__main__':
    main()
