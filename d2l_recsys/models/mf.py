"""Matrix factorization (d2l, chapter "Matrix Factorization"; Koren et al.,
2009): the predicted rating is ``p_u . q_i + b_u + b_i``."""
from mxnet.gluon import nn


class MF(nn.HybridBlock):
    """Latent factors ``P`` (users) and ``Q`` (items) with biases.

    Differs from the book only in returning shape ``(batch,)`` for a batch of
    one as well (the book's ``np.squeeze`` turns it into a scalar), and in
    being hybridizable."""

    def __init__(self, num_factors, num_users, num_items, **kwargs):
        super().__init__(**kwargs)
        self.config = dict(num_factors=num_factors, num_users=num_users,
                           num_items=num_items)
        self.P = nn.Embedding(num_users, num_factors)
        self.Q = nn.Embedding(num_items, num_factors)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)

    def hybrid_forward(self, F, user_id, item_id):
        P_u, Q_i = self.P(user_id), self.Q(item_id)        # (B, k) each
        b_u = self.user_bias(user_id).reshape(-1)           # (B,)
        b_i = self.item_bias(item_id).reshape(-1)           # (B,)
        return (P_u * Q_i).sum(axis=1) + b_u + b_i          # (B,)
