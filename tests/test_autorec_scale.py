"""AutoRec at scale: the CSR rows of ``data.rows`` (``Interactions``), the
observed-entries (sparse) formulation and its equivalence with the book's
dense one."""
import math

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, gluon, init, np

import d2l_recsys as rs
from d2l_recsys.data import interactions, rows as R
from d2l_recsys.data.interactions import Interactions
from d2l_recsys.data.iterators import ArrayIter, interaction_matrix
from d2l_recsys.csr import Entries, is_csr
from d2l_recsys.losses import ObservedL2Loss
from d2l_recsys.models.autorec import _DecodeAt


def _matrix(shape=(13, 11), density=0.3, seed=0):
    """A random rating matrix with an empty row and an empty column."""
    rng = onp.random.default_rng(seed)
    mat = (rng.random(shape) < density) * rng.integers(1, 6, shape)
    mat[3], mat[:, 4] = 0, 0
    return mat.astype(onp.float32)


def _rows(mat):
    r, c = onp.nonzero(mat)
    return Interactions.from_pairs(r, c, mat[r, c], *mat.shape)


def _csr(mat):
    return mx.nd.array(mat).tostype('csr')


def _dense(batch):
    return batch.asnumpy() if not is_csr(batch) else \
        batch.tostype('default').asnumpy()


def _net(width, dropout=0.0, hybridize=False, num_hiddens=7):
    mx.random.seed(0)
    net = rs.AutoRec(num_hiddens, width, dropout=dropout)
    net.initialize(init.Normal(0.1))
    if hybridize:
        net.hybridize()
    return net


def _loss_and_grads(net, x, loss):
    mx.random.seed(1)                         # the same dropout mask
    with autograd.record():
        l = loss(net(x), x)
    l.backward()
    return l.asnumpy(), [p.grad().asnumpy()
                         for p in net.collect_params().values()]


# --------------------------------------------------------------------------
# Interactions as AutoRec rows and the row iterators
# --------------------------------------------------------------------------
def test_rating_rows_match_the_dense_matrix(ml_dir):
    train, _, num_users, num_items = rs.data.rating_split(ml_dir, seed=0)
    for variant in ('item', 'user'):
        rows = Interactions.from_ratings(train, num_users, num_items,
                                         variant)
        dense = interaction_matrix(train, num_users, num_items,
                                   transpose=variant == 'user')
        onp.testing.assert_array_equal(rows.dense_rows(), dense)
        assert rows.nnz == onp.count_nonzero(dense)
        pick = [5, 0, 5, 2]
        onp.testing.assert_array_equal(rows.dense_rows(pick), dense[pick])


def test_repeated_entry_keeps_its_last_value():
    rows = Interactions.from_pairs([1, 0, 1], [2, 2, 2], [3, 4, 5], 2, 3)
    onp.testing.assert_array_equal(rows.dense_rows(), [[0, 0, 4], [0, 0, 5]])


def test_bad_csr_arrays_are_refused():
    with pytest.raises(ValueError, match='CSR'):
        Interactions([0, 2], [0], [1.0], (1, 3))


@pytest.mark.parametrize('csr', [False, True])
def test_row_iter_gives_array_iter_batches(csr):
    mat = _matrix()
    old = ArrayIter(mat, batch_size=5, shuffle=True, last_batch='rollover',
                    seed=3)
    new = R.RowIter(_rows(mat), batch_size=5, shuffle=True,
                    last_batch='rollover', seed=3, csr=csr)
    for _ in range(4):                        # rollover carries over epochs
        assert len(new) == len(old)
        got, want = list(new), list(old)
        assert len(got) == len(want)
        for a, b in zip(got, want):
            assert is_csr(a) == csr
            onp.testing.assert_array_equal(_dense(a), b.asnumpy())


def test_row_iter_pairs_in_order():
    mat, held = _matrix(seed=1), _matrix(seed=2)
    old = ArrayIter(mat, held, batch_size=4)
    new = R.RowIter(_rows(mat), _rows(held), batch_size=4, csr=True)
    for (a, b), (c, d) in zip(new, old, strict=True):
        onp.testing.assert_array_equal(_dense(a), c.asnumpy())
        onp.testing.assert_array_equal(_dense(b), d.asnumpy())


def test_small_dense_data_is_todays(ml_dir):
    train, test, num_users, num_items = rs.data.rating_split(ml_dir, seed=0)
    width, train_iter, test_iter = R.autorec_iters(
        train, test, num_users, num_items, batch_size=16, seed=4)
    assert isinstance(train_iter, ArrayIter)
    today = rs.data.autorec_iters(train, test, num_users, num_items,
                                  batch_size=16, seed=4)
    assert width == today[0]
    for a, b in zip(train_iter, today[1], strict=True):
        onp.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
    for (a, b), (c, d) in zip(test_iter, today[2], strict=True):
        onp.testing.assert_array_equal(a.asnumpy(), c.asnumpy())
        onp.testing.assert_array_equal(b.asnumpy(), d.asnumpy())


@pytest.mark.parametrize('variant', ['item', 'user'])
def test_large_data_streams_the_same_batches(ml_dir, monkeypatch, variant):
    train, test, num_users, num_items = rs.data.rating_split(ml_dir, seed=0)
    args = (train, test, num_users, num_items, variant)
    smalls = [R.autorec_iters(*args, batch_size=16, seed=4) for _ in '12']
    monkeypatch.setattr(interactions, 'DENSE_LIMIT', 0)  # no dense matrix
    for formulation, small in zip(('dense', 'sparse'), smalls):
        width, train_iter, test_iter = R.autorec_iters(
            train, test, num_users, num_items, variant, batch_size=16,
            seed=4, formulation=formulation)
        assert isinstance(train_iter, R.RowIter) and width == small[0]
        for a, b in zip(train_iter, small[1], strict=True):
            assert is_csr(a) == (formulation == 'sparse')
            onp.testing.assert_array_equal(_dense(a), b.asnumpy())
        for (a, b), (c, d) in zip(test_iter, small[2], strict=True):
            assert is_csr(a) and is_csr(b)
            onp.testing.assert_array_equal(_dense(b), d.asnumpy())


def test_auto_picks_as_documented():
    limit = R.SPARSE_MAX_DENSITY
    assert R.choose_formulation(100, 100, int(limit * 1e4) + 1) == 'dense'
    assert R.choose_formulation(100, 100, int(limit * 1e4) - 1) == 'sparse'
    assert R.choose_formulation(1682, 943, 90000) == 'dense'       # ML-100K
    assert R.choose_formulation(26744, 138493, 18000000) == 'sparse'
    assert R.choose_formulation(1682, 943, 90000, 'sparse') == 'sparse'
    assert R.choose_formulation(26744, 138493, 10, 'dense') == 'dense'
    with pytest.raises(ValueError, match='formulation'):
        R.choose_formulation(10, 10, 5, 'fast')


# --------------------------------------------------------------------------
# The sparse formulation against the dense one
# --------------------------------------------------------------------------
class _Shape:
    """What ``_DecodeAt.whole`` reads of ``Entries``."""
    CHUNK, CHUNK_ROWS = Entries.CHUNK, Entries.CHUNK_ROWS

    def __init__(self, rows, width, nnz):
        self.shape, self.nnz = (rows, width), nnz


@pytest.mark.parametrize('rows, width, nnz, whole', [
    (256, 943, 13641, True),            # ML-100K's training batch
    (256, 69878, 215820, True),         # ML-10M's
    (256, 138493, 172447, False),       # ML-20M's
    (1024, 69878, 96000, False),        # ML-10M's evaluation batch
    (4096, 69878, 3453120, False),      # ML-10M's in batches of 4096: 1 GB
])
def test_decoder_decodes_whole_where_documented(rows, width, nnz, whole):
    assert _DecodeAt.whole(_Shape(rows, width, nnz)) == whole


@pytest.fixture(params=['whole', 'chunked'])
def decode(request, monkeypatch):
    """Each of the decoder's two ways to the outputs at the entries: the
    whole batch decoded, or chunks of 3 rows and at most 8 entries."""
    whole = request.param == 'whole'
    monkeypatch.setattr(_DecodeAt, 'WHOLE_RATIO', math.inf if whole else 0)
    if not whole:
        monkeypatch.setattr(Entries, 'CHUNK_ROWS', 3)
        monkeypatch.setattr(Entries, 'CHUNK', 8)
    return request.param


@pytest.mark.parametrize('dropout, hybridize, seed', [
    (0.0, False, 0), (0.0, True, 1), (0.5, False, 2), (0.5, True, 3)])
def test_sparse_loss_and_gradients_equal_dense(dropout, hybridize, seed,
                                               decode):
    mat = _matrix(seed=seed)
    dense = _loss_and_grads(_net(11, dropout, hybridize), np.array(mat),
                            rs.MaskedL2Loss())
    sparse = _loss_and_grads(_net(11, dropout, hybridize), _csr(mat),
                             ObservedL2Loss())
    onp.testing.assert_allclose(sparse[0], dense[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(sparse[1], dense[1]):
        onp.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sparse_output_is_the_dense_output_at_the_entries(decode):
    mat, query = _matrix(seed=4), _matrix(seed=5)
    net = _net(11)
    full = net(np.array(mat)).asnumpy()
    r, c = onp.nonzero(mat)                       # CSR order: by row
    onp.testing.assert_allclose(net(_csr(mat)).asnumpy(), full[r, c],
                                rtol=1e-5, atol=1e-6)
    qr, qc = onp.nonzero(query)
    got = net.predict(_csr(mat), _csr(query)).asnumpy()
    onp.testing.assert_allclose(got, full[qr, qc], rtol=1e-5, atol=1e-6)
    dense = net.predict(np.array(mat), np.array(query)).asnumpy()
    onp.testing.assert_allclose(got, dense[qr, qc], rtol=1e-5, atol=1e-6)


def test_batch_without_entries():
    mat = onp.zeros((4, 6), dtype=onp.float32)
    net = _net(6)
    with autograd.record():
        pred = net(_csr(mat))
        l = ObservedL2Loss()(pred, _csr(mat))
    l.backward()
    assert pred.shape == (0,) and l.shape == (4,) and not l.asnumpy().any()
    assert not any(p.grad().asnumpy().any()
                   for p in net.collect_params().values())


def test_observed_loss_wants_csr_rows():
    with pytest.raises(ValueError, match='CSR'):
        ObservedL2Loss()(np.zeros(3), np.zeros((1, 3)))


def test_evaluation_from_csr_equals_dense(ml_dir, monkeypatch):
    train, test, num_users, num_items = rs.data.rating_split(ml_dir, seed=0)
    net = _net(num_users)
    dense_iters = R.autorec_iters(train, test, num_users, num_items)
    monkeypatch.setattr(interactions, 'DENSE_LIMIT', 0)
    csr_iters = R.autorec_iters(train, test, num_users, num_items)
    devices = [mx.cpu()]
    want = rs.evaluate_autorec(net, dense_iters[2], devices)
    got = rs.evaluate_autorec(net, csr_iters[2], devices)
    assert math.isfinite(want) and got == pytest.approx(want, rel=1e-5)


def _train(ml_dir, formulation, epochs=30):
    train, test, num_users, num_items = rs.data.rating_split(ml_dir, seed=0)
    width, train_iter, test_iter = R.autorec_iters(
        train, test, num_users, num_items, batch_size=8, seed=0,
        formulation=formulation)
    net = _net(width, num_hiddens=20)
    loss = ObservedL2Loss() if formulation == 'sparse' else \
        rs.MaskedL2Loss()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.1})
    return rs.train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                                  epochs, [mx.cpu()], rs.evaluate_autorec,
                                  verbose=False)


def test_both_formulations_learn_alike(ml_dir):
    dense, sparse = _train(ml_dir, 'dense'), _train(ml_dir, 'sparse')
    assert sparse[-1]['train_loss'] < sparse[0]['train_loss'] / 2
    assert sparse[-1]['test_rmse'] < 1.0         # the mean scores ~1.6
    # the same steps: float rounding apart, the same numbers (rounding
    # differences grow slowly over many steps at this learning rate)
    assert sparse[0]['train_loss'] == pytest.approx(dense[0]['train_loss'],
                                                    rel=1e-4)
    for a, b in zip(dense, sparse):
        assert b['train_loss'] == pytest.approx(a['train_loss'], rel=1e-2)
        assert b['test_rmse'] == pytest.approx(a['test_rmse'], rel=1e-2)


def test_run_autorec_formulations_agree_and_are_recorded(ml_dir):
    from d2l_recsys.runs import run_autorec
    kw = dict(data_dir=ml_dir, epochs=3, batch_size=8, num_hiddens=20,
              devices='cpu', verbose=False)
    dense = run_autorec(formulation='dense', **kw)
    sparse = run_autorec(formulation='sparse', **kw)
    auto = run_autorec(**kw)              # 35% observed: dense
    assert (dense['formulation'], sparse['formulation'],
            auto['formulation']) == ('dense', 'sparse', 'dense')
    assert auto['test_rmse'] == dense['test_rmse']
    assert sparse['test_rmse'] == pytest.approx(dense['test_rmse'], rel=1e-3)
    with pytest.raises(ValueError, match='formulation'):
        run_autorec(formulation='fast', **kw)
