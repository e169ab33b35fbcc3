"""Helpers of the Caser tests (tests/test_caser.py and
tests/test_caser_eval.py): a small Caser with large weights and random
sequence data.  (They keep the underscore names they had in the one test
module they came from.)"""
import mxnet as mx
import numpy as onp
from mxnet import init

from d2l_recsys.models.caser import Caser


def _net(seed=0, hybridize=False, **kwargs):
    kw = dict(num_factors=6, num_users=7, num_items=20, L=4, d=3, d_prime=2)
    kw.update(kwargs)
    mx.random.seed(seed)
    net = Caser(**kw)
    net.initialize(init.Normal(0.3))     # large enough for clear values
    if hybridize:
        net.hybridize()
    return net


def _random_histories(rng, num_users, num_items, low, high):
    """Each user's items in time order, the users interleaved at random
    (every interaction gets a random place; a user's places ascend)."""
    users, items = [], []
    for u in rng.permutation(num_users):
        n = rng.integers(low, high)
        users += [u] * n
        items += rng.choice(num_items, n, replace=False).tolist()
    users, items = onp.array(users), onp.array(items)
    place = rng.permutation(len(users))
    for u in range(num_users):
        mine = onp.flatnonzero(users == u)
        place[mine] = onp.sort(place[mine])
    out_u, out_i = onp.empty_like(users), onp.empty_like(items)
    out_u[place], out_i[place] = users, items
    return out_u, out_i


def _candidates(users, items):
    cand = {}
    for u, i in zip(users.tolist(), items.tolist()):
        cand.setdefault(u, []).append(i)
    return cand
