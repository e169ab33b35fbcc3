"""``data.Interactions``, the one sparse users x items type: hand-checkable
cases of its de-duplication, lookups, row gathers and conversions."""
import numpy as onp
import pandas as pd
import pytest
import scipy.sparse

from d2l_recsys.data import interactions as inter
from d2l_recsys.data.interactions import Interactions

# users x items, 3 x 4:  user 0: items 1 (2.0), 3 (5.0); user 1: nothing;
# user 2: items 0 (1.0), 1 (4.0)
DENSE = onp.array([[0, 2, 0, 5],
                   [0, 0, 0, 0],
                   [1, 4, 0, 0]], dtype=onp.float32)


def small():
    # out of order, and (0, 3) and (2, 1) given twice: the last value stays
    return Interactions.from_pairs([2, 0, 0, 2, 2, 0], [1, 3, 1, 0, 1, 3],
                                   [9, 7, 2, 1, 4, 5], 3, 4)


@pytest.fixture(params=['dense', 'csr'])
def layout(request, monkeypatch):
    """Lookups through the dense mask, then through the CSR keys."""
    if request.param == 'csr':
        monkeypatch.setattr(inter, 'DENSE_LIMIT', 0)
    return request.param


def test_from_pairs_sorts_and_keeps_the_last_value():
    m = small()
    assert m.shape == (3, 4) and m.nnz == 4
    assert m.indptr.tolist() == [0, 2, 2, 4]
    assert m.indices.tolist() == [1, 3, 0, 1]
    assert m.values.tolist() == [2, 5, 1, 4]
    onp.testing.assert_array_equal(m.dense_rows(), DENSE)
    assert m.row_counts().tolist() == [2, 0, 2]
    assert m.item_counts().tolist() == [1, 2, 0, 1]


def test_implicit_pairs_are_ones_and_distinct():
    m = Interactions.from_pairs([1, 1, 0], [2, 2, 0], None, 2, 3)
    assert m.indices.tolist() == [0, 2] and m.values.tolist() == [1, 1]


def test_ids_out_of_range_and_bad_arrays_are_refused():
    with pytest.raises(ValueError, match='user ids'):
        Interactions.from_pairs([3], [0], None, 3, 4)
    with pytest.raises(ValueError, match='item ids'):
        Interactions.from_pairs([0], [-1], None, 3, 4)
    with pytest.raises(ValueError, match='CSR'):            # not sorted
        Interactions([0, 2], [3, 1], [1, 1], (1, 4))
    with pytest.raises(ValueError, match='CSR'):            # repeated
        Interactions([0, 2], [1, 1], [1, 1], (1, 4))
    with pytest.raises(ValueError, match='CSR'):            # column 4 of 4
        Interactions([0, 1], [4], [1], (1, 4))
    # a row may start with a smaller item than the last row ended with
    assert Interactions([0, 1, 2], [3, 0], [1, 1], (2, 4)).nnz == 2


def test_contains_and_mask(layout):
    m = small()
    assert (m.dense_mask() is None) == (layout == 'csr')
    got = m.contains([[0], [1], [2]], [0, 1, 2, 3])         # broadcast
    onp.testing.assert_array_equal(got, DENSE != 0)
    assert m.contains(2, 1) and not m.contains(2, 3)
    onp.testing.assert_array_equal(m.mask([2, 0, 2]), DENSE[[2, 0, 2]] != 0)


def test_nth_unseen_against_the_listed_items(layout):
    rng = onp.random.default_rng(0)
    users, items = rng.integers(0, 6, 25), rng.integers(0, 9, 25)
    m = Interactions.from_pairs(users, items, None, 6, 9)
    dense = m.dense_rows() != 0
    for u in range(6):
        unseen = onp.flatnonzero(~dense[u])                 # brute force
        assert m.nth_unseen(u, onp.arange(len(unseen))).tolist() == \
            unseen.tolist()
    # by hand: user 0 has items 1 and 3, so the others are 0, 2
    assert small().nth_unseen(0, [0, 1]).tolist() == [0, 2]
    assert small().nth_unseen([[1], [2]], [0, 1]).tolist() == [[0, 1],
                                                                [2, 3]]


def test_select_pairs_and_dense_rows_of_chosen_rows():
    m = small()
    indptr, indices, values = m.select([2, 1, 0, 2])
    assert indptr.tolist() == [0, 2, 2, 4, 6]
    assert indices.tolist() == [0, 1, 1, 3, 0, 1]
    assert values.tolist() == [1, 4, 2, 5, 1, 4]
    items, values = m.row(2)
    assert items.tolist() == [0, 1] and values.tolist() == [1, 4]
    assert m.row(1)[0].tolist() == []
    rows, items = m.pairs([2, 0])
    assert rows.tolist() == [0, 0, 1, 1] and items.tolist() == [0, 1, 1, 3]
    onp.testing.assert_array_equal(m.dense_rows([1, 2]), DENSE[[1, 2]])
    assert m.select([])[0].tolist() == [0]
    scores = onp.zeros((2, 4))
    m.mask_into(scores, [0, 2], fill=-1)
    assert scores.tolist() == [[0, -1, 0, -1], [-1, -1, 0, 0]]


def test_transpose():
    t = small().transpose()
    assert t.shape == (4, 3) and t.num_users == 4 and t.num_items == 3
    assert t.indptr.tolist() == [0, 1, 3, 3, 4]
    assert t.indices.tolist() == [2, 0, 2, 0]
    onp.testing.assert_array_equal(t.dense_rows(), DENSE.T)
    onp.testing.assert_array_equal(t.transpose().dense_rows(), DENSE)


def test_from_mask_and_from_ratings():
    m = Interactions.from_mask(DENSE != 0)
    assert m.indices.tolist() == [1, 3, 0, 1] and m.dense_mask() is not None
    ratings = pd.DataFrame({'user': [3, 1, 1, 3, 3], 'item': [2, 4, 2, 1, 2],
                            'rating': [3, 5, 2, 1, 4]})  # 1-based ids
    onp.testing.assert_array_equal(
        Interactions.from_ratings(ratings, 3, 4, 'user').dense_rows(), DENSE)
    onp.testing.assert_array_equal(
        Interactions.from_ratings(ratings, 3, 4).dense_rows(), DENSE.T)


def test_arrays_round_trip(tmp_path):
    m = small()
    arrays = m.arrays('train')
    assert sorted(arrays) == ['train_indices', 'train_indptr',
                              'train_shape', 'train_values']
    onp.savez(tmp_path / 'x.npz', **arrays)
    with onp.load(tmp_path / 'x.npz') as stored:
        back = Interactions.from_arrays(stored, 'train')
    assert back.shape == m.shape
    for name in ('indptr', 'indices', 'values'):
        onp.testing.assert_array_equal(getattr(back, name), getattr(m, name))


def test_scipy_round_trip():
    m = small()
    csr = m.csr()
    assert isinstance(csr, scipy.sparse.csr_matrix)
    onp.testing.assert_array_equal(csr.toarray(), DENSE)
    back = Interactions.from_csr(csr)
    onp.testing.assert_array_equal(back.dense_rows(), DENSE)
    # unsorted, with a repeated entry: the last stored value stays (scipy
    # would sum the two)
    raw = scipy.sparse.csr_matrix(([7, 1, 3], [2, 0, 2], [0, 3]),
                                  shape=(1, 3))
    assert not raw.has_canonical_format
    got = Interactions.from_csr(raw)
    assert got.indices.tolist() == [0, 2] and got.values.tolist() == [1, 3]
