"""AutoRec (Sedhain et al., 2015; d2l, chapter "AutoRec: Rating Prediction
with Autoencoders").

A row of the rating matrix ``r`` (length ``num_users`` for the book's
item-based model, ``num_items`` for the user-based variant, 0 = unobserved)
is reconstructed as ``h(r) = f(W g(V r + mu) + b)`` with a sigmoid ``g``, a
linear ``f`` and dropout on the hidden layer.  Training minimises the squared
error over *observed* entries only.

The input says which of two formulations computes it; both give the same
predictions, loss and gradients (tested):

* dense rows ``(B, n)`` -- the book's: dense products over whole rows and a
  loss that masks unobserved entries (``MaskedL2Loss``).  Hybridizable;
  O(B n k) arithmetic for ``k`` hidden units, at GEMM speed.
* CSR rows (an ``mx.nd.sparse.CSRNDArray`` ``(B, n)``) -- the observed
  entries only: the encoder multiplies the sparse rows, the decoder is
  evaluated at the stored entries only, and ``ObservedL2Loss`` scores them.
  O(nnz k) arithmetic, but still O(n k) memory traffic per step for the
  gradients and the optimizer's update of the full weights; no dense
  ``(B, n)`` array exists.  ``data.rows.autorec_iters`` yields such batches
  (``formulation='sparse'``); ``data.rows.choose_formulation`` says when
  they pay (below 2% observed, as ML-10M and ML-20M; by 1.4-2x).

The encoder is plain autograd: ``x @ V.T`` computed as ``x.T.T @ V.T``,
MXNet's fast CSR product, which reads each needed column of ``V`` once per
batch; its gradient ``x.T @ dy`` is the same kernel.  The decoder is an
``autograd.Function``: its forward pass computes the outputs at the entries
chunk by chunk (small gathers that stay in cache), its backward pass is two
CSR products of the output gradient.  No step waits for the device: the
index arrays come from the batch's own, made on the host, and the backward
pass (which MXNet runs later, on another thread) only pushes asynchronous
operators -- waiting there can deadlock MXNet's engine.

The book masks inside ``forward`` with ``if autograd.is_training()``; in a
hybridized block that branch is frozen into the cached graph at the first
call, so a block first called for evaluation would never mask in training.
Here masking lives in the loss, and ``forward`` behaves the same in both
modes (dropout aside, which MXNet switches correctly at run time).
"""
import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn


def is_csr(x):
    """True for an MXNet CSR matrix (the sparse formulation's rows)."""
    return isinstance(x, mx.nd.sparse.CSRNDArray)


class _Entries:
    """The stored entries of a CSR matrix ``x`` (B, n), as index arrays on
    ``x``'s device, read from ``x``'s own index arrays.

    The iterator made those on the host, so reading them waits for no
    computation.  What a backward pass needs is built here, or there by
    asynchronous operators only: a backward pass that waits for the device
    can deadlock MXNet's engine.
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
        self.chunks = self._chunks()
        starts = onp.repeat([r for r, _ in self.chunks],
                            [self.indptr[e] - self.indptr[r]
                             for r, e in self.chunks])
        self.rows, self.cols, self.chunk_rows = [self.array(a) for a in (
            self.rows_np, self.cols_np, self.rows_np - starts)]
        self.col_row = mx.nd.stack(self.cols, self.rows)     # (2, nnz)
        self._x_t = None

    def x_t(self):
        """``x.T``, CSR (n, B), made from the host arrays (call it before
        the backward pass)."""
        if self._x_t is None:
            order = onp.argsort(self.cols_np, kind='stable')
            counts = onp.bincount(self.cols_np, minlength=self.shape[1])
            self._x_t = mx.nd.sparse.csr_matrix(
                (self.x.data.asnumpy()[order], self.rows_np[order],
                 onp.r_[0, onp.cumsum(counts)]), shape=self.shape[::-1],
                ctx=self.ctx)
        return self._x_t

    def array(self, a, dtype='int64'):
        return mx.nd.array(a, ctx=self.ctx, dtype=dtype)

    def _chunks(self):
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
        order) at the entries; built by asynchronous operators."""
        dense = mx.nd.scatter_nd(values, self.col_row, self.shape[::-1])
        return mx.nd.sparse.cast_storage(dense, 'csr')

    def segments(self):
        """CSR (B, nnz) of ones: row ``i`` sums row ``i``'s entries."""
        return mx.nd.sparse.csr_matrix(
            (onp.ones(self.nnz, dtype=onp.float32), onp.arange(self.nnz),
             self.indptr), shape=(self.shape[0], self.nnz), ctx=self.ctx)


def _nd(*arrays):
    return [a.as_nd_ndarray() for a in arrays]


def _times_t(csr_t, dense):
    """``csr_t.T @ dense`` for a CSR ``csr_t`` (n, B) and a dense ``dense``
    (n, k): (B, k).  Going through the entries column by column reads each
    needed row of ``dense`` once per batch, not once per entry."""
    return mx.nd.sparse.dot(csr_t, dense, transpose_a=True,
                            forward_stype='default')


class _DecodeAt(autograd.Function):
    """Decoder outputs ``h @ w.T + c`` at the stored entries of a CSR
    pattern only, in its order: ``(nnz,)``.

    The forward pass goes chunk by chunk of a few rows: gather the rows of
    ``w`` the chunk needs (small enough to stay in cache), multiply by the
    chunk's rows of ``h`` and pick each entry's own row.  The backward pass
    is two sparse products, ``dh = G w`` and ``dw = G.T h``, with ``G`` the
    output gradient at the entries.  ``training``: a backward pass will
    follow.
    """

    def __init__(self, entries, training):
        super().__init__()
        self.entries, self.training = entries, training

    def forward(self, h, w, c):                 # (B, k), (n, k), (n,)
        h, w, c = _nd(h, w, c)
        # MXNet runs a Function's backward pass later, on another thread:
        # by then the trainer may have pushed its update of ``w``, which
        # would deadlock (and be wrong), so keep this step's ``w``.
        if self.training:
            self.save_for_backward(h, w.copy())
        e = self.entries
        if not e.nnz:
            return np.zeros((0,), ctx=e.ctx)
        ptr, parts = e.indptr, []
        for start, end in e.chunks:
            lo, hi = int(ptr[start]), int(ptr[end])
            scores = mx.nd.dot(mx.nd.take(w, e.cols[lo:hi]), h[start:end],
                               transpose_b=True)       # (entries, rows)
            parts.append(mx.nd.pick(scores, e.chunk_rows[lo:hi], axis=1))
        out = mx.nd.concat(*parts, dim=0) + mx.nd.take(c, e.cols)
        return out.as_np_ndarray()

    def backward(self, dout):                   # (nnz,)
        h, w = self.saved_tensors
        # MXNet keeps the Function until it frees the whole graph; drop the
        # copy of w (277 MB at ML-20M) now rather than then.
        self.saved_tensors = ()
        e = self.entries
        if not e.nnz:
            return mx.nd.zeros_like(h), mx.nd.zeros_like(w), \
                mx.nd.zeros(w.shape[0], ctx=e.ctx)
        dout, = _nd(dout)
        g_t = e.by_col(dout)                    # (n, B)
        ones = mx.nd.ones((h.shape[0], 1), ctx=e.ctx)
        return (_times_t(g_t, w),                           # (B, k)
                mx.nd.sparse.dot(g_t, h),                   # (n, k)
                mx.nd.sparse.dot(g_t, ones).reshape(-1))    # (n,)


class _RowSums(autograd.Function):
    """Per-row sums ``(B,)`` of values ``(nnz,)`` at a CSR pattern's
    entries (at least one)."""

    def __init__(self, entries):
        super().__init__()
        self.entries = entries

    def forward(self, values):
        values, = _nd(values)
        return mx.nd.sparse.dot(self.entries.segments(),
                                values.reshape((-1, 1))) \
            .reshape(-1).as_np_ndarray()

    def backward(self, dy):                     # (B,) -> (nnz,)
        dy, = _nd(dy)
        return mx.nd.take(dy, self.entries.rows)


class ObservedL2Loss(gluon.loss.Loss):
    """``MaskedL2Loss`` for the sparse formulation: ``loss(pred, rows)``
    with ``pred`` (nnz,) the predictions at the stored entries of the CSR
    rows ``rows`` (B, n).  Per row: half the squared error summed over the
    observed entries, divided by ``n`` (``MaskedL2Loss`` takes the mean
    over all ``n`` columns).  Returns ``(B,)``."""

    def __init__(self, **kwargs):
        super().__init__(weight=None, batch_axis=0, **kwargs)

    def forward(self, pred, rows):
        if not is_csr(rows):
            raise ValueError('ObservedL2Loss scores CSR rows; use '
                             'MaskedL2Loss for dense rows')
        err = pred - rows.data.as_np_ndarray()
        entries = _Entries(rows)
        if not entries.nnz:     # nothing observed: zero, still on the graph
            return np.zeros(rows.shape[0], ctx=rows.context) + 0 * err.sum()
        return _RowSums(entries)(err * err) * (0.5 / rows.shape[1])


class AutoRec(nn.HybridBlock):
    """``AutoRec(num_hiddens, num_users, dropout=0.05, sparse=False)``.

    ``num_users`` is the length of an input row: the number of users for the
    book's item-based AutoRec (rows are items), the number of items for the
    user-based variant (rows are users).

    ``net(x)`` reconstructs the rows ``x``: every entry ``(B, n)`` for dense
    rows, the ``(nnz,)`` stored entries (in CSR order) for CSR rows.
    ``net.predict(x, query)`` gives the predictions at the nonzero entries
    of ``query`` from the input rows ``x``: dense ``(B, n)`` with zeros
    elsewhere, or ``(nnz,)`` at the stored entries of a CSR ``query``; that
    is how held-out ratings are scored.

    ``sparse=True`` is kept for configurations and saved models of earlier
    versions: with dense rows it returns the reconstruction at the observed
    entries only (zero elsewhere), the same numbers as before.  Use CSR
    rows for the observed-entries computation.
    """

    def __init__(self, num_hiddens, num_users, dropout=0.05, sparse=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.config = dict(num_hiddens=num_hiddens, num_users=num_users,
                           dropout=dropout, sparse=sparse)
        self.sparse = sparse
        self.encoder = nn.Dense(num_hiddens, activation='sigmoid',
                                in_units=num_users)
        self.decoder = nn.Dense(num_users, in_units=num_hiddens)
        self.dropout = nn.Dropout(dropout)

    def hybrid_forward(self, F, x):             # x: (B, num_users)
        return self.decoder(self.dropout(self.encoder(x)))

    def _observed(self, x, query):
        """Predictions (nnz,) at the stored entries of the CSR ``query``
        from the CSR rows ``x``."""
        ctx = x.context
        entries = _Entries(x)
        # x @ V.T as x.T.T @ V.T: MXNet's CSR products are fast with the
        # dense operand row-major, and autograd's gradient, x.T @ dy, too.
        w_t = self.encoder.weight.data(ctx).as_nd_ndarray().T    # (n, k)
        pre = _times_t(entries.x_t(), w_t).as_np_ndarray()       # (B, k)
        hidden = self.dropout(npx.sigmoid(pre + self.encoder.bias.data(ctx)))
        at = entries if query is x else _Entries(query)
        return _DecodeAt(at, autograd.is_recording())(
            hidden, self.decoder.weight.data(ctx),
            self.decoder.bias.data(ctx))

    def forward(self, x):
        if is_csr(x):
            return self._observed(x, x)
        out = super().forward(x)
        return out * np.sign(x) if self.sparse else out

    def predict(self, x, query):
        """Predictions at the nonzero entries of ``query`` given the
        observed rows ``x`` (both ``(B, n)``, both dense or both CSR)."""
        if is_csr(query):
            return self._observed(x, query)
        return super().forward(x) * np.sign(query)
