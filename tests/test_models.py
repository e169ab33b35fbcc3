"""Checks every rating model passes (one mixin, as implicit's tests do),
then AutoRec's two formulations and its masking in both autograd modes."""
import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, gluon, init, np

import d2l_recsys as rs
from d2l_recsys.runs import run_autorec, run_mf


class RatingModelChecks:
    """Subclasses set ``run`` (an experiments runner) and ``kwargs``."""
    run = None
    kwargs = {}

    def test_learns_the_block_structure(self, ml_dir):
        # Ratings are 4-5 inside a user's group and 1-2 outside: predicting
        # the global mean scores about 1.6; a model that learns the groups
        # gets well under 1.
        res = type(self).run(data_dir=ml_dir, devices='cpu', verbose=False,
                             **self.kwargs)
        assert res['test_rmse'] < 1.0
        assert res['history'][-1]['train_loss'] < \
            res['history'][0]['train_loss']

    def test_same_seed_same_metrics(self, ml_dir):
        kw = dict(data_dir=ml_dir, devices='cpu', verbose=False,
                  **self.kwargs)
        kw['epochs'] = 3
        a, b = type(self).run(**kw), type(self).run(**kw)
        assert a['history'] == b['history']

    def test_one_vs_two_cpu_contexts(self, ml_dir):
        kw = dict(data_dir=ml_dir, verbose=False, **self.kwargs)
        kw['epochs'] = 3
        one = type(self).run(devices='cpu', **kw)['history']
        two = type(self).run(devices='cpu:2', **kw)['history']
        for h1, h2 in zip(one, two):
            assert h1['train_loss'] == pytest.approx(h2['train_loss'],
                                                     abs=1e-4)
            assert h1['test_rmse'] == pytest.approx(h2['test_rmse'], abs=1e-4)


class TestMF(RatingModelChecks):
    run = staticmethod(run_mf)
    kwargs = dict(split='random', epochs=40, batch_size=64, lr=0.02)


class TestMFFast(RatingModelChecks):
    """The fast preset (large batches, row-sparse gradients, biases at the
    mean, decaying rate), its batch and rate scaled to the tiny data."""
    run = staticmethod(run_mf)
    kwargs = dict(preset='fast', split='random', epochs=12, batch_size=64,
                  lr=0.05)


def test_mf_start_at_mean_predicts_the_mean_before_training():
    net = rs.MF(4, 5, 6)
    net.initialize(init.Normal(0.01))
    net.start_at_mean(3.5)
    pred = net(np.array([0, 1, 4]), np.array([3, 4, 5])).asnumpy()
    assert onp.abs(pred - 3.5).max() < 0.05     # the Normal(0.01) rest


class TestAutoRec(RatingModelChecks):
    run = staticmethod(run_autorec)
    # dropout 0: two contexts draw different dropout masks
    kwargs = dict(epochs=40, batch_size=8, num_hiddens=20, lr=0.1,
                  dropout=0.0)


class TestUserAutoRec(TestAutoRec):
    kwargs = dict(TestAutoRec.kwargs, variant='user')


class TestAutoRecFromTheMean(TestAutoRec):
    kwargs = dict(TestAutoRec.kwargs, bias_init='mean')


def test_autorec_start_at_mean_reconstructs_the_mean_before_training():
    net = rs.AutoRec(num_hiddens=4, num_users=6)
    net.initialize(init.Normal(0.01))
    net.start_at_mean(3.5)
    out = net(np.ones((2, 6))).asnumpy()
    assert onp.abs(out - 3.5).max() < 0.05


def test_mf_shapes_and_hybridize():
    net = rs.MF(4, num_users=5, num_items=6)
    net.initialize(init.Normal(0.1))
    u, i = np.array([0, 4, 2]), np.array([5, 1, 0])
    eager = net(u, i)
    assert eager.shape == (3,)
    assert net(np.array([1]), np.array([1])).shape == (1,)  # book: scalar
    net.hybridize()
    assert onp.allclose(net(u, i).asnumpy(), eager.asnumpy())


def _rows(seed=0, shape=(6, 9)):
    rng = onp.random.default_rng(seed)
    mat = (rng.random(shape) < 0.4) * rng.integers(1, 6, shape)
    return np.array(mat.astype('float32'))


def _loss_and_grads(net, x):
    with autograd.record():
        l = rs.MaskedL2Loss()(net(x), x)
    l.backward()
    return l.asnumpy(), [p.grad().asnumpy()
                         for p in net.collect_params().values()]


def test_masked_loss_by_hand():
    pred = np.array([[1.0, 9.0, 2.0]])
    label = np.array([[3.0, 0.0, 2.0]])   # the 9 is unobserved: ignored
    # errors 2, 0, 0 -> 0.5 * mean(4, 0, 0)
    assert rs.MaskedL2Loss()(pred, label).item() == pytest.approx(2 / 3)


def test_autorec_takes_the_books_keyword_and_refuses_the_old_flag():
    book = rs.AutoRec(num_hidden=7, num_users=9)
    assert book.config == rs.AutoRec(7, 9).config == dict(
        num_hiddens=7, num_users=9, dropout=0.05)
    with pytest.raises(ValueError, match='CSR rows'):
        rs.AutoRec(7, 9, sparse=True)
    with pytest.raises(ValueError, match='give one of them'):
        rs.AutoRec(7, 9, num_hidden=8)


@pytest.mark.parametrize('first_call', ['predict', 'train'])
def test_hybridized_autorec_masks_in_both_modes(first_call):
    """The book's `if autograd.is_training()` mask, which a hybridized
    block would freeze at its first call: here it holds whichever mode
    comes first, so the book's plain L2Loss scores the observed entries
    only.  Mutation tried: masking inside hybrid_forward (frozen at the
    first call) fails the 'predict' case."""
    x = _rows(2)
    mx.random.seed(0)
    net = rs.AutoRec(5, 9, dropout=0.0)
    net.initialize(init.Normal(0.1))
    net.hybridize()
    if first_call == 'predict':
        full = net(x)
    with autograd.record():
        out = net(x)
        l = gluon.loss.L2Loss()(out, x)          # the chapter's loss
    l.backward()
    if first_call == 'train':
        full = net(x)
    obs = x.asnumpy() != 0
    assert (full.asnumpy()[~obs] != 0).all()      # evaluation: every entry
    assert onp.allclose(out.asnumpy(), onp.where(obs, full.asnumpy(), 0),
                        atol=1e-6)                # training: observed only
    err = onp.where(obs, out.asnumpy() - x.asnumpy(), 0)
    assert onp.allclose(l.asnumpy(), 0.5 * (err ** 2).mean(axis=1),
                        atol=1e-6)
    # unobserved entries give no gradient: the decoder bias gradient is the
    # sum of the observed errors per column (scaled as the loss scales).
    bias_grad = net.decoder.bias.grad().asnumpy()
    assert onp.allclose(bias_grad, err.sum(axis=0) / 9, atol=1e-5)
    with autograd.record():     # MaskedL2Loss on top changes nothing
        assert onp.allclose(rs.MaskedL2Loss()(net(x), x).asnumpy(),
                            l.asnumpy(), atol=1e-6)
    unmasked = rs.AutoRec(5, 9, dropout=0.0, mask=False)
    unmasked.initialize(init.Normal(0.1))
    with autograd.record():
        assert (unmasked(x).asnumpy()[~obs] != 0).all()
    # predict() masks to the query entries in evaluation
    pred = net.predict(x, x).asnumpy()
    assert (pred[~obs] == 0).all()
