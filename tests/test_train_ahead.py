"""The training loop makes large batches ahead in a thread
(``train._batches``): the same batches in the same order, the same
training, errors raised where the loop is, and the thread gone when the
loop stops early."""
import threading

import mxnet as mx
import numpy as onp
import pytest
from mxnet import gluon, init, np

import d2l_recsys as rs
from d2l_recsys import train
from d2l_recsys.data.iterators import ArrayIter


def _arrays(batch):
    return tuple(a.asnumpy().tolist() for a in batch)


def _iterator(n=40, batch_size=8, seed=0):
    rng = onp.random.default_rng(seed)
    return ArrayIter(rng.integers(0, 6, n).astype(onp.int32),
                     rng.integers(0, 9, n).astype(onp.int32),
                     rng.random(n).astype(onp.float32) * 4 + 1,
                     batch_size=batch_size, shuffle=True,
                     last_batch='rollover', seed=seed)


def _ahead_threads():
    return [t for t in threading.enumerate()
            if t.name != 'MainThread' and t.daemon and t.is_alive()]


@pytest.mark.parametrize('ahead', [False, True])
def test_the_same_batches_in_the_same_order(monkeypatch, ahead):
    monkeypatch.setattr(train, 'PREFETCH_MIN_EXAMPLES', 1 if ahead else 10**9)
    want = [_arrays(b) for b in _iterator()]
    it = _iterator()
    assert [_arrays(b) for b in train._batches(it)] == want
    # the next pass continues the iterator's state as plain iteration does
    again = _iterator()
    list(again)
    assert [_arrays(b) for b in train._batches(it)] == \
        [_arrays(b) for b in again]


def test_batches_made_in_the_thread_are_numpy_arrays(monkeypatch):
    monkeypatch.setattr(train, 'PREFETCH_MIN_EXAMPLES', 1)
    batches = list(train._batches(_iterator()))
    assert all(type(a) is np.ndarray for b in batches for a in b)


def test_an_error_of_the_iterator_is_raised_in_the_loop(monkeypatch):
    monkeypatch.setattr(train, 'PREFETCH_MIN_EXAMPLES', 1)

    def broken():
        yield (np.zeros(4),)
        yield (np.zeros(4),)
        raise ValueError('bad batch')
    got = []
    with pytest.raises(ValueError, match='bad batch'):
        for batch in train._batches(broken()):
            got.append(batch)
    assert len(got) == 2


def test_stopping_early_ends_the_thread(monkeypatch):
    monkeypatch.setattr(train, 'PREFETCH_MIN_EXAMPLES', 1)
    before = len(_ahead_threads())

    def endless():
        while True:
            yield (np.zeros(4),)
    batches = train._batches(endless())
    for j, _ in enumerate(batches):
        if j == 5:
            break
    batches.close()
    assert len(_ahead_threads()) == before


def _fit(ahead, monkeypatch):
    monkeypatch.setattr(train, 'PREFETCH_MIN_EXAMPLES', 1 if ahead else 10**9)
    mx.random.seed(0)
    net = rs.MF(3, 6, 9)
    net.initialize(init.Normal(0.1))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.05})
    it = _iterator()
    test = ArrayIter(*[a.asnumpy() for a in it.arrays], batch_size=16)
    hist = rs.train_recsys_rating(net, it, test, gluon.loss.L2Loss(),
                                  trainer, 3, [mx.cpu()], rs.evaluate_rmse,
                                  verbose=False)
    return [{k: v for k, v in h.items() if k != 'seconds'} for h in hist]


def test_training_with_batches_made_ahead_is_the_same(monkeypatch):
    assert _fit(True, monkeypatch) == _fit(False, monkeypatch)


def test_small_batches_are_made_in_the_loop(monkeypatch):
    made = []
    monkeypatch.setattr(train, '_Ahead', lambda it: made.append(it))
    list(train._batches(_iterator()))       # batches of 8
    assert not made
