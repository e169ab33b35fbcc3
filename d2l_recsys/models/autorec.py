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
  gradients and the optimizer's update of the full weights; a dense
  ``(B, n)`` array exists only where the decoder finds one product of the
  whole batch cheaper, and never above ``_DecodeAt.WHOLE_MAX`` entries
  (256 MB).  ``data.rows.autorec_iters`` yields such batches
  (``formulation='sparse'``); ``data.rows.choose_formulation`` says when
  they pay (below 2% observed, as ML-10M and ML-20M) and where its figures
  are.

The encoder is plain autograd: ``x @ V.T`` computed as ``x.T.T @ V.T``,
MXNet's fast CSR product, which reads each needed column of ``V`` once per
batch; its gradient ``x.T @ dy`` is the same kernel.  The decoder is an
``autograd.Function``: its forward pass computes the outputs at the entries
(the whole batch decoded and its entries picked, or, for a sparse batch,
chunk by chunk), its backward pass is two CSR products of the output
gradient.  No step waits for a result of its own computation: the index
arrays come from the batch's own, made on the host, and the backward pass
(which MXNet runs later, on another thread) only pushes asynchronous
operators -- waiting there can deadlock MXNet's engine.

In training (``autograd.is_training()``) the dense block returns its
reconstruction times ``sign(x)``, as the book's block does, so the chapter's
plain ``L2Loss`` scores only the observed entries; outside training it
returns every entry.  The book branches inside ``forward``; a hybridized
block would freeze that branch into its cached graph at the first call, so
here the branch sits outside the cached graph (``forward`` below) and
holds in both modes.  ``MaskedL2Loss`` masks again, which changes nothing:
the product by ``sign(x)`` is exact.  ``mask=False`` turns the training
mask off (the loss alone then decides what is scored).
"""
import mxnet as mx
from mxnet import autograd, np, npx
from mxnet.gluon import nn

from ..csr import Entries, as_nd, is_csr, times_t


class _DecodeAt(autograd.Function):
    """Decoder outputs ``h @ w.T + c`` at the stored entries of a CSR
    pattern only, in its order: ``(nnz,)``.

    The forward pass takes one of two ways.  Chunk by chunk of a few
    rows: gather the rows of ``w`` the chunk needs (small enough to stay in
    cache), multiply by the chunk's rows of ``h`` and pick each entry's own
    row.  A chunk holds up to ``Entries.CHUNK`` entries and
    ``Entries.CHUNK_ROWS`` rows, so each row costs about ``min(CHUNK,
    CHUNK_ROWS * nnz / B)`` products of length ``k``, at a fraction of GEMM
    speed.  Or whole: one ``FullyConnected`` of the batch (``n`` products a
    row, at GEMM speed), then the entries picked out.  The batch is decoded
    whole when ``n`` is at most ``WHOLE_RATIO`` times the chunks' products
    a row and the ``(B, n)`` output holds at most ``WHOLE_MAX`` entries.
    The ratio lies between the batches timed faster whole and those timed
    faster in chunks (n over the chunks' products a row): ML-100K's and
    ML-10M's training batches (1.1 and 34) are decoded whole, ML-20M's
    (68) and the evaluation batches of ML-10M's shape (47) and ML-20M's
    (115) in chunks.  Both ways' times at each shape are
    in ``bench/results/bounds.json`` (a one-off measurement)
    (``decoder_full_take``, ``decoder_chunked``; docs/benchmarks.md,
    "AutoRec's decoder, whole or chunk by chunk").  The backward
    pass is two sparse products, ``dh = G w`` and ``dw = G.T h``, with
    ``G`` the output gradient at the entries.  ``training``: a backward
    pass will follow.
    """

    WHOLE_RATIO = 40
    WHOLE_MAX = 1 << 26

    def __init__(self, entries, training):
        super().__init__()
        self.entries, self.training = entries, training

    def forward(self, h, w, c):                 # (B, k), (n, k), (n,)
        h, w, c = as_nd(h, w, c)
        # MXNet runs a Function's backward pass later, on another thread:
        # by then the trainer may have pushed its update of ``w``, which
        # would deadlock (and be wrong), so keep this step's ``w``.
        if self.training:
            self.save_for_backward(h, w.copy())
            self.entries.x_t()      # the backward pass's index arrays
        e = self.entries
        if not e.nnz:
            return np.zeros((0,), ctx=e.ctx)
        if self.whole(e):
            full = mx.nd.FullyConnected(h, w, c, num_hidden=w.shape[0])
            return mx.nd.take(full.reshape(-1), e.flat).as_np_ndarray()
        ptr, parts = e.indptr, []
        for start, end in e.chunks:
            lo, hi = int(ptr[start]), int(ptr[end])
            scores = mx.nd.dot(mx.nd.take(w, e.cols[lo:hi]), h[start:end],
                               transpose_b=True)       # (entries, rows)
            parts.append(mx.nd.pick(scores, e.chunk_rows[lo:hi], axis=1))
        out = mx.nd.concat(*parts, dim=0) + mx.nd.take(c, e.cols)
        return out.as_np_ndarray()

    @classmethod
    def whole(cls, e):
        """Whether to decode the batch of ``Entries`` ``e`` whole."""
        rows, width = e.shape
        per_row = min(e.CHUNK, e.CHUNK_ROWS * e.nnz / rows)
        return rows * width <= cls.WHOLE_MAX and \
            width <= cls.WHOLE_RATIO * per_row

    def backward(self, dout):                   # (nnz,)
        h, w = self.saved_tensors
        # MXNet keeps the Function until it frees the whole graph; drop the
        # copy of w (277 MB at ML-20M) now rather than then.
        self.saved_tensors = ()
        e = self.entries
        if not e.nnz:
            return mx.nd.zeros_like(h), mx.nd.zeros_like(w), \
                mx.nd.zeros(w.shape[0], ctx=e.ctx)
        dout, = as_nd(dout)
        g_t = e.by_col(dout)                    # (n, B)
        ones = mx.nd.ones((h.shape[0], 1), ctx=e.ctx)
        return (times_t(g_t, w),                           # (B, k)
                mx.nd.sparse.dot(g_t, h),                   # (n, k)
                mx.nd.sparse.dot(g_t, ones).reshape(-1))    # (n,)


class AutoRec(nn.HybridBlock):
    """``AutoRec(num_hiddens, num_users, dropout=0.05)``; the book's
    ``AutoRec(num_hidden=500, num_users=...)`` keyword works too.

    ``num_users`` is the length of an input row: the number of users for the
    book's item-based AutoRec (rows are items), the number of items for the
    user-based variant (rows are users).

    ``net(x)`` reconstructs the rows ``x``: every entry ``(B, n)`` for dense
    rows (in training, zero where ``x`` is: the book's mask; ``mask=False``
    keeps every entry), the ``(nnz,)`` stored entries (in CSR order) for CSR rows.
    ``net.predict(x, query)`` gives the predictions at the nonzero entries
    of ``query`` from the input rows ``x``: dense ``(B, n)`` with zeros
    elsewhere, or ``(nnz,)`` at the stored entries of a CSR ``query``; that
    is how held-out ratings are scored.

    The observed-entries computation takes CSR rows; the former
    ``sparse=True`` flag (dense rows, outputs zeroed where unobserved) is
    refused with a pointer to them.
    """

    def __init__(self, num_hiddens=None, num_users=None, dropout=0.05,
                 num_hidden=None, sparse=False, mask=True, **kwargs):
        if sparse:
            raise ValueError('AutoRec(sparse=True) was removed: give the '
                             'block CSR rows (formulation="sparse" in a run) '
                             'to score the observed entries only')
        if num_hidden is not None:
            if num_hiddens not in (None, num_hidden):
                raise ValueError(f'num_hidden={num_hidden} and num_hiddens='
                                 f'{num_hiddens}: give one of them')
            num_hiddens = num_hidden
        if num_hiddens is None or num_users is None:
            raise TypeError('AutoRec needs num_hiddens (the book: '
                            'num_hidden) and num_users')
        super().__init__(**kwargs)
        self.config = dict(num_hiddens=num_hiddens, num_users=num_users,
                           dropout=dropout)
        self.encoder = nn.Dense(num_hiddens, activation='sigmoid',
                                in_units=num_users)
        self.decoder = nn.Dense(num_users, in_units=num_hiddens)
        self.dropout = nn.Dropout(dropout)
        self.mask = mask

    def start_at_mean(self, mean):
        """Add ``mean`` (the training ratings' mean) to the decoder's
        biases, so that reconstructions start at the mean rating rather
        than at 0.  Call after ``initialize``."""
        self.decoder.bias.set_data(self.decoder.bias.data() + mean)

    def hybrid_forward(self, F, x):             # x: (B, num_users)
        return self.decoder(self.dropout(self.encoder(x)))

    def _observed(self, x, query):
        """Predictions (nnz,) at the stored entries of the CSR ``query``
        from the CSR rows ``x``."""
        ctx = x.context
        entries = Entries(x)
        # x @ V.T as x.T.T @ V.T: MXNet's CSR products are fast with the
        # dense operand row-major, and autograd's gradient, x.T @ dy, too.
        w_t = self.encoder.weight.data(ctx).as_nd_ndarray().T    # (n, k)
        pre = times_t(entries.x_t(), w_t).as_np_ndarray()       # (B, k)
        hidden = self.dropout(npx.sigmoid(pre + self.encoder.bias.data(ctx)))
        at = entries if query is x else Entries(query)
        return _DecodeAt(at, autograd.is_recording())(
            hidden, self.decoder.weight.data(ctx),
            self.decoder.bias.data(ctx))

    def forward(self, x):
        if is_csr(x):           # already only the observed entries
            return self._observed(x, x)
        out = super().forward(x)                # (B, num_users)
        if self.mask and autograd.is_training():
            out = out * np.sign(x)
        return out

    def predict(self, x, query):
        """Predictions at the nonzero entries of ``query`` given the
        observed rows ``x`` (both ``(B, n)``, both dense or both CSR)."""
        if is_csr(query):
            return self._observed(x, query)
        return super().forward(x) * np.sign(query)

    def predict_at(self, x, flat):
        """The reconstruction of the dense rows ``x`` (``(B, n)``) at the
        row-major positions ``flat`` (a 1-D integer array, on ``x``'s
        device) of its ``B x n`` entries: ``(len(flat),)``, the values of
        ``predict(x, query)`` at the nonzero entries of a ``query`` whose
        ``flatnonzero`` is ``flat``, without the dense product by its
        signs."""
        out = super().forward(x).as_nd_ndarray().reshape((-1,))  # a view
        return mx.nd.take(out, flat.as_nd_ndarray()).as_np_ndarray()
