"""A rating model that is not one of the chapters', for the registry's
tests: a global mean plus a user and an item bias, trained on ratings.
Its whole integration is this block and the one ``Entry`` of ``entry()``."""
from mxnet.gluon import nn

from d2l_recsys import registry
from d2l_recsys.config import MFConfig
from d2l_recsys.tasks import PAIRS


class RatingBiases(nn.HybridBlock):
    """``rating(u, i) = b + b_u + b_i``."""

    def __init__(self, num_users, num_items, **kwargs):
        super().__init__(**kwargs)
        self.config = dict(num_users=num_users, num_items=num_items)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)
        self.bias = self.params.get('bias', shape=(1,), init='ones')

    def hybrid_forward(self, F, user_id, item_id, bias):
        return (self.user_bias(user_id) + self.item_bias(item_id)) \
            .reshape(-1) + 3 * bias                               # (B,)


def entry():
    """The model's registry entry."""
    return registry.Entry(
        'rating_biases', 'Rating biases', RatingBiases, PAIRS, MFConfig,
        lambda cfg, num_users, num_items: RatingBiases(num_users, num_items),
        space=dict(lr=['log', 1e-3, 1e-1]))
