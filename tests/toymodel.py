"""A model that is not one of the chapters', for the registry's test: a
user bias plus an item bias, trained for ranking.  Its whole integration
is this block and the one ``Entry`` of ``entry()``."""
from mxnet.gluon import nn

from d2l_recsys import registry
from d2l_recsys.config import RankingConfig
from d2l_recsys.tasks import RANKING


class Biases(nn.HybridBlock):
    """``score(u, i) = b_u + b_i``."""

    def __init__(self, num_users, num_items, **kwargs):
        super().__init__(**kwargs)
        self.config = dict(num_users=num_users, num_items=num_items)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)

    def hybrid_forward(self, F, user_id, item_id):
        return (self.user_bias(user_id) + self.item_bias(item_id)) \
            .reshape(-1)                                          # (B,)


def entry():
    """The model's registry entry."""
    return registry.Entry(
        'biases', 'Biases', Biases, RANKING, RankingConfig,
        lambda cfg, num_users, num_items: Biases(num_users, num_items),
        space=dict(lr=['log', 1e-3, 1e-1]))
