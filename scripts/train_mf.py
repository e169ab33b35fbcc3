#!/usr/bin/env python
"""Train matrix factorization on MovieLens (or your own ratings) with the
book's settings (every default below is the book's, Adam) and its split:
seq-aware, because the book's MF loads data with split_and_load_ml100k, whose
default split is seq-aware.  Writes run.json, metrics.json, curves.html and
the model."""
import sys

from d2l_recsys.commands.train import train


def main(argv=None):
    return train('mf', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())
