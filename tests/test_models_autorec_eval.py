"""AutoRec's evaluation on dense rows scores the held-out entries alone
(``AutoRec.predict_at``) and keeps their positions between evaluations:
the RMSE is the one of the whole reconstruction masked by the held-out
entries, bit for bit."""
import math

import mxnet as mx
import numpy as onp
import pytest
from mxnet import init, np

import d2l_recsys as rs
from d2l_recsys import evaluation
from d2l_recsys.data.iterators import ArrayIter
from d2l_recsys.devices import split_shards


def _matrices(rows=50, width=23, seed=0):
    rng = onp.random.default_rng(seed)
    ratings = rng.integers(1, 6, (rows, width)).astype(onp.float32)
    seen = rng.random((rows, width))
    train = onp.where(seen < 0.3, ratings, 0).astype(onp.float32)
    test = onp.where((seen >= 0.3) & (seen < 0.4), ratings, 0) \
        .astype(onp.float32)
    test[3] = 0                                  # a row with nothing held out
    return train, test


def _book_rmse(net, it, devices):
    """The RMSE as the evaluation computed it before: the masked
    reconstruction read back whole, shard by shard."""
    sq_err, count = 0.0, 0
    for batch in it:
        for rows, held_out in split_shards(batch, devices):
            pred = net.predict(rows, held_out).asnumpy()
            truth = held_out.asnumpy()
            mask = truth != 0
            sq_err += float(((pred[mask] - truth[mask]) ** 2).sum())
            count += int(mask.sum())
    return math.sqrt(sq_err / count)


@pytest.mark.parametrize('num_devices', [1, 2])
def test_the_rmse_is_the_masked_reconstructions_bit_for_bit(num_devices):
    train, test = _matrices()
    mx.random.seed(0)
    devices = [mx.cpu(j) for j in range(num_devices)]
    net = rs.AutoRec(9, train.shape[1])
    net.initialize(init.Normal(0.3), ctx=devices)
    net.hybridize()
    it = ArrayIter(train, test, batch_size=16)
    want = _book_rmse(net, it, devices)
    first = rs.evaluate_autorec(net, it, devices)
    again = rs.evaluate_autorec(net, it, devices)     # positions kept
    as_list = rs.evaluate_autorec(net, list(it), devices)   # not kept
    assert first == again == as_list == want


def test_predict_at_picks_the_reconstruction():
    train, test = _matrices(rows=6)
    net = rs.AutoRec(5, train.shape[1])
    net.initialize(init.Normal(0.3))
    flat = onp.flatnonzero(test)
    got = net.predict_at(np.array(train), np.array(flat)).asnumpy()
    whole = net.predict(np.array(train), np.array(test)).asnumpy()
    assert (got == whole.reshape(-1)[flat]).all()


def test_kept_positions_follow_the_iterator_and_devices():
    train, test = _matrices()
    net = rs.AutoRec(4, train.shape[1])
    net.initialize(init.Normal(0.3))
    it = ArrayIter(train, test, batch_size=16)
    rs.evaluate_autorec(net, it, [mx.cpu()])
    assert evaluation._HELD_OUT.get(it, [mx.cpu()]) is not None
    assert evaluation._HELD_OUT.get(it, [mx.cpu(0), mx.cpu(1)]) is None
    shuffled = ArrayIter(train, test, batch_size=16, shuffle=True, seed=0)
    rs.evaluate_autorec(net, shuffled, [mx.cpu()])
    assert evaluation._HELD_OUT.get(shuffled, [mx.cpu()]) is None
