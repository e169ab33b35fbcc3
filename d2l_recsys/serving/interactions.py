"""Who interacted with what, stored compactly (CSR: one row per user).

Serving needs three things from the training data: the items to leave out of
a user's recommendations, the rows AutoRec reconstructs from, and item
popularity.  A dense users x items matrix would hold them too, but at
ML-20M's shape (138,493 x 26,744) it takes 3.7 GB as booleans; the CSR arrays
take 12 bytes per interaction.
"""
import numpy as onp


class Interactions:
    """A sparse users x items matrix in CSR form.

    Row ``u`` holds the items ``indices[indptr[u]:indptr[u + 1]]`` (sorted)
    with the values ``values[...]`` (ratings, or 1 for implicit feedback).

    Args:
        indptr: ``(num_users + 1,)`` row offsets.
        indices: item index of each entry.
        values: value of each entry (float32).
        num_items: number of columns.
    """

    def __init__(self, indptr, indices, values, num_items):
        self.indptr = onp.asarray(indptr, dtype=onp.int64)
        self.indices = onp.asarray(indices, dtype=onp.int32)
        self.values = onp.asarray(values, dtype=onp.float32)
        self.num_items = int(num_items)
        if len(self.indices) != len(self.values) or \
                self.indptr[-1] != len(self.indices):
            raise ValueError(f'inconsistent CSR arrays: indptr ends at '
                             f'{self.indptr[-1]}, {len(self.indices)} '
                             f'indices, {len(self.values)} values')

    @classmethod
    def from_pairs(cls, users, items, values, num_users, num_items):
        """Build from aligned arrays of 0-based ``(user, item, value)``.

        A pair given twice keeps its last value, as ``interaction_matrix``
        does.

        Args:
            users, items: 0-based indices.
            values: the value of each pair (None: all 1).
            num_users, num_items: the shape.

        Returns:
            An ``Interactions``.
        """
        users = onp.asarray(users, dtype=onp.int64)
        items = onp.asarray(items, dtype=onp.int64)
        values = onp.ones(len(users)) if values is None else \
            onp.asarray(values)
        order = onp.lexsort((onp.arange(len(users)), items, users))
        users, items, values = users[order], items[order], values[order]
        last = onp.ones(len(users), dtype=bool)
        last[:-1] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
        users, items, values = users[last], items[last], values[last]
        indptr = onp.r_[0, onp.cumsum(onp.bincount(users,
                                                   minlength=num_users))]
        return cls(indptr, items, values, num_items)

    @property
    def num_users(self):
        """Number of rows."""
        return len(self.indptr) - 1

    def row_counts(self):
        """Entries per user, ``(num_users,)``."""
        return onp.diff(self.indptr)

    def item_counts(self):
        """Entries per item (training popularity), ``(num_items,)``."""
        return onp.bincount(self.indices, minlength=self.num_items)

    def row(self, user):
        """``(items, values)`` of one user."""
        start, end = self.indptr[user], self.indptr[user + 1]
        return self.indices[start:end], self.values[start:end]

    def _entries(self, users):
        """Positions ``(row in users, item, value)`` of the given rows."""
        users = onp.asarray(users, dtype=onp.int64)
        starts, ends = self.indptr[users], self.indptr[users + 1]
        counts = ends - starts
        rows = onp.repeat(onp.arange(len(users)), counts)
        offsets = onp.arange(counts.sum()) - onp.repeat(
            onp.cumsum(counts) - counts, counts)
        pos = onp.repeat(starts, counts) + offsets
        return rows, self.indices[pos], self.values[pos]

    def dense_rows(self, users):
        """The rows of ``users`` as a dense float32 ``(len(users),
        num_items)`` array (0 where nothing is stored)."""
        rows, items, values = self._entries(users)
        out = onp.zeros((len(users), self.num_items), dtype=onp.float32)
        out[rows, items] = values
        return out

    def mask_into(self, scores, users, fill=-onp.inf):
        """Set ``scores[r, i] = fill`` wherever user ``users[r]`` has item
        ``i``.

        Args:
            scores: ``(len(users), num_items)`` array, changed in place.
            users: the user of each row of ``scores``.
            fill: the value written.
        """
        rows, items, _ = self._entries(users)
        scores[rows, items] = fill

    def transpose(self):
        """The same entries as an items x users ``Interactions``."""
        users = onp.repeat(onp.arange(self.num_users), self.row_counts())
        return Interactions.from_pairs(self.indices, users, self.values,
                                       self.num_items, self.num_users)

    def arrays(self, prefix):
        """The CSR arrays by name, for ``numpy.savez``."""
        return {f'{prefix}_indptr': self.indptr,
                f'{prefix}_indices': self.indices,
                f'{prefix}_values': self.values,
                f'{prefix}_shape': onp.array([self.num_users,
                                              self.num_items])}

    @classmethod
    def from_arrays(cls, arrays, prefix):
        """Rebuild from what ``arrays(prefix)`` stored.

        Args:
            arrays: a mapping (e.g. an opened ``.npz``).
            prefix: the name given to ``arrays``.

        Returns:
            An ``Interactions``.
        """
        shape = arrays[f'{prefix}_shape']
        out = cls(arrays[f'{prefix}_indptr'], arrays[f'{prefix}_indices'],
                  arrays[f'{prefix}_values'], shape[1])
        if out.num_users != shape[0]:
            raise ValueError(f'{prefix}: {out.num_users} rows stored, the '
                             f'shape says {shape[0]}')
        return out
