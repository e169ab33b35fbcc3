#!/usr/bin/env python
"""Read + validate + renumber one MovieLens release: time and peak memory.

Each measurement runs in a fresh Python process and reports its peak
resident set size (``getrusage``'s ``ru_maxrss``: pandas parses in C, where
``tracemalloc`` does not look), before the step (interpreter, numpy,
pandas, MXNet) and after it.  The target for an ML-20M-sized ratings.csv
is 30 s and 3 GB.

    python scripts/make_synthetic.py --like ml-20m --out runs/synthetic/ml-20m
    python bench/bench_read.py --data-dir runs/synthetic/ml-20m
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

TARGET_SECONDS, TARGET_GB = 30, 3


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux


def child(data_dir, dataset):
    """One measurement, in this process; prints a JSON line."""
    from d2l_recsys.data import formats
    before = _peak_mb()
    start = time.perf_counter()
    path = formats.resolve_ratings_file(data_dir, dataset)
    raw = formats.read_ratings(path, dataset=dataset)
    read = time.perf_counter() - start
    (data,), num_users, num_items = formats.densify([raw])
    total = time.perf_counter() - start
    print(json.dumps(dict(file=path, rows=len(data), users=num_users,
                          items=num_items, read_s=read,
                          densify_s=total - read, total_s=total,
                          peak_before_mb=before, peak_mb=_peak_mb())))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--data-dir', required=True,
                   help='a release folder, its parent or its zip')
    p.add_argument('--dataset', help='the release, e.g. ml-20m (default: '
                   'whichever is found)')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.data_dir, args.dataset)
    cmd = [sys.executable, os.path.abspath(__file__), '--child',
           '--data-dir', args.data_dir]
    if args.dataset:
        cmd += ['--dataset', args.dataset]
    runs = []
    for _ in range(args.repeats):
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr.strip().splitlines()[-1])
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r['total_s'])
    peak = max(r['peak_mb'] for r in runs)
    print(f"{best['file']}: {best['rows']:,} ratings, {best['users']:,} "
          f"users, {best['items']:,} items")
    every = ', '.join(f"{r['total_s']:.1f}" for r in runs)
    print(f"read + validate {best['read_s']:6.1f} s, renumber "
          f"{best['densify_s']:5.1f} s, total {best['total_s']:6.1f} s "
          f'(best of {len(runs)}; all: {every})')
    print(f"peak RSS {peak / 1024:5.2f} GB (of which "
          f"{best['peak_before_mb'] / 1024:.2f} GB before the step: "
          'interpreter and libraries)')
    ok = best['total_s'] <= TARGET_SECONDS and peak / 1024 <= TARGET_GB
    print(f'target <= {TARGET_SECONDS} s and <= {TARGET_GB} GB: '
          f"{'met' if ok else 'MISSED'}")


if __name__ == '__main__':
    main()
