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

Every model also has ``score_block(users, items)``: the scores of all
users against all items at once, using the model's structure (a matrix
product for GMF; for the tower, its first layer split into a user part and
an item part, ``W [u; v] = W_u u + W_v v``, each computed once), for
evaluation and recommendation.  ``sparse_grad=True`` gives the embeddings
row-sparse gradients (see ``mf.embedding``).

MLP and NeuMF compute a training step in one of two layouts
(``layout``), the same model and parameters either way:

* ``'joined'`` -- the book's: the user and item embeddings are
  concatenated and the tower's first layer multiplies the ``(B, 2d)``
  result.
* ``'split'`` -- the first layer as ``W_u u + W_v v + b`` (the two halves
  of the same weight), without the concatenation and its gradient's copy
  back into two halves; hybridized, its memory is planned once
  (``static_alloc``) rather than allocated afresh every step (at batches
  of 131,072 the temporaries are tens of MB each, and fresh pages cost as
  much as the arithmetic).  The sums round differently, so the scores can
  differ from the joined layer's in the last bits.

``'auto'`` (the default) splits from ``SPLIT_MIN_ROWS`` users plus items
on: ML-100K and ML-1M keep the joined layer, and with it their published
numbers; ML-10M and larger are split.  The split, and batches of 131,072,
make the cheapest NeuMF epoch of MXNet's operators at ML-20M's shape
(``bench/results/bounds.json``, docs/benchmarks.md, "How far MXNet's own
operators can go").
"""
import numpy as onp
from mxnet import init, np, npx
from mxnet.gluon import nn

from .mf import embedding, rows

BLOCK_FLOATS = 1 << 22
"""Floats per temporary of one tower step in ``score_block`` (16 MB): users
are taken a few at a time so that users x items x width stays below it."""

SPLIT_MIN_ROWS = 1 << 16
"""Smallest tables (users + items) whose tower is computed in the split
layout by default (``choose_layout``): ML-10M's 80,555 and more, not
ML-1M's 9,746."""

LAYOUTS = ('auto', 'joined', 'split')


def choose_layout(num_users, num_items, layout='auto'):
    """Resolve ``layout`` (``'auto'``, ``'joined'`` or ``'split'``) for
    tables of these sizes: ``'auto'`` is ``'split'`` from
    ``SPLIT_MIN_ROWS`` users plus items on, else ``'joined'``."""
    if layout not in LAYOUTS:
        raise ValueError(f'layout={layout!r}: expected one of '
                         f'{", ".join(LAYOUTS)}')
    if layout != 'auto':
        return layout
    return 'split' if num_users + num_items >= SPLIT_MIN_ROWS else 'joined'


def _embedding(n, k, sparse_grad=False):
    return embedding(n, k, sparse_grad, weight_initializer=init.Normal(0.01))


class _ReLUDense(nn.Dense):
    """``nn.Dense(units, activation='relu')`` with the ReLU as ``npx.relu``:
    the same values, gradients and parameters, and cheaper than the legacy
    ``Activation`` operator (docs/benchmarks.md, "Figures measured once,
    without a result file")."""

    def hybrid_forward(self, F, x, weight, bias=None):
        return F.npx.relu(super().hybrid_forward(F, x, weight, bias))


class _SplitReLUDense(_ReLUDense):
    """The tower's first layer on the two embeddings apart:
    ``relu(W[:, :d] u + W[:, d:] v + b)``, the same parameters as the
    joined layer's ``relu(W [u; v] + b)``."""

    def hybrid_forward(self, F, u, v, weight, bias=None):
        w_u, w_v = F.np.split(weight, 2, axis=1)            # (h, d) each
        units = self._units
        return F.npx.relu(
            F.npx.fully_connected(u, w_u, bias, num_hidden=units) +
            F.npx.fully_connected(v, w_v, no_bias=True, num_hidden=units))


def _tower(in_units, nums_hiddens, dense_init, split=False):
    mlp = nn.HybridSequential()
    for j, num_hiddens in enumerate(nums_hiddens):
        layer = _SplitReLUDense if split and not j else _ReLUDense
        mlp.add(layer(num_hiddens, in_units=in_units,
                      weight_initializer=dense_init))
        in_units = num_hiddens
    return mlp


class _Towered:
    """What MLP and NeuMF share: the tower over the user and item
    embeddings in the run's layout, and hybridization that plans the
    split layout's memory once."""

    def _tower_features(self, F, u, v):
        if not self.split:
            return self.mlp(_concat(F, u, v))                   # (B, h)
        layers = list(self.mlp._children.values())
        t = layers[0](u, v)
        for layer in layers[1:]:
            t = layer(t)
        return t

    def hybridize(self, active=True, **kwargs):
        """``HybridBlock.hybridize``; in the split layout with
        ``static_alloc`` unless told otherwise."""
        if self.split:
            kwargs.setdefault('static_alloc', True)
        super().hybridize(active, **kwargs)


class _Scorer(nn.HybridBlock):
    """Shared tail: the prediction layer (no bias, as the book) and the
    optional output activation; subclasses build ``features(F, u, i)``."""

    def __init__(self, in_units, output_activation, dense_init,
                 prediction_bias, config, **kwargs):
        super().__init__(**kwargs)
        self.config = dict(config, output_activation=output_activation,
                           prediction_bias=prediction_bias)
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

    def score_block(self, users, items):
        """Every user against every item: ``(len(users), len(items))``
        scores equal to ``net(u, i)`` on the pair grid up to float
        rounding, for 1-D integer MXNet arrays on one device."""
        raise NotImplementedError

    def _predict(self, logits):
        """The prediction layer's bias and activation on a block of
        ``logits`` (its product already taken)."""
        layer = self.prediction_layer
        if layer.bias is not None:
            logits = logits + layer.bias.data(logits.ctx)
        return layer.act(logits) if layer.act is not None else logits

    def _tower_scores(self, users, items, gmf=None):
        """Scores through the MLP tower for every user x item pair.

        The first layer's pre-activation ``W [u; v] + b`` is computed as
        ``(W_u u + b)`` per user plus ``W_v v`` per item; the sums, and the
        rest of the tower, run on a few users at a time (``BLOCK_FLOATS``).
        The prediction layer ``h . [p * q, t]`` splits the same way: its
        GMF half ``(p_u * h_g) . q_i`` is one matrix product for all pairs
        (``gmf`` is ``(P_u, Q_i)``, for NeuMF), its tower half a product
        with the tower's output.  Returns (len(users), len(items))."""
        U_u, V_i = rows(self.U, users), rows(self.V, items)   # (U, f), (I, f)
        ctx = users.ctx
        first, f = self.mlp[0], U_u.shape[1]
        W = first.weight.data(ctx)                              # (h1, 2f)
        A = np.dot(U_u, W[:, :f].T) + first.bias.data(ctx)     # (U, h1)
        B = np.dot(V_i, W[:, f:].T)                             # (I, h1)
        h_out = self.prediction_layer.weight.data(ctx)          # (1, [k+]h)
        base = None
        if gmf is not None:
            P_u, Q_i = gmf
            k = P_u.shape[1]
            base = np.dot(P_u * h_out[:, :k], Q_i.T)            # (U, I)
            h_out = h_out[:, k:]
        step = max(1, BLOCK_FLOATS // max(len(items) * W.shape[0], 1))
        parts = []
        for s in range(0, len(users), step):
            n = min(step, len(users) - s)
            t = npx.relu(A[s:s + n, None, :] + B[None, :, :])   # (n, I, h1)
            t = t.reshape(n * len(items), -1)
            for j in range(1, len(self.mlp)):
                t = self.mlp[j](t)                              # (n I, h_j)
            parts.append(np.dot(t, h_out.T).reshape(n, len(items)))
            if len(parts) > 1:   # at most two steps' temporaries at a time
                parts[-2].wait_to_read()
        logits = np.concatenate(parts, axis=0) if parts else \
            np.zeros((0, len(items)), ctx=ctx)
        return self._predict(logits if base is None else logits + base)


class GMF(_Scorer):
    """Generalized matrix factorization: ``h . (p_u * q_i)``."""

    def __init__(self, num_factors, num_users, num_items,
                 output_activation=None, dense_init=init.Xavier(),
                 prediction_bias=False, sparse_grad=False, **kwargs):
        super().__init__(num_factors, output_activation, dense_init,
                         prediction_bias, dict(
                             num_factors=num_factors, num_users=num_users,
                             num_items=num_items, sparse_grad=sparse_grad),
                         **kwargs)
        self.P = _embedding(num_users, num_factors, sparse_grad)
        self.Q = _embedding(num_items, num_factors, sparse_grad)

    def features(self, F, user_id, item_id):
        return self.P(user_id) * self.Q(item_id)               # (B, k)

    def score_block(self, users, items):
        """``_Scorer.score_block`` as one matrix product, ``(P_u * h)
        Q_i^T`` (+ bias, then the output activation)."""
        h = self.prediction_layer.weight.data(users.ctx)       # (1, k)
        P_u = rows(self.P, users)                               # (U, k)
        return self._predict(np.dot(P_u * h, rows(self.Q, items).T))

    def dot_factors(self):
        """The scores as a dot product, for scoring outside MXNet:
        ``(user factors, item factors, user bias, item bias, bias,
        sigmoid)`` as numpy, with ``h`` folded into the user factors."""
        def get(param):
            return param.data(param.list_ctx()[0]).asnumpy()
        layer = self.prediction_layer
        p, q = get(self.P.weight), get(self.Q.weight)
        bias = float(get(layer.bias)[0]) if layer.bias is not None else 0.0
        return (p * get(layer.weight).reshape(-1), q, onp.zeros(len(p)),
                onp.zeros(len(q)), bias,
                self.config.get('output_activation') == 'sigmoid')


def _concat(F, a, b):
    """``[a, b]`` along axis 1 with MXNet's legacy ``concat``: the same
    copy as ``np.concatenate``, whose 1.9 kernel is slower
    (docs/benchmarks.md, "Figures measured once, without a result
    file")."""
    return F.concat(a.as_nd_ndarray(), b.as_nd_ndarray(),
                    dim=1).as_np_ndarray()


class MLP(_Towered, _Scorer):
    """A ReLU tower over the user and item embeddings (concatenated, or
    in the split layout: see the module's docstring)."""

    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 output_activation=None, dense_init=init.Xavier(),
                 prediction_bias=False, sparse_grad=False, layout='auto',
                 **kwargs):
        super().__init__(nums_hiddens[-1], output_activation, dense_init,
                         prediction_bias, dict(
                             num_factors=num_factors, num_users=num_users,
                             num_items=num_items, sparse_grad=sparse_grad,
                             nums_hiddens=list(nums_hiddens), layout=layout),
                         **kwargs)
        self.split = choose_layout(num_users, num_items, layout) == 'split'
        self.U = _embedding(num_users, num_factors, sparse_grad)
        self.V = _embedding(num_items, num_factors, sparse_grad)
        self.mlp = _tower(2 * num_factors, nums_hiddens, dense_init,
                          self.split)

    def features(self, F, user_id, item_id):
        return self._tower_features(F, self.U(user_id),
                                    self.V(item_id))           # (B, h_last)

    def score_block(self, users, items):
        """``_Scorer.score_block`` with the tower's first layer split into
        a user part and an item part (``_Scorer._tower_scores``)."""
        return self._tower_scores(users, items)


class NeuMF(_Towered, _Scorer):
    """GMF and MLP paths fused by one prediction layer (the book's model).

    ``mlp_factors`` sizes ``U`` and ``V`` (default ``num_factors``, as the
    book; the NCF code sizes them ``nums_hiddens[0] / 2``).  GMF, MLP and
    NeuMF take ``sparse_grad`` (default False): row-sparse gradients for
    the embeddings, faster for large tables and small batches (the rule of
    ``mf.prefer_sparse_grad``; see ``mf.MF``).  MLP and NeuMF take
    ``layout`` (``'auto'``, ``'joined'`` or ``'split'``; see the module's
    docstring and ``choose_layout``)."""

    def __init__(self, num_factors, num_users, num_items, nums_hiddens,
                 mlp_factors=None, output_activation=None,
                 dense_init=init.Xavier(), prediction_bias=False,
                 sparse_grad=False, layout='auto', **kwargs):
        mlp_factors = mlp_factors or num_factors
        super().__init__(num_factors + nums_hiddens[-1], output_activation,
                         dense_init, prediction_bias, dict(
                             num_factors=num_factors, num_users=num_users,
                             num_items=num_items, sparse_grad=sparse_grad,
                             nums_hiddens=list(nums_hiddens),
                             mlp_factors=mlp_factors, layout=layout),
                         **kwargs)
        self.split = choose_layout(num_users, num_items, layout) == 'split'
        self.P = _embedding(num_users, num_factors, sparse_grad)
        self.Q = _embedding(num_items, num_factors, sparse_grad)
        self.U = _embedding(num_users, mlp_factors, sparse_grad)
        self.V = _embedding(num_items, mlp_factors, sparse_grad)
        self.mlp = _tower(2 * mlp_factors, nums_hiddens, dense_init,
                          self.split)

    def features(self, F, user_id, item_id):
        gmf = self.P(user_id) * self.Q(item_id)                 # (B, k)
        tower = self._tower_features(F, self.U(user_id), self.V(item_id))
        return _concat(F, gmf, tower)                           # (B, k+h)

    def score_block(self, users, items):
        """``_Scorer.score_block``: the split tower, and the GMF half of
        the prediction layer as one matrix product
        (``_Scorer._tower_scores``)."""
        return self._tower_scores(
            users, items, gmf=(rows(self.P, users), rows(self.Q, items)))


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
