#!/usr/bin/env python
"""Train a ranking model on implicit feedback (MovieLens, or your own
interactions) and evaluate it.

--protocol ncf (NCF paper): each user's latest interaction is held out and
ranked among --num-test-negatives sampled unseen items; pointwise BCE with
--num-negatives per positive; HR@10 and NDCG@10.  --protocol book (the
book's NeuMF section): the same held-out items ranked against every unseen
item; BPR; Hit@50 and AUC.  Options left out take the protocol's defaults.
Every run also reports full-ranking HR, NDCG and Recall@10."""
import sys

from d2l_recsys.commands.train import train


def main(argv=None):
    return train(None, __doc__, argv)


if __name__ == '__main__':
    sys.exit(main())
