"""Caser, convolutional sequence embedding (Tang & Wang, 2018,
"Personalized Top-N Sequential Recommendation via Convolutional Sequence
Embedding"; d2l, chapter "Sequence-Aware Recommender Systems").

The user's latest ``L`` items, embedded by ``Q``, form an ``L x k`` image
``E``.  Two convolutions read it: ``d_prime`` vertical filters of height
``L`` and width 1 (each a weighted sum of the ``L`` embeddings, the
"point-level" patterns), and, for every height ``h = 1..L``, ``d``
horizontal filters of height ``h`` and width ``k``, ReLU-activated and
max-pooled over the positions they slide over (the "union-level" patterns
of ``h`` consecutive items).  Their outputs, concatenated (vertical first,
as the book's code), go through dropout and a ReLU layer to ``z`` (``k``
wide), the short-term intent.  The score of item ``i`` is ``q'_i . [z,
p_u] + b_i``, with ``p_u`` the user's long-term embedding, ``Q'`` a second
item table ``2k`` wide and ``b`` an item bias.  The score is a logit,
trained with BPR (or the hinge loss) as in the book.

``SequenceScorer`` turns a Caser and every user's latest items into a
``(user, item)`` model, the interface of ``ranking.RankingEvaluator``.
"""
import mxnet as mx
import numpy as onp
from mxnet import np
from mxnet.gluon import nn

from .mf import embedding, rows


def _check(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, onp.integer)) \
            or value < low:
        raise ValueError(f'{name} must be an integer >= {low}, got '
                         f'{value!r}')


class Caser(nn.HybridBlock):
    """``Caser(num_factors, num_users, num_items, L=5, d=16, d_prime=4,
    drop_ratio=0.05)``, the book's signature and defaults.

    ``net(user_id, seq, item_id)`` scores each row: ``user_id`` (B,),
    ``seq`` (B, L) item ids (oldest first), ``item_id`` (B,) or (B, 1)
    (the book's loader gives targets as (B, 1)); returns (B,) logits.

    Differs from the book in being hybridizable and in allowing ``d=0`` or
    ``d_prime=0`` (the chapter's ablation exercise: one of the two
    convolutions left out; the book's forward needs both).

    Args:
        num_factors: ``k``, the width of ``P``, ``Q``, ``z`` (``Q'`` is
            ``2k`` wide).
        num_users, num_items: sizes of the id spaces.
        L: length of the input sequences.
        d: horizontal filters per height ``1..L``.
        d_prime: vertical filters.
        drop_ratio: dropout rate on the convolutions' outputs.

    Raises:
        ValueError: a size that is not a positive integer, negative ``d``
            or ``d_prime`` or both zero, ``drop_ratio`` outside [0, 1).
    """

    def __init__(self, num_factors, num_users, num_items, L=5, d=16,
                 d_prime=4, drop_ratio=0.05, **kwargs):
        super().__init__(**kwargs)
        for name, value in (('num_factors', num_factors),
                            ('num_users', num_users),
                            ('num_items', num_items), ('L', L)):
            _check(name, value, 1)
        _check('d', d, 0)
        _check('d_prime', d_prime, 0)
        if not d and not d_prime:
            raise ValueError('d and d_prime are both 0: Caser needs at least '
                             'one of its two convolutions')
        if not 0 <= drop_ratio < 1:
            raise ValueError(f'drop_ratio must be in [0, 1), got '
                             f'{drop_ratio!r}')
        self.config = dict(num_factors=num_factors, num_users=num_users,
                           num_items=num_items, L=L, d=d, d_prime=d_prime,
                           drop_ratio=drop_ratio)
        self.d, self.d_prime = d, d_prime
        k = num_factors
        self.P = embedding(num_users, k)
        self.Q = embedding(num_items, k)
        if d_prime:      # point-level: d' filters of L x 1
            self.conv_v = nn.Conv2D(d_prime, (L, 1), in_channels=1)
        self.conv_h = nn.HybridSequential()   # union-level: d of h x k
        if d:
            for h in range(1, L + 1):
                self.conv_h.add(nn.Conv2D(d, (h, k), in_channels=1))
        self.fc = nn.Dense(k, activation='relu', in_units=d_prime * k + d * L)
        self.Q_prime = embedding(num_items, 2 * k)
        self.b = embedding(num_items, 1)
        self.dropout = nn.Dropout(drop_ratio)

    def _user_vectors(self, F, user_id, seq):
        """``[z, p_u]`` per row, (B, 2k)."""
        E = F.np.expand_dims(self.Q(seq), 1)               # (B, 1, L, k)
        parts = []
        if self.d_prime:
            o_v = self.conv_v(E)                            # (B, d', 1, k)
            parts.append(o_v.reshape(-1, self.d_prime *
                                     self.config['num_factors']))
        for conv in self.conv_h:
            o_h = F.npx.relu(conv(E))                       # (B, d, L-h+1, 1)
            parts.append(F.np.max(o_h, axis=(2, 3)))        # (B, d)
        o = parts[0] if len(parts) == 1 else \
            F.np.concatenate(parts, axis=1)                 # (B, d'k + dL)
        z = self.fc(self.dropout(o))                        # (B, k)
        return F.np.concatenate([z, self.P(user_id)], axis=1)   # (B, 2k)

    def hybrid_forward(self, F, user_id, seq, item_id):
        x = self._user_vectors(F, user_id, seq)             # (B, 2k)
        item_id = item_id.reshape(-1)                       # (B,)
        q = self.Q_prime(item_id)                           # (B, 2k)
        b = self.b(item_id).reshape(-1)                     # (B,)
        return F.np.sum(x * q, axis=1) + b                  # (B,)

    def pairs(self):
        """A block sharing this Caser's parameters that scores a positive
        and a negative item of each row from one pass of the convolutions:
        ``pairs(user_id, seq, pos, neg) -> (pos_scores, neg_scores)``,
        (B,) each.  The book calls the network once per item, so each
        item gets its own convolutions and its own dropout mask; BPR
        compares the two items for one state of the user, which one pass
        gives at half the cost."""
        return _Pairs(self)

    def user_vectors(self, user_id, seq):
        """``[z, p_u]`` for each row, the vector the score's dot product
        takes with ``q'_i``: (B, 2 * num_factors).  Outside
        ``autograd.record`` dropout is off, as in ``net(...)``."""
        return self._user_vectors(mx.nd, user_id, seq)

    def score_block(self, users, items, seqs):
        """Every user against every item in one matrix product, ``[z,
        p_u] Q'_items^T + b_items``.

        Args:
            users: (U,) user ids, an MXNet array.
            items: (I,) item ids, an MXNet array on the same device.
            seqs: (U, L) each user's input sequence.

        Returns:
            (U, I) scores equal to ``net(u, seq_u, i)`` on the pair grid up
            to float rounding.
        """
        if not isinstance(seqs, np.ndarray):
            seqs = np.array(onp.asarray(seqs), dtype='int32', ctx=users.ctx)
        x = self.user_vectors(users, seqs)                  # (U, 2k)
        q = rows(self.Q_prime, items)                       # (I, 2k)
        b = rows(self.b, items).reshape(1, -1)              # (1, I)
        return np.dot(x, q.T) + b                           # (U, I)

    def sequence_scorer(self, seqs):
        """This net as a ``(user, item)`` model reading user ``u``'s row
        of ``seqs`` (num_users, L): a ``SequenceScorer``, whose block
        scores the evaluators use (``seq_evaluation.with_sequences``)."""
        return SequenceScorer(self, seqs)


class _Pairs(nn.HybridBlock):
    """See ``Caser.pairs``."""

    def __init__(self, net, **kwargs):
        super().__init__(**kwargs)
        self.net = net

    def hybrid_forward(self, F, user_id, seq, pos, neg):
        net = self.net
        x = net._user_vectors(F, user_id, seq)              # (B, 2k)
        out = []
        for item_id in (pos, neg):
            item_id = item_id.reshape(-1)                   # (B,)
            out.append(F.np.sum(x * net.Q_prime(item_id), axis=1) +
                       net.b(item_id).reshape(-1))          # (B,)
        return tuple(out)


class SequenceScorer:
    """A Caser with every user's input sequence fixed: ``scorer(users,
    items)`` and ``scorer.score_block(users, items)`` score like a
    ``(user, item)`` model, each user with its row of ``latest``, so that
    ``ranking.RankingEvaluator``, ``score_users`` and ``score_pairs`` work
    unchanged.

    Args:
        net: a ``Caser``.
        latest: (num_users, L) item ids, e.g.
            ``data.sequences.latest_items`` of the training data (the
            book's ``test_seq``).

    Raises:
        ValueError: ``latest`` not (num_users, L) for ``net``.
    """

    def __init__(self, net, latest):
        latest = onp.asarray(latest.asnumpy() if hasattr(latest, 'asnumpy')
                             else latest)
        want = (net.config['num_users'], net.config['L'])
        if latest.shape != want:
            raise ValueError(f'latest must have shape {want} (num_users, L), '
                             f'got {latest.shape}')
        self.net, self.latest = net, latest.astype(onp.int32)
        self.config = net.config
        self._on = {}                       # device -> latest there

    def seqs(self, users):
        """The input sequences of ``users`` (an MXNet array), on its
        device: (len(users), L)."""
        ctx = users.ctx
        if ctx not in self._on:
            self._on[ctx] = np.array(self.latest, dtype='int32', ctx=ctx)
        return np.take(self._on[ctx], users.astype('int32'), axis=0)

    def __call__(self, user_id, item_id):
        return self.net(user_id, self.seqs(user_id), item_id)

    def score_block(self, users, items):
        """``Caser.score_block`` with each user's row of ``latest``."""
        return self.net.score_block(users, items, self.seqs(users))
