"""The user's own interactions (``data.tables``): CSV/TSV files with a header
and DataFrames, ids of any type; ``~`` in every path of the data layer.
All files are small and written here."""
import os

import numpy as onp
import pandas as pd
import pytest

import d2l_recsys as rs
from conftest import make_movielens
from d2l_recsys.data import ENV_VAR, densify, formats, locate
from d2l_recsys.data.tables import from_frame, parse_columns, read_table


def write(path, text):
    with open(path, 'w', encoding='utf-8', newline='') as f:
        f.write(text)
    return str(path)


# --- reading -----------------------------------------------------------------
def test_string_ids_mapped_with_columns(tmp_path):
    path = write(tmp_path / 'shop.csv', 'user_id,sku,stars,ts,note\n'
                 'alice,SKU-9,4.5,30,x\nbob,SKU-1,3,10,y\nalice,SKU-1,5,20,\n')
    data = read_table(path, 'user=user_id,item=sku,rating=stars,timestamp=ts')
    assert list(data.columns) == ['user_id', 'item_id', 'rating', 'timestamp']
    assert data['user_id'].tolist() == ['alice', 'bob', 'alice']
    assert data['item_id'].tolist() == ['SKU-9', 'SKU-1', 'SKU-1']
    assert data['rating'].dtype == onp.float64
    assert data['timestamp'].tolist() == [30, 10, 20]
    assert data.attrs == {'source': path, 'rating_scale': (3, 5, 0.5),
                          'implicit': False, 'has_timestamp': True}
    (dense,), num_users, num_items = densify([data])
    assert (num_users, num_items) == (2, 2)
    assert dense['user_id'].tolist() == [1, 2, 1]
    assert dense['item_id'].tolist() == [2, 1, 1]
    assert dense.attrs['user_ids'].tolist() == ['alice', 'bob']
    assert dense.attrs['item_ids'].tolist() == ['SKU-1', 'SKU-9']
    assert dense.attrs['source'] == path


def test_tsv_and_integer_literal_ids(tmp_path):
    path = write(tmp_path / 'r.tsv', 'user\titem\trating\ttimestamp\n'
                 '10\t-3\t4\t100\n2\t0\t1\t101\n')
    data = read_table(path)
    assert data['user_id'].dtype == data['item_id'].dtype == onp.int64
    assert data['user_id'].tolist() == [10, 2]
    assert data['item_id'].tolist() == [-3, 0]
    assert data['rating'].dtype == onp.int64
    assert data.attrs['rating_scale'] == (1, 4, 1)


def test_ids_that_are_not_plain_integers_stay_text(tmp_path):
    # 007 and 7 would become one id as integers; 19 digits overflow int64
    path = write(tmp_path / 'r.txt', 'user\titem\n 1 \t007\n2\t7\n'
                 '3\t1234567890123456789\n')            # .txt: tab sniffed
    data = read_table(path)
    assert data['user_id'].tolist() == [1, 2, 3]       # spaces dropped
    assert data['item_id'].tolist() == ['007', '7', '1234567890123456789']


def test_implicit_feedback_without_rating_and_timestamp(tmp_path):
    path = write(tmp_path / 'clicks.csv', 'user,item\nu1,a\nu2,a\nu1,b\n')
    data = read_table(path)
    assert data['rating'].tolist() == [1, 1, 1]
    assert data['rating'].dtype == data['timestamp'].dtype == onp.int64
    assert data['timestamp'].tolist() == [0, 1, 2]      # the row number
    assert data.attrs['implicit'] is True
    assert data.attrs['has_timestamp'] is False
    assert data.attrs['rating_scale'] == (1, 1, 1)


def test_odd_but_valid_files(tmp_path):
    path = write(tmp_path / 'odd.csv', '\ufeffuser,item,rating\r\n\r\n'
                 '"a,b","x\ny",2.25\r\nc,d,1\r\n')
    data = read_table(path)
    assert data['user_id'].tolist() == ['a,b', 'c']
    assert data['item_id'].tolist() == ['x\ny', 'd']
    assert data.attrs['rating_scale'] == (1, 2.25, None)
    latin = tmp_path / 'latin.csv'
    latin.write_bytes('user,item\nJosé,x\n'.encode('latin-1'))
    assert read_table(latin)['user_id'].tolist() == ['José']


# --- parse_columns ---------------------------------------------------------
def test_parse_columns():
    assert parse_columns('user=user_id,item=sku,rating=stars,timestamp=ts') \
        == {'user': 'user_id', 'item': 'sku', 'rating': 'stars',
            'timestamp': 'ts'}
    assert parse_columns(' user = a , item=b') == {'user': 'a', 'item': 'b'}
    for text, needle in (('user', "'user' is not ROLE=NAME"),
                         ('user=a,movie=b', "unknown role 'movie'"),
                         ('user=a,user=b', 'user is given twice'),
                         ('user=', 'is not ROLE=NAME')):
        with pytest.raises(ValueError, match='--columns') as e:
            parse_columns(text)
        assert needle in str(e.value)
        assert 'expected ROLE=NAME pairs' in str(e.value)


# --- errors: one line naming the file, the line and what was expected ------
ERRORS = [
    ('empty.csv', '\n  \n', 'the file is empty; expected a header line'),
    ('header.csv', 'user,item,rating\n', 'no rows after the header line'),
    ('short.csv', 'user,item,rating\n1,2,3\n1,3\n',
     "line 3: expected 3 fields (user, item, rating) separated by ',', "
     "found 2: '1,3'"),
    ('long.csv', 'user,item,rating\n1,2,3\n\n1,3,4,5\n',
     'line 4: expected 3 fields (user, item, rating) separated by'),
    ('long1.csv', 'user,item,rating\n1,2,3,4\n1,3,4\n',
     'line 2: expected 3 fields'),
    ('rating.csv', 'user,item,rating\n1,2,3\n1,3,abc\n',
     "line 3: rating must be a number, got 'abc'"),
    ('rating2.csv', 'user,item,rating\n1,2,3\n1,3,\n1,4,\n',
     "line 3: rating must be a number, got ''"),
    ('time.tsv', 'user\titem\ttimestamp\n1\t2\t7\n1\t3\t7.5\n',
     "line 3: timestamp must be an integer, got '7.5'"),
    ('dup.csv', 'user,item,rating\na,x,3\nb,x,3\n\na,x,4\n',
     "lines 2 and 5: user 'a' rated item 'x' twice; expected one rating per "
     '(user, item) pair'),
    ('dup_int.csv', 'user,item\n1,2\n1,2\n',
     'lines 2 and 3: user 1 and item 2 appear twice; expected one row per'),
    ('noid.csv', 'user,item,rating\n1,2,3\n ,3,4\n',
     "line 3: empty user id (column 'user'); expected an id on every row"),
    ('noitem.csv', 'user,item\n1,2\n1,\n', "line 3: empty item id"),
]


@pytest.mark.parametrize('name, text, needle', ERRORS)
def test_errors_name_file_and_line(tmp_path, name, text, needle):
    path = write(tmp_path / name, text)
    with pytest.raises(ValueError) as e:
        read_table(path)
    msg = str(e.value)
    assert msg.startswith(path) and needle in msg and '\n' not in msg


def test_missing_file_and_columns(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.csv: no such file'):
        read_table(tmp_path / 'nope.csv')
    path = write(tmp_path / 'ml.csv', 'userId,movieId,rating\n1,2,3\n')
    with pytest.raises(ValueError) as e:
        read_table(path)
    msg = str(e.value)
    for needle in (f'{path}, line 1:', "no 'user' column",
                   'userId, movieId, rating', '--columns user=NAME,item=NAME'):
        assert needle in msg
    with pytest.raises(ValueError, match="maps item=movie, but there is no "
                                         "column 'movie'"):
        read_table(path, {'user': 'userId', 'item': 'movie'})
    data = read_table(path, 'user=userId,item=movieId')
    assert data['item_id'].tolist() == [2]
    with pytest.raises(ValueError, match="unknown role 'film'"):
        read_table(path, {'film': 'movieId'})
    with pytest.raises(ValueError, match="column 'userId' would hold both"):
        read_table(path, {'user': 'userId', 'item': 'userId'})


def test_checks_are_vectorised_on_the_success_path(tmp_path, monkeypatch):
    from d2l_recsys.data import tables
    path = write(tmp_path / 'ok.csv', 'user,item,rating\n' + ''.join(
        f'u{k},i{k % 7},{k % 5 + 1}\n' for k in range(50)))

    def no_scan(self):
        raise AssertionError('the file was scanned line by line')
    monkeypatch.setattr(tables._FileRows, '_rows', no_scan)
    assert len(read_table(path)) == 50


# --- DataFrames ------------------------------------------------------------
def test_from_frame():
    df = pd.DataFrame({'who': ['b', 'a', 'b'], 'what': [3, 1, 1],
                       'stars': [1.5, 2.0, 4.0], 'when': [5, 6, 7]})
    data = from_frame(df, {'user': 'who', 'item': 'what', 'rating': 'stars',
                           'timestamp': 'when'})
    assert data['user_id'].tolist() == ['b', 'a', 'b']
    assert data['item_id'].dtype == onp.int64
    assert data.attrs == {'source': 'DataFrame', 'rating_scale': (1.5, 4, 0.5),
                          'implicit': False, 'has_timestamp': True}
    # mixed ids are compared as text; integer literals become int64
    mixed = from_frame(pd.DataFrame({'user': [1, 'x'], 'item': ['7', 8]}))
    assert mixed['user_id'].tolist() == ['1', 'x']
    assert mixed['item_id'].tolist() == [7, 8]
    assert mixed.attrs['implicit'] is True


@pytest.mark.parametrize('df, needle', [
    (pd.DataFrame({'user': [1, None], 'item': [1, 2]}, index=['r1', 'r2']),
     "ratings, row 'r2': empty user id"),
    (pd.DataFrame({'user': [1, 2], 'item': [1, 2], 'rating': [1, 'abc']}),
     "ratings, row 1: rating must be a number, got 'abc'"),
    (pd.DataFrame({'user': [1, 2], 'item': [1, 2], 'timestamp': [1, 2.5]}),
     'ratings, row 1: timestamp must be an integer, got 2.5'),
    (pd.DataFrame({'user': ['a', 'a'], 'item': [1, 1]}, index=[10, 20]),
     "ratings, rows 10 and 20: user 'a' and item 1 appear twice"),
    (pd.DataFrame({'uid': [1], 'item': [1]}),
     "ratings: no 'user' column for the user ids (its columns: uid, item)"),
    (pd.DataFrame({'user': [], 'item': []}), 'ratings: no rows'),
])
def test_from_frame_errors(df, needle):
    with pytest.raises(ValueError) as e:
        from_frame(df, name='ratings')
    assert needle in str(e.value)


# --- ~ in paths --------------------------------------------------------------
def test_tilde_is_expanded_everywhere(tmp_path, monkeypatch):
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.delenv(ENV_VAR, raising=False)
    folder = make_movielens(str(tmp_path / 'ml-100k'), num_users=12,
                            num_items=10)
    udata = os.path.join(folder, 'u.data')
    assert locate.resolve_ratings_file('~/ml-100k') == udata
    assert formats.read_ratings('~/ml-100k/u.data').shape[1] == 4
    data, num_users, num_items = rs.read_data_ml100k('~/ml-100k')
    assert data.attrs['source'] == udata
    assert rs.read_item_titles('~/ml-100k')[1].startswith('Film 1')
    nu, ni, train_iter, test_iter = rs.split_and_load_ml100k(
        data_dir='~/ml-100k', batch_size=64)
    assert (nu, ni) == (num_users, num_items)
    monkeypatch.setenv(ENV_VAR, '~/ml-100k')
    assert locate.resolve_ratings_file() == udata
    rows = open(udata).read().splitlines()
    write(tmp_path / 'u1.base', '\n'.join(rows[:-5]) + '\n')
    write(tmp_path / 'u1.test', '\n'.join(rows[-5:]) + '\n')
    train, test, _, _ = rs.read_train_test('~/u1.base', '~/u1.test')
    assert len(train) + len(test) == len(data)
    write(tmp_path / 'own.csv', 'user,item\na,b\n')
    assert read_table('~/own.csv').attrs['source'] == str(tmp_path /
                                                          'own.csv')
