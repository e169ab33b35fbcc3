"""Who interacted with what: one sparse matrix type for the whole package.

``Interactions`` is a users x items matrix in CSR form (or items x users,
e.g. the rows of the book's item-based AutoRec), with a value per stored
entry (a rating, or 1 for implicit feedback).  It serves the negative samplers
(which items a user has seen), the ranking evaluation (training and
held-out items per user), AutoRec's input rows and serving (items to leave
out, popularity, an export's arrays).  Memory grows with the interactions:
at ML-20M's shape (138,493 x 26,744) a dense matrix takes 3.7 GB as
booleans, the CSR arrays 8 bytes per interaction (16 with the lookup
keys of ``contains``).

``csr()`` and ``Interactions.from_csr`` bridge to ``scipy.sparse`` (what
users of the ``implicit`` library hand over; scipy is needed only there).
"""
import numpy as onp

DENSE_LIMIT = 64 << 20
"""Bytes up to which a users x items table may be held dense: the boolean
lookup mask of ``Interactions``, AutoRec's float32 rating matrix in
``rows`` (ML-100K fits; ML-20M's 138,493 x 26,744 booleans are 3.7 GB and
do not)."""


def rating_arrays(data):
    """(user index, item index, rating) as numpy, by position like d2l."""
    cols = data.iloc[:, :3].to_numpy()
    return (cols[:, 0].astype(onp.int64) - 1,
            cols[:, 1].astype(onp.int64) - 1, cols[:, 2])


class Interactions:
    """A sparse users x items matrix in CSR form, with vectorised lookups
    and row gathers.

    Row ``u`` holds the items ``indices[indptr[u]:indptr[u + 1]]``, strictly
    ascending, with the values ``values[...]``.  Names say users (rows) and
    items (columns); in a transposed matrix the rows are items.
    ``contains`` and ``mask`` read a dense boolean mask when the users x
    items booleans fit in ``DENSE_LIMIT`` bytes (made on first use:
    indexing it is the fastest lookup), otherwise sorted int64 keys
    ``u * num_items + j`` (made on first use); answers are the same either
    way.

    Args:
        indptr: ``(num_users + 1,)`` row starts into ``indices``/``values``.
        indices: item of each entry, ascending within each row.
        values: value of each entry (stored as float32).
        shape: ``(num_users, num_items)``.
        mask: the dense boolean matrix of the entries, if the caller has it
            (kept for lookups whatever its size).

    Raises:
        ValueError: arrays that do not describe a CSR matrix of that shape
            (with items in range and ascending per row).
    """

    def __init__(self, indptr, indices, values, shape, mask=None):
        self.indptr = onp.asarray(indptr, dtype=onp.int64)
        self.indices = onp.asarray(indices, dtype=onp.int32)
        self.values = onp.asarray(values, dtype=onp.float32)
        self.shape = tuple(int(s) for s in shape)
        self._mask, self._keys = mask, None
        ptr, idx = self.indptr, self.indices
        ok = len(ptr) == self.shape[0] + 1 and ptr[0] == 0 and \
            ptr[-1] == len(idx) == len(self.values) and \
            not (onp.diff(ptr) < 0).any()
        if ok and len(idx):
            descending = onp.diff(idx) <= 0
            descending[ptr[1:-1][(ptr[1:-1] > 0) & (ptr[1:-1] < len(idx))]
                       - 1] = False                     # row boundaries
            ok = idx.min() >= 0 and idx.max() < self.shape[1] and \
                not descending.any()
        if not ok:
            raise ValueError(f'Interactions: indptr, indices and values do '
                             f'not describe a {self.shape} CSR matrix')

    # -- construction --------------------------------------------------------
    @classmethod
    def from_pairs(cls, users, items, values, num_users, num_items):
        """The matrix of the entries ``(users[k], items[k]) = values[k]``.

        A pair given twice keeps its last value, as a dense assignment
        ``mat[users, items] = values`` would.

        Args:
            users, items: 0-based indices.
            values: the value of each pair (None: all 1).
            num_users, num_items: the shape.

        Returns:
            An ``Interactions``.

        Raises:
            ValueError: an id outside its space, or unaligned arrays.
        """
        users = onp.asarray(users, dtype=onp.int64).ravel()
        items = onp.asarray(items, dtype=onp.int64).ravel()
        if len(users) != len(items) or \
                (values is not None and len(values) != len(users)):
            raise ValueError(f'Interactions: {len(users)} users, '
                             f'{len(items)} items and values not aligned')
        for name, ids, size in (('user', users, num_users),
                                ('item', items, num_items)):
            if len(ids) and (ids.min() < 0 or ids.max() >= size):
                raise ValueError(f'Interactions: {name} ids must lie in '
                                 f'[0, {size}), got {ids.min()}..{ids.max()}')
        keys = users * num_items + items
        if values is None:          # all values alike: which one is kept
            keys = onp.unique(keys)  # does not matter (the fastest sort)
            values = onp.ones(len(keys), dtype=onp.float32)
        else:
            order = onp.argsort(keys, kind='stable')  # ties keep input order
            keys, values = keys[order], onp.asarray(values)[order]
            last = onp.ones(len(keys), dtype=bool)
            last[:-1] = keys[1:] != keys[:-1]
            keys, values = keys[last], values[last]
        indptr = onp.searchsorted(
            keys, onp.arange(num_users + 1, dtype=onp.int64) * num_items)
        owner = onp.repeat(onp.arange(num_users), onp.diff(indptr))
        return cls(indptr, keys - owner * num_items, values,
                   (num_users, num_items))

    @classmethod
    def from_ratings(cls, data, num_users, num_items, variant='item'):
        """AutoRec's rating matrix of a ratings DataFrame (1-based ids):
        items x users for the item-based AutoRec (the book's), users x
        items for ``variant='user'``."""
        users, items, scores = rating_arrays(data)
        if variant == 'item':
            return cls.from_pairs(items, users, scores, num_items, num_users)
        return cls.from_pairs(users, items, scores, num_users, num_items)

    @classmethod
    def from_mask(cls, mask):
        """The entries (value 1) of a dense boolean users x items ``mask``,
        which is kept for lookups."""
        mask = onp.asarray(mask, dtype=bool)
        _, items = onp.nonzero(mask)                    # row-major order
        indptr = onp.r_[0, onp.cumsum(mask.sum(axis=1))]
        return cls(indptr, items, onp.ones(len(items)), mask.shape, mask)

    @classmethod
    def from_csr(cls, matrix):
        """A ``scipy.sparse`` matrix as ``Interactions``; repeated entries
        keep their last stored value (scipy would sum them)."""
        import scipy.sparse
        matrix = scipy.sparse.csr_matrix(matrix)
        if matrix.has_canonical_format:
            return cls(matrix.indptr, matrix.indices, matrix.data,
                       matrix.shape)
        coo = matrix.tocoo()
        return cls.from_pairs(coo.row, coo.col, coo.data, *matrix.shape)

    @classmethod
    def from_arrays(cls, arrays, prefix):
        """Rebuild from what ``arrays(prefix)`` stored.

        Args:
            arrays: a mapping (e.g. an opened ``.npz``).
            prefix: the name given to ``arrays``.

        Returns:
            An ``Interactions``.
        """
        return cls(arrays[f'{prefix}_indptr'], arrays[f'{prefix}_indices'],
                   arrays[f'{prefix}_values'], arrays[f'{prefix}_shape'])

    # -- conversions ---------------------------------------------------------
    def csr(self):
        """The matrix as a ``scipy.sparse.csr_matrix``."""
        import scipy.sparse
        return scipy.sparse.csr_matrix(
            (self.values, self.indices, self.indptr), shape=self.shape)

    def arrays(self, prefix):
        """The CSR arrays by name, for ``numpy.savez``: ``{prefix}_indptr``,
        ``_indices``, ``_values`` and ``_shape``."""
        return {f'{prefix}_indptr': self.indptr,
                f'{prefix}_indices': self.indices,
                f'{prefix}_values': self.values,
                f'{prefix}_shape': onp.array(self.shape)}

    def transpose(self):
        """The same entries as an items x users ``Interactions``."""
        order = onp.argsort(self.indices, kind='stable')   # users ascend
        owner = onp.repeat(onp.arange(self.num_users), self.row_counts())
        indptr = onp.r_[0, onp.cumsum(self.item_counts())]
        return Interactions(indptr, owner[order], self.values[order],
                            self.shape[::-1])

    # -- sizes ---------------------------------------------------------------
    @property
    def num_users(self):
        """Number of rows."""
        return self.shape[0]

    @property
    def num_items(self):
        """Number of columns."""
        return self.shape[1]

    @property
    def nnz(self):
        """Number of stored entries."""
        return len(self.indices)

    def row_counts(self):
        """Entries per user (row), ``(num_users,)``."""
        return onp.diff(self.indptr)

    def item_counts(self):
        """Entries per item (column; training popularity),
        ``(num_items,)``."""
        return onp.bincount(self.indices, minlength=self.num_items)

    # -- row gathers ---------------------------------------------------------
    def row(self, user):
        """``(items, values)`` of one user (views of the arrays)."""
        start, end = self.indptr[user], self.indptr[user + 1]
        return self.indices[start:end], self.values[start:end]

    def select(self, users):
        """The CSR arrays ``(indptr, indices, values)`` of the rows of
        ``users`` (in that order, repeats allowed), gathered in one
        vectorised pass."""
        users = onp.asarray(users, dtype=onp.int64)
        starts = self.indptr[users]
        counts = self.indptr[users + 1] - starts
        indptr = onp.r_[0, onp.cumsum(counts)]
        # position of every selected entry: its row's start + rank in row
        pos = onp.repeat(starts - indptr[:-1], counts) + \
            onp.arange(indptr[-1])
        return indptr, self.indices[pos], self.values[pos]

    def pairs(self, users):
        """The entries of the given users: ``(rows, items)`` where ``rows``
        indexes ``users``; rows ascend and items ascend per row."""
        indptr, items, _ = self.select(users)
        return onp.repeat(onp.arange(len(indptr) - 1),
                          onp.diff(indptr)), items

    def dense_rows(self, users=None):
        """The rows of ``users`` (default all, which the caller must know to
        be small) as a dense float32 ``(len(users), num_items)`` array, 0
        where nothing is stored."""
        users = onp.arange(self.num_users) if users is None else users
        indptr, items, values = self.select(users)
        out = onp.zeros((len(indptr) - 1, self.num_items), dtype=onp.float32)
        out[onp.repeat(onp.arange(len(out)), onp.diff(indptr)), items] = \
            values
        return out

    def mask(self, users=None):
        """Boolean ``(len(users), num_items)`` rows of the given users
        (default all, which the caller must know to be small): True where
        an entry is stored."""
        users = onp.arange(self.num_users) if users is None else users
        dense = self.dense_mask()
        if dense is not None:
            return dense[onp.asarray(users)]
        rows, items = self.pairs(users)
        out = onp.zeros((len(users), self.num_items), dtype=bool)
        out[rows, items] = True
        return out

    def mask_into(self, scores, users, fill=-onp.inf):
        """Set ``scores[r, i] = fill`` wherever user ``users[r]`` has item
        ``i``.

        Args:
            scores: ``(len(users), num_items)`` array, changed in place.
            users: the user of each row of ``scores``.
            fill: the value written.
        """
        rows, items = self.pairs(users)
        scores[rows, items] = fill

    # -- lookups -------------------------------------------------------------
    def dense_mask(self):
        """The whole matrix as booleans if it fits in ``DENSE_LIMIT`` bytes
        (or was given): made once, then kept.  Else None."""
        if self._mask is None and \
                self.num_users * self.num_items <= DENSE_LIMIT:
            rows, items = self.pairs(onp.arange(self.num_users))
            self._mask = onp.zeros(self.shape, dtype=bool)
            self._mask[rows, items] = True
        return self._mask

    def contains(self, users, items):
        """Whether each user has each item; ``users`` and ``items``
        broadcast against each other.  Large lookups in a big matrix are
        fastest with the queries grouped by user (see
        ``iterators.sample_negatives``)."""
        users, items = onp.broadcast_arrays(onp.asarray(users),
                                            onp.asarray(items))
        dense = self.dense_mask()
        if dense is not None:
            return dense[users, items]
        if self._keys is None:                          # sorted
            self._keys = onp.repeat(onp.arange(self.num_users) *
                                    self.num_items, self.row_counts()) + \
                self.indices
        keys = users.astype(onp.int64) * self.num_items + items
        pos = onp.searchsorted(self._keys, keys)
        found = onp.zeros(keys.shape, dtype=bool)
        inside = pos < len(self._keys)
        found[inside] = self._keys[pos[inside]] == keys[inside]
        return found

    def nth_unseen(self, users, ranks):
        """The ``ranks``-th (0-based) item each user has no entry for, in
        item order, without listing those items: if user ``u`` has the
        sorted items ``s_0 < s_1 < ...``, the ``r``-th other item is ``r``
        plus the number of ``j`` with ``s_j - j <= r``.  ``users`` and
        ``ranks`` broadcast; ranks must be below the user's count of items
        without entry."""
        users, ranks = onp.broadcast_arrays(
            onp.asarray(users, dtype=onp.int64),
            onp.asarray(ranks, dtype=onp.int64))
        owner = onp.repeat(onp.arange(self.num_users), self.row_counts())
        before = onp.arange(self.nnz) - self.indptr[owner]          # j
        # s_j - j per row, made globally sorted by a per-user offset
        stride = self.num_items + 1
        gaps = owner * stride + self.indices - before
        below = onp.searchsorted(gaps, users * stride + ranks, side='right')
        return ranks + below - self.indptr[users]
