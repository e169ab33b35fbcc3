"""CSR helpers shared by AutoRec's sparse formulation (the model) and its
loss: a batch's stored entries as index arrays, and products and sums over
them that MXNet's autograd can run.  Neither models nor losses: both use it.
"""
import functools

import mxnet as mx
import numpy as onp
from mxnet import autograd


def is_csr(x):
    """True for an MXNet CSR matrix (the sparse formulation's rows)."""
    return isinstance(x, mx.nd.sparse.CSRNDArray)


class Entries:
    """The stored entries of a CSR matrix ``x`` (B, n), as index arrays on
    ``x``'s device, read from ``x``'s own index arrays.

    The iterator made those on the host, so reading them waits for no
    computation.  What a backward pass needs is built here, before it; the
    backward pass itself only pushes operators and copies arrays that are
    ready: one that waits for pending computation can deadlock MXNet's
    engine.
    """

    CHUNK = 2048        # entries per decoder chunk (its rows fit in cache)
    CHUNK_ROWS = 16     # rows per decoder chunk

    def __init__(self, x):
        self.x, self.shape, self.ctx = x, x.shape, x.context
        self.indptr = x.indptr.asnumpy()
        self.cols_np = x.indices.asnumpy()
        self.nnz = len(self.cols_np)
        self.rows_np = onp.repeat(onp.arange(x.shape[0]),
                                  onp.diff(self.indptr))
        self._x_t = None

    # Built on first use: the loss needs the rows only, the decoder the rest.
    @functools.cached_property
    def rows(self):
        return self.array(self.rows_np)

    @functools.cached_property
    def cols(self):
        return self.array(self.cols_np)

    @functools.cached_property
    def flat(self):
        """Each entry's position in the row-major (B, n) matrix."""
        return self.array(self.rows_np * self.shape[1] + self.cols_np)

    @functools.cached_property
    def chunk_rows(self):
        """Each entry's row within its decoder chunk."""
        starts = onp.repeat([r for r, _ in self.chunks],
                            [self.indptr[e] - self.indptr[r]
                             for r, e in self.chunks])
        return self.array(self.rows_np - starts)

    def x_t(self):
        """``x.T``, CSR (n, B), made from the host arrays (call it before
        the backward pass)."""
        if self._x_t is None:
            order = onp.argsort(self.cols_np, kind='stable')
            counts = onp.bincount(self.cols_np, minlength=self.shape[1])
            indptr = onp.r_[0, onp.cumsum(counts)]
            self._x_t = mx.nd.sparse.csr_matrix(
                (self.x.data.asnumpy()[order], self.rows_np[order], indptr),
                shape=self.shape[::-1], ctx=self.ctx)
            # what by_col needs to give other values the same pattern
            self._t_pattern = [self.array(a) for a in (
                order, self.rows_np[order], indptr)]
        return self._x_t

    def array(self, a, dtype='int64'):
        return mx.nd.array(a, ctx=self.ctx, dtype=dtype)

    @functools.cached_property
    def chunks(self):
        """Row ranges ``(start, end)`` with at most ``CHUNK`` entries (or
        one longer row) and ``CHUNK_ROWS`` rows, covering every entry."""
        ptr, num_rows, out, start = self.indptr, self.shape[0], [], 0
        while start < num_rows:
            end = start + 1
            while end < num_rows and end - start < self.CHUNK_ROWS and \
                    ptr[end + 1] - ptr[start] <= self.CHUNK:
                end += 1
            if ptr[end] > ptr[start]:
                out.append((start, end))
            start = end
        return out

    def by_col(self, values):
        """CSR (n, B), the transpose, holding ``values`` (nnz, in row
        order) at the entries: the values in column order with ``x.T``'s
        index arrays (call ``x_t()`` before the backward pass).  The copy
        into the CSR waits only for that ``take``, whose input is ready,
        and moves the nnz values only, where a dense (n, B) scatter would
        write n B (its cost at ML-20M's shape: docs/benchmarks.md,
        "Figures measured once, without a result file")."""
        if self._x_t is None:
            raise RuntimeError('Entries.by_col needs x_t() first')
        order, indices, indptr = self._t_pattern
        return mx.nd.sparse.csr_matrix(
            (mx.nd.take(values, order), indices, indptr),
            shape=self.shape[::-1], ctx=self.ctx)

    def segments(self):
        """CSR (B, nnz) of ones: row ``i`` sums row ``i``'s entries."""
        return mx.nd.sparse.csr_matrix(
            (onp.ones(self.nnz, dtype=onp.float32), onp.arange(self.nnz),
             self.indptr), shape=(self.shape[0], self.nnz), ctx=self.ctx)


def as_nd(*arrays):
    return [a.as_nd_ndarray() for a in arrays]


def times_t(csr_t, dense):
    """``csr_t.T @ dense`` for a CSR ``csr_t`` (n, B) and a dense ``dense``
    (n, k): (B, k).  Going through the entries column by column reads each
    needed row of ``dense`` once per batch, not once per entry."""
    return mx.nd.sparse.dot(csr_t, dense, transpose_a=True,
                            forward_stype='default')


class RowSums(autograd.Function):
    """Per-row sums ``(B,)`` of values ``(nnz,)`` at a CSR pattern's
    entries (at least one)."""

    def __init__(self, entries):
        super().__init__()
        self.entries = entries

    def forward(self, values):
        values, = as_nd(values)
        return mx.nd.sparse.dot(self.entries.segments(),
                                values.reshape((-1, 1))) \
            .reshape(-1).as_np_ndarray()

    def backward(self, dy):                     # (B,) -> (nnz,)
        dy, = as_nd(dy)
        return mx.nd.take(dy, self.entries.rows)
