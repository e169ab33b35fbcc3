"""Matrix factorization (d2l, chapter "Matrix Factorization"; Koren et al.,
2009): the predicted rating is ``p_u . q_i + b_u + b_i``.

Also home of ``embedding``, the embedding table every factor model here
uses, with optional row-sparse gradients (``sparse_grad``).
"""
import mxnet as mx
from mxnet import gluon, np
from mxnet.gluon import nn


class _RowSparseGradParameter(gluon.Parameter):
    """A parameter whose gradient is ``row_sparse``: only the rows a batch
    touches.  Under ``npx.set_np()`` MXNet 1.9 refuses to allocate such a
    gradient (``mxnet.numpy.zeros does not support stype = row_sparse``,
    apache/mxnet#20391), although its operators and optimizers handle it;
    the buffer is allocated through the legacy interface instead."""

    def _init_grad(self):
        with mx.util.np_array(False):
            super()._init_grad()


def embedding(num, dim, sparse_grad=False, weight_initializer=None):
    """An ``nn.Embedding(num, dim)``, with a row-sparse gradient if asked.

    Args:
        num, dim: rows and width of the table.
        sparse_grad: give the table a ``row_sparse`` gradient.  Train it
            with an optimizer that takes one (``'adam'``, ``'sgd'``,
            ``'adagrad'``); Adam and SGD then update lazily by default
            (``lazy_update``): only the rows in the batch move, and weight
            decay applies to those rows only.  ``lazy_update=False`` gives
            the dense update exactly.
        weight_initializer: the table's initializer (default: the one
            ``initialize`` is given).

    Returns:
        The block.
    """
    emb = nn.Embedding(num, dim, weight_initializer=weight_initializer,
                       sparse_grad=sparse_grad)
    if sparse_grad:
        emb.weight.__class__ = _RowSparseGradParameter
    return emb


def prefer_sparse_grad(num_users, num_items, batch_size):
    """Whether row-sparse embedding gradients make training faster for
    tables of these sizes: ``num_users + num_items >= 16 * batch_size``
    (the rule ``MF`` explains), and at least ``SPARSE_MIN_ROWS`` rows:
    ML-100K's 2,625 gain too little to give up the dense update's numbers.
    The default of every run's ``sparse_grad``."""
    rows = num_users + num_items
    return rows >= SPARSE_MIN_ROWS and rows >= 16 * batch_size


SPARSE_MIN_ROWS = 8192
"""Smallest tables (users + items) given row-sparse gradients by default."""


def rows(table, ids):
    """Rows ``ids`` of an embedding block's table, on ``ids``' device, for
    scoring outside ``forward``.  (len(ids), dim)."""
    return np.take(table.weight.data(ids.ctx), ids, axis=0)


class MF(nn.HybridBlock):
    """Latent factors ``P`` (users) and ``Q`` (items) with biases.

    Differs from the book only in returning shape ``(batch,)`` for a batch of
    one as well (the book's ``np.squeeze`` turns it into a scalar), and in
    being hybridizable.

    Args:
        num_factors: width of ``P`` and ``Q``.
        num_users, num_items: sizes of the id spaces.
        sparse_grad: row-sparse gradients for the four tables (see
            ``embedding``): a step then updates the rows in the batch, not
            whole tables.  Rule, from ``bench/bench_eval.py --sparse-grad``
            (MF and GMF, hybridized, Adam): use it when ``num_users +
            num_items >= 16 * batch_size`` and the tables have 8,192 rows
            or more (``prefer_sparse_grad``).  A row-sparse step gains
            where a batch touches few of the tables' rows, and its gain
            fades as the batch grows towards the tables' size; the step
            times at ML-100K's, ML-1M's and ML-20M's tables are in
            ``bench/results/sparse-grad.json`` (docs/benchmarks.md, "Dense
            and row-sparse embedding gradients").  The row floor keeps
            ML-100K dense: lazy updates do not reproduce a dense run's
            numbers (rows outside a batch keep their moments and skip
            weight decay), and the published ML-100K runs are dense.
    """

    def __init__(self, num_factors, num_users, num_items, sparse_grad=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.config = dict(num_factors=num_factors, num_users=num_users,
                           num_items=num_items, sparse_grad=sparse_grad)
        self.P = embedding(num_users, num_factors, sparse_grad)
        self.Q = embedding(num_items, num_factors, sparse_grad)
        self.user_bias = embedding(num_users, 1, sparse_grad)
        self.item_bias = embedding(num_items, 1, sparse_grad)

    def hybrid_forward(self, F, user_id, item_id):
        P_u, Q_i = self.P(user_id), self.Q(item_id)        # (B, k) each
        b_u = self.user_bias(user_id).reshape(-1)           # (B,)
        b_i = self.item_bias(item_id).reshape(-1)           # (B,)
        # A dot with ones sums the k products: MXNet 1.9's sum over the
        # last axis is slower (docs/benchmarks.md, "Figures measured once,
        # without a result file").
        ones = F.np.ones((self.config['num_factors'],))     # (k,)
        return F.np.dot(P_u * Q_i, ones) + b_u + b_i        # (B,)

    def start_at_mean(self, mean):
        """Add ``mean`` (the training ratings' mean) to every item bias,
        so that training starts from the mean rating rather than from 0
        (the biases would otherwise spend the first epochs learning it).
        Call after ``initialize``."""
        self.item_bias.weight.set_data(self.item_bias.weight.data() + mean)

    def score_block(self, users, items):
        """Every user against every item, as one matrix product:
        ``P_u Q_i^T + b_u + b_i``.

        Args:
            users, items: 1-D integer MXNet arrays on one device.

        Returns:
            (len(users), len(items)) scores equal to ``net(u, i)`` on the
            pair grid up to float rounding.
        """
        P_u, Q_i = rows(self.P, users), rows(self.Q, items)   # (U, k), (I, k)
        b_u = rows(self.user_bias, users)                      # (U, 1)
        b_i = rows(self.item_bias, items).reshape(1, -1)       # (1, I)
        return np.dot(P_u, Q_i.T) + b_u + b_i                  # (U, I)

    def dot_factors(self):
        """The scores as a dot product, for scoring outside MXNet:
        ``(P, Q, user bias, item bias, 0, False)`` as numpy arrays."""
        def get(block):
            return block.weight.data(block.weight.list_ctx()[0]).asnumpy()
        return (get(self.P), get(self.Q), get(self.user_bias).reshape(-1),
                get(self.item_bias).reshape(-1), 0.0, False)
