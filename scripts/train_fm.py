#!/usr/bin/env python
"""Train a factorization machine (Rendle, 2010) with the book's settings
(k=20, Adam lr 0.02, 30 epochs, batches of 2,048) on MovieLens 100K's
feature fields (a rating of 4 stars or more is a click; random 90/10) or on
the book's CTR files (--ctr-dir).  The block returns logits
(--book-sigmoid: the book's sigmoid, which its loss then applies twice).
Writes run.json, metrics.json (AUC, log loss, accuracy@0.5), curves.html
and the model."""
import sys

from d2l_recsys.commands.train import train


def main(argv=None):
    return train('fm', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())
