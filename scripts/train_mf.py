#!/usr/bin/env python
"""Train matrix factorization on MovieLens with the book's settings (every
default below is the book's, Adam) and its split:
seq-aware, because the book's MF loads data with split_and_load_ml100k, whose
default split is seq-aware.  Writes metrics.json, curves.html and the model."""
import sys

from d2l_recsys import cli
from d2l_recsys.defaults import MF
from d2l_recsys.runs import run_mf


def parser():
    """The script's options, defaults from d2l_recsys.defaults."""
    p = cli.rating_parser(__doc__, MF)
    p.add_argument('--num-factors', type=cli.positive_int,
                   default=MF['num_factors'], help='latent factors per user '
                   'and item')
    cli.add_sparse_grad(p)
    return p


def main(argv=None):
    return cli.main(parser(), run_mf, 'mf', argv)


if __name__ == '__main__':
    sys.exit(main())
