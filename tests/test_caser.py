"""Caser and its sequence data (d2l, "Sequence-Aware Recommender Systems"):
the model against a numpy re-derivation of its maths, the fast scores
against the forward, the windows against a hand-worked example and a
loop-by-loop re-implementation of the book's construction, and the BPR
iterator.  Training and evaluation: tests/test_caser_eval.py."""
import numpy as onp
import pytest
from caser_helpers import _candidates, _net, _random_histories
from mxnet import autograd, gluon, np

from d2l_recsys.data.sequences import (SeqDataset, SequenceIter,
                                       latest_items, sequence_windows)
from d2l_recsys.models.caser import Caser, SequenceScorer


def _ints(a):
    return np.array(onp.asarray(a), dtype='int32')


def _batch(rng, num_users, num_items, L, size):
    return (rng.integers(0, num_users, size),
            rng.integers(0, num_items, (size, L)),
            rng.integers(0, num_items, size))


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------
def _reference_scores(net, users, seqs, items):
    """The Caser score from the parameters, by loops over filters and
    positions (Tang & Wang 2018, eq. 3-9, as the book builds it)."""
    c = net.config
    k, L, d, d_prime = c['num_factors'], c['L'], c['d'], c['d_prime']

    def value(block):
        return block.data().asnumpy()
    P, Q = value(net.P.weight), value(net.Q.weight)
    Qp, b = value(net.Q_prime.weight), value(net.b.weight)[:, 0]
    W, W_b = value(net.fc.weight), value(net.fc.bias)
    out = []
    for u, seq, i in zip(users, seqs, items):
        E = Q[seq]                                       # (L, k)
        feats = []
        if d_prime:
            G, G_b = value(net.conv_v.weight), value(net.conv_v.bias)
            for f in range(d_prime):      # each filter: one value per column
                feats += [G[f, 0, :, 0] @ E[:, j] + G_b[f] for j in range(k)]
        for h, conv in enumerate(net.conv_h, start=1):
            F, F_b = value(conv.weight), value(conv.bias)
            for f in range(d):
                acts = [max((F[f, 0] * E[t:t + h]).sum() + F_b[f], 0)
                        for t in range(L - h + 1)]
                feats.append(max(acts))
        z = onp.maximum(W @ onp.array(feats) + W_b, 0)   # (k,)
        out.append(onp.concatenate([z, P[u]]) @ Qp[i] + b[i])
    return onp.array(out)


@pytest.mark.parametrize('d, d_prime', [(3, 2), (0, 2), (3, 0)])
def test_forward_matches_the_maths(d, d_prime):
    net = _net(d=d, d_prime=d_prime)
    u, s, i = _batch(onp.random.default_rng(1), 7, 20, 4, 9)
    got = net(_ints(u), _ints(s), _ints(i)).asnumpy()
    assert got.shape == (9,)
    want = _reference_scores(net, u, s, i)
    assert onp.abs(want).max() > 1e-2             # not trivially zero
    onp.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_shapes_config_and_targets_as_columns():
    net = _net()
    u, s, i = (_ints(a) for a in _batch(onp.random.default_rng(2), 7, 20,
                                         4, 5))
    assert net(u, s, i).shape == (5,)
    # the book's loader gives targets as (B, 1)
    onp.testing.assert_array_equal(net(u, s, i.reshape(-1, 1)).asnumpy(),
                                   net(u, s, i).asnumpy())
    assert net.user_vectors(u, s).shape == (5, 12)
    assert net.score_block(u, _ints(range(20)), s).shape == (5, 20)
    assert net.config == dict(num_factors=6, num_users=7, num_items=20, L=4,
                              d=3, d_prime=2, drop_ratio=0.05)
    again = Caser(**net.config)
    again.initialize()
    shapes = [p.shape for p in net.collect_params().values()]
    assert [p.shape for p in again.collect_params().values()] == shapes
    assert Caser(10, 3, 4).config['L'] == 5              # the book's defaults
    assert (Caser(10, 3, 4).config['d'], Caser(10, 3, 4).config['d_prime'],
            Caser(10, 3, 4).config['drop_ratio']) == (16, 4, 0.05)


@pytest.mark.parametrize('hybridize', [False, True])
def test_score_block_equals_forward(hybridize):
    net = _net(hybridize=hybridize)
    u, s, _ = _batch(onp.random.default_rng(3), 7, 20, 4, 6)
    items = onp.array([19, 0, 7, 7, 3])
    block = net.score_block(_ints(u), _ints(items), _ints(s)).asnumpy()
    grid = onp.stack([net(_ints(u), _ints(s), _ints(onp.full(6, j)))
                      .asnumpy() for j in items], axis=1)
    onp.testing.assert_allclose(block, grid, atol=1e-5, rtol=0)
    # numpy sequences are accepted as well
    onp.testing.assert_allclose(
        net.score_block(_ints(u), _ints(items), s).asnumpy(), block,
        atol=1e-6)


def test_dropout_only_while_training():
    net = _net(drop_ratio=0.5)
    u, s, i = (_ints(a) for a in _batch(onp.random.default_rng(4), 7, 20,
                                         4, 64))
    plain = net(u, s, i).asnumpy()
    onp.testing.assert_array_equal(net(u, s, i).asnumpy(), plain)
    with autograd.record():
        dropped = net(u, s, i).asnumpy()
    assert not onp.allclose(dropped, plain)


def test_sequence_scorer_uses_each_users_latest_items():
    net = _net()
    latest = onp.random.default_rng(5).integers(0, 20, (7, 4))
    scorer = SequenceScorer(net, latest)
    users, items = _ints([4, 0, 4]), _ints(range(20))
    want = net.score_block(users, items, _ints(latest[[4, 0, 4]])).asnumpy()
    onp.testing.assert_array_equal(scorer.score_block(users, items)
                                   .asnumpy(), want)
    pairs = scorer(_ints([4, 0]), _ints([3, 3])).asnumpy()
    onp.testing.assert_allclose(pairs, want[:2, 3], atol=1e-5)
    assert scorer.config is net.config
    with pytest.raises(ValueError, match=r'latest must have shape \(7, 4\)'):
        SequenceScorer(net, latest[:, :3])


@pytest.mark.parametrize('kwargs, message', [
    (dict(d=0, d_prime=0), 'd and d_prime are both 0'),
    (dict(L=0), 'L must be an integer >= 1, got 0'),
    (dict(d=-1), 'd must be an integer >= 0'),
    (dict(drop_ratio=1.0), r'drop_ratio must be in \[0, 1\)'),
    (dict(num_items=2.5), 'num_items must be an integer'),
])
def test_caser_rejects_bad_arguments(kwargs, message):
    kw = dict(num_factors=4, num_users=3, num_items=5)
    kw.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Caser(**kw)


# --------------------------------------------------------------------------
# Windows and the book's dataset
# --------------------------------------------------------------------------
# (user, item), each user's in time order: user 0 watches 5 6 7 8, user 1
# 1 2, user 2 9 3 4, user 3 only 2, user 4 nothing.
HAND = [(2, 9), (0, 5), (0, 6), (1, 1), (2, 3), (0, 7), (1, 2), (0, 8),
        (2, 4), (3, 2)]


def _hand():
    users, items = (onp.array(c) for c in zip(*HAND))
    return users, items


def test_hand_worked_windows_and_latest_items():
    users, items = _hand()
    u, s, t = sequence_windows(users, items, None, 2, 5)
    # L = 2: windows of three, latest first; users 1 and 3 have <= L items
    onp.testing.assert_array_equal(u, [0, 0, 2])
    onp.testing.assert_array_equal(s, [[6, 7], [5, 6], [9, 3]])
    onp.testing.assert_array_equal(t, [8, 7, 4])
    assert u.dtype == s.dtype == t.dtype == onp.int32
    latest = latest_items(users, items, None, 2, 5)
    onp.testing.assert_array_equal(latest, [[7, 8], [1, 2], [3, 4], [0, 2],
                                            [0, 0]])
    onp.testing.assert_array_equal(
        latest_items(users, items, None, 2, 5, pad=-1)[3:], [[-1, 2],
                                                             [-1, -1]])
    # L = 3: only user 0 has a window
    u, s, t = sequence_windows(users, items, None, 3, 5)
    onp.testing.assert_array_equal(s, [[5, 6, 7]])
    onp.testing.assert_array_equal(t, [8])


def test_timestamps_order_each_users_items():
    users, items = _hand()
    times = onp.zeros(len(users))
    for u in set(users.tolist()):            # 1, 2, ... within each user
        times[users == u] = onp.arange(1, (users == u).sum() + 1)
    perm = onp.random.default_rng(6).permutation(len(users))
    scrambled = sequence_windows(users[perm], items[perm], times[perm], 2, 5)
    for a, b in zip(scrambled, sequence_windows(users, items, None, 2, 5)):
        onp.testing.assert_array_equal(a, b)
    onp.testing.assert_array_equal(
        latest_items(users[perm], items[perm], times[perm], 2, 5),
        latest_items(users, items, None, 2, 5))
    # equal times keep the input order
    u, s, t = sequence_windows([0, 0, 0], [3, 1, 2], [5, 5, 5], 2, 1)
    onp.testing.assert_array_equal(s, [[3, 1]])
    onp.testing.assert_array_equal(t, [2])


def _book_rows(user_ids, item_ids, L, num_users):
    """The book's ``SeqDataset`` rows, re-derived loop by loop: positions
    grouped by user in ascending id order (a stable sort, so data order
    within a user), each user's windows of L + 1 cut from its end backwards
    one step at a time; a user with L or fewer items gives one window of
    all its items (which the book can only store for c == L or c == 1).
    ``test_seq`` is each user's first window's last L items, zeros for a
    user without items."""
    grouped = {}
    for k in sorted(range(len(user_ids)), key=lambda k: user_ids[k]):
        grouped.setdefault(int(user_ids[k]), []).append(int(item_ids[k]))
    rows, test_seq = [], onp.zeros((num_users, L), dtype=int)
    for user in sorted(grouped):
        history, windows = grouped[user], []
        if len(history) < L + 1:
            windows.append(history)
        else:
            stop = len(history)
            while stop >= L + 1:
                windows.append(history[stop - L - 1:stop])
                stop -= 1
        test_seq[user] = windows[0][-L:]
        rows += [(user, w[:L], w[-1]) for w in windows]
    return rows, test_seq


@pytest.mark.parametrize('L', [1, 3, 5])
def test_seq_dataset_equals_the_books_construction(L):
    rng = onp.random.default_rng(L)
    users, items = _random_histories(rng, 12, 40, L + 1, L + 9)
    users[users == 11] = 10        # user 11 without items: zeros
    rows, test_seq = _book_rows(users, items, L, 12)
    ds = SeqDataset(users, items, L, 12, 40, _candidates(users, items))
    assert len(ds) == len(rows)
    for idx, (user, seq, target) in enumerate(rows):
        got = ds[idx]
        assert int(got[0]) == user
        onp.testing.assert_array_equal(got[1], seq)
        onp.testing.assert_array_equal(got[2], [target])
    onp.testing.assert_array_equal(ds.test_seq, test_seq)
    # the vectorised builder gives the same rows
    u, s, t = sequence_windows(users, items, None, L, 12)
    onp.testing.assert_array_equal(u, ds.seq_users)
    onp.testing.assert_array_equal(s, ds.seq_items)
    onp.testing.assert_array_equal(t[:, None], ds.seq_tgt)


def test_short_users_are_left_out_where_the_book_counts_one_window():
    users, items = _hand()
    rows, test_seq = _book_rows(users, items, 2, 5)
    ds = SeqDataset(users, items, 2, 5, 10, _candidates(users, items))
    # the book counts one window each for users 1 (c == L) and 3 (c == 1)
    assert len(rows) == 5 and len(ds) == 3
    kept = [r for r in rows if r[0] not in (1, 3)]
    for idx, (user, seq, target) in enumerate(kept):
        onp.testing.assert_array_equal(ds[idx][1], seq)
    # test_seq: as the book's for users with >= L items or none
    onp.testing.assert_array_equal(ds.test_seq[[0, 1, 2, 4]],
                                   test_seq[[0, 1, 2, 4]])


def test_seq_dataset_negatives_are_never_the_users_items():
    rng = onp.random.default_rng(7)
    users, items = _random_histories(rng, 6, 15, 8, 12)
    cand = _candidates(users, items)
    ds = SeqDataset(users, items, 3, 6, 15, cand)
    onp.random.seed(0)
    drawn = set()
    for idx in range(len(ds)):
        for _ in range(10):
            user, seq, target, neg = ds[idx]
            assert neg not in cand[int(user)] and 0 <= neg < 15
            drawn.add(neg)
    assert len(drawn) > 3               # not one fixed item
    loader = gluon.data.DataLoader(ds, 4, shuffle=False)
    u, s, t, n = next(iter(loader))
    assert (u.shape, s.shape, t.shape, n.shape) == ((4,), (4, 3), (4, 1),
                                                    (4,))


@pytest.mark.parametrize('call, message', [
    (lambda: sequence_windows([0, 1], [1, 2], None, 0, 2),
     'L must be a positive integer, got 0'),
    (lambda: sequence_windows([0, 2], [1, 2], None, 2, 2),
     r'users must lie in \[0, 2\), got 0..2'),
    (lambda: sequence_windows([0, 1], [1], None, 2, 2),
     r'items must have the shape of users \(2,\)'),
    (lambda: sequence_windows([0, 1], [1, 2], [1], 2, 2),
     r'order must have the shape of users \(2,\)'),
    (lambda: latest_items([0.5], [1], None, 2, 2),
     'users must hold integer ids'),
    (lambda: SeqDataset([0, 0], [1, 7], 1, 1, 5, {0: [1, 7]}),
     r'item_ids must lie in \[0, 5\)'),
])
def test_sequence_functions_reject_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------
# The BPR iterator
# --------------------------------------------------------------------------
def _epochs(it, n):
    return [[tuple(a.asnumpy() for a in batch) for batch in it]
            for _ in range(n)]


def _sorted_rows(users, seqs, targets):
    """Windows as sorted (user, seq..., target) tuples."""
    return sorted(map(tuple, onp.column_stack([users, seqs, targets])
                      .tolist()))


def _rows(batches):
    """An epoch's windows, sorted."""
    u, s, t, _ = (onp.concatenate(c) for c in zip(*batches))
    return _sorted_rows(u, s, t)


def test_sequence_iter_is_seeded_and_covers_every_window():
    rng = onp.random.default_rng(8)
    users, items = _random_histories(rng, 10, 30, 5, 14)
    seen = _candidates(users, items)
    make = lambda seed: SequenceIter(users, items, None, 3, 10, 30,  # noqa
                                     batch_size=16, seed=seed)
    it = make(0)
    a, b = _epochs(it, 2), _epochs(make(0), 2)
    assert len(it) == len(a[0]) == -(-it.num_examples // 16)
    for x, y in zip(a, b):              # same seed, same batches
        for bx, by in zip(x, y):
            for ax, ay in zip(bx, by):
                onp.testing.assert_array_equal(ax, ay)
    want = _sorted_rows(*sequence_windows(users, items, None, 3, 10))
    for epoch in a:                     # every window once per epoch
        assert _rows(epoch) == want
        for bu, bs_, bt, bn in epoch:
            assert bs_.shape == (len(bu), 3) and bu.dtype == onp.int32
            assert all(n not in seen[v] for v, n in zip(bu.tolist(),
                                                         bn.tolist()))
    first = onp.concatenate([batch[0] for batch in a[0]])
    second = onp.concatenate([batch[0] for batch in a[1]])
    assert not onp.array_equal(first, second)   # reshuffled per epoch
    other = onp.concatenate([batch[3] for batch in _epochs(make(1), 1)[0]])
    assert not onp.array_equal(other, onp.concatenate(
        [batch[3] for batch in a[0]]))


def test_sequence_iter_shards_into_disjoint_full_batches():
    rng = onp.random.default_rng(9)
    users, items = _random_histories(rng, 10, 30, 6, 14)
    parts = [_epochs(SequenceIter(users, items, None, 2, 10, 30,
                                  batch_size=8, seed=3, rank=r,
                                  num_workers=2), 1)[0] for r in range(2)]
    assert len(parts[0]) == len(parts[1]) > 0
    rows = [_rows(p) for p in parts]
    assert all(len(b[0]) == 8 for p in parts for b in p)
    every = _sorted_rows(*sequence_windows(users, items, None, 2, 10))
    mixed = sorted(rows[0] + rows[1])
    assert len(mixed) == len(every) // 16 * 16
    remaining = list(every)          # a sub-multiset of the windows
    for row in mixed:
        remaining.remove(row)


def test_sequence_iter_rejects_data_without_windows():
    with pytest.raises(ValueError, match='no user has more than L=3 items'):
        SequenceIter([0, 0, 1], [1, 2, 3], None, 3, 2, 5)
    with pytest.raises(ValueError, match='batch_size must be a positive'):
        SequenceIter([0, 0, 0], [1, 2, 3], None, 1, 1, 5, batch_size=0)
