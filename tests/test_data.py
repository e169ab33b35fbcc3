import os
import zipfile

import mxnet as mx
import numpy as onp
import pandas as pd
import pytest

import d2l_recsys as rs
from d2l_recsys import data as D
from conftest import block_ratings, write_u_data


# --- same results as d2l's own functions -----------------------------------
def test_read_matches_d2l(d2l_local, ml_dir):
    ref, nu, ni = d2l_local.read_data_ml100k()
    ours, nu2, ni2 = rs.read_data_ml100k(ml_dir)
    assert (nu, ni) == (nu2, ni2) == (40, 60)
    assert (ref.to_numpy() == ours.to_numpy()).all()
    assert list(ours.columns) == list(ref.columns)


def test_seq_aware_split_and_load_identical_to_d2l(d2l_local, ml_dir):
    data, nu, ni = rs.read_data_ml100k(ml_dir)
    ref_train, ref_test = d2l_local.split_data_ml100k(data, nu, ni,
                                                      'seq-aware')
    train, test = rs.split_data_ml100k(data, nu, ni, 'seq-aware')
    assert onp.array_equal(ref_train.to_numpy(), train.to_numpy())
    assert onp.array_equal(ref_test.to_numpy(), test.to_numpy())
    for feedback in ('explicit', 'implicit'):
        ref = d2l_local.load_data_ml100k(ref_train, nu, ni, feedback)
        got = rs.load_data_ml100k(train, nu, ni, feedback)
        for a, b in zip(ref[:3], got[:3]):
            assert onp.array_equal(onp.asarray(a), b)
        if feedback == 'explicit':
            assert onp.array_equal(ref[3].asnumpy(), got[3].asnumpy())
        else:
            assert ref[3] == got[3] and list(ref[3]) == list(got[3])


def test_seq_aware_test_is_latest_rating_first_of_ties():
    rows = onp.array([[1, 1, 3, 10], [1, 2, 4, 30], [1, 3, 5, 30],
                      [2, 1, 2, 5], [2, 3, 1, 4]])
    data = pd.DataFrame(rows, columns=D.COLUMNS)
    train, test = rs.split_data_ml100k(data, 2, 3, 'seq-aware')
    assert test.to_numpy().tolist() == [[1, 2, 4, 30], [2, 1, 2, 5]]
    assert train.to_numpy().tolist() == [[1, 1, 3, 10], [1, 3, 5, 30],
                                         [2, 3, 1, 4]]


def test_random_split_same_as_d2l_under_same_mxnet_seed(d2l_local, ml_dir):
    data, nu, ni = rs.read_data_ml100k(ml_dir)
    mx.random.seed(7)
    ref_train, ref_test = d2l_local.split_data_ml100k(data, nu, ni)
    mx.random.seed(7)
    train, test = rs.split_data_ml100k(data, nu, ni)
    assert train.index.equals(ref_train.index)
    assert test.index.equals(ref_test.index)


def test_random_split_properties():
    rows = block_ratings(num_users=200, num_items=300, density=0.3)
    data = pd.DataFrame(rows, columns=D.COLUMNS)
    train, test = rs.split_data_ml100k(data, 200, 300, test_ratio=0.1,
                                       seed=3)
    assert abs(len(test) / len(data) - 0.1) < 0.01
    assert not set(train.index) & set(test.index)
    assert sorted(train.index.tolist() + test.index.tolist()) == \
        list(range(len(data)))
    again, _ = rs.split_data_ml100k(data, 200, 300, test_ratio=0.1, seed=3)
    other, _ = rs.split_data_ml100k(data, 200, 300, test_ratio=0.1, seed=4)
    assert train.index.equals(again.index)
    assert not train.index.equals(other.index)


def test_split_and_load_batches(ml_dir):
    nu, ni, train_iter, test_iter = rs.split_and_load_ml100k(
        data_dir=ml_dir, batch_size=16, seed=0)
    users, items, ratings = next(iter(train_iter))
    assert users.shape == items.shape == ratings.shape == (16,)
    assert 0 <= int(users.min()) and int(users.max()) < nu
    assert sum(b[0].shape[0] for b in test_iter) == nu  # one per user


# --- where the data comes from ---------------------------------------------
def test_data_dir_beats_env_var(ml_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(D.ENV_VAR, str(tmp_path / 'missing'))
    assert rs.resolve_ratings_file(ml_dir) == os.path.join(ml_dir, 'u.data')


def test_env_var_and_parent_folder(ml_dir, monkeypatch):
    monkeypatch.setenv(D.ENV_VAR, os.path.dirname(ml_dir))
    data, nu, _ = rs.read_data_ml100k()
    assert nu == 40


def test_offline_error_names_three_ways(offline):
    with pytest.raises(FileNotFoundError) as e:
        rs.read_data_ml100k()
    msg = str(e.value)
    assert '--data-dir' in msg and D.ENV_VAR in msg and 'download' in msg


def test_zip_is_accepted(ml_dir, tmp_path):
    zpath = tmp_path / 'ml-100k.zip'
    with zipfile.ZipFile(zpath, 'w') as zf:
        zf.write(os.path.join(ml_dir, 'u.data'), 'ml-100k/u.data')
    data, nu, ni = rs.read_data_ml100k(str(zpath))
    assert (nu, ni) == (40, 60)
    assert os.path.isfile(tmp_path / 'ml-100k' / 'u.data')


def test_zip_member_outside_target_is_refused(tmp_path):
    zpath = tmp_path / 'evil.zip'
    with zipfile.ZipFile(zpath, 'w') as zf:
        zf.writestr('../escaped.txt', 'x')
    target = tmp_path / 'inside'
    target.mkdir()
    with pytest.raises(ValueError, match='outside'):
        D.safe_extract(str(zpath), str(target))
    assert not (tmp_path / 'escaped.txt').exists()


# --- other formats, ids, titles ---------------------------------------------
def test_ml1m_format_with_sparse_ids(tmp_path):
    folder = tmp_path / 'ml-1m'
    folder.mkdir()
    rows = onp.array([[1, 10, 5, 100], [1, 3952, 3, 101], [6040, 10, 4, 102]])
    write_u_data(folder / 'ratings.dat', rows, sep='::')
    (folder / 'movies.dat').write_text(
        '10::GoldenEye (1995)::Action\n3952::Contender, The (2000)::Drama\n',
        encoding='latin-1')
    data, nu, ni = rs.read_data_ml100k(str(folder))
    assert (nu, ni) == (2, 2)
    assert data['user_id'].tolist() == [1, 1, 2]
    assert data['item_id'].tolist() == [1, 2, 1]
    assert data.attrs['item_ids'].tolist() == [10, 3952]
    assert data.attrs['user_ids'].tolist() == [1, 6040]
    titles = rs.read_item_titles(str(folder), data.attrs['item_ids'])
    assert titles == {1: 'GoldenEye (1995)', 2: 'Contender, The (2000)'}


def test_train_test_pair_shares_mapping(tmp_path):
    write_u_data(tmp_path / 'a.base', [[5, 7, 4, 1], [9, 8, 2, 2]])
    write_u_data(tmp_path / 'a.test', [[9, 7, 3, 3], [12, 20, 1, 4]])
    train, test, nu, ni = rs.read_train_test(tmp_path / 'a.base',
                                             tmp_path / 'a.test')
    assert (nu, ni) == (3, 3)
    assert train.to_numpy()[:, :2].tolist() == [[1, 1], [2, 2]]
    assert test.to_numpy()[:, :2].tolist() == [[2, 1], [3, 3]]


def test_titles_latin1(ml_dir):
    titles = rs.read_item_titles(ml_dir)
    assert titles[3] == 'Film 3 (Café) (1995)'


# --- bad input ----------------------------------------------------------------
@pytest.mark.parametrize('content, message', [
    ('1\t2\t3\t4\n1\t2\t3\n', 'line 2: expected 4 fields'),
    ('1\t2\t3\t4\n1\t2\t3\t4\t5\n', 'line 2: expected 4 fields'),
    ('1\t2\t3\t4\nx\t2\t3\t4\n', 'line 2: user id must be an integer'),
    ('1\t2\t3\t4\n1\t2.5\t3\t4\n', 'line 2: item id must be an integer'),
    ('1\t2\t3\t4\n1\t2\t3\t4\n2\t2\t7\t4\n', 'line 3: rating 7 is outside'),
    ('', 'empty'),
    ('\n\n', 'empty'),
])
def test_malformed_ratings_name_file_and_line(tmp_path, content, message):
    path = tmp_path / 'u.data'
    path.write_text(content)
    with pytest.raises(ValueError) as e:
        rs.read_ratings(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        rs.read_data_ml100k(str(tmp_path / 'nowhere'))


# --- batches ------------------------------------------------------------------
def test_array_iter_rollover_keeps_every_example():
    it = rs.ArrayIter(onp.arange(10), batch_size=4, shuffle=True,
                      last_batch='rollover', seed=0)
    first = [b.asnumpy() for b in it]
    assert [len(b) for b in first] == [4, 4]
    second = [b.asnumpy() for b in it]
    assert len(second) == 3  # 2 carried over + 10 new = 12
    carried = set(range(10)) - set(onp.concatenate(first).tolist())
    assert set(second[0][:2].tolist()) == carried


def test_array_iter_keep_and_tuples():
    it = rs.ArrayIter(onp.arange(5), onp.arange(5) * 2.0, batch_size=2)
    batches = list(it)
    assert len(batches) == len(it) == 3
    assert batches[-1][0].asnumpy().tolist() == [4]
    assert batches[-1][1].asnumpy().tolist() == [8.0]
