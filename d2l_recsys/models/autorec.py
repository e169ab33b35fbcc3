"""AutoRec (Sedhain et al., 2015; d2l, chapter "AutoRec: Rating Prediction
with Autoencoders").

A row of the rating matrix ``r`` (length ``num_users`` for the book's
item-based model, ``num_items`` for the user-based variant, 0 = unobserved)
is reconstructed as ``h(r) = f(W g(V r + mu) + b)`` with a sigmoid ``g``, a
linear ``f`` and dropout on the hidden layer.  Training minimises the squared
error over *observed* entries only.

Two formulations give the same predictions, loss and gradients (tested):

* ``sparse=False`` (default) -- the book's: dense products over whole rows
  and a loss that masks unobserved entries (``MaskedL2Loss``).  Hybridizable.
* ``sparse=True`` -- the encoder multiplies a CSR copy of the input and the
  decoder's backward pass goes through the observed entries only (about 6% of
  ML-100K's matrix).  It does a fraction of the arithmetic, yet on the 2-core
  CPU here it is *slower* (25 ms against 13 ms per batch of 256 rows,
  ``bench/bench_autorec_step.py``): MXNet's CSR kernels run on one thread
  and its gathers are slow, while the dense path runs at GEMM speed.  It is
  kept as an option for machines with better sparse kernels (untested on
  GPU).  It is not hybridizable (it uses ``autograd.Function``).

The book masks inside ``forward`` with ``if autograd.is_training()``; in a
hybridized block that branch is frozen into the cached graph at the first
call, so a block first called for evaluation would never mask in training.
Here masking lives in the loss, and ``forward`` behaves the same in both
modes (dropout aside, which MXNet switches correctly at run time).
"""
import mxnet as mx
import numpy as onp
from mxnet import autograd, np
from mxnet.gluon import nn


def _csr(x):
    """Dense (B, n) MXNet array -> (CSR NDArray, row index of each nonzero)."""
    csr = x.as_nd_ndarray().tostype('csr')
    counts = onp.diff(csr.indptr.asnumpy())
    rows = mx.nd.array(onp.repeat(onp.arange(len(counts)), counts),
                       ctx=x.ctx, dtype='int64')
    return csr, rows


class _CsrDot(autograd.Function):
    """``csr @ w`` for a constant CSR matrix, differentiable in ``w``."""

    def __init__(self, csr):
        super().__init__()
        self.csr = csr

    def forward(self, w):                       # w: (n, h)
        return mx.nd.sparse.dot(self.csr, w.as_nd_ndarray()).as_np_ndarray()

    def backward(self, dy):                     # dy: (B, h) -> (n, h)
        return mx.nd.sparse.dot(self.csr, dy, transpose_a=True,
                                forward_stype='default')


class _ObservedDecode(autograd.Function):
    """Decoder outputs ``h @ w.T + c`` kept only where the CSR ``pattern`` has
    an entry (zero elsewhere).  The forward pass is one dense product (MXNet's
    GEMM beats gathering the few needed rows); the backward pass touches only
    the kept entries."""

    def __init__(self, pattern, rows):
        super().__init__()
        self.pattern, self.rows = pattern, rows

    def forward(self, h, w, c):                 # (B, k), (n, k), (n,)
        h, w, c = h.as_nd_ndarray(), w.as_nd_ndarray(), c.as_nd_ndarray()
        self.save_for_backward(h, w)
        full = mx.nd.FullyConnected(h, w, c, num_hidden=w.shape[0])
        return (full * mx.nd.sign(self.pattern.tostype('default'))) \
            .as_np_ndarray()

    def backward(self, dout):                   # dout: (B, n)
        h, w = self.saved_tensors
        p = self.pattern
        idx = mx.nd.stack(self.rows, p.indices.astype('int64'))
        grad = mx.nd.sparse.csr_matrix(
            (mx.nd.gather_nd(dout, idx), p.indices, p.indptr),
            shape=p.shape, ctx=p.context)
        ones = mx.nd.ones((grad.shape[0], 1), ctx=dout.context)
        return (mx.nd.sparse.dot(grad, w),
                mx.nd.sparse.dot(grad, h, transpose_a=True,
                                 forward_stype='default'),
                mx.nd.sparse.dot(grad, ones, transpose_a=True,
                                 forward_stype='default').reshape(-1))


class AutoRec(nn.HybridBlock):
    """``AutoRec(num_hiddens, num_users, dropout=0.05, sparse=False)``.

    ``num_users`` is the length of an input row: the number of users for the
    book's item-based AutoRec (rows are items), the number of items for the
    user-based variant (rows are users).

    ``net(x)`` returns the reconstruction of the rows ``x`` -- every entry
    with ``sparse=False``, the observed entries of ``x`` with ``sparse=True``
    (all that the masked loss reads).  ``net.predict(x, query)`` returns the
    predictions at the nonzero entries of ``query`` (zero elsewhere) from the
    input rows ``x``: that is how held-out ratings are scored.
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

    def _encode(self, csr):
        ctx = csr.context
        w = self.encoder.weight.data(ctx).T      # (num_users, num_hiddens)
        pre = _CsrDot(csr)(w) + self.encoder.bias.data(ctx)
        return self.dropout(mx.npx.sigmoid(pre))  # (B, num_hiddens)

    def _decode_at(self, hidden, pattern, rows):
        ctx = hidden.ctx
        return _ObservedDecode(pattern, rows)(
            hidden, self.decoder.weight.data(ctx), self.decoder.bias.data(ctx))

    def forward(self, x):
        if not self.sparse:
            return super().forward(x)
        csr, rows = _csr(x)
        return self._decode_at(self._encode(csr), csr, rows)

    def predict(self, x, query):
        """Predictions at the nonzero entries of ``query`` (B, n) given the
        observed input rows ``x`` (B, n); zero elsewhere."""
        if not self.sparse:
            return self(x) * np.sign(query)
        pattern, rows = _csr(query)
        return self._decode_at(self._encode(_csr(x)[0]), pattern, rows)
