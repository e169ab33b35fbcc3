"""AutoRec's rows of the rating matrix, in bounded memory.

A row is an item's ratings (one column per user, the book's item-based
AutoRec) or a user's (``variant='user'``).  The matrix is stored densely
only when it is small (``iterators.DENSE_LIMIT``); otherwise it stays in CSR
form (``RatingRows``: numpy ``indptr``/``indices``/``data``) and every
batch is built on the fly, as dense rows or as an MXNet CSR matrix.

``autorec_iters`` is what a run calls.  Its ``formulation`` decides what a
training batch is:

* ``'dense'`` -- a ``(B, width)`` array, the book's formulation (the
  model reconstructs every entry, ``MaskedL2Loss`` masks the unobserved);
* ``'sparse'`` -- a ``(B, width)`` ``CSRNDArray``; the model predicts its
  stored entries only and ``ObservedL2Loss`` scores them;
* ``'auto'`` -- ``choose_formulation``'s pick for the data's shape.

Either way the batches are the same rows in the same order (the order
``ArrayIter`` draws from the same seed), so both formulations train alike.
"""
import mxnet as mx
import numpy as onp
from mxnet import np

from . import iterators as _it
from .iterators import (ArrayIter, BatchOrder, ShardOrder,
                        interaction_matrix, rating_arrays)

SPARSE_MAX_DENSITY = 0.02
"""``'auto'`` picks the sparse formulation below this fraction of observed
entries (see ``choose_formulation``)."""

FORMULATIONS = ('auto', 'dense', 'sparse')


class RatingRows:
    """A float32 rating matrix in CSR form, rows x width, with numpy arrays.

    Attributes:
        indptr: (num_rows + 1,) int64 row starts into ``indices``/``data``.
        indices: (nnz,) int64 column of each stored entry, sorted per row.
        data: (nnz,) float32 ratings.
        shape: ``(num_rows, width)``.
    """

    def __init__(self, indptr, indices, data, shape):
        self.indptr = onp.asarray(indptr, dtype=onp.int64)
        self.indices = onp.asarray(indices, dtype=onp.int64)
        self.data = onp.asarray(data, dtype=onp.float32)
        self.shape = tuple(int(s) for s in shape)
        if len(self.indptr) != self.shape[0] + 1 or \
                not self.indptr[-1] == len(self.indices) == len(self.data):
            raise ValueError('RatingRows: indptr, indices and data do not '
                             f'describe a {self.shape} CSR matrix')

    @classmethod
    def from_entries(cls, rows, cols, values, shape):
        """CSR of the entries ``(rows[k], cols[k]) = values[k]``; a repeated
        position keeps its last value, as a dense assignment would."""
        rows, cols = onp.asarray(rows), onp.asarray(cols)
        values = onp.asarray(values, dtype=onp.float32)
        order = onp.lexsort((cols, rows))   # stable: ties keep data order
        rows, cols, values = rows[order], cols[order], values[order]
        last = onp.ones(len(rows), dtype=bool)
        last[:-1] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
        rows, cols, values = rows[last], cols[last], values[last]
        counts = onp.bincount(rows, minlength=shape[0])
        return cls(onp.r_[0, onp.cumsum(counts)], cols, values, shape)

    @classmethod
    def from_ratings(cls, data, num_users, num_items, variant='item'):
        """The rating matrix of a ratings DataFrame: items x users for the
        item-based AutoRec, users x items for ``variant='user'``."""
        users, items, scores = rating_arrays(data)
        if variant == 'user':
            return cls.from_entries(users, items, scores,
                                    (num_users, num_items))
        return cls.from_entries(items, users, scores, (num_items, num_users))

    @property
    def nnz(self):
        return len(self.data)

    def select(self, rows):
        """The CSR arrays ``(indptr, indices, data)`` of ``rows`` (in that
        order), gathered in one vectorised pass."""
        rows = onp.asarray(rows, dtype=onp.int64)
        starts, counts = self.indptr[rows], onp.diff(self.indptr)[rows]
        indptr = onp.r_[0, onp.cumsum(counts)]
        # position of every selected entry: its row's start + rank in row
        pos = onp.repeat(starts - indptr[:-1], counts) + \
            onp.arange(indptr[-1])
        return indptr, self.indices[pos], self.data[pos]

    def dense(self, rows=None):
        """The rows (all by default) as a dense float32 numpy matrix."""
        rows = onp.arange(self.shape[0]) if rows is None else rows
        indptr, indices, data = self.select(rows)
        out = onp.zeros((len(indptr) - 1, self.shape[1]), dtype=onp.float32)
        out[onp.repeat(onp.arange(len(out)), onp.diff(indptr)), indices] = \
            data
        return out


def choose_formulation(num_rows, width, nnz, formulation='auto'):
    """Resolve ``formulation`` for a rating matrix of that shape.

    ``'auto'`` is ``'sparse'`` when fewer than ``SPARSE_MAX_DENSITY`` (2%)
    of the entries are observed, else ``'dense'``.  Measured on the 2-core
    CPU of the project by ``bench/bench_autorec_step.py`` (a training step
    of 256 rows, 500 hidden units, widths 943 to 69,878): the dense step
    runs at GEMM speed and costs the same at any density; the sparse one
    grows with the observed entries and breaks even at 2.5-4% whatever the
    width.  At 2% it is 1.04-1.36x faster, at 0.5% 1.5-1.9x, not more:
    both pay the same O(width x hidden) memory traffic per step (Adam's
    update of the full weights, the gradients), which is most of a sparse
    step.  So ML-100K (5.7%) and ML-1M (4.0%) keep the book's dense
    formulation; ML-10M (1.3%) and ML-20M (0.54%) are sparse (a training
    epoch 1.4-1.5x and 1.8-2.0x faster, ``bench/bench_autorec.py``; 1.7x
    at ML-10M in ``bench/bench_scale.py`` since the decoder's gradient is
    built from index arrays, and huge pages in ``train_autorec.py``).

    Args:
        num_rows, width: the matrix's shape (rows are AutoRec's examples).
        nnz: the number of observed (training) entries.
        formulation: ``'auto'``, ``'dense'`` or ``'sparse'``.

    Returns:
        ``'dense'`` or ``'sparse'``.
    """
    if formulation not in FORMULATIONS:
        raise ValueError(f'formulation={formulation!r}: expected one of '
                         f'{", ".join(FORMULATIONS)}')
    if formulation != 'auto':
        return formulation
    density = nnz / max(num_rows * width, 1)
    return 'sparse' if density < SPARSE_MAX_DENSITY else 'dense'


class RowIter:
    """Mini-batches of rows of ``RatingRows`` matrices, ``ArrayIter``'s
    order without a dense copy of the matrices.

    Rows are drawn by the same ``BatchOrder`` as ``ArrayIter(*dense
    matrices, ...)`` (same permutation from the same seed, same
    ``last_batch`` handling), and each batch is built when it is needed: a
    dense ``(B, width)`` array, or with ``sparse=True`` an MXNet
    ``CSRNDArray`` of the same rows.  The entries of a whole epoch are
    gathered in one vectorised pass.  One matrix yields arrays, several
    yield tuples.
    """

    def __init__(self, *matrices, batch_size=None, shuffle=False,
                 last_batch='keep', seed=None, sparse=False, order=None):
        if not matrices or any(m.shape[0] != matrices[0].shape[0]
                               for m in matrices):
            raise ValueError('RowIter needs one or more matrices with the '
                             'same number of rows')
        if order is None:
            order = BatchOrder(matrices[0].shape[0], batch_size, shuffle,
                               last_batch, seed)
        self.order = order
        self.matrices, self.sparse = matrices, sparse
        self.num_examples = matrices[0].shape[0]

    def __len__(self):
        return len(self.order)

    def _batch(self, epoch, start, end):
        indptr, indices, data = epoch
        lo, hi = indptr[start], indptr[end]
        local = indptr[start:end + 1] - lo          # (B + 1,)
        shape = (end - start, self.matrices[0].shape[1])
        if self.sparse:
            return mx.nd.sparse.csr_matrix(
                (data[lo:hi], indices[lo:hi], local), shape=shape)
        out = onp.zeros(shape, dtype=onp.float32)
        out[onp.repeat(onp.arange(shape[0]), onp.diff(local)),
            indices[lo:hi]] = data[lo:hi]
        return np.array(out)

    def __iter__(self):
        idx, _ = self.order.epoch()
        epochs = [m.select(idx) for m in self.matrices]
        yield from self.order.batches(len(idx), epochs, self._batch)


def autorec_iters(train, test, num_users, num_items, variant='item',
                  batch_size=256, seed=None, formulation='dense', shard=None):
    """AutoRec's iterators over rows of the rating matrix.

    A small matrix (``iterators.DENSE_LIMIT`` bytes) under the dense
    formulation
    gives exactly the book's data: ``ArrayIter`` over the dense matrices.
    Otherwise the matrices stay in CSR form and ``RowIter`` builds each
    batch, in the same order.

    Args:
        train, test: ratings DataFrames with dense 1-based ids.
        num_users, num_items: sizes of the id spaces.
        variant: ``'item'`` (the book: a row per item, one column per user)
            or ``'user'`` (a row per user).
        batch_size: rows per training batch.
        seed: seed of the training shuffle.
        formulation: ``'dense'``, ``'sparse'`` or ``'auto'``
            (``choose_formulation``).
        shard: ``(rank, num_workers)`` in a parameter-server job: the
            training rows are this worker's ``ShardOrder`` share.

    Returns:
        ``(width, train_iter, test_iter)``: the row length; shuffled training
        rows (rollover, as the book's loader), dense arrays or CSR matrices
        as the formulation says; ``(observed rows, held-out rows)`` pairs
        for evaluation, 1024 rows at a time, dense for a small matrix under
        the dense formulation and CSR matrices otherwise.
    """
    if variant not in ('item', 'user'):
        raise ValueError(f"variant={variant!r}: expected 'item' or 'user'")
    num_rows, width = (num_users, num_items) if variant == 'user' else \
        (num_items, num_users)
    formulation = choose_formulation(num_rows, width, len(train), formulation)
    order = BatchOrder(num_rows, batch_size, shuffle=True,
                       last_batch='rollover', seed=seed) if shard is None \
        else ShardOrder(num_rows, batch_size, *shard, seed=seed)
    if formulation == 'dense' and num_rows * width * 4 <= _it.DENSE_LIMIT:
        transpose = variant == 'user'
        train_mat = interaction_matrix(train, num_users, num_items, transpose)
        test_mat = interaction_matrix(test, num_users, num_items, transpose)
        return width, ArrayIter(train_mat, order=order), \
            ArrayIter(train_mat, test_mat, batch_size=1024)
    train_rows = RatingRows.from_ratings(train, num_users, num_items, variant)
    test_rows = RatingRows.from_ratings(test, num_users, num_items, variant)
    train_iter = RowIter(train_rows, order=order,
                         sparse=formulation == 'sparse')
    test_iter = RowIter(train_rows, test_rows, batch_size=1024, sparse=True)
    return width, train_iter, test_iter
