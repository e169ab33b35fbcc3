"""Scoring, evaluation protocols and top-k recommendation for ranking
models.  Every ranking model maps ``(user_ids, item_ids)`` to scores, so all
of this works for GMF, MLP, NeuMF and ItemPop alike.

One evaluation scores the whole users x items matrix once (in batches over
all devices) and reads every metric off it: the protocol's own (NCF: the
held-out item among sampled negatives; book: full ranking with Hit@k and
AUC) and the full-ranking HR/NDCG/Recall@10 reported for every run.
"""
import numpy as onp
from mxnet import np

from . import metrics
from .data import (interaction_mask, rating_arrays, rating_split,
                   sample_test_negatives)
from .devices import split_shards


def score_matrix(net, num_users, num_items, devices, users=None,
                 batch_size=1 << 16):
    """``scores[u, i]`` for the given users (default all) and all items, as a
    float32 numpy array."""
    users = onp.arange(num_users) if users is None else onp.asarray(users)
    per_chunk = max(1, batch_size // num_items)
    out = onp.empty((len(users), num_items), dtype=onp.float32)
    for start in range(0, len(users), per_chunk):
        chunk = users[start:start + per_chunk]
        u = np.array(onp.repeat(chunk, num_items), dtype='int32')
        i = np.array(onp.tile(onp.arange(num_items), len(chunk)),
                     dtype='int32')
        parts = [net(*shard).asnumpy()
                 for shard in split_shards((u, i), devices)]
        out[start:start + len(chunk)] = onp.concatenate(parts).reshape(
            len(chunk), num_items)
    return out


class RankingEvaluator:
    """Scores a ranking model under one protocol; call it as
    ``evaluator(net, devices)`` to get a dict of metrics.

    ``protocol='ncf'``: each held-out ``(user, item)`` is ranked among the
    user's ``test_negatives`` (users x m, items never interacted with):
    ``hit_rate@k``, ``ndcg@k``, ``auc``.

    ``protocol='book'``: full ranking of every item the user has not seen in
    training: ``hit_rate@k``, ``ndcg@k`` and the book's ``auc``.  Setting
    ``item_range=num_users`` reproduces the book's bug (only items
    ``0..num_users-1`` are candidates), to show its effect.

    Both also give ``full_ranking``: HR@10, NDCG@10 and Recall@10 over all
    items unseen in training.
    """

    def __init__(self, train_users, train_items, test_users, test_items,
                 num_users, num_items, protocol='ncf', top_k=10,
                 test_negatives=None, item_range=None, ties='pessimistic'):
        if protocol not in ('ncf', 'book'):
            raise ValueError(f"protocol must be 'ncf' or 'book', got "
                             f'{protocol!r}')
        if protocol == 'ncf' and test_negatives is None:
            raise ValueError("protocol 'ncf' needs test_negatives")
        self.num_users, self.num_items = num_users, num_items
        self.protocol, self.top_k, self.ties = protocol, top_k, ties
        self.test_users = onp.asarray(test_users)
        self.test_items = onp.asarray(test_items)
        self.test_negatives = test_negatives
        self.relevant = interaction_mask(test_users, test_items, num_users,
                                         num_items)
        self.unseen = ~interaction_mask(train_users, train_items, num_users,
                                        num_items)
        self.candidates = self.unseen.copy()
        if item_range is not None:
            self.candidates[:, item_range:] = False

    def from_scores(self, scores):
        k, res = self.top_k, {}
        if self.protocol == 'ncf':
            pos = scores[self.test_users, self.test_items]
            neg = onp.take_along_axis(
                scores[self.test_users], self.test_negatives[self.test_users],
                axis=1)
            ranks = metrics.rank_among(pos, neg)
            res[f'hit_rate@{k}'] = metrics.hit_rate(ranks, k)
            res[f'ndcg@{k}'] = metrics.ndcg(ranks, k)
            res['auc'] = metrics.auc_from_ranks(ranks, neg.shape[1])
        else:
            book = metrics.full_ranking_metrics(scores, self.relevant,
                                                self.candidates, k,
                                                self.ties)
            res[f'hit_rate@{k}'] = book['hit_rate']
            res[f'ndcg@{k}'] = book['ndcg']
            res['auc'] = book['auc']
        full = metrics.full_ranking_metrics(scores, self.relevant,
                                            self.unseen, 10)
        res['full_ranking'] = {'hit_rate@10': full['hit_rate'],
                               'ndcg@10': full['ndcg'],
                               'recall@10': full['recall']}
        return res

    def __call__(self, net, devices):
        return self.from_scores(score_matrix(net, self.num_users,
                                             self.num_items, devices))


def evaluate_ranking(net, test_input, seq, candidates, num_users, num_items,
                     devices, k=50, item_range=None):
    """d2l's signature and return value ``(hit_rate, auc)``: ``test_input``
    maps each user to its held-out items, ``candidates`` to its training
    items.  Ranks every item not in training (``item_range=num_users``
    restricts candidates to ``0..num_users-1`` as the book's code does).
    Equal scores are ordered by item index as in d2l's stable sort, so the
    result equals d2l's on the same network.  Sequence inputs (``seq``) are
    not supported."""
    if seq is not None:
        raise NotImplementedError('sequence-aware models are not supported')
    pairs = [(u, i) for u, items in test_input.items() for i in items]
    train = [(u, i) for u, items in candidates.items() for i in items]
    tu, ti = (onp.array(x, dtype=onp.int64).reshape(-1) for x in zip(*pairs))
    ru, ri = (onp.array(x, dtype=onp.int64).reshape(-1) for x in zip(*train))
    ev = RankingEvaluator(ru, ri, tu, ti, num_users, num_items, 'book', k,
                          item_range=item_range, ties='index')
    res = ev(net, devices)
    return res[f'hit_rate@{k}'], res['auc']


def recommend(net, user, k, exclude, num_items, devices):
    """Top ``k`` items for one user (0-based index), skipping the item
    indices in ``exclude``.  Returns (items, scores) in rank order."""
    scores = score_matrix(net, None, num_items, devices,
                          users=[user])[0].astype(onp.float64)
    scores[onp.asarray(list(exclude), dtype=onp.int64)] = -onp.inf
    k = min(k, int(onp.isfinite(scores).sum()))
    top = onp.argsort(-scores, kind='stable')[:k]
    return top, scores[top]


def ranking_protocol(data_dir=None, train_file=None, test_file=None,
                     protocol='ncf', num_test_negatives=99, top_k=10,
                     book_item_range=False, seed=0, ties='pessimistic'):
    """Build an evaluation protocol for ranking models.

    Both protocols hold out each user's latest interaction (the book's
    seq-aware split), unless a train/test file pair is given.  Under
    ``'ncf'`` the ``num_test_negatives`` candidates of each user are drawn
    once, from items the user never interacted with (training or test),
    with a generator seeded by ``seed``.

    Args:
        data_dir: MovieLens folder (see ``resolve_ratings_file``).
        train_file, test_file: a given pair instead of the split.
        protocol: ``'ncf'`` or ``'book'`` (see ``RankingEvaluator``).
        num_test_negatives: sampled candidates per held-out item (ncf).
        top_k: cut-off of the protocol's HR and NDCG.
        book_item_range: rank only items ``0..num_users-1`` (the book's bug).
        seed: seed of the test negatives.
        ties: ``'pessimistic'`` or ``'index'`` (see
            ``metrics.full_ranking_metrics``).

    Returns:
        A dict with ``train_users`` and ``train_items`` (0-based arrays of
        the training interactions), ``num_users``, ``num_items``,
        ``num_test`` (held-out interactions) and ``evaluator`` (a
        ``RankingEvaluator``).
    """
    if train_file or test_file:
        train, test, num_users, num_items = rating_split(
            train_file=train_file, test_file=test_file)
    else:
        train, test, num_users, num_items = rating_split(
            data_dir, split='seq-aware')
    tu, ti, _ = rating_arrays(train)
    su, si, _ = rating_arrays(test)
    negatives = None
    if protocol == 'ncf':
        seen = interaction_mask(onp.r_[tu, su], onp.r_[ti, si], num_users,
                                num_items)
        negatives = sample_test_negatives(
            seen, num_test_negatives, onp.random.default_rng(seed or 0))
    evaluator = RankingEvaluator(
        tu, ti, su, si, num_users, num_items, protocol, top_k, negatives,
        item_range=num_users if book_item_range else None, ties=ties)
    return dict(train_users=tu, train_items=ti, num_users=num_users,
                num_items=num_items, num_test=len(su), evaluator=evaluator)
