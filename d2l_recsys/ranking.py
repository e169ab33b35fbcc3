"""Scoring and evaluation protocols for ranking models (recommendations,
in the data's original ids, are ``serving.Predictor``'s).  Every ranking
model maps ``(user_ids, item_ids)`` to scores, so all of this works for
GMF, MLP, NeuMF and ItemPop alike.

An evaluation scores users in chunks (about ``CHUNK_BYTES`` of scores at a
time, over all devices) and keeps only per-user results, reduced at the
end: memory stays bounded however many users there are, and no users x
items matrix (of scores or of masks) is ever built.  Each chunk is scored
with the model's ``score_block`` (one matrix product for GMF, a split first
tower layer for MLP and NeuMF), else with ``net(u, i)`` on the pair grid;
the full rankings (the book protocol's Hit@k and AUC, and the
HR/NDCG/Recall@10 reported for every run) are read off the chunk.  The NCF
protocol's ranks come from ``net(u, i)`` on each held-out item and its
sampled negatives only.

Block scores equal ``net(u, i)`` up to float rounding (~1e-7), the same size
as ``net(u, i)``'s own differences between batch sizes (so between one and
two devices); an exact near-tie can rank the other way.  ``scoring='grid'``
scores every pair with ``net(u, i)`` in the batches earlier versions used,
which gives their numbers bit for bit, more slowly.
"""
import numpy as onp
from mxnet import np

from . import metrics
from .data import rating_arrays
from .data.spec import DataSpec, materialize
from .data.interactions import Interactions
from .data.iterators import sample_test_negatives
from .devices import split_shards

CHUNK_BYTES = 64 << 20
"""Scores (float32) held per evaluation chunk: 64 MB, i.e. 9,975 users at
ML-100K's 1,682 items (one chunk), 627 at ML-20M's 26,744."""


def score_matrix(net, num_users, num_items, devices, users=None,
                 batch_size=1 << 16):
    """``scores[u, i]`` for the given users (default all) and all items, as a
    float32 numpy array, from ``net(u, i)`` on the pair grid (the reference
    any model can be scored with; ``score_users`` is the fast path)."""
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


def has_block_scores(net):
    """Whether ``block_scores`` can score ``net`` without the pair grid."""
    return hasattr(net, 'score_block')


def block_scores(net, users, items):
    """Scores of every ``users`` x ``items`` pair as one MXNet array
    (len(users), len(items)), on the device of ``users``.

    Uses the model's ``score_block`` (every model of ``models`` has one).
    Other models: see ``score_users``.

    Args:
        net: a model with ``score_block``.
        users, items: 1-D integer MXNet arrays on one device.

    Returns:
        The (len(users), len(items)) scores.
    """
    if hasattr(net, 'score_block'):
        return net.score_block(users, items)
    raise ValueError(f'{type(net).__name__} has no score_block')


def _issue(net, users, num_items, devices):
    """Start scoring ``users`` x all items: MXNet runs asynchronously, so
    the work proceeds while the caller does something else; ``_fetch``
    waits for it.  Models without block scores use the pair grid (at
    once)."""
    if not has_block_scores(net):
        return score_matrix(net, None, num_items, devices, users=users)
    u = np.array(users, dtype='int32')
    return [block_scores(net, shard[0],
                         np.arange(num_items, dtype='int32',
                                   ctx=shard[0].ctx))
            for shard in split_shards((u,), devices)]


def _fetch(issued):
    if isinstance(issued, onp.ndarray):
        return issued
    return onp.concatenate([part.asnumpy() for part in issued])


def score_users(net, users, num_items, devices):
    """Scores of the given users against all items, split over the devices.

    Args:
        net: a ranking model.
        users: 0-based user ids.
        num_items: number of items.
        devices: contexts holding the parameters.

    Returns:
        A float32 numpy array (len(users), num_items), from the model's
        ``score_block`` when it has one (see ``block_scores``), else from
        ``net(u, i)`` on the pair grid.
    """
    return _fetch(_issue(net, onp.asarray(users), num_items, devices))


def score_pairs(net, users, items, devices, batch_size=1 << 16):
    """``net(users[p], items[p])`` for every pair, in batches split over
    the devices.  Returns a float32 numpy array (len(users),)."""
    users = onp.asarray(users, dtype=onp.int32)
    items = onp.asarray(items, dtype=onp.int32)
    out = []
    for start in range(0, len(users), batch_size):
        batch = (np.array(users[start:start + batch_size], dtype='int32'),
                 np.array(items[start:start + batch_size], dtype='int32'))
        out += [net(*shard).asnumpy()
                for shard in split_shards(batch, devices)]
    return onp.concatenate(out) if out else onp.zeros(0, onp.float32)


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
    items unseen in training; and ``eval_users``, the number of users
    evaluated.

    Users are scored ``chunk_users`` at a time and only per-user results
    are kept, so memory is bounded by the chunk and by the interactions
    (kept as ``Interactions``); the results equal those of one chunk
    exactly.

    Args:
        train_users, train_items: 0-based training interactions.
        test_users, test_items: 0-based held-out interactions.
        num_users, num_items: sizes of the id spaces.
        protocol: ``'ncf'`` or ``'book'``.
        top_k: cut-off of the protocol's HR and NDCG.
        test_negatives: (num_users, m) item ids, for ``'ncf'``.
        item_range: book only: rank items ``0..item_range-1`` only.
        ties: ``'pessimistic'`` or ``'index'`` (book protocol; see
            ``metrics.full_ranking_metrics``).
        eval_users: evaluate a sample of this many users (those with a
            held-out item, drawn without replacement by a generator seeded
            with ``seed``; the same users at every call), e.g. to follow
            training on data where one full evaluation takes minutes.
            None (default): every user with a held-out item.
        seed: seed of the ``eval_users`` sample.
        chunk_users: users per chunk (default: ``CHUNK_BYTES`` of float32
            scores).
        full_ranking: also compute ``full_ranking``.  With ``False`` the
            NCF protocol scores only each held-out item and its negatives
            (1 + m items per user instead of all of them).
        scoring: ``'block'`` (fast: ``block_scores`` where the model has
            them, see ``score_users``) or ``'grid'`` (``net(u, i)`` on the
            pair grid, batched as ``score_matrix`` and as earlier versions:
            their numbers bit for bit).

    Raises:
        ValueError: an unknown protocol, tie rule or scoring, ``'ncf'``
            without ``test_negatives``, or a non-positive ``eval_users``.
    """

    def __init__(self, train_users, train_items, test_users, test_items,
                 num_users, num_items, protocol='ncf', top_k=10,
                 test_negatives=None, item_range=None, ties='pessimistic',
                 eval_users=None, seed=0, chunk_users=None,
                 full_ranking=True, scoring='block'):
        if protocol not in ('ncf', 'book'):
            raise ValueError(f"protocol must be 'ncf' or 'book', got "
                             f'{protocol!r}')
        if protocol == 'ncf' and test_negatives is None:
            raise ValueError("protocol 'ncf' needs test_negatives")
        if ties not in ('pessimistic', 'index'):
            raise ValueError(f"ties must be 'pessimistic' or 'index', got "
                             f'{ties!r}')
        if scoring not in ('block', 'grid'):
            raise ValueError(f"scoring must be 'block' or 'grid', got "
                             f'{scoring!r}')
        if eval_users is not None and eval_users < 1:
            raise ValueError(f'eval_users must be positive, got {eval_users}')
        self.num_users, self.num_items = num_users, num_items
        self.protocol, self.top_k, self.ties = protocol, top_k, ties
        self.item_range, self.full_ranking = item_range, full_ranking
        self.scoring = scoring
        self.test_users = onp.asarray(test_users, dtype=onp.int64)
        self.test_items = onp.asarray(test_items, dtype=onp.int64)
        self.test_negatives = None if test_negatives is None else \
            onp.asarray(test_negatives)
        self.train = Interactions.from_pairs(train_users, train_items, None,
                                             num_users, num_items)
        self.test = Interactions.from_pairs(self.test_users, self.test_items,
                                            None, num_users, num_items)
        # the users evaluated, ascending
        self.users = onp.flatnonzero(self.test.row_counts() > 0)
        if eval_users is not None and eval_users < len(self.users):
            rng = onp.random.default_rng(seed)
            self.users = onp.sort(rng.choice(self.users, eval_users,
                                             replace=False))
        self.chunk_users = chunk_users or max(1, CHUNK_BYTES //
                                              (4 * num_items))
        if scoring == 'grid':   # whole batches of score_matrix per chunk
            per_batch = max(1, (1 << 16) // num_items)
            self.chunk_users = max(per_batch, self.chunk_users //
                                   per_batch * per_batch)
        # held-out pairs of those users: their positions in the test arrays
        # (the order the NCF metrics are reduced in) and, sorted by user,
        # for finding a chunk's pairs
        self._pairs = onp.flatnonzero(onp.isin(self.test_users, self.users))
        self._by_user = self._pairs[onp.argsort(
            self.test_users[self._pairs], kind='stable')]

    def _chunks(self):
        for start in range(0, len(self.users), self.chunk_users):
            yield self.users[start:start + self.chunk_users]

    def from_scores(self, scores):
        """The metrics of a full (num_users, num_items) score matrix (for
        small data and tests; ``__call__`` never builds one)."""
        scores = onp.asarray(scores)
        return self._evaluate((users, scores[users])
                              for users in self._chunks())

    def __call__(self, net, devices):
        """Score ``net`` on ``devices`` and return the metrics dict."""
        ranks = None
        if self.protocol == 'ncf' and (self.scoring == 'block' or
                                       not self.full_ranking):
            ranks = self._ncf_ranks_by_pairs(net, devices)
            if not self.full_ranking:
                return self._reduce(ranks, [], [])
        return self._evaluate(self._scored_chunks(net, devices), ranks)

    def _scored_chunks(self, net, devices):
        """``(users, scores)`` per chunk; the next chunk is being scored
        (asynchronously, by MXNet) while the caller works on this one."""
        pending = None
        for users in self._chunks():
            if self.scoring == 'grid':
                issued = score_matrix(net, None, self.num_items, devices,
                                      users=users)
            else:
                issued = _issue(net, users, self.num_items, devices)
            if pending is not None:
                yield pending[0], _fetch(pending[1])
            pending = users, issued
        if pending is not None:
            yield pending[0], _fetch(pending[1])

    def _chunk_pairs(self, users):
        """Positions (in the test arrays) of the held-out pairs of a chunk's
        users (a run of ``self.users``)."""
        pair_users = self.test_users[self._by_user]
        lo = onp.searchsorted(pair_users, users[0], side='left')
        hi = onp.searchsorted(pair_users, users[-1], side='right')
        return self._by_user[lo:hi]

    def _evaluate(self, chunks, ranks=None):
        """Metrics from ``(users, scores)`` chunks; NCF ranks are read off
        the chunks unless given (per position in the test arrays)."""
        from_chunks = ranks is None
        if from_chunks:
            ranks = onp.zeros(len(self.test_users), dtype=onp.int64)
        book, full = [], []
        for users, scores in chunks:               # scores: (n, items)
            relevant = self.test.mask(users)        # (n, items) booleans
            unseen = ~self.train.mask(users)
            if self.protocol == 'ncf' and from_chunks:
                p = self._chunk_pairs(users)
                rows = onp.searchsorted(users, self.test_users[p])
                pos = scores[rows, self.test_items[p]]             # (P,)
                neg = scores[rows[:, None],
                             self.test_negatives[self.test_users[p]]]  # (P, m)
                ranks[p] = metrics.rank_among(pos, neg)
            places = None
            if self.full_ranking:
                places = metrics.relevant_places(scores, relevant, unseen)
                full.append(metrics.terms_at(places, 10))
            if self.protocol == 'book':
                # the full ranking's places serve when only k differs
                if places is None or self.item_range is not None or \
                        self.ties != 'pessimistic':
                    candidates = unseen
                    if self.item_range is not None:
                        candidates = unseen.copy()
                        candidates[:, self.item_range:] = False
                    places = metrics.relevant_places(scores, relevant,
                                                     candidates, self.ties)
                book.append(metrics.terms_at(places, self.top_k))
        return self._reduce(ranks, book, full)

    def _ncf_ranks_by_pairs(self, net, devices):
        """NCF ranks from ``net(u, i)`` on each held-out item and its
        negatives only, per position in the test arrays."""
        ranks = onp.zeros(len(self.test_users), dtype=onp.int64)
        m = self.test_negatives.shape[1]
        step = max(1, CHUNK_BYTES // (4 * (m + 1)))
        for start in range(0, len(self._pairs), step):
            p = self._pairs[start:start + step]
            items = onp.concatenate(
                [self.test_items[p, None],
                 self.test_negatives[self.test_users[p]]], axis=1)  # (P, 1+m)
            scores = score_pairs(net, onp.repeat(self.test_users[p], m + 1),
                                 items.ravel(), devices).reshape(len(p), -1)
            ranks[p] = metrics.rank_among(scores[:, 0], scores[:, 1:])
        return ranks

    def _reduce(self, ranks, book, full):
        k, res = self.top_k, {}
        if self.protocol == 'ncf':
            ranks = ranks[self._pairs]            # the test arrays' order
            res[f'hit_rate@{k}'] = metrics.hit_rate(ranks, k)
            res[f'ndcg@{k}'] = metrics.ndcg(ranks, k)
            res['auc'] = metrics.auc_from_ranks(ranks,
                                                self.test_negatives.shape[1])
        else:
            book = _means(book)
            res[f'hit_rate@{k}'] = book['hit_rate']
            res[f'ndcg@{k}'] = book['ndcg']
            res['auc'] = book['auc']
        if self.full_ranking:
            full = _means(full)
            res['full_ranking'] = {'hit_rate@10': full['hit_rate'],
                                   'ndcg@10': full['ndcg'],
                                   'recall@10': full['recall']}
        res['eval_users'] = len(self.users)
        return res


def _means(parts):
    """Means over all users of per-user terms collected chunk by chunk
    (``metrics.full_ranking_per_user``), as ``full_ranking_metrics`` takes
    them over one chunk."""
    names = ('hit_rate', 'ndcg', 'recall', 'auc')
    if not parts:                             # no user has a held-out item
        return dict.fromkeys(names, float('nan'))
    return {name: float(onp.concatenate([p[name] for p in parts]).mean())
            for name in names}


def evaluate_ranking(net, test_input, seq, candidates, num_users, num_items,
                     devices, k=50, item_range=None):
    """d2l's signature and return value ``(hit_rate, auc)``: ``test_input``
    maps each user to its held-out items, ``candidates`` to its training
    items.  Ranks every item not in training (``item_range=num_users``
    restricts candidates to ``0..num_users-1`` as the book's code does).
    Equal scores are ordered by item index as in d2l's stable sort, so the
    result equals d2l's on the same network.  With ``seq`` (the Caser
    section's ``test_seq``, (num_users, L) item ids) ``net(user, seq,
    item)`` scores each user with its row (``seq_evaluation``)."""
    if seq is not None:
        from .seq_evaluation import with_sequences
        net = with_sequences(net, seq, num_users)
    tu, ti = _flatten(test_input)
    ru, ri = _flatten(candidates)
    ev = RankingEvaluator(ru, ri, tu, ti, num_users, num_items, 'book', k,
                          item_range=item_range, ties='index',
                          full_ranking=False)
    res = ev(net, devices)
    return res[f'hit_rate@{k}'], res['auc']


def _flatten(user_items):
    """A dict user -> items as (users, items) int64 arrays."""
    lists = [onp.asarray(v, dtype=onp.int64).reshape(-1)
             for v in user_items.values()]
    users = onp.repeat(onp.fromiter(user_items.keys(), dtype=onp.int64,
                                    count=len(lists)),
                       [len(v) for v in lists])
    items = onp.concatenate(lists) if lists else onp.zeros(0, onp.int64)
    return users, items


def ranking_protocol(data_dir=None, train_file=None, test_file=None,
                     protocol='ncf', num_test_negatives=99, top_k=10,
                     book_item_range=False, seed=0, ties='pessimistic',
                     eval_users=None, dataset=None):
    """Build an evaluation protocol for ranking models from a data folder
    or file pair (``protocol_evaluator`` on the materialized split).

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
        eval_users: evaluate a seeded sample of this many users (seed
            ``seed``; see ``RankingEvaluator``), default all.
        dataset: the release in ``data_dir`` (see ``data.spec``).

    Returns:
        A dict with ``train_users`` and ``train_items`` (0-based arrays of
        the training interactions), ``num_users``, ``num_items``,
        ``num_test`` (held-out interactions) and ``evaluator`` (a
        ``RankingEvaluator``).
    """
    data = materialize(DataSpec(data_dir=data_dir, dataset=dataset,
                                train_file=train_file, test_file=test_file,
                                split='seq-aware'))
    evaluator = protocol_evaluator(data, protocol, num_test_negatives, top_k,
                                   book_item_range, seed, ties, eval_users)
    tu, ti, _ = rating_arrays(data.train)
    return dict(train_users=tu, train_items=ti, num_users=data.num_users,
                num_items=data.num_items, num_test=len(data.test),
                evaluator=evaluator)


def protocol_evaluator(data, protocol='ncf', num_test_negatives=99, top_k=10,
                       book_item_range=False, seed=0, ties='pessimistic',
                       eval_users=None, validation=False):
    """A ranking protocol's evaluator on materialized data
    (``data.spec.materialize``).

    The test evaluator ranks each held-out item against the items unseen in
    training (``'book'``), or against ``num_test_negatives`` items the user
    never interacted with at all, drawn once with a generator seeded by
    ``seed`` (``'ncf'``).  ``validation=True`` gives the validation
    evaluator instead: the fit part is the training data, the validation
    ratings are held out, and the NCF candidates avoid every known
    interaction (fit, validation and test), drawn from a stream of their
    own.

    Args:
        data: a ``RunData``.
        protocol, top_k, ties, eval_users: see ``RankingEvaluator``.
        num_test_negatives: sampled candidates per held-out item (ncf).
        book_item_range: rank only items ``0..num_users-1`` (the book's bug).
        seed: seed of the candidates and of the ``eval_users`` sample.
        validation: score the validation ratings.

    Returns:
        A ``RankingEvaluator``.
    """
    if validation:
        train, test = data.train, data.valid
        # every interaction the run knows of (no test part: fit + valid)
        known = [p for p in (data.train, data.valid, data.test)
                 if p is not None]
        rng, sample = onp.random.default_rng([seed, 3]), {}
    else:
        train, test = data.train_all, data.test
        known = [data.train_all, data.test]
        rng = onp.random.default_rng(seed or 0)
        sample = dict(eval_users=eval_users, seed=seed or 0, ties=ties)
    tu, ti, _ = rating_arrays(train)
    su, si, _ = rating_arrays(test)
    negatives = None
    if protocol == 'ncf':
        pairs = [rating_arrays(part)[:2] for part in known]
        seen = Interactions.from_pairs(
            onp.concatenate([p[0] for p in pairs]),
            onp.concatenate([p[1] for p in pairs]), None,
            data.num_users, data.num_items)
        free = data.num_items - seen.row_counts()
        if free.min() < num_test_negatives:
            user = int(onp.argmin(free))
            raise ValueError(
                f'num_test_negatives={num_test_negatives}: user '
                f'{data.user_ids[user]} has only {free[user]} items without '
                f'interactions to draw them from; give --num-test-negatives '
                f'{free[user]} or fewer')
        negatives = sample_test_negatives(seen, num_test_negatives, rng)
    return RankingEvaluator(
        tu, ti, su, si, data.num_users, data.num_items, protocol, top_k,
        negatives, item_range=data.num_users if book_item_range else None,
        **sample)
