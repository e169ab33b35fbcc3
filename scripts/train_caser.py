#!/usr/bin/env python
"""Train Caser on MovieLens (or your own timestamped interactions) with the
book's settings (L=5, d=16, d'=4, k=10, dropout 0.05, BPR with Adam at lr
0.04, 8 epochs, batches of 4,096) and its seq-aware split, scored under
the book's protocol (Hit@50 and AUC over every item the user has not
rated; --book-item-range gives the book's ranking of the first
num_users items only) and by full-ranking HR / NDCG / Recall@10.  Writes
run.json, metrics.json, curves.html and the model."""
import sys

from d2l_recsys.commands.train import train


def main(argv=None):
    return train('caser', __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())
