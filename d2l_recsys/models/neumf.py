"""GMF, MLP and NeuMF (He et al., 2017, "Neural Collaborative Filtering";
d2l, chapter "Neural Collaborative Filtering for Personalized Ranking").

All three map ``(user_id, item_id)`` batches to one score per pair, shape
``(B,)``.  ``NeuMF(num_factors, num_users, num_items, nums_hiddens)`` keeps
the book's signature and shape: GMF embeddings ``P``, ``Q``; MLP embeddings
``U``, ``V``; a ReLU tower ``mlp``; a ``prediction_layer`` without bias over
the concatenation ``[p*q, mlp([u, v])]``.

Changes from the book, needed for the model to learn (the book's run ends
at AUC 0.53, Hit@50 0.075), each reachable again by an argument:

* ``output_activation=None``: the score is a logit.  The book puts a sigmoid
  on the output and feeds it to BPR; the difference of two numbers squashed
  into (0, 1) barely moves the BPR loss, and its gradient vanishes as the
  sigmoid saturates.  Pointwise training uses ``SigmoidBCELoss`` on the logit,
  which is the NCF paper's ``sigmoid + log loss``, computed stably.
  ``output_activation='sigmoid'`` restores the book.
* ``prediction_bias=False`` as the book; the NCF protocol turns it on, as
  the NCF code has it.  Without it, pointwise training can trap the MLP:
  its ReLU features are non-negative, so once every prediction weight is
  positive no score can go below 0 and the model cannot even express the
  1:4 positive/negative base rate (seen on ML-100K: loss stuck at log 2,
  AUC 0.26).
* ``dense_init=Xavier()`` for the tower and prediction weights (the NCF
  code's Glorot), embeddings still Normal(0.01).  The book initialises every
  weight from Normal(0.01): through three ReLU layers of 10 units the MLP path
  then outputs ~1e-6 and contributes nothing at the start.
  ``dense_init=init.Normal(0.01)`` restores the book.  These initialisers are
  attached to the parameters, so ``net.initialize(init.Normal(0.01))`` as the
  book writes it keeps them.
"""
from mxnet import init, np
from mxnet.gluon import nn


def _embedding(n, k):
    return nn.Embedding(n, k, weight_initializer=init.Normal(0.01))


def _tower(in_units, nums_hiddens, dense_init):
    mlp = nn.HybridSequential()
    for num_hiddens in nums_hiddens:
        mlp.add(nn.Dense(num_hiddens, activation='relu', in_units=in_units,
                         weight_initializer=dense_init))
        in_units = num_hiddens
    return mlp


class _Scorer(nn.HybridBlock):
    """Shared tail: the prediction layer (no bias, as the book) and the
    optional output activation; subclasses build ``features(F, u, i)``."""

    def __init__(self, in_units, output_activation, dense_init,
                 prediction_bias, **kwargs):
        super().__init__(**kwargs)
        if output_activation not in (None, 'sigmoid'):
            raise ValueError(f"output_activation must be None or 'sigmoid', "
                             f'got {output_activation!r}')
        self.prediction_layer = nn.Dense(1, activation=output_activation,
                                         use_bias=prediction_bias,
                                         in_units=in_units,
                                         weight_initializer=dense_init)

    def hybrid_forward(self, F, user_id, item_id):
        return self.prediction_layer(
            self.features(F, user_id, item_id)).reshape(-1)   # (B,)


class GMF(_Scorer):
    """Generalized matrix factorization: ``h . (p_u * q_i)``."""

    def __init__(self, num_factors, num_users, num_items,
                 output_activation=None, dense_init=init.Xavier(),
                 prediction_bias=False, **kwargs):
        super().__init__(num_factors, output_activation, dense_init,
                         prediction_bias, **kwargs)
        self.config = dict(num_factors=num_factors, num_users=num_users,
                           num_items=num_items,
                           output_activation=output_activation,
                           prediction_bias=prediction_bias)
        self.P = _embedding(num_users, num_factors)
        self.Q = _embedding(num_items, num_factors)

    def features(self, F, user_id, item_id):
        return self.P(user_id) * self.Q(item_id)               # (B, k)


class MLP(_Scorer):
    """A ReLU tower over the concatenated user and item embeddings."""

    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 output_activation=None, dense_init=init.Xavier(),
                 prediction_bias=False, **kwargs):
        super().__init__(nums_hiddens[-1], output_activation, dense_init,
                         prediction_bias, **kwargs)
        self.config = dict(num_factors=num_factors, num_users=num_users,
                           num_items=num_items,
                           nums_hiddens=list(nums_hiddens),
                           output_activation=output_activation,
                           prediction_bias=prediction_bias)
        self.U = _embedding(num_users, num_factors)
        self.V = _embedding(num_items, num_factors)
        self.mlp = _tower(2 * num_factors, nums_hiddens, dense_init)

    def features(self, F, user_id, item_id):
        uv = F.np.concatenate([self.U(user_id), self.V(item_id)], axis=1)
        return self.mlp(uv)                                     # (B, h_last)


class NeuMF(_Scorer):
    """GMF and MLP paths fused by one prediction layer (the book's model).

    ``mlp_factors`` sizes ``U`` and ``V`` (default ``num_factors``, as the
    book; the NCF code sizes them ``nums_hiddens[0] / 2``)."""

    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 mlp_factors=None, output_activation=None,
                 dense_init=init.Xavier(), prediction_bias=False, **kwargs):
        super().__init__(num_factors + nums_hiddens[-1], output_activation,
                         dense_init, prediction_bias, **kwargs)
        mlp_factors = mlp_factors or num_factors
        self.config = dict(num_factors=num_factors, num_users=num_users,
                           num_items=num_items,
                           nums_hiddens=list(nums_hiddens),
                           mlp_factors=mlp_factors,
                           output_activation=output_activation,
                           prediction_bias=prediction_bias)
        self.P = _embedding(num_users, num_factors)
        self.Q = _embedding(num_items, num_factors)
        self.U = _embedding(num_users, mlp_factors)
        self.V = _embedding(num_items, mlp_factors)
        self.mlp = _tower(2 * mlp_factors, nums_hiddens, dense_init)

    def features(self, F, user_id, item_id):
        gmf = self.P(user_id) * self.Q(item_id)                 # (B, k)
        uv = F.np.concatenate([self.U(user_id), self.V(item_id)], axis=1)
        return F.np.concatenate([gmf, self.mlp(uv)], axis=1)    # (B, k+h)


def load_pretrained(neumf, gmf, mlp, alpha=0.5):
    """Initialise ``neumf`` from a trained ``gmf`` and ``mlp`` (NCF paper,
    section 3.4.1): embeddings and tower copied, prediction weights
    concatenated as ``[alpha * h_GMF, (1 - alpha) * h_MLP]``."""
    if not 0 <= alpha <= 1:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    want = neumf.config
    for part, keys in ((gmf, ('num_factors', 'num_users', 'num_items')),
                       (mlp, ('num_users', 'num_items', 'nums_hiddens'))):
        for key in keys:
            if part.config[key] != want[key]:
                raise ValueError(
                    f'pretrained {type(part).__name__} has {key}='
                    f'{part.config[key]}, the NeuMF needs {want[key]}')
    if mlp.config['num_factors'] != want['mlp_factors']:
        raise ValueError(f"pretrained MLP has num_factors="
                         f"{mlp.config['num_factors']}, the NeuMF needs "
                         f"mlp_factors={want['mlp_factors']}")
    pairs = [(neumf.P, gmf.P), (neumf.Q, gmf.Q), (neumf.U, mlp.U),
             (neumf.V, mlp.V), (neumf.mlp, mlp.mlp)]
    for dst, src in pairs:
        for d, s in zip(dst.collect_params().values(),
                        src.collect_params().values()):
            d.set_data(s.data().as_in_ctx(d.list_ctx()[0]))
    h_gmf = gmf.prediction_layer.weight.data()
    h_mlp = mlp.prediction_layer.weight.data()
    weight = neumf.prediction_layer.weight
    fused = np.concatenate([alpha * h_gmf,
                            (1 - alpha) * h_mlp.as_in_ctx(h_gmf.ctx)], axis=1)
    weight.set_data(fused.as_in_ctx(weight.list_ctx()[0]))
    bias = neumf.prediction_layer.bias
    if bias is not None:
        # The fused bias mixes the parts' biases with the same weights; a
        # part without one contributes nothing, and if neither has one the
        # NeuMF keeps its initial bias.
        parts = [(w, layer.prediction_layer.bias.data().as_in_ctx(
            bias.list_ctx()[0])) for w, layer in ((alpha, gmf),
                                                  (1 - alpha, mlp))
                 if layer.prediction_layer.bias is not None]
        if parts:
            bias.set_data(sum(w * b for w, b in parts))
    return neumf
