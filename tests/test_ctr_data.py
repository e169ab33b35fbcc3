"""The CTR data of the feature-rich chapter (``data.ctr``), its planted-FM
generator (``data.synthetic_ctr``) and ML-100K's attributes as feature
fields (``data.attributes``).

The book's ``d2l.CTRDataset`` is the reference: both read the same
generated files and must give the same indices, field sizes, offsets and
labels, for the training file and for the test file encoded with the
training file's mapper.  ML-100K's side files are made here in its formats
(the real ones may not be redistributed); the real folder is read only
when ``D2L_RECSYS_DATA`` names it.
"""
import hashlib
import json
import os
import zipfile

import numpy as onp
import pandas as pd
import pytest
from mxnet import np

from conftest import block_ratings, write_u_data
from d2l_recsys.data import attributes, ctr, synthetic_ctr
from d2l_recsys.data.ctr import CTRDataset


@pytest.fixture(scope='module')
def ctr_folder(tmp_path_factory):
    """Book-format files: 34 fields, long-tailed values (some seen fewer
    than 4 times), 900 training and 300 test lines."""
    folder = str(tmp_path_factory.mktemp('ctr') / 'ctr')
    synthetic_ctr.make_ctr(folder, num_rows=1200, num_test=300,
                           values_per_field=(2, 80), zipf=1.5, seed=3)
    return folder


def _items(dataset):
    """Every item of a dataset: (stacked index arrays, labels)."""
    pairs = [dataset[k] for k in range(len(dataset))]
    return (onp.stack([x.asnumpy() for x, _ in pairs]),
            onp.array([y[0] for _, y in pairs]))


def _assert_same(ref, mine):
    """Same items, sizes, offsets and labels as the book's dataset."""
    assert len(ref) == len(mine)
    assert (ref.field_dims.asnumpy() == mine.field_dims.asnumpy()).all()
    assert (ref.offsets.asnumpy() == mine.offsets.asnumpy()).all()
    ref_x, ref_y = _items(ref)
    mine_x, mine_y = _items(mine)
    assert (ref_x == mine_x).all() and (ref_y == mine_y).all()
    assert (mine_x == mine.features).all() and (mine_y == mine.labels).all()


@pytest.mark.parametrize('num_feat,min_threshold', [(34, 4), (6, 2)])
def test_same_as_the_books_ctr_dataset(ctr_folder, tmp_path, num_feat,
                                       min_threshold):
    from d2l import mxnet as d2l
    train_file = os.path.join(ctr_folder, 'train.csv')
    test_file = os.path.join(ctr_folder, 'test.csv')
    if num_feat != 34:      # a file of fewer fields: the label, the last
        keep = [0] + list(range(35 - num_feat, 35))   # (largest) fields
        for name in ('train.csv', 'test.csv'):
            table = pd.read_csv(os.path.join(ctr_folder, name), sep='\t',
                                header=None, dtype=str)
            table.iloc[:, keep].to_csv(
                tmp_path / name, sep='\t', header=False, index=False)
        train_file, test_file = tmp_path / 'train.csv', tmp_path / 'test.csv'
    opts = dict(min_threshold=min_threshold, num_feat=num_feat)
    ref = d2l.CTRDataset(str(train_file), **opts)
    mine = CTRDataset(train_file, **opts)
    # the kept values and default slots are the book's; only the order of
    # the kept values differs (the book's follows a set): applying either
    # mapper, both classes give the same items
    assert {f: set(m) for f, m in mine.feat_mapper.items()} == \
        {f: set(m) for f, m in ref.feat_mapper.items()}
    assert mine.defaults == ref.defaults
    for m in mine.feat_mapper.values():     # ours: in sorted value order
        assert sorted(m, key=m.get) == sorted(m)
    for mapper in (ref, mine):
        maps = dict(feat_mapper=mapper.feat_mapper, defaults=mapper.defaults)
        _assert_same(d2l.CTRDataset(str(train_file), **maps, **opts),
                     CTRDataset(train_file, **maps, **opts))
        _assert_same(d2l.CTRDataset(str(test_file), **maps, **opts),
                     CTRDataset(test_file, **maps, **opts))
    _assert_same(ref, CTRDataset(train_file, feat_mapper=ref.feat_mapper,
                                 defaults=ref.defaults, **opts))
    # the default slots are used: rare training values, unseen test values
    defaults = mine.offsets.asnumpy() + onp.array(
        [mine.defaults[f] for f in mine.field_names])
    test = CTRDataset(test_file, feat_mapper=mine.feat_mapper,
                      defaults=mine.defaults, **opts)
    assert (mine.features == defaults).any()
    assert (test.features == defaults).any()
    x, y = mine[0]
    assert isinstance(x, np.ndarray) and x.dtype == onp.float32
    assert x.shape == (num_feat,) and isinstance(y, list)
    assert type(y[0]) is onp.float32
    assert mine.features.dtype == onp.int32 and mine.labels.dtype == \
        onp.float32 and mine.field_dims.dtype == onp.int64
    assert mine.num_inputs == int(mine.field_dims.asnumpy().sum())


def test_odd_values_read_as_the_book_reads_them(tmp_path):
    from d2l import mxnet as d2l
    values = ['', 'a b', '"q"', "'s'", 'x,y', '#c', 'NaN', 'null']
    lines = [f'{k % 2}\t{values[k % 8]}\t{values[(3 * k) % 8]}'
             for k in range(40)]
    path = tmp_path / 'odd.csv'
    path.write_text('\n'.join(lines) + '\n')
    ref = d2l.CTRDataset(str(path), num_feat=2, min_threshold=2)
    mine = CTRDataset(path, feat_mapper=ref.feat_mapper,
                      defaults=ref.defaults, num_feat=2, min_threshold=2)
    _assert_same(ref, mine)
    assert set(CTRDataset(path, num_feat=2).feat_mapper[1]) == set(values)


def test_line_shapes_across_block_boundaries(tmp_path, monkeypatch):
    path = tmp_path / 'f.csv'
    path.write_bytes(b'1\ta\tbb\n\n0\t\tc\n1\tdd\n0\te\tf')
    expected = ([3, 1, 3, 2, 3], [6, 0, 4, 4, 5])
    for block in (1, 2, 3, 5, 8, 1 << 24):
        monkeypatch.setattr(ctr, '_BLOCK', block)
        fields, lengths = ctr.line_shapes(path)
        assert (fields.tolist(), lengths.tolist()) == expected, block


# what a bad CTR file (num_feat=2) says, by its lines
BAD_CTR = {
    'line 2: expected 3 fields': ['1\ta\tb', '0\ta'],
    'line 3: expected 3 fields': ['1\ta\tb', '', '0\ta\tb\tc'],
    "line 2: the click label must be 0 or 1, got '2'": ['1\ta\tb', '2\ta\tb'],
    "line 1: the click label must be 0 or 1, got '1.0'": ['1.0\ta\tb'],
    'the file is empty': ['', ''],
}


@pytest.mark.parametrize('needle', BAD_CTR)
def test_bad_lines_are_one_line_errors(tmp_path, needle):
    text = ''.join(line + '\n' for line in BAD_CTR[needle])
    path = tmp_path / 'bad.csv'
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        CTRDataset(path, num_feat=2)
    assert needle in str(e.value) and str(path) in str(e.value)
    assert '\n' not in str(e.value)
    (tmp_path / 'empty.csv').write_text('')
    with pytest.raises(ValueError, match='empty.csv: the file is empty'):
        CTRDataset(tmp_path / 'empty.csv')


def test_mapper_arguments(ctr_folder):
    train_file = os.path.join(ctr_folder, 'train.csv')
    with pytest.raises(ValueError, match='defaults given without'):
        CTRDataset(train_file, defaults={1: 0})
    train = CTRDataset(train_file)
    other = CTRDataset(train_file, feat_mapper=train.feat_mapper)
    assert other.defaults == train.defaults
    assert (other.features == train.features).all()
    short = {k: v for k, v in train.feat_mapper.items() if k != 5}
    with pytest.raises(ValueError, match='no mapping for field'):
        CTRDataset(train_file, feat_mapper=short)


def _zip_of(folder, tmp_path):
    path = tmp_path / 'ctr.zip'
    with zipfile.ZipFile(path, 'w') as zf:
        for name in ctr.CTR_FILES:
            zf.write(os.path.join(folder, name), f'ctr/{name}')
    return path


def test_where_the_files_come_from(ctr_folder, tmp_path, monkeypatch,
                                   offline):
    from d2l import mxnet as d2l
    assert ctr.CTR_DATA_HUB == d2l.DATA_HUB['ctr']
    parent = os.path.dirname(ctr_folder)
    assert ctr.ctr_dir(ctr_folder) == ctr_folder
    assert os.path.samefile(ctr.ctr_dir(parent), ctr_folder)
    zipped = _zip_of(ctr_folder, tmp_path)
    found = ctr.ctr_dir(zipped)               # extracted beside the zip
    assert os.path.samefile(found, tmp_path / 'ctr')
    with pytest.raises(FileNotFoundError, match='no train.csv and test.csv'):
        ctr.ctr_dir(tmp_path / 'ctr' / 'train.csv')
    monkeypatch.setenv(ctr.CTR_ENV_VAR, parent)
    train, test = ctr.read_ctr()
    assert (len(train), len(test)) == (900, 300)
    assert test.feat_mapper is train.feat_mapper
    monkeypatch.setenv(ctr.CTR_ENV_VAR, str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match=ctr.CTR_ENV_VAR):
        ctr.ctr_dir()
    monkeypatch.delenv(ctr.CTR_ENV_VAR)
    with pytest.raises(FileNotFoundError) as e:          # offline
        ctr.ctr_dir(cache_dir=str(tmp_path / 'cache'))
    message = str(e.value)
    assert '\n' not in message and 'data_dir=' in message
    assert ctr.CTR_ENV_VAR in message and 'ctr.zip' in message
    # the download: d2l's helper, then the SHA-1 check
    cache = tmp_path / 'cache'
    cache.mkdir()
    cached = cache / 'ctr.zip'
    cached.write_bytes(zipped.read_bytes())
    monkeypatch.setattr(d2l, 'download', lambda url, folder, sha1_hash:
                        str(cached))
    with pytest.raises(FileNotFoundError, match='does not match'):
        ctr.ctr_dir(cache_dir=str(cache))
    sha1 = hashlib.sha1(cached.read_bytes()).hexdigest()
    monkeypatch.setattr(ctr, 'CTR_DATA_HUB', (ctr.CTR_DATA_HUB[0], sha1))
    assert os.path.samefile(ctr.ctr_dir(cache_dir=str(cache)),
                            cache / 'ctr')


def test_load_ctr_batches(ctr_folder):
    train_iter, test_iter, train = ctr.load_ctr(64, ctr_folder, seed=0)
    x, y = next(iter(train_iter))
    assert x.shape == (64, 34) and x.dtype == onp.int32
    assert y.shape == (64, 1) and y.dtype == onp.float32
    assert len(train_iter) == 900 // 64
    xs = onp.concatenate([x.asnumpy() for x, _ in test_iter])
    test = CTRDataset(os.path.join(ctr_folder, 'test.csv'),
                      feat_mapper=train.feat_mapper, defaults=train.defaults)
    assert (xs == test.features).all()        # every test row, in order
    assert xs.max() < train.num_inputs


# --------------------------------------------------------------------------
# The planted-FM generator
# --------------------------------------------------------------------------
def test_planted_fm_files_and_bayes_auc(tmp_path):
    folder = str(tmp_path / 'planted')
    info = synthetic_ctr.make_ctr(folder)           # the defaults
    with open(os.path.join(folder, synthetic_ctr.INFO_FILE)) as f:
        assert json.load(f) == json.loads(json.dumps(info))
    assert not [n for n in os.listdir(folder) if n.startswith('.tmp-')]
    assert (info['num_train'], info['num_test']) == (15_000, 3_000)
    for part, name in (('train', 'train.csv'), ('test', 'test.csv')):
        assert info['bayes_auc'][part] > 0.8            # a strong signal
        assert synthetic_ctr.bayes_auc(folder, name) == pytest.approx(
            info['bayes_auc'][part], abs=1e-12)         # and the right one
        assert 0.1 < info['label_rate'][part] < 0.5
    assert info['rare_in_train']['values'] > 0.05
    train, test = ctr.read_ctr(folder)                 # the book's format
    assert (len(train), len(test)) == (15_000, 3_000)
    assert train.labels.mean() == pytest.approx(info['label_rate']['train'])
    defaults = train.offsets.asnumpy() + onp.array(
        [train.defaults[f] for f in train.field_names])
    assert (train.features == defaults).any()   # the rare values' slot


def test_planted_fm_settings_matter(tmp_path):
    small = dict(num_rows=3000, num_test=1000, num_fields=8,
                 values_per_field=20, seed=1)
    a = synthetic_ctr.make_ctr(str(tmp_path / 'a'), **small)
    b = synthetic_ctr.make_ctr(str(tmp_path / 'b'), **small)
    for name in ('train.csv', 'test.csv', 'planted.npz'):
        assert (tmp_path / 'a' / name).read_bytes() == \
            (tmp_path / 'b' / name).read_bytes()
    assert a == b
    flat = synthetic_ctr.make_ctr(str(tmp_path / 'c'), linear_std=0,
                                  factor_std=0, **small)
    assert abs(flat['bayes_auc']['test'] - 0.5) < 0.03
    assert a['bayes_auc']['test'] > flat['bayes_auc']['test'] + 0.1
    assert a['field_sizes'] == [20] * 8
    with pytest.raises(ValueError, match='values_per_field'):
        synthetic_ctr.make_ctr(str(tmp_path / 'd'), num_fields=3,
                               values_per_field=[2, 3])


def test_planted_fm_zipf_per_field_and_the_ml1m_shape(tmp_path):
    small = dict(num_rows=4000, num_test=400, num_fields=3,
                 values_per_field=50, seed=2)
    # one exponent for all is the same as a list of that exponent
    one = synthetic_ctr.make_ctr(str(tmp_path / 'one'), zipf=1.5, **small)
    listed = synthetic_ctr.make_ctr(str(tmp_path / 'list'),
                                    zipf=[1.5, 1.5, 1.5], **small)
    assert one['bayes_auc'] == listed['bayes_auc']
    assert (tmp_path / 'one' / 'train.csv').read_bytes() == \
        (tmp_path / 'list' / 'train.csv').read_bytes()
    # exponent 0: every value about as frequent; 3: the first one dominates
    synthetic_ctr.make_ctr(str(tmp_path / 'mixed'), zipf=[0, 3, 0], **small)
    table = pd.read_csv(tmp_path / 'mixed' / 'train.csv', sep='\t',
                        header=None, dtype=str)
    top = [table[f].value_counts(normalize=True).iloc[0] for f in (1, 2, 3)]
    assert top[0] < 0.05 and top[2] < 0.05 and top[1] > 0.7
    for bad in ([1.0, 2.0], [1.0, -1.0, 1.0]):
        with pytest.raises(ValueError, match='zipf'):
            synthetic_ctr.make_ctr(str(tmp_path / 'bad'), zipf=bad, **small)
    # ML-1M's fields at a thousandth of its rows: 25 fields of its sizes
    shape = dict(synthetic_ctr.ML_1M, num_rows=7390, num_test=739)
    info = synthetic_ctr.make_ctr(str(tmp_path / 'ml-1m'), **shape)
    assert info['field_sizes'][:7] == [6040, 3706, 2, 7, 21, 400, 81]
    assert info['field_sizes'][7:] == [2] * 18
    train, test = ctr.read_ctr(str(tmp_path / 'ml-1m'), num_feat=25)
    assert (len(train), len(test)) == (7390 - 739, 739)
    assert 0.6 < info['label_rate']['train'] < 0.9      # ML-1M: 0.78


# --------------------------------------------------------------------------
# MovieLens 100K's attributes
# --------------------------------------------------------------------------
ZIPS = ('02139', '94043', 'T8H1N', '55414', '10003', 'V3N4P')
AGES = (7, 17, 18, 24, 25, 45, 49, 50, 56, 73)


def _ml100k_like(folder, num_users=40, num_items=60, once=10):
    """u.data, u.user and u.item of ML-100K's formats, with edge cases:
    every age band's borders, non-numeric zips, a movie without a date,
    ``once`` movies rated once (some fall outside the training part)."""
    os.makedirs(folder, exist_ok=True)
    rows = block_ratings(num_users, num_items, seed=2)
    extra = [(1 + k, num_items + 1 + k, 4, 880000000) for k in range(once)]
    write_u_data(os.path.join(folder, 'u.data'), onp.vstack([rows, extra]))
    num_items += once
    with open(os.path.join(folder, 'u.user'), 'w') as f:
        for u in range(1, num_users + 1):
            f.write(f'{u}|{AGES[u % len(AGES)]}|{"MF"[u % 2]}|'
                    f'{("writer", "other", "doctor")[u % 3]}|'
                    f'{ZIPS[u % len(ZIPS)]}\n')
    with open(os.path.join(folder, 'u.item'), 'w', encoding='latin-1') as f:
        for i in range(1, num_items + 1):
            date = '' if i == 7 else f'01-Jan-{1950 + i % 30}'
            flags = '|'.join(str(int(g == i % 19 or g == 8))
                             for g in range(19))
            f.write(f'{i}|Film {i} (Café)|{date}||http://x|{flags}\n')
    return folder


@pytest.fixture
def ml_like(tmp_path):
    return _ml100k_like(str(tmp_path / 'ml-100k'))


def test_ml100k_attributes_at_their_edges(ml_like):
    """``data.attributes``, the fields FM, DeepFM and LR read: MovieLens
    1M's age bands at their borders, a zip starting with a letter as
    ``other``, a movie without a date as ``unknown``, the genre flags."""
    users = onp.arange(1, 41)
    fields = attributes.user_fields(ml_like, users)
    age = dict(zip(users, fields['age']))
    for u in users:
        a = AGES[u % len(AGES)]
        expected = sum(a >= b for b in attributes.AGE_BANDS)
        assert age[u] == str(expected), (u, a)
    zips = dict(zip(users, fields['zip']))
    for u in users:
        z = ZIPS[u % len(ZIPS)]
        assert zips[u] == (z[0] if z[0].isdigit() else 'other')
    assert set(fields['gender']) == {'M', 'F'}
    items = onp.arange(1, 71)
    movie = attributes.item_fields(ml_like, items)
    year = dict(zip(items, movie['year']))
    assert year[7] == 'unknown' and year[8] == str(1950 + 8 % 30)
    assert movie['genre_8'].tolist() == ['1'] * 70      # every film's
    assert movie['genre_3'][3 - 1] == '1' and movie['genre_3'][4 - 1] == '0'
    with pytest.raises(ValueError, match='u.user: no line for id 999'):
        attributes.user_fields(ml_like, [1, 999])
