"""Evaluation that scales: CSR lookups against dense masks, vectorised
negative sampling with the old draws, chunked evaluation equal to one
chunk, block scores equal to net(u, i), sampled users, row-sparse
gradients."""
import mxnet as mx
import numpy as onp
import pytest
from mxnet import gluon, init, np
from mxnet.gluon import nn

import d2l_recsys as rs
from d2l_recsys import metrics as M
from d2l_recsys.data import interactions as inter, iterators as it
from d2l_recsys.data.interactions import Interactions
from d2l_recsys.models import neumf
from d2l_recsys.ranking import (RankingEvaluator, block_scores,
                                ranking_protocol, score_matrix, score_users)

CPU = [mx.cpu()]


def random_pairs(num_users, num_items, n, seed):
    rng = onp.random.default_rng(seed)
    return rng.integers(0, num_users, n), rng.integers(0, num_items, n)


@pytest.fixture(params=['dense', 'csr'])
def layout(request, monkeypatch):
    """Run a test with the dense lookup mask of ``Interactions``, then with
    its CSR keys only."""
    if request.param == 'csr':
        monkeypatch.setattr(inter, 'DENSE_LIMIT', 0)
    return request.param


# --- Interactions lookups and sampling ---------------------------------------
def test_interactions_lookups_match_a_dense_mask(layout):
    users, items = random_pairs(9, 13, 60, seed=0)
    mask = rs.interaction_mask(users, items, 9, 13)
    seen = Interactions.from_pairs(users, items, None, 9, 13)
    assert (seen.dense_mask() is None) == (layout == 'csr')
    rng = onp.random.default_rng(1)
    qu, qi = rng.integers(0, 9, (40, 1)), rng.integers(0, 13, (40, 5))
    assert (seen.contains(qu, qi) == mask[qu, qi]).all()
    assert (seen.row_counts() == mask.sum(axis=1)).all()
    some = onp.array([7, 2, 2, 0])
    assert (seen.mask(some) == mask[some]).all()
    rows, got = seen.pairs(some)
    want_rows, want_items = onp.nonzero(mask[some])
    assert (rows == want_rows).all() and (got == want_items).all()
    for u in range(9):
        unseen = onp.flatnonzero(~mask[u])
        ranks = onp.arange(len(unseen))
        assert (seen.nth_unseen(u, ranks) == unseen).all()
    with pytest.raises(ValueError, match='item ids'):
        Interactions.from_pairs([0], [13], None, 9, 13)


def old_test_negatives(mask, num, rng):
    """The per-user loop the vectorised sampler replaces."""
    out = onp.empty((mask.shape[0], num), dtype=onp.int64)
    for u in range(mask.shape[0]):
        out[u] = rng.choice(onp.flatnonzero(~mask[u]), num, replace=False)
    return out


def test_test_negatives_distinct_unseen_and_as_drawn_before(layout):
    users, items = random_pairs(30, 50, 700, seed=2)
    mask = rs.interaction_mask(users, items, 30, 50)
    num = int((~mask).sum(axis=1).min())           # some users use them all
    seen = Interactions.from_pairs(users, items, None, 30, 50)
    neg = rs.sample_test_negatives(seen, num, onp.random.default_rng(5))
    assert neg.shape == (30, num)
    for u in range(30):
        assert len(set(neg[u])) == num and not mask[u, neg[u]].any()
    assert (neg == old_test_negatives(mask, num,
                                      onp.random.default_rng(5))).all()
    assert (rs.sample_test_negatives(mask, num, onp.random.default_rng(5))
            == neg).all()
    with pytest.raises(ValueError, match='cannot draw'):
        rs.sample_test_negatives(seen, num + 1, onp.random.default_rng(5))


@pytest.mark.parametrize('lookup_rows', [1 << 20, 7])
def test_training_negatives_same_draws_for_both_layouts(
        layout, monkeypatch, lookup_rows):
    monkeypatch.setattr(it, 'LOOKUP_ROWS', lookup_rows)   # 7: in pieces
    users, items = random_pairs(20, 30, 300, seed=3)
    mask = rs.interaction_mask(users, items, 20, 30)
    seen = Interactions.from_pairs(users, items, None, 20, 30)
    picks = onp.random.default_rng(0).integers(0, 20, 500)
    got = rs.sample_negatives(picks, seen, 4, onp.random.default_rng(9))
    assert not mask[picks[:, None], got].any()
    # the old rejection loop on the dense mask
    rng = onp.random.default_rng(9)
    want = rng.integers(0, 30, (500, 4))
    bad = mask[picks[:, None], want]
    while bad.any():
        want[bad] = rng.integers(0, 30, int(bad.sum()))
        bad = mask[picks[:, None], want]
    assert (got == want).all()


# --- per-user ranking terms against a full sort ------------------------------
def sorted_terms(scores, relevant, candidates, k, ties):
    """Reference: sort every row (lexsort), read the terms off."""
    keyed = onp.where(candidates, scores, -onp.inf)
    second = relevant if ties == 'pessimistic' else \
        onp.broadcast_to(onp.arange(scores.shape[1]), scores.shape)
    order = onp.lexsort((second, -keyed), axis=1)
    ranked = onp.take_along_axis(relevant & candidates, order, axis=1)
    users = relevant.any(axis=1)
    ranked, n_rel = ranked[users], relevant[users].sum(axis=1)
    n_cand = candidates[users].sum(axis=1)
    top = ranked[:, :k]
    found = ranked.any(axis=1)
    first = onp.argmax(ranked, axis=1)
    auc = onp.where(found, (n_cand - 1 - first) / onp.maximum(n_cand - 1, 1),
                    0)
    return top.any(axis=1), top.sum(axis=1) / n_rel, auc


@pytest.mark.parametrize('ties', ['pessimistic', 'index'])
def test_per_user_terms_equal_a_full_sort(ties):
    rng = onp.random.default_rng(0)
    for trial in range(40):
        shape = (int(rng.integers(1, 9)), int(rng.integers(1, 25)))
        scores = rng.integers(0, 4, shape).astype(onp.float32) \
            if trial % 2 else rng.random(shape)        # ties, or none
        relevant = rng.random(shape) < 0.3
        candidates = rng.random(shape) < 0.8
        got = M.full_ranking_per_user(scores, relevant, candidates, 3, ties)
        hit, recall, auc = sorted_terms(scores, relevant, candidates, 3, ties)
        assert (got['users'] == onp.flatnonzero(relevant.any(axis=1))).all()
        assert (got['hit_rate'] == hit).all()
        assert (got['recall'] == recall).all() and (got['auc'] == auc).all()


# --- block scores ------------------------------------------------------------
class PairOnly(nn.HybridBlock):
    """A model without score_block: scored on the pair grid."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(60, 1)

    def hybrid_forward(self, F, users, items):
        return self.emb(items).reshape(-1) * (users + 1)


def small_models():
    pop = rs.ItemPop(7, 11)
    pop.initialize()
    pop.count(onp.random.default_rng(0).integers(0, 11, 30))
    nets = [rs.MF(5, 7, 11),
            rs.GMF(4, 7, 11),
            rs.GMF(4, 7, 11, output_activation='sigmoid',
                   prediction_bias=True),
            rs.MLP(3, 7, 11, [6, 4], prediction_bias=True),
            rs.NeuMF(4, 7, 11, [8, 5], mlp_factors=3, prediction_bias=True),
            rs.NeuMF(4, 7, 11, [8], output_activation='sigmoid')]
    for net in nets:
        net.initialize(init.Normal(0.5))
    return nets + [pop]


@pytest.mark.parametrize('hybridize', [False, True])
def test_block_scores_equal_net_on_pairs(hybridize, monkeypatch):
    monkeypatch.setattr(neumf, 'BLOCK_FLOATS', 40)   # several tower steps
    users = onp.array([3, 0, 6, 3])
    for net in small_models():
        if hybridize:
            net.hybridize()
        want = score_matrix(net, 7, 11, CPU)[users]
        got = block_scores(net, np.array(users, dtype='int32'),
                           np.arange(11, dtype='int32')).asnumpy()
        assert got.shape == (4, 11)
        assert onp.allclose(got, want, rtol=1e-5, atol=1e-6), \
            type(net).__name__
        assert onp.allclose(score_users(net, users, 11, CPU), want,
                            rtol=1e-5, atol=1e-6)
    other = PairOnly()
    other.initialize()
    assert (score_users(other, users, 60, CPU)
            == score_matrix(other, 7, 60, CPU)[users]).all()


# --- chunked evaluation ------------------------------------------------------
def evaluators(setup, **kw):
    """The same evaluator in chunks of 3 users and in one chunk."""
    ev = setup['evaluator']
    args = (setup['train_users'], setup['train_items'], ev.test_users,
            ev.test_items, setup['num_users'], setup['num_items'],
            ev.protocol, ev.top_k, ev.test_negatives)
    return (RankingEvaluator(*args, chunk_users=3, **kw),
            RankingEvaluator(*args, **kw))


def checker_nets():
    mx.random.seed(0)
    gmf = rs.GMF(4, 40, 60)
    net = rs.NeuMF(4, 40, 60, [8], mlp_factors=3)
    pop = rs.ItemPop(40, 60)                     # integer scores: many ties
    for n in (gmf, net, pop):
        n.initialize(init.Normal(0.5))
    pop.count(onp.arange(60) % 7)
    return gmf, net, pop


@pytest.mark.parametrize('protocol,kw', [
    ('ncf', {}),
    ('book', dict(ties='pessimistic')),
    ('book', dict(ties='index')),
    ('book', dict(ties='index', item_range=40)),
])
def test_chunked_equals_one_chunk(checker_dir, protocol, kw):
    setup = ranking_protocol(data_dir=checker_dir, protocol=protocol,
                             num_test_negatives=20, top_k=5)
    chunked, whole = evaluators(setup, **kw)
    assert chunked.chunk_users == 3 and whole.chunk_users >= 40
    for net in checker_nets():
        assert chunked(net, CPU) == whole(net, CPU)
        scores = score_users(net, onp.arange(40), 60, CPU)
        res = whole.from_scores(scores)
        assert chunked.from_scores(scores) == res
        assert res['eval_users'] == 40
        # the same numbers from whole dense masks, as before chunking
        train = rs.interaction_mask(setup['train_users'],
                                    setup['train_items'], 40, 60)
        test = rs.interaction_mask(whole.test_users, whole.test_items, 40, 60)
        full = M.full_ranking_metrics(scores, test, ~train, 10)
        assert res['full_ranking'] == {'hit_rate@10': full['hit_rate'],
                                       'ndcg@10': full['ndcg'],
                                       'recall@10': full['recall']}
        if protocol == 'book':
            candidates = ~train
            candidates[:, kw.get('item_range', 60):] = False
            book = M.full_ranking_metrics(scores, test, candidates, 5,
                                          kw['ties'])
            assert (res['hit_rate@5'], res['ndcg@5'], res['auc']) == \
                (book['hit_rate'], book['ndcg'], book['auc'])
            assert whole(net, CPU) == res      # block scores, as given
        else:
            ranks = M.rank_among(
                scores[whole.test_users, whole.test_items],
                scores[whole.test_users[:, None],
                       whole.test_negatives[whole.test_users]])
            assert res['auc'] == M.auc_from_ranks(ranks, 20)


@pytest.mark.parametrize('protocol', ['ncf', 'book'])
def test_grid_scoring_gives_the_pair_grid_numbers(checker_dir, protocol):
    setup = ranking_protocol(data_dir=checker_dir, protocol=protocol,
                             num_test_negatives=20, top_k=5)
    grid, _ = evaluators(setup, scoring='grid')
    for net in checker_nets():
        assert grid(net, CPU) == grid.from_scores(
            score_matrix(net, 40, 60, CPU))
    with pytest.raises(ValueError, match='scoring'):
        evaluators(setup, scoring='fast')


def test_ncf_without_full_ranking_scores_only_candidates(checker_dir):
    setup = ranking_protocol(data_dir=checker_dir, protocol='ncf',
                             num_test_negatives=20, top_k=5)
    lean, whole = evaluators(setup, full_ranking=False)
    for net in checker_nets():
        got = lean(net, CPU)
        assert 'full_ranking' not in got
        want = setup['evaluator'](net, CPU)
        for key in ('hit_rate@5', 'ndcg@5', 'auc'):
            assert got[key] == pytest.approx(want[key], abs=1e-12)


def test_eval_users_is_a_seeded_reported_sample(checker_dir):
    setup = ranking_protocol(data_dir=checker_dir, protocol='book', top_k=5)
    full = setup['evaluator']
    args = (setup['train_users'], setup['train_items'], full.test_users,
            full.test_items, 40, 60, 'book', 5)
    a = RankingEvaluator(*args, eval_users=10, seed=1)
    b = RankingEvaluator(*args, eval_users=10, seed=1)
    c = RankingEvaluator(*args, eval_users=10, seed=2)
    assert len(a.users) == 10 and (a.users == b.users).all()
    assert set(a.users) != set(c.users)
    assert set(a.users) <= set(full.test_users)
    scores = score_users(checker_nets()[1], onp.arange(40), 60, CPU)
    res = a.from_scores(scores)
    assert res['eval_users'] == 10
    # the sample's metrics are the full metrics of those users' rows
    train = rs.interaction_mask(setup['train_users'], setup['train_items'],
                                40, 60)[a.users]
    test = rs.interaction_mask(full.test_users, full.test_items, 40,
                               60)[a.users]
    want = M.full_ranking_metrics(scores[a.users], test, ~train, 5)
    assert res['hit_rate@5'] == want['hit_rate'] and res['auc'] == want['auc']
    assert RankingEvaluator(*args, eval_users=99).from_scores(
        scores)['eval_users'] == 40
    sampled = ranking_protocol(data_dir=checker_dir, protocol='ncf',
                               num_test_negatives=20, eval_users=7, seed=3)
    assert sampled['evaluator'](checker_nets()[0], CPU)['eval_users'] == 7
    with pytest.raises(ValueError, match='eval_users'):
        RankingEvaluator(*args, eval_users=0)


# --- row-sparse gradients ----------------------------------------------------
def train_gmf(setup, sparse_grad, lazy_update, hybridize, epochs,
              devices=CPU):
    mx.random.seed(0)
    net = rs.GMF(4, 40, 60, sparse_grad=sparse_grad)
    net.initialize(ctx=devices)
    if hybridize:
        net.hybridize()
    data = it.NegativeSamplingIter(setup['train_users'], setup['train_items'],
                                   40, 60, num_negatives=4, batch_size=64,
                                   seed=0)
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.02, 'wd': 1e-4,
                             'lazy_update': lazy_update})
    history = rs.train_ranking(net, data, rs.PointwiseBCELoss(), trainer,
                               epochs, devices, setup['evaluator'],
                               verbose=False)
    return net, history


@pytest.mark.parametrize('hybridize', [False, True])
def test_sparse_grad_trains_and_learns(checker_dir, tmp_path, hybridize):
    setup = ranking_protocol(data_dir=checker_dir, protocol='ncf',
                             num_test_negatives=20, top_k=5)
    net, lazy = train_gmf(setup, True, True, hybridize, epochs=6)
    assert net.P.weight.grad().stype == 'row_sparse'
    assert net.config['sparse_grad'] is True
    assert lazy[-1]['train_loss'] < 0.6 * lazy[0]['train_loss']
    assert lazy[-1]['auc'] > 0.75
    _, dense = train_gmf(setup, False, True, hybridize, epochs=6)
    assert lazy[-1]['train_loss'] == pytest.approx(dense[-1]['train_loss'],
                                                   rel=0.1)
    # without lazy updates the sparse gradient gives the dense run
    _, exact = train_gmf(setup, True, False, hybridize, epochs=6)
    for a, b in zip(dense, exact):
        assert a['train_loss'] == pytest.approx(b['train_loss'], rel=1e-5)
    rs.save_model(net, str(tmp_path))
    again, _ = rs.load_model(str(tmp_path))
    assert again.config['sparse_grad'] is True
    u, i = np.array([1, 2]), np.array([3, 4])
    assert onp.allclose(again(u, i).asnumpy(), net(u, i).asnumpy())


def test_sparse_grad_on_two_devices(checker_dir):
    setup = ranking_protocol(data_dir=checker_dir, protocol='ncf',
                             num_test_negatives=20, top_k=5)
    _, one = train_gmf(setup, True, True, True, epochs=2)
    _, two = train_gmf(setup, True, True, True, epochs=2,
                       devices=[mx.cpu(0), mx.cpu(1)])
    for a, b in zip(one, two):
        assert a['train_loss'] == pytest.approx(b['train_loss'], rel=1e-4)


def test_eval_users_and_sparse_grad_reach_the_run(checker_dir):
    from d2l_recsys.runs import run_ranking
    kw = dict(data_dir=checker_dir, model='gmf', num_factors=2, epochs=1,
              num_test_negatives=20, top_k=5, devices='cpu', verbose=False)
    sample = run_ranking(eval_users=10, batch_size=64, **kw)
    assert sample['eval_users'] == 10
    # 100 rows: below SPARSE_MIN_ROWS, dense unless asked
    small = run_ranking(batch_size=4, **kw)
    assert small['eval_users'] == 40 and not small['sparse_grad']
    assert run_ranking(batch_size=4, sparse_grad=True, **kw)['sparse_grad']
    with pytest.raises(ValueError, match='eval_users'):
        run_ranking(eval_users=0, **kw)


def test_mf_sparse_grad_rule_and_dist_refusal(ml_dir):
    from d2l_recsys.config import MFConfig
    from d2l_recsys.runs import run_mf
    from d2l_recsys.models.mf import prefer_sparse_grad
    assert prefer_sparse_grad(138493, 26744, 4096)           # ML-20M
    assert not prefer_sparse_grad(138493, 26744, 65536)      # 16 x batch
    assert prefer_sparse_grad(6040, 3706, 512)               # ML-1M
    assert not prefer_sparse_grad(943, 1682, 128)            # ML-100K
    kw = dict(data_dir=ml_dir, epochs=1, devices='cpu', verbose=False)
    assert not run_mf(batch_size=4, **kw)['sparse_grad']   # 100 rows
    assert run_mf(batch_size=4, sparse_grad=True, **kw)['sparse_grad']
    with pytest.raises(ValueError, match='sparse_grad'):
        MFConfig(sparse_grad=True, kvstore='dist_sync')
