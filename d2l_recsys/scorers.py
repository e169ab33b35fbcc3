"""How each kind of model scores users against items, in bounded memory.

Every scorer has ``rows(users)``: the ``(len(users), num_items)`` float32
scores of those users (0-based) for every item, and ``pairs(users, items)``:
one score per pair.  Callers pass chunks; a scorer never holds more than one
chunk's work at a time (besides AutoRec's optional cache).

* ``DotScorer`` -- MF and GMF are dot products, so a block of users is one
  matrix product with the item factors in numpy: no per-pair gathers, and
  it runs at BLAS speed (top-10 for every user at ML-20M's shape:
  ``bench/results/all-users-mf.json`` and ``all-users-gmf.json``,
  docs/benchmarks.md, "Top-10 for every user at ML-20M's shape").
* ``PairScorer`` -- any ``net(users, items)`` model (MLP, NeuMF, ItemPop),
  through ``ranking.score_matrix``.
* ``AutoRecScorer`` -- reconstructions of rating-matrix rows.
"""
import mxnet as mx
import numpy as onp
from mxnet import np, npx

from .ranking import score_matrix

CHUNK_ELEMENTS = 1 << 22     # scores computed per step (16 MB of float32)


def ensure_np_mode():
    """Turn on MXNet's numpy mode in the calling thread.

    ``npx.set_np()`` holds per thread: a thread other than the importing
    one (a web server's worker thread) would otherwise hand numpy arrays to
    blocks in legacy mode and fail.
    """
    if not npx.is_np_array():
        npx.set_np()


def _sigmoid(x):
    return 1 / (1 + onp.exp(-x))


def copy_block(net, **changes):
    """A fresh block of the same class and configuration (with ``changes``
    to its constructor arguments), holding the weights of ``net`` as numpy
    arrays on the CPU.

    Used to export a block loaded from a checkpoint (a loaded ``ItemPop``
    holds a legacy NDArray, which ``HybridBlock.export`` refuses in numpy
    mode).
    """
    twin = type(net)(**dict(net.config, **changes))
    twin.initialize(ctx=mx.cpu())
    for d, s in zip(twin.collect_params().values(),
                    net.collect_params().values()):
        data = s.data(mx.cpu())
        if isinstance(data, mx.nd.NDArray):
            data = data.as_np_ndarray()
        d.set_data(data)
    return twin


class DotScorer:
    """``score[u, i] = user_factors[u] . item_factors[i] + user_bias[u] +
    item_bias[i] + bias``, then the sigmoid if ``sigmoid``.

    Args:
        user_factors, item_factors: ``(num_users, k)``, ``(num_items, k)``.
        user_bias, item_bias: ``(num_users,)``, ``(num_items,)``.
        bias: a constant added to every score.
        sigmoid: apply the logistic function (a GMF with a sigmoid output).
    """

    def __init__(self, user_factors, item_factors, user_bias, item_bias,
                 bias=0.0, sigmoid=False):
        self.user_factors = onp.ascontiguousarray(user_factors, onp.float32)
        self.item_factors_t = onp.ascontiguousarray(
            onp.asarray(item_factors, onp.float32).T)      # (k, num_items)
        self.user_bias = onp.asarray(user_bias, onp.float32).reshape(-1)
        self.item_bias = onp.asarray(item_bias, onp.float32).reshape(-1) + \
            onp.float32(bias)
        self.sigmoid = sigmoid

    @classmethod
    def from_net(cls, net):
        """The scorer of a trained block with ``dot_factors()`` (MF, GMF).

        Returns:
            A ``DotScorer`` giving the block's scores.
        """
        return cls(*net.dot_factors())

    def rows(self, users):
        """Scores of ``users`` for every item, ``(len(users), num_items)``."""
        out = self.user_factors[users] @ self.item_factors_t
        out += self.user_bias[users][:, None]
        out += self.item_bias
        return _sigmoid(out) if self.sigmoid else out

    def pairs(self, users, items):
        """One score per ``(users[j], items[j])`` pair, float32."""
        out = onp.empty(len(users), dtype=onp.float32)
        step = max(1, CHUNK_ELEMENTS // self.user_factors.shape[1])
        for s in range(0, len(users), step):
            u, i = users[s:s + step], items[s:s + step]
            out[s:s + step] = onp.einsum(
                'bk,kb->b', self.user_factors[u], self.item_factors_t[:, i]) \
                + self.user_bias[u] + self.item_bias[i]
        return _sigmoid(out) if self.sigmoid else out


class PairScorer:
    """Any block called as ``net(users, items)`` (MLP, NeuMF, ItemPop).

    Args:
        net: the block (hybridized here).
        num_items: the catalogue size.
        batch_size: pairs per call of the network.
    """

    def __init__(self, net, num_items, batch_size=1 << 16):
        self.net, self.num_items, self.batch_size = net, num_items, batch_size
        net.hybridize()

    def rows(self, users):
        """Scores of ``users`` for every item, ``(len(users), num_items)``."""
        ensure_np_mode()
        return score_matrix(self.net, None, self.num_items, [mx.cpu()],
                            users=users, batch_size=self.batch_size)

    def pairs(self, users, items):
        """One score per ``(users[j], items[j])`` pair, float32."""
        ensure_np_mode()
        out = onp.empty(len(users), dtype=onp.float32)
        for s in range(0, len(users), self.batch_size):
            u = np.array(users[s:s + self.batch_size], dtype='int32')
            i = np.array(items[s:s + self.batch_size], dtype='int32')
            out[s:s + self.batch_size] = self.net(u, i).asnumpy()
        return out


class AutoRecScorer:
    """AutoRec's predictions, read off reconstructed rows.

    User-based (``variant='user'``): the net reconstructs a user's row of
    training ratings, which holds that user's predicted rating of every item:
    ``rows(users)`` costs ``O(len(users) x items x hidden)``.

    Item-based (the book's): the net reconstructs an item's row of ratings by
    all users, so a user's predictions are a *column*: the reconstruction of
    every item row.  One pass over all item rows costs ``O(items x users x
    hidden)`` whatever the number of users asked for.  When the full
    reconstruction (``users x items`` float32) fits in ``cache_bytes`` it is
    computed once, on first use, and every later call is a lookup (ML-100K:
    6 MB); otherwise each call makes the pass again, chunk by chunk, keeping
    only the asked-for columns.

    Args:
        net: an ``AutoRec``.
        train: the training ratings, an ``Interactions`` (users x items).
        variant: ``'item'`` or ``'user'``.
        cache_bytes: the largest item-based reconstruction kept in memory.
    """

    def __init__(self, net, train, variant, cache_bytes):
        if variant not in ('item', 'user'):
            raise ValueError(f"AutoRec variant must be 'item' or 'user', got "
                             f'{variant!r}')
        self.net, self.variant = net, variant
        self.inputs = train.transpose() if variant == 'item' else train
        self.num_users, self.num_items = train.num_users, train.num_items
        self.cache_bytes = cache_bytes
        self._cache = None
        net.hybridize()

    def _reconstruct(self, rows):
        """Reconstructions of the given input rows, ``(len(rows), width)``."""
        ensure_np_mode()
        x = np.array(self.inputs.dense_rows(rows))
        return self.net(x).asnumpy()

    def _row_chunks(self, rows):
        step = max(1, CHUNK_ELEMENTS // self.inputs.num_items)
        for s in range(0, len(rows), step):
            yield s, rows[s:s + step]

    def _item_columns(self, users):
        """Item-based: ``(len(users), num_items)`` from a pass over every
        item row."""
        out = onp.empty((len(users), self.num_items), dtype=onp.float32)
        for s, items in self._row_chunks(onp.arange(self.num_items)):
            out[:, s:s + len(items)] = self._reconstruct(items)[:, users].T
        return out

    def _cached(self):
        if self._cache is None and \
                4 * self.num_users * self.num_items <= self.cache_bytes:
            self._cache = self._item_columns(onp.arange(self.num_users))
        return self._cache

    def rows(self, users):
        """Predicted ratings of ``users`` for every item."""
        users = onp.asarray(users)
        if self.variant == 'user':
            return onp.concatenate([self._reconstruct(chunk) for _, chunk
                                    in self._row_chunks(users)]) \
                if len(users) else onp.zeros((0, self.num_items), onp.float32)
        cache = self._cached()
        return cache[users] if cache is not None else \
            self._item_columns(users)

    def pairs(self, users, items):
        """One predicted rating per ``(users[j], items[j])`` pair."""
        users, items = onp.asarray(users), onp.asarray(items)
        if self.variant == 'item' and self._cached() is not None:
            return self._cache[users, items]
        rows, cols = (items, users) if self.variant == 'item' else \
            (users, items)
        uniq, inverse = onp.unique(rows, return_inverse=True)
        out = onp.empty(len(rows), dtype=onp.float32)
        for s, chunk in self._row_chunks(uniq):
            recon = self._reconstruct(chunk)
            sel = (inverse >= s) & (inverse < s + len(chunk))
            out[sel] = recon[inverse[sel] - s, cols[sel]]
        return out
