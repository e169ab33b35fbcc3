"""Training data for sequence-aware ranking (d2l, chapter "Sequence-Aware
Recommender Systems"; Tang & Wang, 2018, "Personalized Top-N Sequential
Recommendation via Convolutional Sequence Embedding", the Caser model).

Every user's training interactions, in time order, are cut into windows of
``L + 1`` consecutive items: the first ``L`` are the input sequence, the
last one the target.  A user with ``c`` items gives the ``c - L`` windows
ending at its items ``c, c - 1, ..., L + 1`` (1-based), latest first; users
come in ascending id order.  That is the book's order of rows, and
``SeqDataset`` is the book's dataset with the same rows.  For fast training
``sequence_windows`` builds all rows at once and ``SequenceIter`` yields
shuffled ``(users, seqs, positives, negatives)`` batches for BPR; at test
time a user's input is its latest ``L`` training items, ``latest_items``.

Users with at most ``L`` training items have no window (they have no item
after a full sequence).  The book's class differs for them only: it counts
one window holding all of the user's items, which fails to build for
``1 < c < L``, holds a target equal to the sequence's last item for
``c == L`` and repeats the single item ``L`` times for ``c == 1``.  Every
MovieLens 100K user has 19 or more training items, so the book's run never
meets this case.
"""
import numpy as onp
from mxnet import gluon, np

from .interactions import Interactions
from .iterators import BatchOrder, ShardOrder, sample_negatives


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, onp.integer)) \
            or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


def _array(name, values, shape=None):
    """``values`` as numpy (from MXNet too), of ``shape`` if given."""
    if hasattr(values, 'asnumpy'):              # an MXNet array
        values = values.asnumpy()
    values = onp.asarray(values)
    if shape is not None and values.shape != shape:
        raise ValueError(f'{name} must have the shape of users {shape}, '
                         f'got {values.shape}')
    return values


def _ids(name, values, size=None, shape=None):
    """``values`` as a 1-D int64 numpy array of integer ids, in ``[0,
    size)`` if ``size`` is given."""
    values = _array(name, values, shape)
    if values.ndim != 1:
        raise ValueError(f'{name} must be one-dimensional, got shape '
                         f'{values.shape}')
    if len(values) and not onp.array_equal(values, onp.round(values)):
        raise ValueError(f'{name} must hold integer ids')
    values = values.astype(onp.int64)
    if size is not None and len(values) and \
            (values.min() < 0 or values.max() >= size):
        raise ValueError(f'{name} must lie in [0, {size}), got '
                         f'{values.min()}..{values.max()}')
    return values


def _by_user(users, items, order, L, num_users):
    """Checked inputs, grouped: ``(items, starts, counts, L)`` with
    ``items`` sorted by user, then by ``order`` (input order for None, and
    for ties), and user ``u``'s items at ``items[starts[u]:][:counts[u]]``.
    """
    L = _positive_int('L', L)
    num_users = _positive_int('num_users', num_users)
    users = _ids('users', users, num_users)
    items = _ids('items', items, shape=users.shape)
    if order is None:
        perm = onp.argsort(users, kind='stable')
    else:
        order = _array('order', order, users.shape)
        perm = onp.argsort(order, kind='stable')   # ties keep input order
        perm = perm[onp.argsort(users[perm], kind='stable')]
    counts = onp.bincount(users, minlength=num_users)
    starts = onp.concatenate([[0], onp.cumsum(counts)[:-1]])
    return items[perm], starts, counts, L


def sequence_windows(users, items, order, L, num_users):
    """All training windows at once: the rows of ``SeqDataset``.

    Args:
        users, items: 0-based ids of the training interactions, (N,).
        order: (N,) the time of each interaction (timestamps, or any
            sortable keys), or None: the input order is the time order
            within each user (as the book, whose seq-aware split lists
            every user's items by time).  Ties keep the input order.
        L: length of the input sequences.
        num_users: size of the user id space.

    Returns:
        ``(users (n,), seqs (n, L), targets (n,))`` int32 numpy arrays:
        users ascending, each user's windows latest first; ``seqs[r]``
        holds the ``L`` items just before ``targets[r]``, oldest first.
        Users with ``L`` or fewer items give no row.

    Raises:
        ValueError: ``L`` or ``num_users`` not a positive integer, ids out
            of range or not integers, arrays of different lengths.
    """
    items, starts, counts, L = _by_user(users, items, order, L, num_users)
    per_user = onp.maximum(counts - L, 0)                  # windows
    owner = onp.repeat(onp.arange(len(counts)), per_user)  # (n,)
    first = onp.cumsum(per_user) - per_user                # row of each
    back = onp.arange(len(owner)) - first[owner]           # 0 = latest
    end = starts[owner] + counts[owner] - back             # exclusive
    cols = end[:, None] - (L + 1) + onp.arange(L + 1)      # (n, L + 1)
    window = items[cols].reshape(len(owner), L + 1)
    return (owner.astype(onp.int32), window[:, :L].astype(onp.int32),
            window[:, L].astype(onp.int32))


def latest_items(users, items, order, L, num_users, pad=0):
    """Each user's latest ``L`` training items: the input Caser scores a
    user's next item with (the book's ``test_seq``).

    Args:
        users, items, order, L, num_users: as ``sequence_windows``.
        pad: the id that fills the positions of a user with fewer than
            ``L`` items.  The default 0 is what the book's zero-filled
            ``test_seq`` holds for a user without training items.  A model
            looks the id up like any item, so keep it in ``[0,
            num_items)`` for Caser.

    Returns:
        (num_users, L) int32, oldest first: row ``u`` ends with the user's
        latest item; a user with ``c < L`` items has them in the last
        ``c`` positions after ``L - c`` times ``pad`` (all ``pad`` for a
        user without items).
    """
    items, starts, counts, L = _by_user(users, items, order, L, num_users)
    back = L - onp.arange(L)                               # L, ..., 1
    src = starts[:, None] + counts[:, None] - back         # (U, L)
    have = back <= counts[:, None]
    out = onp.full(src.shape, pad, dtype=onp.int64)
    out[have] = items[src[have]]
    return out.astype(onp.int32)


class SeqDataset(gluon.data.Dataset):
    """The book's sequence dataset: example ``idx`` is ``(user, seq,
    target, negative)``.

    Rows and their order are ``sequence_windows(user_ids, item_ids, None,
    L, num_users)``'s: the input order is the time order within a user, as
    the book assumes.  ``seq`` is ``(L,)``, ``target`` ``(1,)`` (as the
    book's, so that a loader's batch of targets is ``(B, 1)``); the book
    stores them as float32 arrays, here as int32 with the same values.
    The negative is drawn uniformly (numpy's global generator, as
    ``PRDataset``) from the items not in ``candidates[user]``; the book
    draws it with Python's ``random``.  Users with ``L`` or fewer items
    have no example (the book differs there only; see the module's
    docstring).

    Attributes:
        seq_users, seq_items, seq_tgt: the rows: (n,), (n, L), (n, 1).
        test_seq: (num_users, L) each user's latest ``L`` items
            (``latest_items`` with ``pad=0``; equal to the book's for
            every user with ``L`` or more items, or none).
        ns: the number of examples.

    Args:
        user_ids, item_ids: 0-based training interactions, each user's in
            time order.
        L: length of the input sequences.
        num_users, num_items: sizes of the id spaces.
        candidates: user -> the items of its training interactions (as
            ``load_data_ml100k(feedback='implicit')`` returns them).
    """

    def __init__(self, user_ids, item_ids, L, num_users, num_items,
                 candidates):
        self.num_items = _positive_int('num_items', num_items)
        _ids('item_ids', item_ids, self.num_items)
        users, seqs, targets = sequence_windows(user_ids, item_ids, None, L,
                                                num_users)
        self.seq_users, self.seq_items = users, seqs
        self.seq_tgt = targets[:, None]
        self.test_seq = latest_items(user_ids, item_ids, None, L, num_users)
        self.ns, self.cand = len(users), candidates

    def __len__(self):
        return self.ns

    def __getitem__(self, idx):
        user = int(self.seq_users[idx])
        seen = set(int(i) for i in self.cand[user])
        unseen = [i for i in range(self.num_items) if i not in seen]
        if not unseen:
            raise ValueError(f'user {user} has interacted with every item: '
                             'no negative to sample')
        return (self.seq_users[idx], self.seq_items[idx], self.seq_tgt[idx],
                unseen[onp.random.randint(len(unseen))])


class SequenceIter:
    """Shuffled BPR batches of windows, ``(users, seqs, positives,
    negatives)`` as int32 MXNet arrays of shapes (B,), (B, L), (B,), (B,).

    The rows are ``sequence_windows``'s; every epoch they are shuffled and
    each gets one negative, drawn uniformly from the items its user has no
    training interaction with (``sample_negatives``: one vectorised draw
    per epoch).  The same ``seed`` gives the same batches.

    Args:
        users, items, order, L: as ``sequence_windows``.
        num_users, num_items: sizes of the id spaces.
        batch_size: windows per batch.
        seed: seed of the shuffles and negatives (None: fresh entropy).
        rank, num_workers: in a parameter-server job (``num_workers``
            given, even 1), worker ``rank`` takes its ``ShardOrder`` share
            of every epoch's windows, in full batches only, as
            ``NegativeSamplingIter`` does.
        last_batch: ``'keep'`` (a short last batch, the default),
            ``'discard'`` or ``'rollover'`` (the book's loader); see
            ``BatchOrder``.  Ignored with ``num_workers``.

    Raises:
        ValueError: bad inputs (see ``sequence_windows``), no user with
            more than ``L`` items, a user who interacted with every item,
            or a bad ``batch_size`` or ``last_batch``.
    """

    CHUNK = 1 << 20
    """Windows turned into MXNet arrays at a time (rounded down to whole
    batches)."""

    def __init__(self, users, items, order, L, num_users, num_items,
                 batch_size=256, seed=None, rank=0, num_workers=None,
                 last_batch='keep'):
        num_items = _positive_int('num_items', num_items)
        self.batch_size = _positive_int('batch_size', batch_size)
        self.users, self.seqs, self.targets = sequence_windows(
            users, items, order, L, num_users)
        if not len(self.users):
            raise ValueError(f'no user has more than L={L} items: there is '
                             'no training window')
        self.seen = Interactions.from_pairs(
            _ids('users', users, num_users), _ids('items', items, num_items),
            None, num_users, num_items)
        n = len(self.users)
        if num_workers:
            self.order = ShardOrder(n, self.batch_size, rank, num_workers,
                                    seed, stream=7)
            self._rng = onp.random.default_rng([seed or 0, 8, rank])
        else:
            self.order = BatchOrder(n, self.batch_size, shuffle=True,
                                    last_batch=last_batch,
                                    seed=None if seed is None else [seed, 7])
            self._rng = onp.random.default_rng(
                None if seed is None else [seed, 8])

    @property
    def num_examples(self):
        """The number of windows."""
        return len(self.users)

    def __len__(self):
        return len(self.order)

    def __iter__(self):
        idx, _ = self.order.epoch()
        neg = sample_negatives(self.users[idx], self.seen, 1,
                               self._rng)[:, 0].astype(onp.int32)
        bs = self.batch_size
        step = max(self.CHUNK // bs, 1) * bs
        for start in range(0, len(idx), step):
            part = idx[start:start + step]
            arrays = [np.array(a, dtype='int32') for a in (
                self.users[part], self.seqs[part], self.targets[part],
                neg[start:start + step])]
            for b in range(0, len(part), bs):
                yield tuple(a[b:b + bs] for a in arrays)
