#!/usr/bin/env python
"""Ranking, side by side with the book's code on MovieLens 100K:

1. evaluation: d2l.evaluate_ranking against ours on the same network
   (with the book's item range, ours must give the same Hit@50 and AUC);
2. the whole book-protocol NeuMF run, 10 epochs with evaluation after each:
   the book's pipeline against scripts/train_neumf.py --protocol book.

    python bench/bench_ranking.py --data-dir ../shared/data/ml-100k
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import book  # noqa: E402
import record  # noqa: E402
from book import d2l  # noqa: E402

import d2l_recsys as rs  # noqa: E402
from d2l_recsys.runs import run_ranking  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--data-dir', default=os.environ.get('D2L_RECSYS_DATA'))
    p.add_argument('--book-epochs', type=int,
                   default=book.BOOK_NEUMF['epochs'],
                   help='epochs of the book run (0 skips it)')
    record.add_option(p)
    args = p.parse_args()
    book.point_d2l_at(args.data_dir)
    devices = rs.parse_devices('cpu')

    ours = run_ranking(model='neumf', protocol='book', data_dir=args.data_dir,
                       devices='cpu', verbose=False)
    print(f"ours, whole book-protocol run: {ours['seconds']['total']:.1f} s, "
          f"Hit@50 {ours['hit_rate@50']:.4f}, AUC {ours['auc']:.4f}",
          flush=True)
    run = dict(part='whole-run', ours_seconds=ours['seconds']['total'],
               ours_hit_rate=ours['hit_rate@50'], ours_auc=ours['auc'])
    if args.book_epochs:
        secs, net, test, cands = book.book_neumf(devices, args.book_epochs)
        print(f'book, whole run ({args.book_epochs} epochs): {secs:.1f} s; '
              f'ratio {secs / ours["seconds"]["total"]:.0f}x', flush=True)
        run.update(book_epochs=args.book_epochs, book_seconds=secs,
                   speedup=secs / ours['seconds']['total'])
    else:
        _, net, test, cands = book.book_neumf(devices, 0)

    nu, ni = 943, 1682
    start = time.perf_counter()
    theirs = d2l.evaluate_ranking(net, test, None, cands, nu, ni, devices)
    t_theirs = time.perf_counter() - start
    start = time.perf_counter()
    mine = rs.evaluate_ranking(net, test, None, cands, nu, ni, devices,
                               item_range=nu)
    t_mine = time.perf_counter() - start
    fixed = rs.evaluate_ranking(net, test, None, cands, nu, ni, devices)
    print(f'evaluate_ranking, d2l:  {t_theirs:6.2f} s  Hit@50 '
          f'{float(theirs[0]):.4f} AUC {float(theirs[1]):.4f}')
    print(f'evaluate_ranking, ours: {t_mine:6.2f} s  Hit@50 {mine[0]:.4f} '
          f'AUC {mine[1]:.4f} (book item range); fixed range: Hit@50 '
          f'{fixed[0]:.4f} AUC {fixed[1]:.4f}')
    print(f'evaluation speed-up: {t_theirs / t_mine:.0f}x')
    record.write(args.json, 'bench_ranking', [run, dict(
        part='evaluate', d2l_seconds=t_theirs, d2l_hit_rate=float(theirs[0]),
        d2l_auc=float(theirs[1]), ours_seconds=t_mine,
        ours_hit_rate=float(mine[0]), ours_auc=float(mine[1]),
        all_items_hit_rate=float(fixed[0]), all_items_auc=float(fixed[1]),
        speedup=t_theirs / t_mine)])


if __name__ == '__main__':
    main()
