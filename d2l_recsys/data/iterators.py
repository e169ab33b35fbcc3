"""Ratings DataFrames -> arrays and mini-batch iterators (explicit ratings,
implicit feedback with negative sampling; AutoRec's rows are in
``rows``).

Who interacted with what is an ``interactions.Interactions`` (CSR users x
items): the negative samplers draw the items outside it."""
import numpy as onp
import pandas as pd
from mxnet import gluon, np

from .formats import read_data_ml100k
from .interactions import Interactions, rating_arrays
from .splits import split_data_ml100k


def interaction_matrix(data, num_users, num_items, transpose=False):
    """Dense float32 rating matrix, items x users (users x items with
    ``transpose=True``); unobserved entries are 0."""
    users, items, scores = rating_arrays(data)
    mat = onp.zeros((num_items, num_users), dtype=onp.float32)
    mat[items, users] = scores
    return mat.T.copy() if transpose else mat


def load_data_ml100k(data, num_users, num_items, feedback='explicit'):
    """``(users, items, scores, inter)`` as d2l: 0-based indices and scores
    (numpy arrays where d2l returns lists); ``inter`` is the items x users
    rating matrix (an MXNet array, as d2l's) for explicit feedback, or a dict
    user -> list of items (in data order) for implicit feedback.  Scores are
    integers as d2l's, unless the release has half stars (ML-10M on): then
    they stay float32 rather than lose the halves."""
    if feedback not in ('explicit', 'implicit'):
        raise ValueError(f"feedback must be 'explicit' or 'implicit', got "
                         f'{feedback!r}')
    users, items, scores = rating_arrays(data)
    if feedback == 'explicit':
        whole = onp.array_equal(scores, onp.round(scores))
        scores = scores.astype(onp.int64 if whole else onp.float32)
        inter = np.array(interaction_matrix(data, num_users, num_items))
        return users, items, scores, inter
    order = onp.argsort(users, kind='stable')      # keeps data order
    uniq, starts = onp.unique(users[order], return_index=True)
    chunks = dict(zip(uniq.tolist(), onp.split(items[order], starts[1:])))
    inter = {u: chunks[u].tolist() for u in pd.unique(users).tolist()}
    return users, items, onp.ones(len(users), dtype=onp.int64), inter


class BatchOrder:
    """Which examples form each mini-batch of an epoch: the shuffle and the
    ``last_batch`` rule shared by ``ArrayIter`` and ``data.rows.RowIter``.

    ``last_batch`` is ``'keep'`` (a short last batch), ``'discard'`` or
    ``'rollover'`` (left-over examples start the next epoch, as the book's
    training loaders).  Iterating yields one epoch's batches as index
    arrays; ``epoch()`` gives the whole epoch's order at once.
    """

    def __init__(self, num_examples, batch_size, shuffle=False,
                 last_batch='keep', seed=None):
        if batch_size < 1:
            raise ValueError(f'batch_size must be positive, got {batch_size}')
        if last_batch not in ('keep', 'discard', 'rollover'):
            raise ValueError(f'unknown last_batch {last_batch!r}')
        self.num_examples, self.batch_size = num_examples, batch_size
        self.shuffle, self.last_batch = shuffle, last_batch
        self._rng = onp.random.default_rng(seed)
        self._carry = onp.zeros(0, dtype=onp.int64)

    def __len__(self):
        n = self.num_examples + len(self._carry)
        if self.last_batch == 'keep':
            return -(-n // self.batch_size)
        return n // self.batch_size

    def epoch(self):
        """``(idx, natural)``: the example indices of the next epoch in
        batch order (batch ``b`` is ``idx[b * batch_size:][:batch_size]``),
        and whether they are simply ``0, 1, ...`` (no copy needed)."""
        n = self.num_examples
        natural = not self.shuffle and not len(self._carry)
        idx = self._rng.permutation(n) if self.shuffle else onp.arange(n)
        if len(self._carry):
            idx = onp.concatenate([self._carry, idx])
        full = len(idx) // self.batch_size * self.batch_size
        self._carry = (idx[full:] if self.last_batch == 'rollover'
                       else onp.zeros(0, dtype=onp.int64))
        return idx[:len(idx) if self.last_batch == 'keep' else full], natural

    def bounds(self, num):
        """``(start, end)`` of each batch of an epoch of ``num`` indices."""
        for start in range(0, num, self.batch_size):
            yield start, min(start + self.batch_size, num)

    def batches(self, num, sources, cut):
        """Yield ``cut(source, start, end)`` of every source for each batch
        of an epoch of ``num`` indices: a tuple, or one value for one
        source."""
        for start, end in self.bounds(num):
            batch = tuple(cut(src, start, end) for src in sources)
            yield batch if len(batch) > 1 else batch[0]

    def __iter__(self):
        idx, _ = self.epoch()
        for start, end in self.bounds(len(idx)):
            yield idx[start:end]


class ShardOrder(BatchOrder):
    """One worker's share of each epoch in a parameter-server job.

    Every epoch, all workers draw the same permutation of the examples from
    the shared seed; its first ``steps * num_workers * batch_size``
    positions are cut into ``num_workers`` contiguous parts and worker
    ``rank`` takes its part, in batches of ``batch_size``.  The parts are
    disjoint, together they cover the epoch, and every worker does the same
    number of steps (a ``dist_sync`` push waits for all workers).  The fewer
    than ``num_workers * batch_size`` examples left over change every epoch.
    ``stream`` tells apart the permutations of two orders with one seed.
    """

    def __init__(self, num_examples, batch_size, rank, num_workers, seed=0,
                 stream=4):
        super().__init__(num_examples, batch_size, shuffle=True,
                         last_batch='discard', seed=[seed or 0, stream])
        self.rank, self.num_workers = rank, num_workers
        self.steps = num_examples // (batch_size * num_workers)
        if self.steps == 0:
            raise ValueError(f'{num_examples} examples are fewer than one '
                             f'batch of {batch_size} per worker for '
                             f'{num_workers} workers')

    def __len__(self):
        return self.steps

    def epoch(self):
        share = self.steps * self.batch_size
        order = self._rng.permutation(self.num_examples)
        return order[self.rank * share:(self.rank + 1) * share], False


class ArrayIter:
    """Mini-batches over aligned arrays, yielded as MXNet arrays.

    The fast replacement of ``gluon.data.DataLoader(ArrayDataset(...))``:
    the arrays are copied into MXNet once, permuted once per epoch, and each
    batch is a slice (the DataLoader stacks samples one by one in Python).
    ``shuffle``, ``last_batch`` and ``seed`` are ``BatchOrder``'s; ``order``
    replaces them all (e.g. a ``ShardOrder``).  One array yields arrays,
    several yield tuples.
    """

    def __init__(self, *arrays, batch_size=None, shuffle=False,
                 last_batch='keep', seed=None, order=None):
        if not arrays or any(len(a) != len(arrays[0]) for a in arrays):
            raise ValueError('ArrayIter needs one or more arrays of equal '
                             'length')
        if order is None:
            order = BatchOrder(len(arrays[0]), batch_size, shuffle,
                               last_batch, seed)
        self.order = order
        self.arrays = [np.array(a, dtype=onp.asarray(a).dtype)
                       for a in arrays]
        self.num_examples = len(arrays[0])

    def __len__(self):
        return len(self.order)

    def __iter__(self):
        idx, natural = self.order.epoch()
        arrays = self.arrays
        if not natural:
            order = np.array(idx, dtype=onp.int64)
            arrays = [np.take(a, order, axis=0) for a in self.arrays]
        yield from self.order.batches(len(idx), arrays,
                                      lambda a, start, end: a[start:end])


def rating_iters(train_data, test_data, batch_size, seed=None,
                 feedback='explicit', shard=None):
    """``(train_iter, test_iter)`` of ``(user indices, item indices,
    scores)`` batches: training batches shuffled with rollover (as the
    book's loaders), or this worker's ``ShardOrder`` share when ``shard``
    is ``(rank, num_workers)``; test batches in order (None when
    ``test_data`` is None).  Implicit scores are all 1."""
    iters = []
    for part, train in ((train_data, True), (test_data, False)):
        if part is None:
            iters.append(None)
            continue
        u, i, r = rating_arrays(part)
        if feedback == 'implicit':
            r = onp.ones(len(u))
        order = ShardOrder(len(u), batch_size, *shard, seed=seed) \
            if train and shard is not None else None
        iters.append(ArrayIter(
            u.astype(onp.int32), i.astype(onp.int32), r.astype(onp.float32),
            batch_size=batch_size, shuffle=train,
            last_batch='rollover' if train else 'keep', seed=seed,
            order=order))
    return tuple(iters)


def split_and_load_ml100k(split_mode='seq-aware', feedback='explicit',
                          test_ratio=0.1, batch_size=256, data_dir=None,
                          seed=None):
    """``(num_users, num_items, train_iter, test_iter)`` as d2l: iterators of
    ``(user indices, item indices, scores)`` batches; training batches are
    shuffled with rollover, test batches keep file order."""
    if feedback not in ('explicit', 'implicit'):
        raise ValueError(f"feedback must be 'explicit' or 'implicit', got "
                         f'{feedback!r}')
    data, num_users, num_items = read_data_ml100k(data_dir)
    train_data, test_data = split_data_ml100k(
        data, num_users, num_items, split_mode, test_ratio, seed=seed)
    return (num_users, num_items,
            *rating_iters(train_data, test_data, batch_size, seed, feedback))


# --------------------------------------------------------------------------
# Implicit feedback: interactions and negative sampling
# --------------------------------------------------------------------------
def interaction_mask(users, items, num_users, num_items):
    """Boolean users x items matrix: True where a (user, item) pair occurs.

    Dense by design: for small data and tests.  ``Interactions`` answers the
    same questions in memory that grows with the interactions."""
    mask = onp.zeros((num_users, num_items), dtype=bool)
    mask[onp.asarray(users), onp.asarray(items)] = True
    return mask


def _as_seen(mask):
    return mask if isinstance(mask, Interactions) else \
        Interactions.from_mask(mask)


LOOKUP_ROWS = 1 << 20
"""Entries of ``users`` whose draws ``sample_negatives`` checks at a time."""


def sample_negatives(users, mask, num, rng):
    """``num`` items per entry of ``users`` drawn uniformly among the items
    that user has no interaction with, vectorised by rejection: draw
    everywhere, redraw only the collisions.

    Args:
        users: user ids, shape (n,).
        mask: an ``Interactions``, or a dense boolean users x items
            matrix.
        num: negatives per entry.
        rng: a ``numpy.random.Generator``.

    Returns:
        Item ids, shape (n, num).  The draws do not depend on ``mask``'s
        form: the same generator state gives the same negatives.

    Raises:
        ValueError: a user has interacted with every item.
    """
    seen = _as_seen(mask)
    users = onp.asarray(users, dtype=onp.int64)
    full = seen.row_counts() >= seen.num_items
    if full[users].any():
        raise ValueError(f'user {int(users[full[users]][0])} has interacted '
                         'with every item: no negative to sample')
    out = rng.integers(0, seen.num_items, (len(users), num))
    if seen.dense_mask() is not None:
        bad = seen.contains(users[:, None], out)
    else:
        # group the first, large lookup by user: its searches then stay in
        # a small part of the keys (faster than in data order; the figure
        # at ML-20M's size: docs/benchmarks.md, "Figures measured once,
        # without a result file"); look up LOOKUP_ROWS users at a time (one
        # lookup of ML-20M's 80M pairs made several GB of temporaries)
        order = onp.argsort(users, kind='stable')
        bad = onp.empty(out.shape, dtype=bool)
        for start in range(0, len(order), LOOKUP_ROWS):
            part = order[start:start + LOOKUP_ROWS]
            bad[part] = seen.contains(users[part, None], out[part])
    todo = onp.flatnonzero(bad)                 # row-major, as out[bad]
    while len(todo):
        out.flat[todo] = rng.integers(0, seen.num_items, len(todo))
        todo = todo[seen.contains(users[todo // max(num, 1)],
                                  out.flat[todo])]
    return out


def sample_test_negatives(mask, num, rng):
    """For every user, ``num`` distinct items it never interacted with (the
    NCF protocol's candidates, drawn once).

    The draws are those of ``rng.choice(unseen_items, num, replace=False)``
    user after user, so a generator gives the same negatives as it always
    has; only the positions are drawn per user (one C call each), and they
    are mapped to items for all users at once
    (``Interactions.nth_unseen``), without listing any user's unseen
    items.

    Args:
        mask: an ``Interactions`` of every known interaction (training and
            test), or a dense boolean users x items matrix.
        num: negatives per user.
        rng: a ``numpy.random.Generator``.

    Returns:
        Item ids, shape (num_users, num).

    Raises:
        ValueError: a user has fewer than ``num`` items without interaction.
    """
    seen = _as_seen(mask)
    free = seen.num_items - seen.row_counts()
    short = onp.flatnonzero(free < num)
    if len(short):
        u = int(short[0])
        raise ValueError(f'user {u} has only {free[u]} items without '
                         f'interaction; cannot draw {num} test negatives')
    ranks = onp.empty((seen.num_users, num), dtype=onp.int64)
    for u, n in enumerate(free.tolist()):
        ranks[u] = rng.choice(n, num, replace=False)
    return seen.nth_unseen(onp.arange(seen.num_users)[:, None], ranks)


class PRDataset(gluon.data.Dataset):
    """The NeuMF chapter's pairwise dataset, for running the chapter as the
    book prints it: item ``idx`` yields ``(user, positive item, negative
    item)``, the negative drawn uniformly (numpy's global generator) from
    the items the user has no training interaction with, by a Python set
    difference per sample.  ``NegativeSamplingIter(pairwise=True)`` draws
    the same kind of triples for a whole epoch at once.

    Args:
        users, items: 0-based training interactions.
        candidates: user -> the items of its training interactions (as
            ``load_data_ml100k(feedback='implicit')`` returns them).
        num_items: size of the item space.
    """

    def __init__(self, users, items, candidates, num_items):
        self.users, self.items = users, items
        self.candidates, self.every_item = candidates, set(range(num_items))

    def __len__(self):
        return len(self.users)

    def __getitem__(self, idx):
        user = int(self.users[idx])
        unseen = sorted(self.every_item - set(self.candidates[user]))
        return (self.users[idx], self.items[idx],
                unseen[onp.random.randint(len(unseen))])


class NegativeSamplingIter:
    """Training batches for implicit feedback with negatives redrawn every
    epoch, excluding each user's training items.

    Pointwise (NCF): each positive ``(u, i)`` is joined by ``num_negatives``
    pairs ``(u, j)``; batches are ``(users, items, labels)`` with labels 1/0.
    Pairwise (``pairwise=True``, BPR and hinge, the book's ``PRDataset``):
    batches are ``(users, positive items, negative items)``, one triple per
    positive and negative.  The book redraws with a Python set difference per
    sample; here one vectorised draw serves the whole epoch.

    In a parameter-server job (``num_workers`` given, even 1) worker
    ``rank`` takes its share of the positives: every epoch all workers draw the same
    permutation from ``seed`` and cut it into ``num_workers`` equal parts
    (the fewer than ``num_workers`` left over change every epoch); each
    worker draws the negatives of its part with a stream of its own,
    excluding the user's training items from every part, and yields only
    full batches, so that all workers take the same number of steps.
    """

    CHUNK = 1 << 21
    """Examples turned into MXNet arrays at a time (rounded down to whole
    batches): an epoch's arrays never exist whole."""

    def __init__(self, users, items, num_users, num_items, num_negatives=4,
                 pairwise=False, batch_size=256, seed=None, rank=0,
                 num_workers=None):
        self.users = onp.asarray(users, dtype=onp.int64)
        self.items = onp.asarray(items, dtype=onp.int64)
        self.seen = Interactions.from_pairs(self.users, self.items, None,
                                            num_users, num_items)
        self.num_negatives, self.pairwise = num_negatives, pairwise
        self.batch_size = batch_size
        self.num_workers = num_workers
        if num_workers:     # this worker's share of positives, one by one
            self._shard = ShardOrder(len(self.users), 1, rank, num_workers,
                                     seed, stream=5)
            self._rng = onp.random.default_rng([seed or 0, 6, rank])
        else:
            self._rng = onp.random.default_rng(seed)

    def __len__(self):
        per_positive = self.num_negatives + (not self.pairwise)
        if self.num_workers:
            return len(self._shard) * per_positive // self.batch_size
        return -(-len(self.users) * per_positive // self.batch_size)

    def _positives(self):
        """The epoch's positives of this worker: ``(users, items)``."""
        if not self.num_workers:
            return self.users, self.items
        mine, _ = self._shard.epoch()
        return self.users[mine], self.items[mine]

    def __iter__(self):
        k = self.num_negatives
        users, items = self._positives()
        neg = sample_negatives(users, self.seen, k, self._rng)     # (n, k)
        n, neg = len(users), neg.astype(onp.int32).ravel()      # (n * k,)
        users, items = users.astype(onp.int32), items.astype(onp.int32)
        # The epoch's examples: positive i at position i and its negatives
        # at n + i * k + j (pointwise; pairwise: triple t at position t,
        # for positive t // k).  Shuffled by one permutation, then built
        # chunk by chunk from it: at ML-20M's shape an epoch has 100M
        # examples, 1.2 GB per copy of its three arrays.
        total = n * k + (0 if self.pairwise else n)
        order = onp.random.default_rng(self._rng.integers(2 ** 31)) \
            .permutation(total)
        if total < 2 ** 31:
            order = order.astype(onp.int32)
        bs = self.batch_size
        keep = total if not self.num_workers else total // bs * bs
        step = max(self.CHUNK // bs, 1) * bs
        for start in range(0, keep, step):
            idx = order[start:min(start + step, keep)]
            arrays = self._examples(idx, users, items, neg, n, k)
            for b in range(0, len(idx), bs):
                yield tuple(a[b:b + bs] for a in arrays)

    def _examples(self, idx, users, items, neg, n, k):
        """The MXNet arrays of the examples at positions ``idx``."""
        if self.pairwise:
            pos = idx // k
            arrays = [users[pos], items[pos], neg[idx]]
        else:
            positive = idx < n
            neg_at = onp.where(positive, 0, idx - n)
            of = onp.where(positive, idx, neg_at // k)
            arrays = [users[of], onp.where(positive, items[of], neg[neg_at]),
                      positive.astype(onp.float32)]
        return [np.array(a, dtype=a.dtype) for a in arrays]
