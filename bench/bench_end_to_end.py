#!/usr/bin/env python
"""AutoRec and MF end to end (data + training + per-epoch evaluation) with
the book's settings: the book's pipeline (d2l's loaders and
train_recsys_rating) against ours, side by side in one process on the same
devices.  Imports are outside both timings.

    python bench/bench_end_to_end.py --data-dir ../shared/data/ml-100k
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import book  # noqa: E402
import record  # noqa: E402

import d2l_recsys as rs  # noqa: E402
from d2l_recsys.runs import run_autorec, run_mf  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--data-dir', default=os.environ.get('D2L_RECSYS_DATA'))
    p.add_argument('--devices', default='cpu')
    p.add_argument('--models', default='autorec,mf')
    record.add_option(p)
    args = p.parse_args()
    book.point_d2l_at(args.data_dir)
    devices = rs.parse_devices(args.devices)
    rows = []
    for name in args.models.split(','):
        ours_fn, book_fn = {'autorec': (run_autorec, book.book_autorec),
                            'mf': (run_mf, book.book_mf)}[name]
        ours = ours_fn(data_dir=args.data_dir, devices=args.devices,
                       verbose=False)
        b_data, b_train, b_rmse = book_fn(devices)
        s = ours['seconds']
        rows.append((name, b_data, b_train, b_rmse, s['data'], s['train'],
                     ours['test_rmse']))
    print(f"\n{'model':8s} {'book data':>9s} {'book train':>10s} "
          f"{'book RMSE':>9s} | {'ours data':>9s} {'ours train':>10s} "
          f"{'ours RMSE':>9s} | speed-up")
    for name, bd, bt, br, od, ot, orm in rows:
        print(f'{name:8s} {bd:9.2f} {bt:10.2f} {br:9.4f} | {od:9.2f} '
              f'{ot:10.2f} {orm:9.4f} | {(bd + bt) / (od + ot):6.1f}x')
    print('(book RMSE: the book\'s own evaluator; for MF that is its running '
          'per-batch average, not the exact RMSE)')
    record.write(args.json, 'bench_end_to_end', [dict(
        model=name, book_data_seconds=bd, book_train_seconds=bt,
        book_rmse=br, ours_data_seconds=od, ours_train_seconds=ot,
        ours_rmse=orm, speedup=(bd + bt) / (od + ot))
        for name, bd, bt, br, od, ot, orm in rows])


if __name__ == '__main__':
    main()
