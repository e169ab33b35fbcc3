"""Factorization machines for click-through-rate prediction (d2l, chapters
"Factorization Machines" and "Deep Factorization Machines").

An example is a row of ``num_fields`` categorical values, each already
turned into a global feature index (its index within the field plus the
field's offset, ``sum(field_dims[:f])``, as the book's ``CTRDataset``
yields them).  With one active feature per field, a degree-2
factorization machine (Rendle, 2010, "Factorization Machines", ICDM)
scores an example ``x`` with features ``i_1 .. i_F`` as

    w_0 + sum_f w_{i_f} + sum_{f < g} <v_{i_f}, v_{i_g}>

and its pairwise sum is computed in O(F k) rather than O(F^2 k) through

    sum_{f < g} <v_f, v_g> = 1/2 sum_l [ (sum_f v_{f,l})^2 - sum_f v_{f,l}^2 ].

DeepFM (Guo et al., 2017, "DeepFM: A Factorization-Machine based Neural
Network for CTR Prediction", IJCAI) adds a ReLU network over the
concatenated field embeddings ``[v_{i_1}, ..., v_{i_F}]``, the same
embeddings the FM part reads, and sums the two scores.  ``LR`` is the
first-order part alone: logistic regression on one-hot features, the
baseline that sees no feature interaction.

Every block maps ``x`` of shape ``(B, num_fields)`` (integer or float
indices) to shape ``(B,)``, as this package's other models do.  The book's
blocks return ``(B, 1)``; Gluon's losses reshape the label to the
prediction, so the book's ``(B, 1)`` labels train these blocks unchanged,
and ``ctr_loop`` flattens both for evaluation.  Train them with
``ctr_loop.train_ch13``, not with the ``d2l`` package's: its accuracy
compares ``(B,)`` outputs with ``(B, 1)`` labels by broadcasting, a
``B x B`` table (figures above 1).

Changes from the book, each one argument away:

* The output is a **logit** by default.  The book ends both models in a
  sigmoid and trains them with ``SigmoidBinaryCrossEntropyLoss()``, whose
  default (``from_sigmoid=False``) applies a second sigmoid: the loss then
  sees a number in (0, 1) as its logit, can never reach a probability
  below 0.5 for a negative, and drives the real logits towards plus or
  minus infinity.  With a logit output the book's printed loss is the
  correct log loss.  ``sigmoid=True`` returns ``sigmoid(logit)`` as the
  book's blocks do (train it with ``from_sigmoid=True`` to be correct, or
  with the book's loss to reproduce the book).
* The book's first-order part is ``nn.Dense(1)`` over ``sum_f w_{i_f}``:
  the global bias plus a learned scale on a sum of learned weights, a
  redundant factor.  Here the sum is added as it stands, with a global
  bias ``w_0`` (a parameter named ``bias``, started at zero).

Initialisation: the book calls ``net.initialize(init.Xavier())`` on the
whole net.  These blocks attach no initializer of their own except the
zero global bias, so that call gives the book's initialisation (Xavier on
the embedding tables and dense weights; Gluon zero-fills every parameter
named ``bias``).  Note that Xavier on a table of ``n`` rows draws from
``U(+-sqrt(6 / (n + k)))``: small values for large tables, as in the book.

``sparse_grad=True`` gives the two embedding tables row-sparse gradients
(see ``mf.embedding``); the dense parts keep dense ones.

Speed: every sum is a matrix product and, hybridized, a block keeps
static memory.  MXNet 1.9's reductions (``np.sum``) and ``**`` run
several times slower on the CPU than BLAS products of the same numbers,
and they were most of an FM's training step; the products give the same
model up to float rounding (``FM``).  ``bench/bench_ctr.py`` times the
steps and the epochs (``bench/results/ctr.json``).
"""
import mxnet as mx
import numpy as onp
from mxnet.gluon import nn

from .mf import embedding
from .neumf import _ReLUDense


def _field_dims(field_dims):
    """``field_dims`` as a list of positive ints (it may be a list, a numpy
    or an MXNet array, as the book's ``CTRDataset.field_dims``)."""
    if hasattr(field_dims, 'asnumpy'):
        field_dims = field_dims.asnumpy()
    dims = onp.asarray(field_dims)
    if dims.ndim != 1 or dims.size == 0 or not onp.all(
            onp.equal(onp.mod(dims, 1), 0)) or not onp.all(dims >= 1):
        raise ValueError('field_dims must be a non-empty sequence of '
                         'positive integers (the number of values of each '
                         f'field), got {field_dims!r}')
    return [int(d) for d in dims]


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, onp.integer)) \
            or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


class _CTRBlock(nn.HybridBlock):
    """Shared parts: the first-order weights ``fc`` (one per feature), the
    global bias, the input check, the optional output sigmoid and static
    memory when hybridized.  Subclasses give ``logit(F, x, bias) -> (B,)``.
    """

    def __init__(self, field_dims, config, sigmoid, sparse_grad, **kwargs):
        super().__init__(**kwargs)
        dims = _field_dims(field_dims)
        if not isinstance(sigmoid, bool):
            raise ValueError(f'sigmoid must be True or False, got '
                             f'{sigmoid!r}')
        self.config = dict(field_dims=dims, **config, sigmoid=sigmoid,
                           sparse_grad=bool(sparse_grad))
        self.num_fields, self.num_inputs = len(dims), sum(dims)
        with self.name_scope():
            self.fc = embedding(self.num_inputs, 1, sparse_grad)
            self.bias = self.params.get('bias', shape=(1,), init='zeros')

    def forward(self, x, *args):
        if hasattr(x, 'shape') and (len(x.shape) != 2
                                    or x.shape[1] != self.num_fields):
            raise ValueError(f'x must have shape (batch, {self.num_fields}) '
                             '(one feature index per field), got '
                             f'{tuple(x.shape)}')
        return super().forward(x, *args)

    def hybridize(self, active=True, **kwargs):
        """Gluon's ``hybridize``, with static memory (``static_alloc`` and
        ``static_shape``) unless told otherwise: a step is a few dozen
        small operators, and allocating their arrays anew at each call
        made it slower (``bench/results/ctr.json``).  A batch of another
        shape plans the memory again; numbers are the same either way."""
        kwargs.setdefault('static_alloc', True)
        kwargs.setdefault('static_shape', True)
        super().hybridize(active, **kwargs)

    def hybrid_forward(self, F, x, bias):
        logit = self.logit(F, x, bias)                            # (B,)
        return F.npx.sigmoid(logit) if self.config['sigmoid'] else logit

    def logit(self, F, x, bias):
        raise NotImplementedError


def row_sums(F, a, width):
    """The sums of the rows of ``a`` (B, width), shape (B,), as a product
    with a row of ones: MXNet 1.9's reductions (``sum``) over such rows
    run several times slower on the CPU than the BLAS product
    (``bench/bench_ctr.py``)."""
    return F.npx.fully_connected(a, F.np.ones((1, width)), num_hidden=1,
                                 no_bias=True).reshape(-1)


def field_sums(F, flat, num_fields, num_factors):
    """``sum_f e_f`` of the field embeddings ``flat`` (B, F * k), each
    row ``[e_1, ..., e_F]``: a product with ``F`` side-by-side ``k x k``
    identities, (B, k)."""
    stacked = F.np.tile(F.np.eye(num_factors), (1, num_fields))  # (k, F k)
    return F.npx.fully_connected(flat, stacked, num_hidden=num_factors,
                                 no_bias=True)


class LR(_CTRBlock):
    """Logistic regression on the one-hot features: ``w_0 + sum_f
    w_{i_f}``, no interaction (the baseline).

    Args:
        field_dims: the number of values of each field.
        sigmoid: return probabilities instead of logits.
        sparse_grad: a row-sparse gradient for the weight table.
    """

    def __init__(self, field_dims, sigmoid=False, sparse_grad=False,
                 **kwargs):
        super().__init__(field_dims, {}, sigmoid, sparse_grad, **kwargs)

    def logit(self, F, x, bias):
        """``w_0 + sum_f w_{i_f}``, shape (B,)."""
        return self.fc(x).reshape(-1, self.num_fields).sum(axis=1) + bias


class FM(_CTRBlock):
    """A degree-2 factorization machine (Rendle, 2010): first-order weights
    ``fc``, a global bias and ``embedding``, the ``sum(field_dims) x
    num_factors`` table of latent vectors whose inner products score the
    pairs of fields.

    Args:
        field_dims: the number of values of each field.
        num_factors: the width ``k`` of the latent vectors.
        sigmoid: return the book's ``sigmoid(logit)`` instead of the logit.
        sparse_grad: row-sparse gradients for both tables.

    ``net(x)`` maps ``(B, num_fields)`` feature indices to ``(B,)`` logits
    (probabilities with ``sigmoid=True``).

    How it computes (the model's formula, rearranged; module docstring):
    the pairwise sum is ``1/2 ||sum_f v_f||^2 - 1/2 sum_f ||v_f||^2``, and
    the second part is a sum over the features as the first-order part
    is, so the two are one look-up: ``sum_f u_{i_f}`` of the per-feature
    numbers ``u = w - 1/2 ||v||^2`` (``first_order``), computed from the
    tables each step.  Every other sum is a matrix product (``row_sums``,
    ``field_sums``); MXNet's reductions were the slow part of a step.
    """

    def __init__(self, field_dims, num_factors, sigmoid=False,
                 sparse_grad=False, **kwargs):
        num_factors = _positive_int('num_factors', num_factors)
        super().__init__(field_dims, dict(num_factors=num_factors), sigmoid,
                         sparse_grad, **kwargs)
        with self.name_scope():
            self.embedding = embedding(self.num_inputs, num_factors,
                                       sparse_grad)

    def _table(self, block, x):
        """An embedding block's weight, in the graph (hybridized) or on
        ``x``'s device."""
        if isinstance(x, mx.sym.Symbol):
            return block.weight.var()
        return block.weight.data(x.ctx)

    def first_order(self, F, x, flat):
        """``sum_f (w_{i_f} - 1/2 ||v_{i_f}||^2)``, (B,).  With dense
        gradients, one look-up of ``w - 1/2 ||v||^2``, computed over the
        whole tables: a dense step already writes and updates both tables
        whole (the gradient, Adam's moments), and on tables smaller than
        a batch's (row, field) cells this is cheaper than squaring the
        batch's embeddings.  With row-sparse gradients the tables must be
        read through look-ups only: ``sum_f w_{i_f}`` and the squares of
        the batch's ``flat`` embeddings instead."""
        nf, k = self.num_fields, self.config['num_factors']
        if self.config['sparse_grad']:
            return (row_sums(F, self.fc(x).reshape(-1, nf), nf)
                    - 0.5 * row_sums(F, F.np.square(flat), nf * k))
        norms = F.npx.fully_connected(
            F.np.square(self._table(self.embedding, x)), F.np.ones((1, k)),
            num_hidden=1, no_bias=True)                           # (N, 1)
        per_feature = self._table(self.fc, x) - 0.5 * norms       # (N, 1)
        return row_sums(F, F.npx.embedding(
            x, per_feature, input_dim=self.num_inputs,
            output_dim=1).reshape(-1, nf), nf)

    def flat_embeddings(self, x):
        """``[v_{i_1}, ..., v_{i_F}]`` of each row, (B, F * k)."""
        return self.embedding(x).reshape(
            -1, self.num_fields * self.config['num_factors'])

    def logit(self, F, x, bias):
        flat = self.flat_embeddings(x)                            # (B, F k)
        k = self.config['num_factors']
        total = field_sums(F, flat, self.num_fields, k)           # (B, k)
        return (bias + self.first_order(F, x, flat)
                + 0.5 * row_sums(F, F.np.square(total), k)
                + self.deep(flat))

    def deep(self, flat):
        """DeepFM's network on the embeddings; none in an FM."""
        return 0


class DeepFM(FM):
    """DeepFM (Guo et al., 2017): an FM plus a ReLU network over the
    concatenated field embeddings, which the two parts share (one
    ``embedding`` table), the two scores summed.

    Args:
        field_dims: the number of values of each field.
        num_factors: the width ``k`` of the latent vectors.
        mlp_dims: hidden widths of the network (the book: ``[30, 20, 10]``);
            each layer is ReLU then dropout, and a last dense layer gives
            one score.
        drop_rate: dropout after each hidden layer (the book's 0.1).
        sigmoid: return the book's ``sigmoid(logit)`` instead of the logit.
        sparse_grad: row-sparse gradients for both tables.

    ``net(x)`` maps ``(B, num_fields)`` feature indices to ``(B,)`` logits
    (probabilities with ``sigmoid=True``).
    """

    def __init__(self, field_dims, num_factors, mlp_dims, drop_rate=0.1,
                 sigmoid=False, sparse_grad=False, **kwargs):
        try:
            mlp_dims = [_positive_int('mlp_dims', d) for d in mlp_dims]
        except TypeError:
            raise ValueError('mlp_dims must be a list of positive integers '
                             f'(hidden widths), got {mlp_dims!r}') from None
        if isinstance(drop_rate, bool) or not isinstance(
                drop_rate, (int, float)) or not 0 <= drop_rate < 1:
            raise ValueError(f'drop_rate must be in [0, 1), got '
                             f'{drop_rate!r}')
        super().__init__(field_dims, num_factors, sigmoid, sparse_grad,
                         **kwargs)
        self.config.update(mlp_dims=mlp_dims, drop_rate=float(drop_rate))
        in_units = self.num_fields * self.config['num_factors']
        with self.name_scope():
            self.mlp = nn.HybridSequential()
            for units in mlp_dims:
                self.mlp.add(_ReLUDense(units, in_units=in_units),
                             nn.Dropout(drop_rate))
                in_units = units
            self.mlp.add(nn.Dense(1, in_units=in_units))

    def deep(self, flat):
        return self.mlp(flat).reshape(-1)                         # (B,)
