"""AutoRec's rows of the rating matrix, in bounded memory.

A row is an item's ratings (one column per user, the book's item-based
AutoRec) or a user's (``variant='user'``).  The matrix is stored densely
only when it is small (``interactions.DENSE_LIMIT``); otherwise it stays an
``Interactions`` (CSR) and every batch is built on the fly, as dense rows
or as an MXNet CSR matrix.

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

from . import interactions as _inter
from .interactions import Interactions
from .iterators import ArrayIter, BatchOrder, ShardOrder, interaction_matrix

SPARSE_MAX_DENSITY = 0.02
"""``'auto'`` picks the sparse formulation below this fraction of observed
entries (see ``choose_formulation``)."""

FORMULATIONS = ('auto', 'dense', 'sparse')


def choose_formulation(num_rows, width, nnz, formulation='auto'):
    """Resolve ``formulation`` for a rating matrix of that shape.

    ``'auto'`` is ``'sparse'`` when fewer than ``SPARSE_MAX_DENSITY`` (2%)
    of the entries are observed, else ``'dense'``.  The dense step runs at
    GEMM speed and costs the same at any density; the sparse one grows
    with the observed entries, and breaks even above 2% at every width
    ``bench/results/autorec-step.json`` records.  Its gain stays modest: both
    pay the same O(width x hidden) memory traffic per step (Adam's update
    of the full weights, the gradients), which is most of a sparse step.
    So ML-100K (5.7%) and ML-1M (4.0%) keep the book's dense formulation;
    ML-10M (1.3%) and ML-20M (0.54%) are sparse.  The figures: the steps
    and ML-20M's epoch in docs/benchmarks.md, "Figures measured once,
    without a result file"; ML-10M's epoch in both formulations in
    ``bench/results/scale-large-aa3202b.json`` (docs/benchmarks.md, "How
    cost grows with the data").

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
    """Mini-batches of rows of ``Interactions`` matrices, ``ArrayIter``'s
    order without a dense copy of the matrices.

    Rows are drawn by the same ``BatchOrder`` as ``ArrayIter(*dense
    matrices, ...)`` (same permutation from the same seed, same
    ``last_batch`` handling), and each batch is built when it is needed: a
    dense ``(B, width)`` array, or with ``csr=True`` an MXNet
    ``CSRNDArray`` of the same rows.  The entries of a whole epoch are
    gathered in one vectorised pass.  One matrix yields arrays, several
    yield tuples.
    """

    def __init__(self, *matrices, batch_size=None, shuffle=False,
                 last_batch='keep', seed=None, csr=False, order=None):
        if not matrices or any(m.shape[0] != matrices[0].shape[0]
                               for m in matrices):
            raise ValueError('RowIter needs one or more matrices with the '
                             'same number of rows')
        if order is None:
            order = BatchOrder(matrices[0].shape[0], batch_size, shuffle,
                               last_batch, seed)
        self.order = order
        self.matrices, self.csr = matrices, csr
        self.num_examples = matrices[0].shape[0]

    def __len__(self):
        return len(self.order)

    def _batch(self, epoch, start, end):
        indptr, indices, data = epoch
        lo, hi = indptr[start], indptr[end]
        local = indptr[start:end + 1] - lo          # (B + 1,)
        shape = (end - start, self.matrices[0].shape[1])
        if self.csr:
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

    A small matrix (``interactions.DENSE_LIMIT`` bytes) under the dense
    formulation gives exactly the book's data: ``ArrayIter`` over the dense
    matrices.  Otherwise the matrices stay ``Interactions`` (CSR) and
    ``RowIter`` builds each batch, in the same order.

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
        the dense formulation and CSR matrices otherwise (None when
        ``test`` is None).
    """
    if variant not in ('item', 'user'):
        raise ValueError(f"variant={variant!r}: expected 'item' or 'user'")
    num_rows, width = (num_users, num_items) if variant == 'user' else \
        (num_items, num_users)
    formulation = choose_formulation(num_rows, width, len(train), formulation)
    order = BatchOrder(num_rows, batch_size, shuffle=True,
                       last_batch='rollover', seed=seed) if shard is None \
        else ShardOrder(num_rows, batch_size, *shard, seed=seed)
    if formulation == 'dense' and \
            num_rows * width * 4 <= _inter.DENSE_LIMIT:
        transpose = variant == 'user'
        train_mat = interaction_matrix(train, num_users, num_items, transpose)
        test_iter = None if test is None else ArrayIter(
            train_mat, interaction_matrix(test, num_users, num_items,
                                          transpose), batch_size=1024)
        return width, ArrayIter(train_mat, order=order), test_iter
    train_rows = Interactions.from_ratings(train, num_users, num_items,
                                           variant)
    train_iter = RowIter(train_rows, order=order,
                         csr=formulation == 'sparse')
    test_iter = None if test is None else RowIter(
        train_rows, Interactions.from_ratings(test, num_users, num_items,
                                              variant),
        batch_size=1024, csr=True)
    return width, train_iter, test_iter
