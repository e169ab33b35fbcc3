"""ItemPop: score an item by how often it was interacted with in training
(the popularity baseline of the NCF paper).  A Gluon block with one fixed
parameter, so it shares the ranking models' interface, scoring and
checkpoints."""
import warnings

import numpy as onp
from mxnet import init, np
from mxnet.gluon import nn

class ItemPop(nn.HybridBlock):
    """``ItemPop(num_users, num_items)``: ``net(users, items)`` returns the
    training popularity of each item, whoever the user.

    Args:
        num_users, num_items: sizes of the id spaces.
    """

    def __init__(self, num_users, num_items, **kwargs):
        super().__init__(**kwargs)
        self.config = dict(num_users=num_users, num_items=num_items)
        self.popularity = self.params.get('popularity', shape=(num_items,),
                                          init=init.Zero(), grad_req='null')

    def count(self, items):
        """Count the training interactions of each item.

        Args:
            items: 0-based item ids of every training interaction.

        Returns:
            The block itself.
        """
        counts = onp.bincount(onp.asarray(items, dtype=onp.int64),
                              minlength=self.config['num_items'])
        self.popularity.set_data(counts.astype(onp.float32))
        return self

    def forward(self, user_id, item_id):
        # The user id is part of the shared interface but does not change the
        # score; MXNet warns about an unused input, for this call only.
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore',
                                    message='The 0-th input to HybridBlock')
            return super().forward(user_id, item_id)

    def load_parameters(self, filename, ctx=None, **kwargs):
        """Gluon's, then the popularity made a numpy-interface array again:
        a parameter declared with ``params.get`` comes back from the file
        as a legacy MXNet array, which numpy operators refuse."""
        super().load_parameters(filename, ctx=ctx, **kwargs)
        p = self.popularity
        p._data = [d if isinstance(d, np.ndarray) else d.as_np_ndarray()
                   for d in p._data]

    def hybrid_forward(self, F, user_id, item_id, popularity):
        return F.np.take(popularity, item_id.astype('int32'))    # (B,)

    def score_block(self, users, items):
        """Every user against every item: the items' popularity, whoever
        the user.  (len(users), len(items))."""
        pop = np.take(self.popularity.data(items.ctx), items)   # (I,)
        return np.broadcast_to(pop, (len(users), len(items)))
