#!/usr/bin/env python
"""Train DeepFM (Guo et al., 2017) with the book's settings (k=10, MLP
30-20-10 with dropout 0.1, Adam lr 0.01, 30 epochs, batches of 2,048) on
MovieLens 100K's feature fields or the book's CTR files (--ctr-dir).
Writes run.json, metrics.json (AUC, log loss, accuracy@0.5), curves.html
and the model."""
import sys

from d2l_recsys.commands.train import train


def main(argv=None):
    return train('deepfm', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())
