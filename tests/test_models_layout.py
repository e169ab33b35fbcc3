"""MLP and NeuMF in the split layout (the tower's first layer on the two
embeddings apart) are the joined layout's model: the same parameters,
scores and gradients up to rounding; ``'auto'`` splits only large tables,
so ML-100K and ML-1M keep the joined layer."""
import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, init, np

import d2l_recsys as rs
from d2l_recsys.models import neumf
from d2l_recsys.models.neumf import choose_layout


def _pair(cls, args, **kwargs):
    nets = []
    for layout in ('joined', 'split'):
        mx.random.seed(0)
        net = cls(*args, layout=layout, prediction_bias=True, **kwargs)
        net.initialize(init.Normal(0.5))
        nets.append(net)
    return nets


def _grads(net):
    return {name: p.grad().asnumpy()
            for name, p in net._collect_params_with_prefix().items()}


MODELS = [(rs.NeuMF, (4, 7, 11, [8, 5]), dict(mlp_factors=3)),
          (rs.MLP, (3, 7, 11, [6, 4]), {})]


@pytest.mark.parametrize('cls,args,kwargs', MODELS)
@pytest.mark.parametrize('hybridize', [False, True])
def test_split_layout_is_the_same_model(cls, args, kwargs, hybridize):
    joined, split = _pair(cls, args, **kwargs)
    assert not joined.split and split.split
    assert [p.shape for p in joined.collect_params().values()] == \
        [p.shape for p in split.collect_params().values()]
    if hybridize:
        joined.hybridize()
        split.hybridize()
    users = np.array([0, 3, 6, 2, 3], dtype='int32')
    items = np.array([1, 10, 4, 4, 0], dtype='int32')
    out = []
    for net in (joined, split):
        with autograd.record():
            scores = net(users, items)
        scores.backward()
        out.append((scores.asnumpy(), _grads(net)))
    onp.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-5, atol=1e-6)
    assert out[0][1].keys() == out[1][1].keys()
    for name, grad in out[0][1].items():
        onp.testing.assert_allclose(grad, out[1][1][name], rtol=1e-4,
                                    atol=1e-6, err_msg=name)
    all_users, all_items = np.arange(7, dtype='int32'), \
        np.arange(11, dtype='int32')
    onp.testing.assert_allclose(
        split.score_block(all_users, all_items).asnumpy(),
        joined.score_block(all_users, all_items).asnumpy(), rtol=1e-5,
        atol=1e-6)


def test_split_layout_plans_its_memory_once():
    joined, split = _pair(*MODELS[0][:2], **MODELS[0][2])
    joined.hybridize()
    split.hybridize()
    assert ('static_alloc', False) in joined._flags
    assert ('static_alloc', True) in split._flags
    split.hybridize(static_alloc=False)     # still the caller's choice
    assert ('static_alloc', False) in split._flags


def test_auto_splits_from_the_size_of_the_tables():
    assert choose_layout(943, 1682) == 'joined'           # ML-100K
    assert choose_layout(6040, 3706) == 'joined'          # ML-1M
    assert choose_layout(69_878, 10_677) == 'split'       # ML-10M
    assert choose_layout(138_493, 26_744) == 'split'      # ML-20M
    assert choose_layout(neumf.SPLIT_MIN_ROWS - 1, 1) == 'split'
    assert choose_layout(neumf.SPLIT_MIN_ROWS - 2, 1) == 'joined'
    assert choose_layout(138_493, 26_744, 'joined') == 'joined'
    assert choose_layout(5, 5, 'split') == 'split'
    with pytest.raises(ValueError, match='layout'):
        choose_layout(5, 5, 'fused')
    assert not rs.NeuMF(8, 943, 1682, [32, 16, 8]).split
    assert rs.NeuMF(8, 138_493, 26_744, [32, 16, 8]).split


def test_the_layout_is_kept_with_the_model(tmp_path):
    mx.random.seed(0)
    net = rs.NeuMF(4, 7, 11, [8], layout='split')
    net.initialize(init.Normal(0.5))
    assert net.config['layout'] == 'split'
    rs.save_model(net, str(tmp_path))
    again, _ = rs.load_model(str(tmp_path))
    assert again.split
    u, i = np.array([1, 2]), np.array([3, 4])
    assert (again(u, i).asnumpy() == net(u, i).asnumpy()).all()


def test_pretraining_fills_a_split_neumf():
    mx.random.seed(0)
    gmf, mlp = rs.GMF(4, 7, 11), rs.MLP(3, 7, 11, [8, 5], layout='joined')
    net = rs.NeuMF(4, 7, 11, [8, 5], mlp_factors=3, layout='split')
    for n in (gmf, mlp, net):
        n.initialize(init.Normal(0.5))
    rs.load_pretrained(net, gmf, mlp, alpha=0.5)
    first = net.mlp[0].weight.data().asnumpy()
    assert (first == mlp.mlp[0].weight.data().asnumpy()).all()
