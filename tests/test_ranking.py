"""Ranking: checkerboard data whose right answer is known, the protocols,
negative sampling, metrics by hand, pretraining, d2l parity."""
import json
import os
import shutil

import mxnet as mx
import numpy as onp
import pytest
from mxnet import init, np

import d2l_recsys as rs
from d2l_recsys import data as D
from d2l_recsys import metrics as M
from d2l_recsys.runs import reevaluate, run_ranking
from d2l_recsys.ranking import ranking_protocol
from d2l_recsys.ranking import RankingEvaluator, evaluate_ranking, \
    score_matrix

# Small models: 2 GMF factors cannot memorise the training pairs, so only
# the group structure explains the data.  One 32-unit layer: narrower towers
# (e.g. 16, 8) sometimes lose every ReLU in the first epoch of pointwise
# training on data this small (seen for 1 seed in 5), whatever the rate.
TOY = dict(epochs=20, lr=0.02, wd=1e-4, batch_size=64, num_factors=2,
           mlp_factors=8, nums_hiddens=[32], num_test_negatives=20,
           top_k=5, devices='cpu', verbose=False)


class RankingModelChecks:
    model, protocol = None, 'ncf'

    def run(self, checker_dir, **kw):
        return run_ranking(model=self.model, protocol=self.protocol,
                           data_dir=checker_dir, **dict(TOY, **kw))

    def test_held_out_in_group_item_beats_out_of_group(self, checker_dir,
                                                       tmp_path):
        self.run(checker_dir, out=str(tmp_path))
        net, _ = rs.load_model(str(tmp_path))
        ev = ranking_protocol(data_dir=checker_dir, protocol='ncf',
                            num_test_negatives=20)['evaluator']
        scores = score_matrix(net, 40, 60, [mx.cpu()])
        wins = [scores[u, i] > scores[u, onp.arange(1 - u % 2, 60, 2)].max()
                for u, i in zip(ev.test_users, ev.test_items)]
        assert onp.mean(wins) >= 0.85

    def test_one_vs_two_cpu_contexts(self, checker_dir):
        one = self.run(checker_dir, epochs=2)['history']
        two = self.run(checker_dir, epochs=2, devices='cpu:2')['history']
        for a, b in zip(one, two):
            assert a['train_loss'] == pytest.approx(b['train_loss'], abs=1e-4)
            assert a['auc'] == pytest.approx(b['auc'], abs=1e-4)


class TestGMF(RankingModelChecks):
    model = 'gmf'


class TestMLP(RankingModelChecks):
    model = 'mlp'


class TestNeuMF(RankingModelChecks):
    model = 'neumf'


class TestNeuMFBookProtocol(RankingModelChecks):
    model, protocol = 'neumf', 'book'


def test_itempop_scores_training_popularity(checker_dir):
    res = run_ranking(model='itempop', data_dir=checker_dir, **TOY)
    assert res['history'][0]['epoch'] == 0
    net = rs.ItemPop(3, 4)
    net.initialize()
    net.count([2, 2, 0, 2, 0, 3])
    got = net(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 3])).asnumpy()
    assert got.tolist() == [2, 0, 3, 1]


# --- protocols and sampling ----------------------------------------------------
def test_ncf_protocol_candidates(checker_dir):
    setup = ranking_protocol(data_dir=checker_dir, protocol='ncf',
                           num_test_negatives=20)
    ev = setup['evaluator']
    seen = D.interaction_mask(onp.r_[setup['train_users'], ev.test_users],
                              onp.r_[setup['train_items'], ev.test_items],
                              40, 60)
    assert ev.test_negatives.shape == (40, 20)
    assert len(ev.test_users) == 40 and len(set(ev.test_users)) == 40
    for u, i in zip(ev.test_users, ev.test_items):
        candidates = onp.r_[i, ev.test_negatives[u]]
        assert len(set(candidates)) == 21            # distinct
        assert seen[u, candidates].sum() == 1        # one positive
        assert not seen[u, ev.test_negatives[u]].any()


def test_negatives_exclude_training_items_and_are_redrawn():
    users = onp.array([0, 0, 1, 1, 1])
    items = onp.array([0, 1, 2, 3, 4])
    it = D.NegativeSamplingIter(users, items, 2, 8, num_negatives=3,
                                batch_size=100, seed=0)
    u1, i1, y1 = [a.asnumpy() for a in next(iter(it))]
    u2, i2, y2 = [a.asnumpy() for a in next(iter(it))]
    assert (y1 == 1).sum() == 5 and (y1 == 0).sum() == 15
    mask = D.interaction_mask(users, items, 2, 8)
    assert not mask[u1[y1 == 0], i1[y1 == 0]].any()
    assert mask[u1[y1 == 1], i1[y1 == 1]].all()
    assert sorted(i1[y1 == 0]) != sorted(i2[y2 == 0])   # fresh negatives
    pairs = D.NegativeSamplingIter(users, items, 2, 8, num_negatives=2,
                                   pairwise=True, batch_size=100, seed=0)
    u, i, j = [a.asnumpy() for a in next(iter(pairs))]
    assert len(u) == 10 and mask[u, i].all() and not mask[u, j].any()



def _whole_epoch(users, items, num_items, k, pairwise, seed, batch_size,
                 discard=False):
    """The batches of one epoch built the plain way: every example
    materialised, then shuffled by the iterator's permutation."""
    rng = onp.random.default_rng(seed)
    seen = D.interaction_mask(users, items, users.max() + 1, num_items)
    neg = D.sample_negatives(users, seen, k, rng).ravel()
    if pairwise:
        arrays = [onp.repeat(users, k), onp.repeat(items, k), neg]
    else:
        arrays = [onp.r_[users, onp.repeat(users, k)], onp.r_[items, neg],
                  onp.repeat([1.0, 0.0], [len(users), len(users) * k])]
    order = onp.random.default_rng(rng.integers(2 ** 31)).permutation(
        len(arrays[0]))
    arrays = [a[order] for a in arrays]
    end = len(order) // batch_size * batch_size if discard else len(order)
    return [[a[b:min(b + batch_size, end)] for a in arrays]
            for b in range(0, end, batch_size)]


@pytest.mark.parametrize('pairwise', [False, True])
def test_negative_epochs_built_in_chunks_equal_the_whole_epoch(
        monkeypatch, pairwise):
    rng = onp.random.default_rng(3)
    users = onp.repeat(onp.arange(6), 4)
    items = onp.concatenate([rng.choice(12, 4, replace=False)
                             for _ in range(6)])
    monkeypatch.setattr(D.NegativeSamplingIter, 'CHUNK', 12)  # 2 batches
    it = D.NegativeSamplingIter(users, items, 6, 12, num_negatives=3,
                                pairwise=pairwise, batch_size=5, seed=5)
    got = [[a.asnumpy() for a in batch] for batch in it]
    want = _whole_epoch(users, items, 12, 3, pairwise, 5, 5)
    assert len(got) == len(want) == len(it)
    assert len(got[-1][0]) < 5                 # a short last batch, kept
    for g, w in zip(got, want):
        for a, b in zip(g, w):
            assert onp.array_equal(a, b)


# --- metrics by hand -------------------------------------------------------------
def test_rank_hit_ndcg_auc_by_hand():
    pos = onp.array([0.9, 0.5, 0.1])
    neg = onp.array([[0.1, 0.2, 0.3], [0.6, 0.5, 0.1], [0.2, 0.3, 0.4]])
    ranks = M.rank_among(pos, neg)     # a tie counts against the positive
    assert ranks.tolist() == [0, 2, 3]
    assert M.hit_rate(ranks, 1) == pytest.approx(1 / 3)
    assert M.hit_rate(ranks, 3) == pytest.approx(2 / 3)
    assert M.ndcg(ranks, 3) == pytest.approx((1 + 1 / onp.log2(4)) / 3)
    assert M.auc_from_ranks(ranks, 3) == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_full_ranking_by_hand():
    scores = onp.array([[0.9, 0.8, 0.7, 0.6, 0.5],
                        [0.1, 0.2, 0.3, 0.4, 0.5]])
    relevant = onp.array([[0, 0, 1, 0, 1], [1, 0, 0, 0, 0]], dtype=bool)
    candidates = onp.ones_like(relevant)
    candidates[0, 0] = False   # seen in training: not ranked
    res = M.full_ranking_metrics(scores, relevant, candidates, k=2)
    # user 0 ranks items 1, 2, 3, 4: relevant at positions 1 and 3
    # user 1 ranks 4, 3, 2, 1, 0: relevant at position 4
    assert res['hit_rate'] == pytest.approx(0.5)
    assert res['recall'] == pytest.approx((1 / 2 + 0) / 2)
    idcg0 = 1 + 1 / onp.log2(3)
    assert res['ndcg'] == pytest.approx((1 / onp.log2(3) / idcg0) / 2)
    # auc: user 0 first relevant at 1 of 4 -> (3 - 1) / 3; user 1 -> 0 / 4
    assert res['auc'] == pytest.approx((2 / 3 + 0) / 2)


def test_book_item_range_hides_items_beyond_num_users():
    scores = onp.array([[0.1, 0.2, 0.9, 0.8]])
    relevant = onp.array([[False, False, True, False]])
    ev = RankingEvaluator([0], [1], [0], [2], 1, 4, 'book', top_k=1,
                          item_range=2)
    res = ev.from_scores(scores)
    assert res['hit_rate@1'] == 0 and res['auc'] == 0
    assert res['full_ranking']['hit_rate@10'] == 1.0   # fixed range
    fixed = RankingEvaluator([0], [1], [0], [2], 1, 4, 'book', top_k=1)
    assert fixed.from_scores(scores)['hit_rate@1'] == 1.0
    # the evaluator scores exactly what the metric gives for the book's
    # candidates: item 0 only (item 1 seen, items >= 2 out of range)
    book = M.full_ranking_metrics(scores, relevant,
                                  onp.array([[True, False, False, False]]), 1)
    assert (res['hit_rate@1'], res['auc']) == (book['hit_rate'], book['auc'])
    both = M.full_ranking_metrics(scores, relevant,
                                  onp.array([[True, False, True, True]]), 1)
    assert fixed.from_scores(scores)['auc'] == both['auc'] == 1.0


# --- models ---------------------------------------------------------------------
@pytest.mark.parametrize('bias', [False, True])
def test_pretraining_loads_both_parts(bias):
    gmf = rs.GMF(3, 5, 7, prediction_bias=bias)
    mlp = rs.MLP(4, 5, 7, [6, 2], prediction_bias=bias)
    neumf = rs.NeuMF(3, 5, 7, [6, 2], mlp_factors=4, prediction_bias=bias)
    for net in (gmf, mlp, neumf):
        net.initialize()
    if bias:   # make the biases matter
        gmf.prediction_layer.bias.set_data(np.array([0.4]))
        mlp.prediction_layer.bias.set_data(np.array([-1.0]))
    rs.load_pretrained(neumf, gmf, mlp, alpha=0.3)
    u, i = np.array([0, 1, 4, 2]), np.array([6, 0, 3, 3])
    expected = 0.3 * gmf(u, i) + 0.7 * mlp(u, i)
    assert onp.allclose(neumf(u, i).asnumpy(), expected.asnumpy(), atol=1e-6)
    assert onp.allclose(neumf.P.weight.data().asnumpy(),
                        gmf.P.weight.data().asnumpy())
    assert onp.allclose(neumf.mlp[1].weight.data().asnumpy(),
                        mlp.mlp[1].weight.data().asnumpy())
    with pytest.raises(ValueError, match='num_factors'):
        rs.load_pretrained(neumf, rs.GMF(5, 5, 7), mlp)


def test_book_signature_and_init_fix():
    net = rs.NeuMF(10, 6, 8, [10, 10, 10])
    net.initialize(init.Normal(0.01))          # as the book writes it
    assert net(np.array([1]), np.array([2])).shape == (1,)
    std = float(net.mlp[0].weight.data().asnumpy().std())
    assert std > 0.1                          # Xavier, not Normal(0.01)
    book = rs.NeuMF(10, 6, 8, [10, 10, 10], output_activation='sigmoid',
                    dense_init=init.Normal(0.01))
    book.initialize()
    out = book(np.array([1, 2]), np.array([2, 3])).asnumpy()
    assert ((out > 0) & (out < 1)).all()


@pytest.mark.parametrize('constant', [False, True])
def test_evaluate_ranking_matches_d2l(checker_dir, constant):
    from d2l import mxnet as d2l
    setup = ranking_protocol(data_dir=checker_dir, protocol='book')
    ev = setup['evaluator']
    train = {}
    for u, i in zip(setup['train_users'], setup['train_items']):
        train.setdefault(int(u), []).append(int(i))
    test = {int(u): [int(i)] for u, i in zip(ev.test_users, ev.test_items)}
    mx.random.seed(0)
    if constant:   # every score equal: the tie rule decides everything
        net = rs.ItemPop(40, 60)
        net.initialize()
    else:
        net = rs.NeuMF(4, 40, 60, [8])
        net.initialize(init.Normal(0.5))
    devices = [mx.cpu()]
    ref = d2l.evaluate_ranking(net, test, None, train, 40, 60, devices)
    ours = evaluate_ranking(net, test, None, train, 40, 60, devices,
                            item_range=40)    # the book's range
    assert ours == pytest.approx(tuple(float(x) for x in ref), abs=1e-6)
    fixed = evaluate_ranking(net, test, None, train, 40, 60, devices)
    assert fixed != ours


# --- outputs, reload, pretraining through folders ---------------------------------
def test_outputs_reload_and_pretraining(checker_dir, tmp_path):
    dirs = {}
    for model in ('gmf', 'mlp'):
        dirs[model] = str(tmp_path / model)
        run_ranking(model=model, data_dir=checker_dir, out=dirs[model],
                    **dict(TOY, epochs=2))
    out = str(tmp_path / 'neumf')
    res = run_ranking(model='neumf', data_dir=checker_dir, out=out,
                      pretrain_gmf=dirs['gmf'], pretrain_mlp=dirs['mlp'],
                      **dict(TOY, epochs=1))
    saved = json.load(open(os.path.join(out, 'metrics.json')))
    for key in ('hit_rate@5', 'ndcg@5', 'auc', 'full_ranking', 'history',
                'seconds', 'config', 'devices'):
        assert key in saved
    assert set(saved['full_ranking']) == {'hit_rate@10', 'ndcg@10',
                                          'recall@10'}
    again = reevaluate(out)
    assert again['auc'] == pytest.approx(res['auc'], abs=1e-6)
    assert again['hit_rate@5'] == pytest.approx(res['hit_rate@5'], abs=1e-6)
    with pytest.raises(ValueError, match='together'):
        run_ranking(model='neumf', data_dir=checker_dir,
                    pretrain_gmf=dirs['gmf'], **TOY)
    # pretrained runs are opened as runs: made on other data, refused
    elsewhere = tmp_path / 'other' / 'ml-100k'
    shutil.copytree(checker_dir, elsewhere)
    with open(elsewhere / 'u.data') as f:
        lines = f.readlines()
    with open(elsewhere / 'u.data', 'w') as f:
        f.writelines(lines[:-20])
    other = str(tmp_path / 'gmf-other-data')
    run_ranking(model='gmf', data_dir=str(elsewhere), out=other,
                **dict(TOY, epochs=1))
    with pytest.raises(ValueError, match='gmf-other-data: a run on .*'
                       'pretrain on the same data, split and seed'):
        run_ranking(model='neumf', data_dir=checker_dir,
                    pretrain_gmf=other, pretrain_mlp=dirs['mlp'], **TOY)
    with pytest.raises(ValueError, match='gmf cannot start from pretrained'):
        run_ranking(model='gmf', data_dir=checker_dir,
                    pretrain_gmf=dirs['gmf'], pretrain_mlp=dirs['mlp'],
                    **TOY)
