#!/usr/bin/env python
"""Train AutoRec on MovieLens (or your own ratings) with the book's settings
(item-based, random 90/10 split, Adam; every default below is the book's)
and write run.json, metrics.json, curves.html and the model."""
import os
import sys

# MXNet gives OpenMP half of the cores unless told otherwise.  AutoRec's
# large matrix products use them all well, with the same numbers, while
# MF's and NeuMF's small operators get slower with more threads, so only
# this script sets it; it must happen before MXNet is imported.  Set
# OMP_NUM_THREADS to override.  (The figures: docs/benchmarks.md, "Figures
# measured once, without a result file".)
os.environ.setdefault('OMP_NUM_THREADS', str(
    len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
    else os.cpu_count() or 1))

# Transparent huge pages for MXNet's large arrays.  A sparse AutoRec step at
# ML-20M's shape allocates several fresh 277 MB arrays (the transposed
# encoder weight, gradients, the decoder weight kept for backward), and
# faulting them in 4 KB pages can cost as much as the products filling
# them; glibc's hugetlb tunable gives them huge pages (the figure:
# docs/benchmarks.md, "Figures measured once, without a result file").
# glibc reads GLIBC_TUNABLES only when a process starts, so the script
# starts itself again, once, with it set; glibc before 2.35 ignores it.
# Set GLIBC_TUNABLES (even empty) to keep your own.
if __name__ == '__main__' and sys.platform.startswith('linux') and \
        'GLIBC_TUNABLES' not in os.environ:
    os.environ['GLIBC_TUNABLES'] = 'glibc.malloc.hugetlb=1'
    os.execv(sys.executable, [sys.executable] + sys.orig_argv[1:])

from d2l_recsys.commands.train import train  # noqa: E402


def main(argv=None):
    return train('autorec', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())
