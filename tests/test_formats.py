"""Every MovieLens release's files, read as GroupLens ships them: small
synthetic releases (``data.synthetic``) in each native format, and
hand-written bad files."""
import csv
import hashlib
import os
import shutil
import zipfile

import numpy as onp
import pytest

import d2l_recsys as rs
from d2l_recsys.data import formats as F
from d2l_recsys.data import locate as L
from d2l_recsys.data import synthetic as S

LIKES = list(S.SHAPES)
# The folder each release's zip extracts to.
FOLDER = {'ml-100k': 'ml-100k', 'ml-1m': 'ml-1m', 'ml-10m': 'ml-10M100K',
          'ml-20m': 'ml-20m'}


@pytest.fixture(scope='module')
def releases(tmp_path_factory):
    """like -> (folder, synthetic.json) of a 60 users x 40 items release,
    in a folder named as the real one."""
    root = tmp_path_factory.mktemp('releases')
    out = {}
    for like in LIKES:
        folder = str(root / like / FOLDER[like])
        info = S.generate(like, folder, seed=3, num_users=60, num_items=40,
                          num_ratings=1000)
        out[like] = folder, info
    return out


def parse_by_hand(path, sep):
    """The ratings of a file, parsed line by line (the reference)."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    if sep == ',':
        assert lines[0] == F.CSV_HEADER
        lines = lines[1:]
    return [[float(v) for v in line.split(sep)] for line in lines]


# --- every format ------------------------------------------------------------
@pytest.mark.parametrize('like', LIKES)
def test_every_format_reads_as_written(releases, like):
    folder, info = releases[like]
    shape = S.SHAPES[like]
    path = os.path.join(folder, shape['ratings'])
    raw = F.read_ratings(path)
    assert raw.to_numpy().tolist() == parse_by_hand(path, shape['sep'])
    data, nu, ni = rs.read_data_ml100k(folder)
    assert (nu, ni, len(data)) == (60, 40, 1000)
    assert data.attrs['rating_scale'] == shape['scale']
    assert data.attrs['source'] == path
    assert data['user_id'].dtype == data['item_id'].dtype == onp.int64
    assert data['timestamp'].dtype == onp.int64
    whole = shape['scale'][2] == 1
    assert data['rating'].dtype == (onp.int64 if whole else onp.float64)
    # dense ids map back to the raw ones
    back = data.attrs['item_ids'][data['item_id'].to_numpy() - 1]
    assert onp.array_equal(back, raw['item_id'].to_numpy())
    assert data.equals(rs.read_data_ml100k(folder, dataset=like)[0])


def test_ml10m_half_stars_and_integers_mixed(releases):
    folder, _ = releases['ml-10m']
    text = open(os.path.join(folder, 'ratings.dat')).read()
    assert '::3.5::' in text or '::4.5::' in text    # halves written as 3.5
    assert '::4::' in text                          # wholes as 4, not 4.0
    data, nu, ni = rs.read_data_ml100k(folder)
    assert (data['rating'] % 1 == 0.5).any()
    # d2l's loader makes scores integers; half stars must survive it
    scores = rs.load_data_ml100k(data, nu, ni)[2]
    assert scores.dtype == onp.float32 and (scores % 1 == 0.5).any()


# --- rating scales -----------------------------------------------------------
def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    return str(path)


def test_half_star_accepted_where_the_release_has_them(tmp_path):
    path = write(tmp_path / 'ml-10M100K' / 'ratings.dat',
                 '1::10::3.5::5\n1::11::5::6\n2::10::0.5::7\n')
    df = rs.read_ratings(path)
    assert df['rating'].tolist() == [3.5, 5.0, 0.5]
    assert df.attrs['rating_scale'] == (0.5, 5, 0.5)
    csv = write(tmp_path / 'ml-20m' / 'ratings.csv',
                F.CSV_HEADER + '\n1,10,3.5,5\n1,11,4.0,6\n')
    assert rs.read_ratings(csv)['rating'].tolist() == [3.5, 4.0]


@pytest.mark.parametrize('name, content, line', [
    ('u.data', '1\t10\t3\t5\n1\t11\t3.5\t6\n', 2),
    (os.path.join('ml-1m', 'ratings.dat'), '1::10::3::5\n1::11::3.5::6\n', 2),
])
def test_half_star_refused_in_whole_star_releases(tmp_path, name, content,
                                                   line):
    path = write(tmp_path / name, content)
    with pytest.raises(ValueError) as e:
        rs.read_ratings(path)
    msg = str(e.value)
    assert path in msg and f'line {line}:' in msg and '3.5' in msg
    assert 'multiple of 1' in msg


def test_other_tab_files_take_the_scale_of_their_ratings(tmp_path):
    half = write(tmp_path / 'train.tsv', '1\t10\t3.5\t5\n2\t10\t5\t6\n')
    assert rs.read_ratings(half).attrs['rating_scale'] == (0.5, 5, 0.5)
    whole = write(tmp_path / 'test.tsv', '1\t11\t3\t5\n')
    assert rs.read_ratings(whole).attrs['rating_scale'] == (1, 5, 1)
    with pytest.raises(ValueError, match='line 1: rating 3.5'):
        rs.read_ratings(half, dataset='ml-100k')


def test_half_star_refused_when_the_dataset_says_so(tmp_path):
    path = write(tmp_path / 'any' / 'ratings.dat', '1::10::3.5::5\n')
    assert rs.read_ratings(path).attrs['rating_scale'] == (0.5, 5, 0.5)
    with pytest.raises(ValueError, match='line 1: rating 3.5'):
        rs.read_ratings(path, dataset='ml-1m')
    whole = write(tmp_path / 'other' / 'ratings.dat', '1::10::3::5\n')
    assert rs.read_ratings(whole).attrs['rating_scale'] == (1, 5, 1)


def test_rating_outside_scale_and_old_range_argument(tmp_path):
    path = write(tmp_path / 'ratings.csv', F.CSV_HEADER + '\n1,2,0.5,3\n'
                 '1,3,5.5,4\n')
    with pytest.raises(ValueError, match=r'line 3: rating 5.5 is outside '
                                         r'0.5..5'):
        rs.read_ratings(path)
    # old callers: a (low, high) pair checks the range only, None nothing
    udata = write(tmp_path / 'u.data', '1\t2\t3.5\t4\n1\t3\t9\t5\n')
    assert rs.read_ratings(udata, rating_range=None)['rating'].tolist() == \
        [3.5, 9.0]
    with pytest.raises(ValueError, match='line 2: rating 9 is outside 1..5'):
        rs.read_ratings(udata, rating_range=F.RATING_RANGE)
    ok = write(tmp_path / 'ok' / 'u.data', '1\t2\t3.5\t4\n')
    df = rs.read_ratings(ok, rating_range=(1, 5))
    assert df['rating'].tolist() == [3.5]
    assert df.attrs['rating_scale'] == (1, 5, 0.5)
    with pytest.raises(ValueError, match='rating_range'):
        rs.read_ratings(ok, rating_range='half')


def test_wide_ids_and_ratings_off_the_half_star_grid_stay_exact(tmp_path):
    path = write(tmp_path / 'u.data', '3000000000\t2\t3.7\t4\n'
                 '5\t9000000000\t0.1\t5\n')
    df = rs.read_ratings(path, rating_range=None)
    assert df['user_id'].tolist() == [3000000000, 5]
    assert df['item_id'].tolist() == [2, 9000000000]
    assert df['rating'].tolist() == [3.7, 0.1]          # not float32's
    assert df.attrs['rating_scale'] == (0.1, 3.7, None)


# --- bad input ---------------------------------------------------------------
@pytest.mark.parametrize('name, content, lines', [
    ('u.data', '1\t2\t3\t4\n5\t6\t3\t4\n\n1\t7\t3\t4\n1\t2\t5\t9\n', (1, 5)),
    ('ratings.dat', '1::2::3::4\n1::3::3::4\n1::3::1::5\n', (2, 3)),
    ('ratings.csv', F.CSV_HEADER + '\n1,2,3.0,4\n1,3,3.0,4\n2,1,3.0,4\n'
     '1,2,1.5,5\n', (2, 5)),
    ('ratings.csv', F.CSV_HEADER + '\n1,2,3.0,4\n1,3,3.0,4\n1,3,3.0,4\n',
     (3, 4)),     # sorted by user and item, as the csv releases are
])
def test_duplicate_pair_names_both_lines(tmp_path, name, content, lines):
    path = write(tmp_path / name, content)
    with pytest.raises(ValueError) as e:
        rs.read_ratings(path)
    msg = str(e.value)
    assert f'{path}, lines {lines[0]} and {lines[1]}:' in msg
    assert 'twice' in msg


def test_duplicates_checked_within_one_file_only(tmp_path):
    base = write(tmp_path / 'a.base', '1\t2\t3\t4\n1\t3\t3\t4\n')
    test = write(tmp_path / 'a.test', '1\t2\t5\t9\n')
    train, test, nu, ni = rs.read_train_test(base, test)
    assert (len(train), len(test), nu, ni) == (2, 1, 1, 2)


@pytest.mark.parametrize('name, content, message', [
    ('ratings.csv', F.CSV_HEADER + '\n1,2,3.0,4\n1,3,3.0,4\n' + F.CSV_HEADER
     + '\n2,2,3.0,4\n', 'line 4: a header line where a rating was expected'),
    ('u.data', 'user_id\titem_id\trating\ttimestamp\n1\t2\t3\t4\n',
     'line 1: a header line where a rating was expected (this format has '
     'no header line)'),
    ('ratings.csv', '1,2,3.0,4\n', "line 1: expected the header "
     "'userId,movieId,rating,timestamp'"),
    ('ratings.csv', 'userId,movieId,rating\n1,2,3.0\n',
     'line 1: expected the header'),
    ('ratings.csv', F.CSV_HEADER + '\n1,2,3.0,4\n1,3,4.0\n',
     'line 3: expected 4 fields'),
    ('ratings.dat', '1::2::3::4\n1::3::4\n', 'line 2: expected 4 fields'),
    ('ratings.csv', F.CSV_HEADER + '\n1,2,3.0,4\nx,3,4.0,5\n',
     "line 3: user id must be an integer, got 'x'"),
    ('ratings.dat', '1::2::3::4\n1::b::4::5\n',
     "line 2: item id must be an integer, got 'b'"),
    ('ratings.dat', '1::2::3::4\n1::3::4::soon\n',
     "line 2: timestamp must be an integer, got 'soon'"),
    ('ratings.csv', F.CSV_HEADER + '\n1,2,,4\n',
     "line 2: rating must be a number, got ''"),
    ('ratings.csv', F.CSV_HEADER + '\n', 'no ratings after the header'),
    ('ratings.csv', '', 'empty'),
    ('ratings.dat', '\n', 'empty'),
])
def test_malformed_files_name_file_and_line(tmp_path, name, content,
                                            message):
    path = write(tmp_path / name, content)
    with pytest.raises(ValueError) as e:
        rs.read_ratings(path)
    assert path in str(e.value) and message in str(e.value)


# --- titles ------------------------------------------------------------------
def titles_by_hand(folder, like):
    shape = S.SHAPES[like]
    path = os.path.join(folder, shape['titles'])
    with open(path, encoding=shape['encoding'], newline='') as f:
        if shape['sep'] == ',':
            rows = list(csv.reader(f))[1:]
        else:
            sep = '|' if shape['sep'] == '\t' else '::'
            rows = [line.split(sep) for line in f.read().splitlines()]
    return {int(row[0]): row[1] for row in rows}


@pytest.mark.parametrize('like', LIKES)
def test_titles_of_every_format(releases, like):
    folder, _ = releases[like]
    data, _, ni = rs.read_data_ml100k(folder)
    titles = rs.read_item_titles(folder, data.attrs['item_ids'])
    assert len(titles) == ni
    assert rs.read_item_titles(folder) == titles_by_hand(folder, like)
    assert any(', The (' in t for t in titles.values())    # a comma inside
    assert any('Café' in t or 'Amélie' in t or 'Mañana' in t or 'Über' in t
               for t in titles.values())


def test_csv_titles_quoted_commas_quotes_and_utf8(tmp_path):
    path = write(tmp_path / 'ml-20m' / 'movies.csv',
                 'movieId,title,genres\n'
                 '11,"American President, The (1995)",Comedy|Drama\n'
                 '12,"""Great"" Escape, The (1963)",War\n'
                 '13,Łódź (2001),Drama\n'
                 '14,NA (1999),Comedy\n')
    write(tmp_path / 'ml-20m' / 'ratings.csv',
          F.CSV_HEADER + '\n1,11,3.0,4\n1,13,4.5,5\n')
    titles = rs.read_item_titles(os.path.dirname(path))
    assert titles == {11: 'American President, The (1995)',
                      12: '"Great" Escape, The (1963)', 13: 'Łódź (2001)',
                      14: 'NA (1999)'}
    data, _, _ = rs.read_data_ml100k(os.path.dirname(path))
    assert rs.read_item_titles(os.path.dirname(path),
                               data.attrs['item_ids']) == \
        {1: 'American President, The (1995)', 2: 'Łódź (2001)'}


@pytest.mark.parametrize('encoding', ['utf-8', 'latin-1'])
def test_movies_dat_utf8_or_latin1(tmp_path, encoding):
    folder = tmp_path / 'ml'
    write(folder / 'ratings.dat', '1::1::4::5\n')
    with open(folder / 'movies.dat', 'w', encoding=encoding) as f:
        f.write('1::Amélie (Fabuleux destin d\'Amélie Poulain, Le) '
                '(2001)::Comedy|Romance\n')
    title = rs.read_item_titles(str(folder))[1]
    assert title == 'Amélie (Fabuleux destin d\'Amélie Poulain, Le) (2001)'


def test_bad_titles_line_is_named(tmp_path):
    write(tmp_path / 'ratings.dat', '1::1::4::5\n')
    write(tmp_path / 'movies.dat', '1::Toy Story (1995)::Animation\n'
          'two::Jumanji (1995)::Adventure\n')
    with pytest.raises(ValueError, match=r'movies.dat, line 2: expected an '
                                         r'integer movie id'):
        rs.read_item_titles(str(tmp_path))


# --- where the data is: folder, parent, zip; dataset= ------------------------
def zip_release(folder, zpath):
    with zipfile.ZipFile(zpath, 'w') as zf:
        for name in os.listdir(folder):
            zf.write(os.path.join(folder, name),
                     f'{os.path.basename(folder)}/{name}')
    return str(zpath)


@pytest.mark.parametrize('like', LIKES)
def test_data_dir_folder_parent_or_zip(releases, tmp_path, like):
    folder, info = releases[like]
    expected, _, _ = rs.read_data_ml100k(folder)
    parent = os.path.dirname(folder)
    zpath = zip_release(folder, tmp_path / f'{like}.zip')
    for where in (parent, zpath):
        for dataset in (None, like):
            data, nu, ni = rs.read_data_ml100k(where, dataset=dataset)
            assert data.equals(expected) and (nu, ni) == (60, 40)
    extracted = tmp_path / FOLDER[like] / S.SHAPES[like]['ratings']
    assert rs.resolve_ratings_file(zpath) == str(extracted)
    titles = rs.read_item_titles(zpath, dataset=like)
    assert titles == rs.read_item_titles(folder)


def test_dataset_picks_its_release_in_a_shared_parent(releases, tmp_path):
    parent = tmp_path / 'all'
    for like in LIKES:
        shutil.copytree(releases[like][0], parent / FOLDER[like])
    assert rs.resolve_ratings_file(str(parent)).endswith(
        os.path.join('ml-100k', 'u.data'))          # as before: 100K first
    for like in LIKES:
        path = rs.resolve_ratings_file(str(parent), dataset=like)
        assert path == str(parent / FOLDER[like] / S.SHAPES[like]['ratings'])
    zpath = zip_release(releases['ml-1m'][0], tmp_path / 'ml-1m.zip')
    with pytest.raises(FileNotFoundError, match=r'no ratings.csv '
                                                r'\(MovieLens 20M\)'):
        rs.resolve_ratings_file(zpath, dataset='ml-20m')


def test_dataset_mismatch_is_an_error(releases, monkeypatch):
    with pytest.raises(FileNotFoundError, match='no ratings.csv'):
        rs.read_data_ml100k(releases['ml-100k'][0], dataset='ml-25m')
    monkeypatch.setenv(F.ENV_VAR, releases['ml-100k'][0])
    with pytest.raises(FileNotFoundError, match=F.ENV_VAR):
        rs.read_data_ml100k(dataset='ml-20m')    # never ML-100K instead
    with pytest.raises(ValueError, match='holds MovieLens 1M, not '
                                         'MovieLens 10M'):
        rs.read_data_ml100k(releases['ml-1m'][0], dataset='ml-10m')
    with pytest.raises(ValueError, match="dataset='ml-2m'"):
        rs.read_data_ml100k(releases['ml-1m'][0], dataset='ml-2m')


def test_offline_error_names_the_dataset(offline):
    with pytest.raises(FileNotFoundError) as e:
        rs.read_data_ml100k(dataset='ml-20m')
    msg = str(e.value)
    for needle in ('MovieLens 20M', "'ml-20m'", '--data-dir', F.ENV_VAR,
                   'ml-20m.zip', 'download', 'no network'):
        assert needle in msg


def test_download_checks_md5_where_no_sha1(tmp_path, monkeypatch):
    from d2l import mxnet as d2l
    calls = []

    def fake_download(url, folder, sha1_hash=None):
        calls.append((url, sha1_hash))
        path = os.path.join(folder, url.split('/')[-1])
        with open(path, 'wb') as f:
            f.write(b'not the real zip')
        return path
    monkeypatch.setattr(d2l, 'download', fake_download)
    with pytest.raises(ValueError, match='MD5 .* does not match'):
        L._download_with_d2l('ml-1m', cache_dir=str(tmp_path))
    assert calls == [(L.DATA_HUB['ml-1m'][0], None)]
    fake_md5 = hashlib.md5(b'not the real zip').hexdigest()
    monkeypatch.setitem(L.DATA_MD5, 'ml-1m', fake_md5)
    path = L._download_with_d2l('ml-1m', cache_dir=str(tmp_path))
    assert path == str(tmp_path / 'ml-1m.zip') and len(calls) == 1  # cached


def test_data_hub_entries():
    assert set(F.DATA_HUB) == set(F.DATA_MD5) == set(F.RELEASES)
    from d2l import mxnet as d2l
    assert F.DATA_HUB['ml-100k'] == d2l.DATA_HUB['ml-100k']
    for name, (url, sha1) in F.DATA_HUB.items():
        assert url == f'https://files.grouplens.org/datasets/movielens/' \
                      f'{name}.zip'
        assert sha1 is None or len(sha1) == 40
        assert len(F.DATA_MD5[name]) == 32


# --- renumbering -------------------------------------------------------------
def test_densify_same_result_for_small_and_huge_ids():
    import pandas as pd
    small = pd.DataFrame({'user_id': [7, 3, 7, 900], 'item_id': [2, 2, 5, 9]})
    huge = small * 10 ** 12                        # a sort, not a table
    (a,), nu, ni = F.densify([small])
    (b,), nu2, ni2 = F.densify([huge])
    assert (nu, ni) == (nu2, ni2) == (3, 3)
    assert a.equals(b)
    assert a['user_id'].tolist() == [2, 1, 2, 3]
    assert b.attrs['user_ids'].tolist() == [3 * 10 ** 12, 7 * 10 ** 12,
                                            900 * 10 ** 12]



def test_densify_string_ids():
    import pandas as pd
    train = pd.DataFrame({'user_id': ['zoe', 'al', 'zoe'],
                          'item_id': ['b', 'a', 'c'], 'rating': [1, 2, 3]})
    test = pd.DataFrame({'user_id': ['mo'], 'item_id': ['a'], 'rating': [4]})
    (a, b), nu, ni = F.densify([train, test])
    assert (nu, ni) == (3, 3)
    assert a['user_id'].tolist() == [3, 1, 3] and b['user_id'].tolist() == [2]
    assert a['item_id'].tolist() == [2, 1, 3]
    assert a.attrs['user_ids'].tolist() == ['al', 'mo', 'zoe']   # sorted
    assert b.attrs['item_ids'].tolist() == ['a', 'b', 'c']
    assert a['rating'].tolist() == [1, 2, 3]
    # ids of mixed types: numbers sort before strings, nothing is merged
    mixed = pd.DataFrame({'user_id': onp.array([5, 'x', '5', 5], object),
                          'item_id': [1, 1, 1, 2]})
    (m,), nu, _ = F.densify([mixed])
    assert nu == 3 and m['user_id'].tolist() == [1, 3, 2, 1]
    assert m.attrs['user_ids'].tolist() == [5, '5', 'x']


# --- the real ML-100K (when D2L_RECSYS_DATA names it) ------------------------
def test_real_ml100k_scale_and_files(real_data_dir):
    data, nu, ni = rs.read_data_ml100k(real_data_dir, dataset='ml-100k')
    assert (nu, ni, len(data)) == (943, 1682, 100_000)
    assert data.attrs['rating_scale'] == (1, 5, 1)
    assert (data.dtypes == onp.int64).all()
    for k in range(1, 6):          # each file checked on its own
        rs.read_train_test(os.path.join(real_data_dir, f'u{k}.base'),
                           os.path.join(real_data_dir, f'u{k}.test'))
