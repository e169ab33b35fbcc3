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
"""
import numpy as onp
from mxnet import np
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
    global bias, the input check and the optional output sigmoid.
    Subclasses add ``interactions(F, x) -> (B,)``."""

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

    def linear(self, F, x, bias):
        """``w_0 + sum_f w_{i_f}``, shape (B,)."""
        return self.fc(x).reshape(-1, self.num_fields).sum(axis=1) + bias

    def hybrid_forward(self, F, x, bias):
        logit = self.linear(F, x, bias) + self.interactions(F, x)   # (B,)
        return F.npx.sigmoid(logit) if self.config['sigmoid'] else logit

    def interactions(self, F, x):
        raise NotImplementedError


def pairwise(F, e):
    """The FM's pairwise term ``sum_{f<g} <e_f, e_g>`` of field embeddings
    ``e`` (B, F, k), in O(F k): half of (square of the sum minus sum of
    the squares), summed over the k factors.  Returns (B,)."""
    square_of_sum = F.np.sum(e, axis=1) ** 2                   # (B, k)
    sum_of_square = F.np.sum(e * e, axis=1)                    # (B, k)
    return 0.5 * F.np.sum(square_of_sum - sum_of_square, axis=1)


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

    def interactions(self, F, x):
        return 0


class FM(_CTRBlock):
    """A degree-2 factorization machine (Rendle, 2010): first-order weights
    ``fc``, a global bias and ``embedding``, the ``sum(field_dims) x
    num_factors`` table of latent vectors whose inner products score the
    pairs of fields (``pairwise``).

    Args:
        field_dims: the number of values of each field.
        num_factors: the width ``k`` of the latent vectors.
        sigmoid: return the book's ``sigmoid(logit)`` instead of the logit.
        sparse_grad: row-sparse gradients for both tables.

    ``net(x)`` maps ``(B, num_fields)`` feature indices to ``(B,)`` logits
    (probabilities with ``sigmoid=True``).
    """

    def __init__(self, field_dims, num_factors, sigmoid=False,
                 sparse_grad=False, **kwargs):
        num_factors = _positive_int('num_factors', num_factors)
        super().__init__(field_dims, dict(num_factors=num_factors), sigmoid,
                         sparse_grad, **kwargs)
        with self.name_scope():
            self.embedding = embedding(self.num_inputs, num_factors,
                                       sparse_grad)

    def interactions(self, F, x):
        return pairwise(F, self.embedding(x))


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

    def interactions(self, F, x):
        e = self.embedding(x)                                  # (B, F, k)
        flat = e.reshape(-1, self.num_fields * self.config['num_factors'])
        return pairwise(F, e) + self.mlp(flat).reshape(-1)     # (B,)
