#!/usr/bin/env python
"""Train a ranking model on implicit MovieLens feedback and evaluate it.

--protocol ncf (NCF paper): each user's latest interaction is held out and
ranked among --num-test-negatives sampled unseen items; pointwise BCE with
--num-negatives per positive; HR@10 and NDCG@10.  --protocol book (the
book's NeuMF section): the same held-out items ranked against every unseen
item; BPR; Hit@50 and AUC.  Options left out take the protocol's defaults.
Every run also reports full-ranking HR, NDCG and Recall@10."""
import argparse
import sys

from d2l_recsys import cli, registry
from d2l_recsys.defaults import PROTOCOL_DEFAULTS, RANKING
from d2l_recsys.runs import run_ranking


def layer_sizes(text):
    try:
        sizes = [int(p) for p in text.split(',')]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a comma-separated list of layer sizes, '
            'e.g. 10,10,10')
    return sizes


def summary(res):
    k = res['config']['top_k']
    if 'folds' in res:
        return (f"HR@{k} {res[f'hit_rate@{k}']:.4f} ± "
                f"{res[f'hit_rate@{k}_std']:.4f} over {len(res['folds'])} "
                'folds')
    full = res['full_ranking']
    return (f"HR@{k} {res[f'hit_rate@{k}']:.4f}  NDCG@{k} "
            f"{res[f'ndcg@{k}']:.4f}  AUC {res['auc']:.4f}  (full ranking: "
            f"HR@10 {full['hit_rate@10']:.4f}, NDCG@10 {full['ndcg@10']:.4f},"
            f" Recall@10 {full['recall@10']:.4f})")


def by_protocol(key, fmt=str):
    """'default: X (ncf), Y (book)' from the table of defaults."""
    shown = [f'{fmt(PROTOCOL_DEFAULTS[p][key])} ({p})'
             for p in PROTOCOL_DEFAULTS]
    return 'default: ' + ', '.join(shown)


def sizes_text(sizes):
    return ','.join(str(s) for s in sizes)


def main(argv=None):
    p = cli.base_parser(__doc__, helps={
        key: by_protocol(key) for key in ('epochs', 'lr', 'wd', 'batch_size')})
    p.add_argument('--model', choices=registry.names('ranking',
                                                     aliases=True),
                   default=RANKING['model'], help='mf and dmf: dot-product '
                   'MF trained for ranking (Rendle et al. 2020)')
    p.add_argument('--protocol', choices=list(PROTOCOL_DEFAULTS),
                   default=RANKING['protocol'], help='ncf: the NCF paper; '
                   "book: the book's NeuMF section")
    p.add_argument('--loss', choices=['bce', 'bpr', 'hinge'],
                   help=by_protocol('loss'))
    p.add_argument('--num-factors', type=cli.positive_int,
                   help='GMF factors; ' + by_protocol('num_factors'))
    p.add_argument('--mlp-factors', type=cli.positive_int,
                   help='MLP embedding size (None: num-factors); '
                   + by_protocol('mlp_factors'))
    p.add_argument('--nums-hiddens', type=layer_sizes,
                   help='MLP tower; ' + by_protocol('nums_hiddens',
                                                    sizes_text))
    p.add_argument('--num-negatives', type=cli.positive_int,
                   help='training negatives per positive; '
                   + by_protocol('num_negatives'))
    p.add_argument('--num-test-negatives', type=cli.positive_int,
                   default=RANKING['num_test_negatives'],
                   help='sampled candidates per held-out item (ncf)')
    p.add_argument('--top-k', type=cli.positive_int,
                   help=by_protocol('top_k'))
    p.add_argument('--pretrain-gmf', metavar='DIR',
                   help='output folder of a GMF run (with --pretrain-mlp)')
    p.add_argument('--pretrain-mlp', metavar='DIR',
                   help='output folder of an MLP run')
    p.add_argument('--alpha', type=float, default=RANKING['alpha'],
                   help='weight of the GMF part when pretraining')
    p.add_argument('--optimizer', choices=['adam', 'sgd'],
                   help='default: sgd after pretraining, else adam')
    p.add_argument('--book-item-range', action='store_true',
                   help="rank only items 0..num_users-1, the book's bug")
    p.add_argument('--output-activation', choices=['sigmoid'],
                   help="the book's sigmoid on the score")
    p.add_argument('--dense-init', choices=['xavier', 'normal'],
                   default=RANKING['dense_init'],
                   help="normal: the book's Normal(0.01)")
    p.add_argument('--eval-users', type=cli.positive_int, metavar='N',
                   help='evaluate a seeded sample of N users (default: '
                   'all); metrics.json records how many')
    cli.add_sparse_grad(p)
    return cli.main(p, run_ranking, 'ranking', argv, summary)


if __name__ == '__main__':
    sys.exit(main())
