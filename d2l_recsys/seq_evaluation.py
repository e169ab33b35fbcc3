"""The book's ranking evaluation of a sequence-aware model
(``evaluate_ranking(net, test_input, seq, ...)`` with ``seq`` given, as the
Caser section calls it with its ``test_seq_iter``).

A sequence-aware model scores ``net(user_id, seq, item_id)``: each user is
ranked with its row of ``seq`` (the user's latest ``L`` training items,
the book's ``test_seq``) as input.  Fixing that row per user turns the
model into a ``(user, item)`` model, which ``ranking.RankingEvaluator``
scores under the book's protocol (Hit@k and AUC over the items unseen in
training, ties in item order as d2l's stable sort) exactly as any other:

* ``models.Caser`` (this package's) through its ``SequenceScorer``: its
  convolutions run once per user, and a chunk of users is one matrix
  product with the item table;
* any other block with the ``(user_id, seq, item_id)`` call (the book's
  own ``Caser`` class, say) through ``net(u, seq[u], i)`` on the pair grid,
  in batches of ``ranking.score_matrix``.

d2l's version builds a ``DataLoader`` per user and calls the network on
every (user, item) pair; the numbers are the same.  Both paths' cost
against d2l's: ``bench/results/caser.json`` (docs/benchmarks.md, "Caser
with the book's settings").
"""
import numpy as onp
from mxnet import np


def sequence_rows(seq, num_users):
    """``seq`` (numpy, MXNet, nested lists) as a (num_users, L) int32 numpy
    array of item ids.

    Raises:
        ValueError: not two-dimensional, not one row per user, or not
            integer ids.
    """
    seq = onp.asarray(seq.asnumpy() if hasattr(seq, 'asnumpy') else seq)
    if seq.ndim != 2 or seq.shape[0] != num_users:
        raise ValueError(f'seq must hold one row of item ids per user, '
                         f'shape ({num_users}, L); got shape {seq.shape}')
    if seq.size and not onp.array_equal(seq, onp.round(seq)):
        raise ValueError('seq must hold integer item ids')
    return seq.astype(onp.int32)


class SequenceCalls:
    """Any ``net(user_id, seq, item_id)`` block as a ``(user, item)``
    model: ``self(users, items) = net(users, seq[users], items)``, the
    sequences taken on the device of ``users``.  It has no
    ``score_block``, so evaluators score it on the pair grid.

    Args:
        net: the block.
        seq: (num_users, L) item ids, each user's input sequence.
    """

    def __init__(self, net, seq):
        self.net, self.seq, self._on = net, onp.asarray(seq), {}

    def __call__(self, user_id, item_id):
        ctx = user_id.ctx
        if ctx not in self._on:
            self._on[ctx] = np.array(self.seq, dtype='int32', ctx=ctx)
        seqs = np.take(self._on[ctx], user_id.astype('int32'), axis=0)
        return self.net(user_id, seqs, item_id)


def with_sequences(net, seq, num_users):
    """A ``(user, item)`` model of a sequence-aware ``net`` that reads
    user ``u``'s row of ``seq``: the block's own ``sequence_scorer(seq)``
    where it has one (this package's ``Caser``: block scores),
    ``SequenceCalls`` for any other block.

    Args:
        net: a block called as ``net(user_id, seq, item_id)``.
        seq: (num_users, L) item ids (the book's ``test_seq``; numpy or
            MXNet).
        num_users: the number of users.

    Raises:
        ValueError: ``seq`` of the wrong shape (see ``sequence_rows``).
    """
    seq = sequence_rows(seq, num_users)
    if hasattr(net, 'sequence_scorer'):
        return net.sequence_scorer(seq)
    return SequenceCalls(net, seq)
