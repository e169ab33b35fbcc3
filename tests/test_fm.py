"""FM, DeepFM and LR (models.fm), the CTR metrics, and the book's
``train_ch13`` call (ctr_loop)."""
import itertools
import math

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, gluon, init, np, npx

import d2l_recsys  # noqa: F401  (numpy mode)
from d2l_recsys import metrics
from d2l_recsys.ctr_loop import check_loss, evaluate_ctr, train_ch13
from d2l_recsys.models.fm import FM, LR, DeepFM, field_sums, row_sums

FIELDS = [3, 4, 5, 2]
OFFSETS = onp.concatenate([[0], onp.cumsum(FIELDS)[:-1]])


def random_x(n, field_dims=FIELDS, seed=0):
    """``n`` rows of offset feature indices, one per field (int32)."""
    rng = onp.random.default_rng(seed)
    offsets = onp.concatenate([[0], onp.cumsum(field_dims)[:-1]])
    local = onp.stack([rng.integers(0, d, n) for d in field_dims], axis=1)
    return (local + offsets).astype('int32')


def built(cls, seed=0, **kwargs):
    mx.random.seed(seed)
    net = cls(FIELDS, **kwargs)
    net.initialize(init.Normal(0.5))
    net.bias.set_data(np.array([0.3]))
    return net


def weights(block):
    return block.weight.data().asnumpy()


def copy_params(src, dst):
    for a, b in zip(src.collect_params().values(),
                    dst.collect_params().values()):
        b.set_data(a.data())


# ---------------------------------------------------------------- models
@pytest.mark.parametrize('hybridize', [False, True])
def test_fm_equals_brute_force_pairwise_sum(hybridize):
    net = built(FM, num_factors=3)
    if hybridize:
        net.hybridize()
    x = random_x(9)
    V, w = weights(net.embedding), weights(net.fc)[:, 0]
    want = []
    for row in x:
        pairs = sum(float(V[row[f]] @ V[row[g]])
                    for f, g in itertools.combinations(range(len(row)), 2))
        want.append(0.3 + w[row].sum() + pairs)
    got = net(np.array(x)).asnumpy()
    assert got.shape == (9,)
    onp.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_sums_as_products():
    a = onp.random.default_rng(0).normal(size=(5, 12)).astype('float32')
    onp.testing.assert_allclose(row_sums(mx.nd, np.array(a), 12).asnumpy(),
                                a.sum(1), rtol=1e-5)
    # (5, 4 fields x 3 factors) -> the sum over the fields, (5, 3)
    onp.testing.assert_allclose(
        field_sums(mx.nd, np.array(a), 4, 3).asnumpy(),
        a.reshape(5, 4, 3).sum(1), rtol=1e-5)


def plain_logits(net, x):
    """The FM's (or DeepFM's) formula written plainly, on ``net``'s
    parameters: sums of the looked-up rows and of their squares."""
    V, w = net.embedding.weight.data(), net.fc.weight.data()
    e = np.take(V, x, axis=0)
    pairs = 0.5 * ((e.sum(axis=1) ** 2) - (e ** 2).sum(axis=1)).sum(axis=1)
    out = net.bias.data() + np.take(w, x, axis=0).sum(axis=(1, 2)) + pairs
    if isinstance(net, DeepFM):
        out = out + net.mlp(e.reshape(len(x), -1)).reshape(-1)
    return out


@pytest.mark.parametrize('sparse', [False, True])
@pytest.mark.parametrize('hybridize', [False, True])
@pytest.mark.parametrize('cls,kwargs', [
    (FM, dict(num_factors=3)),
    (DeepFM, dict(num_factors=3, mlp_dims=[5], drop_rate=0.0))])
def test_logits_and_gradients_are_the_plain_formulas(cls, kwargs, sparse,
                                                     hybridize):
    """The products and the look-up of ``w - |v|^2 / 2`` (dense gradients)
    or of the squared embeddings (row-sparse ones) compute the formula,
    and give its gradients."""
    net = built(cls, sparse_grad=sparse, **kwargs)
    plain = built(cls, **kwargs)
    copy_params(net, plain)
    if hybridize:
        net.hybridize()
    x = np.array(random_x(11, seed=4))
    c = np.array(onp.random.default_rng(5).normal(size=11))
    for block, f in ((net, lambda: net(x)), (plain,
                                             lambda: plain_logits(plain, x))):
        with autograd.record():
            out = f()
            (out * c).sum().backward()
        block.out = out.asnumpy()
    onp.testing.assert_allclose(net.out, plain.out, rtol=1e-5, atol=1e-5)
    for a, b in zip(net.collect_params().values(),
                    plain.collect_params().values()):
        grad = a.grad()
        grad = grad.tostype('default') if grad.stype != 'default' else grad
        onp.testing.assert_allclose(grad.asnumpy(), b.grad().asnumpy(),
                                    rtol=1e-4, atol=1e-5, err_msg=a.name)


def test_hybridized_blocks_keep_static_memory_across_batch_shapes():
    net = built(DeepFM, num_factors=3, mlp_dims=[4], drop_rate=0.0)
    eager = built(DeepFM, num_factors=3, mlp_dims=[4], drop_rate=0.0)
    copy_params(net, eager)
    net.hybridize()
    assert dict(net._flags)['static_alloc'] and \
        dict(net._flags)['static_shape']
    outs = [(x, net(x)) for x in (np.array(random_x(n, seed=n))
                                  for n in (8, 3, 8, 1))]
    for x, out in outs:          # earlier outputs are not overwritten
        onp.testing.assert_allclose(out.asnumpy(), eager(x).asnumpy(),
                                    rtol=1e-5)
    net.hybridize(static_alloc=False, static_shape=False)
    assert not dict(net._flags)['static_alloc']


@pytest.mark.parametrize('cls,kwargs', [
    (LR, {}), (FM, dict(num_factors=3)),
    (DeepFM, dict(num_factors=3, mlp_dims=[8, 4]))])
def test_shapes_sigmoid_option_and_config(cls, kwargs):
    logits_net = built(cls, **kwargs)
    prob_net = cls(FIELDS, sigmoid=True, **kwargs)
    prob_net.initialize()
    copy_params(logits_net, prob_net)
    for n in (1, 7):
        x = np.array(random_x(n, seed=n))
        z = logits_net(x)
        assert z.shape == (n,)
        onp.testing.assert_allclose(prob_net(x).asnumpy(),
                                    npx.sigmoid(z).asnumpy(), rtol=1e-6)
    # float indices, as the book's CTRDataset yields them, give the same
    x = random_x(5)
    onp.testing.assert_allclose(logits_net(np.array(x, dtype='float32'))
                                .asnumpy(), logits_net(np.array(x))
                                .asnumpy(), rtol=1e-6)
    logits_net.hybridize()
    onp.testing.assert_allclose(logits_net(np.array(x)).asnumpy(),
                                logits_net(np.array(x, dtype='float32'))
                                .asnumpy(), rtol=1e-6)
    again = cls(**logits_net.config)
    assert again.config == logits_net.config
    assert logits_net.config['sigmoid'] is False
    assert prob_net.config['sigmoid'] is True


def test_deepfm_shares_one_embedding_between_fm_and_mlp():
    net = built(DeepFM, num_factors=3, mlp_dims=[6, 5])
    k_tables = [p for p in net.collect_params().values()
                if p.shape == (sum(FIELDS), 3)]
    assert len(k_tables) == 1
    fm = built(FM, num_factors=3)
    fm.embedding.weight.set_data(net.embedding.weight.data())
    fm.fc.weight.set_data(net.fc.weight.data())
    x = np.array(random_x(6))
    # DeepFM = the FM on the same tables + the MLP on those embeddings
    flat = net.embedding(x).reshape(6, -1)
    onp.testing.assert_allclose(
        net(x).asnumpy(), (fm(x) + net.mlp(flat).reshape(-1)).asnumpy(),
        rtol=1e-5, atol=1e-5)
    # changing an embedding row moves the MLP's input too
    with autograd.record():
        out = net.mlp(net.embedding(x).reshape(6, -1)).sum()
    out.backward()
    assert float(np.abs(net.embedding.weight.grad()).sum()) > 0


def test_lr_has_no_pairwise_term():
    lr, fm = built(LR), built(FM, num_factors=3)
    assert not hasattr(lr, 'embedding')
    x = random_x(8)
    w = weights(lr.fc)[:, 0]
    onp.testing.assert_allclose(lr(np.array(x)).asnumpy(),
                                0.3 + w[x].sum(axis=1), rtol=1e-5)
    # additive in the fields: swapping field 0's values between two rows
    # leaves the rows' total unchanged, which interactions break
    a, b = x[0].copy(), x[1].copy()
    a[0], b[0] = OFFSETS[0] + 0, OFFSETS[0] + 1
    a2, b2 = a.copy(), b.copy()
    a2[0], b2[0] = b[0], a[0]
    for net, additive in ((lr, True), (fm, False)):
        before = net(np.array([a, b])).asnumpy().sum()
        after = net(np.array([a2, b2])).asnumpy().sum()
        assert math.isclose(before, after, abs_tol=1e-5) is additive


def test_bad_arguments_are_named():
    for bad in ([], [3, 0], [[1, 2]], [2.5]):
        with pytest.raises(ValueError, match='field_dims'):
            FM(bad, 3)
    with pytest.raises(ValueError, match='num_factors'):
        FM(FIELDS, 0)
    with pytest.raises(ValueError, match='mlp_dims'):
        DeepFM(FIELDS, 3, [30, -1])
    with pytest.raises(ValueError, match='mlp_dims'):
        DeepFM(FIELDS, 3, 30)
    with pytest.raises(ValueError, match='drop_rate'):
        DeepFM(FIELDS, 3, [4], drop_rate=1.0)
    with pytest.raises(ValueError, match='sigmoid'):
        LR(FIELDS, sigmoid='yes')
    net = built(FM, num_factors=3)
    with pytest.raises(ValueError, match=r'x must have shape \(batch, 4\)'):
        net(np.array(random_x(3)[:, :3]))


# --------------------------------------------------------------- metrics
def brute_auc(labels, scores):
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_roc_auc_by_hand_and_by_pair_count():
    # positives 0.35 and 0.8 against negatives 0.1, 0.4: 3 of 4 pairs won
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # a tie counts one half: (0.5 + 1 + 2) / 4
    assert metrics.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == 0.875
    assert metrics.roc_auc([[1], [0]], [[2.0], [-1.0]]) == 1.0
    assert metrics.roc_auc([1, 0], [-1.0, 2.0]) == 0.0
    assert metrics.roc_auc([1, 0, 1, 0], [3, 3, 3, 3]) == 0.5
    rng = onp.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    scores = rng.integers(0, 12, 300)           # many ties
    assert metrics.roc_auc(labels, scores) == pytest.approx(
        brute_auc(labels, scores), abs=1e-12)


def test_roc_auc_matches_sklearn_when_installed():
    sk = pytest.importorskip('sklearn.metrics')
    rng = onp.random.default_rng(2)
    labels, scores = rng.integers(0, 2, 500), rng.normal(size=500).round(1)
    assert metrics.roc_auc(labels, scores) == pytest.approx(
        sk.roc_auc_score(labels, scores))


def test_log_loss_and_threshold_accuracy_by_hand():
    # -(ln 0.8 + ln 0.6) / 2
    assert metrics.log_loss([1, 0], [0.8, 0.4]) == pytest.approx(
        (-math.log(0.8) - math.log(0.6)) / 2)
    # certain and wrong: p clipped to c = 1 - 1e-15 (in float64, 1 - c is
    # 9.99e-16), costing -ln(1 - c) = 34.54 instead of infinity
    c = 1 - 1e-15
    assert metrics.log_loss([0, 1], [1.0, 1.0]) == pytest.approx(
        (-math.log(1 - c) - math.log(c)) / 2)
    assert metrics.log_loss([0, 1], [1.0, 1.0], eps=1e-3) == pytest.approx(
        (-math.log(1e-3) - math.log(1 - 1e-3)) / 2)
    # predictions 1, 0, 0, 0 (0.5 is not above 0.5)
    assert metrics.threshold_accuracy([1, 0, 1, 0],
                                      [0.9, 0.5, 0.4, 0.1]) == 0.75


def test_binary_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match='both positive and negative'):
        metrics.roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match='labels must be 0 or 1'):
        metrics.roc_auc([0, 2], [0.2, 0.3])
    with pytest.raises(ValueError, match='3 labels but 2'):
        metrics.log_loss([0, 1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match=r'in \[0, 1\]'):
        metrics.log_loss([0, 1], [0.2, 1.3])
    with pytest.raises(ValueError, match='finite'):
        metrics.roc_auc([0, 1], [0.2, float('nan')])
    with pytest.raises(ValueError, match='eps'):
        metrics.log_loss([0, 1], [0.2, 0.3], eps=0)


def test_book_ctr_accuracy_is_d2l_accuracy_on_column_outputs():
    from d2l import mxnet as d2l
    outputs = np.array([[0.3], [1.0], [0.0], [0.9999], [0.51]])
    labels = np.array([[1.0], [1.0], [0.0], [1.0], [1.0]])
    # only the two outputs exactly equal to their label count
    assert d2l.accuracy(outputs, labels) == 2.0
    assert metrics.book_ctr_accuracy(labels.asnumpy(),
                                     outputs.asnumpy()) == 2 / 5


# ------------------------------------------------------------- training
def planted_pairwise(n, field_dims=(6, 6, 6, 6, 6), k=3, scale=2.5, seed=0):
    """Clicks from a planted FM with no first-order signal: latent vectors
    centred within each field, so that under uniform feature values each
    field's average effect is zero and only pairs carry information.
    Returns (x int32 (n, F), y float32 (n, 1)), the book's shapes."""
    rng = onp.random.default_rng(seed)
    V = [rng.normal(size=(d, k)) for d in field_dims]
    V = onp.concatenate([v - v.mean(axis=0) for v in V])
    data_rng = onp.random.default_rng(seed + 100)
    x = random_x(n, list(field_dims), seed=seed + 1)
    e = V[x]                                              # (n, F, k)
    pair = 0.5 * ((e.sum(1) ** 2) - (e ** 2).sum(1)).sum(1)
    p = 1 / (1 + onp.exp(-scale * pair / pair.std()))
    y = (data_rng.random(n) < p).astype('float32')[:, None]
    return x, y


def loaders(x, y, batch_size, last_batch='keep', shuffle=True):
    """Train (first 80%) and test loaders; Gluon shuffles with numpy's
    global generator, seeded here."""
    onp.random.seed(0)
    make = gluon.data.ArrayDataset
    half = len(x) * 4 // 5
    return (gluon.data.DataLoader(make(x[:half], y[:half]), batch_size,
                                  shuffle=shuffle, last_batch=last_batch),
            gluon.data.DataLoader(make(x[half:], y[half:]), batch_size,
                                  shuffle=False, last_batch=last_batch))


def test_fm_learns_planted_pairs_that_lr_cannot(capsys):
    devices = [mx.cpu(0), mx.cpu(1)]
    x, y = planted_pairwise(5000)
    train_iter, test_iter = loaders(x, y, 250)
    result = {}
    for name, make in (('LR', lambda: LR([6] * 5)),
                       ('FM', lambda: FM([6] * 5, 3))):
        mx.random.seed(0)
        net = make()
        net.initialize(init.Xavier(), ctx=devices)
        trainer = gluon.Trainer(net.collect_params(), 'adam',
                                {'learning_rate': 0.05})
        hist = train_ch13(net, train_iter, test_iter,
                          gluon.loss.SigmoidBinaryCrossEntropyLoss(),
                          trainer, 8, devices)
        result[name] = hist
    assert set(result['FM'][0]) == {'epoch', 'train_loss', 'auc',
                                    'log_loss', 'accuracy@0.5', 'seconds'}
    lr_auc, fm_auc = result['LR'][-1]['auc'], result['FM'][-1]['auc']
    assert lr_auc < 0.6 and fm_auc > 0.75, (lr_auc, fm_auc)
    assert result['FM'][-1]['log_loss'] < result['LR'][-1]['log_loss']
    assert result['FM'][-1]['train_loss'] < result['FM'][0]['train_loss']
    out = capsys.readouterr().out
    assert out.count('auc') == 16 and out.count('accuracy@0.5') == 16


def test_evaluate_ctr_is_the_metrics_of_the_outputs_on_two_devices():
    devices = [mx.cpu(0), mx.cpu(1)]
    x, y = planted_pairwise(203)
    logits_net = FM([6] * 5, 3)
    logits_net.initialize(init.Normal(0.5), ctx=devices)
    prob_net = FM([6] * 5, 3, sigmoid=True)
    prob_net.initialize(ctx=devices)
    copy_params(logits_net, prob_net)
    data = gluon.data.DataLoader(gluon.data.ArrayDataset(x, y), 50)
    z = logits_net(np.array(x, ctx=devices[0])).asnumpy().astype('float64')
    p = 1 / (1 + onp.exp(-z))
    got = evaluate_ctr(logits_net, data, devices)
    assert got['auc'] == pytest.approx(metrics.roc_auc(y, z), abs=1e-9)
    assert got['log_loss'] == pytest.approx(metrics.log_loss(y, p),
                                            rel=1e-6)
    assert got['accuracy@0.5'] == metrics.threshold_accuracy(y, p)
    # a sigmoid net's outputs are taken as probabilities, not squashed again
    as_probs = evaluate_ctr(prob_net, data)
    assert as_probs['log_loss'] == pytest.approx(got['log_loss'], rel=1e-5)
    assert as_probs['accuracy@0.5'] == got['accuracy@0.5']
    one_class = gluon.data.DataLoader(
        gluon.data.ArrayDataset(x[:10], onp.zeros((10, 1), 'float32')), 5)
    assert math.isnan(evaluate_ctr(logits_net, one_class)['auc'])


def test_the_books_printed_call_runs_fm_and_deepfm(recwarn):
    devices = [mx.cpu(0), mx.cpu(1)]
    x, y = planted_pairwise(1100, seed=3)
    # the book's loaders: shuffled, last_batch='rollover', labels (B, 1)
    train_iter, test_iter = loaders(x.astype('float32'), y, 128,
                                    last_batch='rollover')
    field_dims = onp.array([6] * 5)
    for net, lr in ((FM(field_dims, num_factors=20), 0.02),
                    (DeepFM(field_dims, num_factors=10,
                            mlp_dims=[30, 20, 10]), 0.01)):
        net.initialize(init.Xavier(), ctx=devices)
        trainer = gluon.Trainer(net.collect_params(), 'adam',
                                {'learning_rate': lr})
        loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
        hist = train_ch13(net, train_iter, test_iter, loss, trainer, 2,
                          devices)
        assert [h['epoch'] for h in hist] == [1, 2]
        assert 0 <= hist[-1]['auc'] <= 1
    assert not [w for w in recwarn if 'twice' in str(w.message)]


def test_book_sigmoid_with_book_loss_warns_and_logits_with_probs_refused():
    net = FM([6] * 5, 3, sigmoid=True)
    book_loss = gluon.loss.SigmoidBinaryCrossEntropyLoss()
    with pytest.warns(UserWarning, match='sigmoid again'):
        check_loss(net, book_loss)
    check_loss(net, gluon.loss.SigmoidBinaryCrossEntropyLoss(
        from_sigmoid=True))
    with pytest.raises(ValueError, match='from_sigmoid=True.*logits'):
        check_loss(FM([6] * 5, 3), gluon.loss.SigmoidBinaryCrossEntropyLoss(
            from_sigmoid=True))
    with pytest.raises(ValueError, match='batches must be \\(x, y\\)'):
        evaluate_ctr(built(FM, num_factors=3), [(np.zeros((2, 4)),)],
                     [mx.cpu()])


def test_sparse_grad_trains_as_dense_with_plain_sgd():
    x, y = planted_pairwise(600, seed=5)
    train_iter, _ = loaders(x, y, 64, shuffle=False)
    nets = []
    for sparse in (False, True):
        mx.random.seed(0)
        net = FM([6] * 5, 3, sparse_grad=sparse)
        net.initialize(init.Xavier())
        trainer = gluon.Trainer(net.collect_params(), 'sgd',
                                {'learning_rate': 0.5})
        train_ch13(net, train_iter, None,
                   gluon.loss.SigmoidBinaryCrossEntropyLoss(), trainer, 1,
                   [mx.cpu()], verbose=False)
        nets.append(net)
    assert nets[1].embedding.weight.grad().stype == 'row_sparse'
    for a, b in zip(nets[0].collect_params().values(),
                    nets[1].collect_params().values()):
        onp.testing.assert_allclose(a.data().asnumpy(), b.data().asnumpy(),
                                    rtol=1e-5, atol=1e-6)
