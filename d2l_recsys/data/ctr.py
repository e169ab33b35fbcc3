"""The click-through-rate data of the book's "Feature-Rich Recommender
Systems" section, and the field encoding every feature-based model reads.

The book's data set (d2l's ``DATA_HUB['ctr']``, ``ctr.zip``) holds
``train.csv`` (15,000 lines) and ``test.csv`` (3,000): tab-separated lines,
the click label (``0`` or ``1``) then 34 anonymised categorical fields.
``CTRDataset`` reads such a file as the book's class does, with the same
constructor, attributes and items, and gives the same indices:

* in each field, the values seen at least ``min_threshold`` times in the
  file get the indices ``0 .. n - 1``; every other value (and, for a test
  file read with the training file's ``feat_mapper``, every value the
  training file did not keep) gets the field's default index ``n``, so the
  field has ``n + 1`` slots (``field_dims``);
* field ``f``'s indices are shifted by ``offsets[f]``, the slots of the
  fields before it, so one embedding table serves all fields.

What differs: the whole file is parsed and encoded column by column
(pandas categoricals, numpy look-up tables) instead of line by line in
Python; the indices of a field's kept values follow the sorted order of
the values (the book enumerates a Python ``set``, whose order changes with
the interpreter's string hashing), so two runs give the same numbers; a
malformed line is a one-line error naming the file and the line (the book
skips lines with the wrong number of fields and fails on a label other
than ``0``/``1``).  The encoded data are also plain arrays, ``features``
``(n, fields)`` int32 offset indices and ``labels`` ``(n,)`` float32, for
batches sliced from arrays (``load_ctr``) instead of stacked item by item.

Where the files come from, first match wins: the ``data_dir`` argument; the
environment variable ``D2L_RECSYS_CTR``; the book's way, ``CTR_DATA_HUB``
(d2l's URL and SHA-1) downloaded with ``d2l.download`` into ``../data`` and
checked.  Each may name the folder holding ``train.csv`` and ``test.csv``,
its parent (holding ``ctr/``) or ``ctr.zip``.
"""
import csv
import os
import zipfile

import numpy as onp
import pandas as pd
from mxnet import gluon, np

from .locate import DEFAULT_CACHE, _digest, safe_extract

CTR_ENV_VAR = 'D2L_RECSYS_CTR'
CTR_DATA_HUB = ('http://d2l-data.s3-accelerate.amazonaws.com/ctr.zip',
                'e18327c48c8e8e5c23da714dd614e390d369843f')
CTR_FILES = ('train.csv', 'test.csv')
CTR_FOLDER = 'ctr'       # where the zip extracts to
_BLOCK = 1 << 24         # bytes per block when checking a file's lines


# --------------------------------------------------------------------------
# Field encoding, shared with ``features``
# --------------------------------------------------------------------------
def _sort_order(values):
    """Positions of ``values`` (an array of distinct values) in sorted
    order; values that do not compare (numbers and text mixed) sort by
    type name, then text."""
    try:
        return onp.argsort(values, kind='stable')
    except TypeError:
        keys = [(type(v).__name__, str(v)) for v in values.tolist()]
        return onp.array(sorted(range(len(keys)), key=keys.__getitem__),
                         dtype=onp.int64)


def learn_mapper(uniques, counts, min_count):
    """``{value: index}`` of one field: the values counted at least
    ``min_count`` times, numbered ``0 ..`` in sorted order of the values.

    Args:
        uniques: the field's distinct values (an array).
        counts: how often each was seen in the data the mapping learns from
            (0 for values of other data).
        min_count: the least count a value needs to get its own index.
    """
    kept = onp.flatnonzero(onp.asarray(counts) >= min_count)
    kept = kept[_sort_order(uniques[kept])]
    return dict(zip(uniques[kept].tolist(), range(len(kept))))


def map_values(uniques, mapper, default):
    """The index of each of ``uniques`` under ``mapper`` (int64), the
    ``default`` index where ``mapper`` lacks the value."""
    if not mapper:
        return onp.full(len(uniques), default, dtype=onp.int64)
    pos = pd.Index(list(mapper)).get_indexer(pd.Index(uniques, dtype=object))
    slots = onp.fromiter(mapper.values(), dtype=onp.int64, count=len(mapper))
    return onp.where(pos >= 0, slots[pos], default)


def encode_fields(columns, fit_rows=None, min_count=1, field_names=None,
                  feat_mapper=None, defaults=None):
    """Encode categorical columns as offset indices, one slot per value.

    Args:
        columns: one ``(codes, uniques)`` pair per field: ``uniques[codes]``
            are the field's values in row order (``pd.factorize``).
        fit_rows: the rows whose counts the mapping learns from (indices or
            a boolean mask); None: every row.  Values of other rows only are
            mapped to the default index.
        min_count: the least count (in ``fit_rows``) of a kept value.
        field_names: the keys of ``feat_mapper`` and ``defaults``, one per
            field; None: ``1, 2, ...`` (the book's).
        feat_mapper: ``{field: {value: index}}`` to apply instead of
            learning one (e.g. the training data's); ``defaults``: the
            default index of each field (None: the size of its mapping).

    Returns:
        ``(features, field_dims, feat_mapper, defaults)``: ``features``
        ``(rows, fields)`` int32 offset indices; ``field_dims`` int64, the
        slots of each field (its mapping's size plus the default).
    """
    names = list(field_names or range(1, len(columns) + 1))
    if feat_mapper is None:
        if defaults is not None:
            raise ValueError('defaults given without feat_mapper; pass both '
                             '(those of the training data) or neither')
        feat_mapper = {}
        for name, (codes, uniques) in zip(names, columns):
            fit = codes if fit_rows is None else codes[fit_rows]
            counts = onp.bincount(fit, minlength=len(uniques))
            feat_mapper[name] = learn_mapper(uniques, counts, min_count)
    missing = [n for n in names if n not in feat_mapper]
    if missing:
        raise ValueError(f'feat_mapper has no mapping for field(s) '
                         f'{", ".join(map(str, missing[:5]))}; expected '
                         f'one for each of {len(names)} fields')
    if defaults is None:
        defaults = {n: len(feat_mapper[n]) for n in names}
    field_dims = onp.array([len(feat_mapper[n]) + 1 for n in names],
                           dtype=onp.int64)
    offsets = offsets_of(field_dims)
    features = onp.empty((len(columns[0][0]) if columns else 0, len(names)),
                         dtype=onp.int32)
    for f, (name, (codes, uniques)) in enumerate(zip(names, columns)):
        lut = map_values(uniques, feat_mapper[name], defaults[name])
        features[:, f] = (lut + offsets[f])[codes]
    return features, field_dims, feat_mapper, defaults


def offsets_of(field_dims):
    """Where each field's slots start: 0, then the running sum of the
    slots of the fields before it (int64)."""
    return onp.concatenate([[0], onp.cumsum(field_dims)[:-1]]).astype(
        onp.int64)


class FieldDataset(gluon.data.Dataset):
    """Examples of categorical fields as offset indices, with labels.

    Attributes:
        features: ``(n, fields)`` int32 offset indices into one table of
            ``sum(field_dims)`` slots.
        labels: ``(n,)`` float32, 0 or 1.
        field_dims: the slots of each field (an MXNet int64 array, as the
            book's); ``offsets``: where each field's slots start (an MXNet
            float32 array, as the book's).
        field_names: the fields' keys in ``feat_mapper`` and ``defaults``.
        feat_mapper: ``{field: {value: index}}``; ``defaults``: ``{field:
            the index of values the mapping lacks}``.

    An item is the book's: ``(float32 array of the row's offset indices,
    [label])``.
    """

    def __init__(self, features, labels, field_dims, field_names,
                 feat_mapper, defaults):
        self.features, self.labels = features, labels
        self.field_names = list(field_names)
        self.feat_mapper, self.defaults = feat_mapper, defaults
        self.field_dims = np.array(field_dims, dtype=onp.int64)
        self.offsets = np.array(offsets_of(field_dims), dtype=onp.float32)
        self.num_inputs = int(onp.sum(field_dims))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, idx):
        return (np.array(self.features[idx], dtype=onp.float32),
                [onp.float32(self.labels[idx])])


# --------------------------------------------------------------------------
# Reading CTR files
# --------------------------------------------------------------------------
def line_shapes(path, sep=b'\t'):
    """Fields per line and line lengths of a text file split at ``\\n``,
    counted on blocks of bytes (never a Python loop over lines).

    Returns:
        ``(fields, lengths)``, int64 arrays with one entry per line (a
        blank line has length 0); a last line without a newline counts.
    """
    fields, lengths = [], []
    carry_seps = carry_len = 0
    mark = ord(sep)
    with open(path, 'rb') as f:
        for data in iter(lambda: f.read(_BLOCK), b''):
            buf = onp.frombuffer(data, dtype=onp.uint8)
            seps = onp.flatnonzero(buf == mark)
            ends = onp.flatnonzero(buf == 10)
            if not len(ends):
                carry_seps += len(seps)
                carry_len += len(buf)
                continue
            at_end = onp.searchsorted(seps, ends)    # separators before
            count = onp.diff(at_end, prepend=0)
            count[0] += carry_seps
            size = onp.diff(ends, prepend=-1) - 1
            size[0] += carry_len
            fields.append(count + 1)
            lengths.append(size)
            carry_seps = len(seps) - int(at_end[-1])
            carry_len = len(buf) - int(ends[-1]) - 1
    if carry_len:
        fields.append(onp.array([carry_seps + 1]))
        lengths.append(onp.array([carry_len]))
    if not fields:
        return onp.zeros(0, onp.int64), onp.zeros(0, onp.int64)
    return onp.concatenate(fields), onp.concatenate(lengths)


def check_lines(path, num_fields, sep, what):
    """Line numbers (1-based) of the data lines of a ``sep``-separated file
    after checking that each has ``num_fields`` fields; blank lines are
    skipped, as pandas skips them.

    Raises:
        ValueError: naming the file and the first line with another number
            of fields (``what`` says what the fields are), or an empty file.
    """
    fields, lengths = line_shapes(path, sep.encode())
    data = onp.flatnonzero(lengths > 0)
    if not len(data):
        raise ValueError(f'{path}: the file is empty; expected lines of '
                         f'{what}')
    bad = data[fields[data] != num_fields]
    if len(bad):
        raise ValueError(f'{path}, line {bad[0] + 1}: expected {num_fields} '
                         f'fields ({what}) separated by {sep!r}, found '
                         f'{fields[bad[0]]}')
    return data + 1


def read_fields(path, num_fields, sep='\t', what='fields',
                encodings=('utf-8', 'latin-1')):
    """A ``sep``-separated file of text fields, every line checked
    (``check_lines``) -> ``(table, line numbers)``: ``table`` has columns
    ``0 .. num_fields - 1`` of categorical text (empty fields are the
    value ``''``, quotes are text); ``line numbers`` has the file line of
    each row, for errors.  Lines end at ``\\n`` only, as the book's reader
    splits them."""
    lines = check_lines(path, num_fields, sep, what)
    for encoding in encodings:
        try:
            table = pd.read_csv(
                path, sep=sep, header=None, names=range(num_fields),
                dtype='category', na_filter=False, quoting=csv.QUOTE_NONE,
                lineterminator='\n', encoding=encoding, engine='c')
            break
        except UnicodeDecodeError:
            if encoding == encodings[-1]:
                raise
    return table, lines


def _codes(column):
    """A categorical column -> ``(codes int64, categories as an array)``."""
    return (column.cat.codes.to_numpy().astype(onp.int64),
            column.cat.categories.to_numpy(dtype=object))


def _labels(path, column, lines):
    """The click labels of a CTR file, float32; a label other than ``0``
    or ``1`` is an error naming its line."""
    codes, cats = _codes(column)
    ok = onp.isin(cats, ['0', '1'])
    if not ok.all():
        k = int(onp.flatnonzero(~ok[codes])[0])
        raise ValueError(f'{path}, line {lines[k]}: the click label must be '
                         f'0 or 1, got {cats[codes[k]]!r}')
    return (cats[codes] == '1').astype(onp.float32)


class CTRDataset(FieldDataset):
    """A CTR file (the click label, then ``num_feat`` tab-separated
    categorical fields), encoded as the book's ``CTRDataset`` encodes it.

    Args:
        data_path: the file.
        feat_mapper, defaults: the training data's (``train.feat_mapper``,
            ``train.defaults``) to encode a test file as the training file;
            None: learnt from this file.
        min_threshold: the least count of a value with its own index.
        num_feat: the categorical fields per line.

    Raises:
        ValueError: naming the file and line: a line with another number of
            fields, a label other than 0 or 1; or an empty file.
    """

    def __init__(self, data_path, feat_mapper=None, defaults=None,
                 min_threshold=4, num_feat=34):
        path = os.path.expanduser(os.fspath(data_path))
        what = f'the click label, then {num_feat} features (num_feat)'
        table, lines = read_fields(path, num_feat + 1, '\t', what)
        labels = _labels(path, table[0], lines)
        columns = [_codes(table[k]) for k in range(1, num_feat + 1)]
        del table
        features, field_dims, feat_mapper, defaults = encode_fields(
            columns, min_count=min_threshold, feat_mapper=feat_mapper,
            defaults=defaults)
        super().__init__(features, labels, field_dims,
                         range(1, num_feat + 1), feat_mapper, defaults)
        self.NUM_FEATS, self.count, self.path = num_feat, len(labels), path


# --------------------------------------------------------------------------
# Finding the files
# --------------------------------------------------------------------------
def _folder_with_files(folder):
    """``folder`` or its ``ctr/`` subfolder if it holds both files."""
    for candidate in (folder, os.path.join(folder, CTR_FOLDER)):
        if all(os.path.isfile(os.path.join(candidate, name))
               for name in CTR_FILES):
            return candidate
    return None


def _ctr_from(path):
    """A folder, its parent or the zip -> the folder holding the files."""
    if not os.path.exists(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        parent = os.path.dirname(os.path.abspath(path))
        found = _folder_with_files(parent)
        if found is None:
            safe_extract(path, parent)
            found = _folder_with_files(parent)
        if found is None:
            raise FileNotFoundError(f'{path}: the zip holds no '
                                    f'{" and ".join(CTR_FILES)} at its top '
                                    f'or in {CTR_FOLDER}/')
        return found
    found = _folder_with_files(path) if os.path.isdir(path) else None
    if found is None:
        raise FileNotFoundError(f'{path}: no {" and ".join(CTR_FILES)} in '
                                f'this folder or its {CTR_FOLDER}/ subfolder')
    return found


def _download_ctr(cache_dir):
    """The book's way: d2l's download of ``ctr.zip`` (it reuses a cached
    zip whose SHA-1 matches), checked against the SHA-1, then extracted."""
    from d2l import mxnet as d2l
    url, sha1 = CTR_DATA_HUB
    fname = d2l.download(url, folder=cache_dir, sha1_hash=sha1)
    got = _digest(fname, 'sha1')
    if got != sha1:
        raise ValueError(f'{fname}: SHA-1 {got} does not match {sha1}, the '
                         f'one known for {url}')
    return _ctr_from(fname)


def ctr_dir(data_dir=None, cache_dir=DEFAULT_CACHE):
    """The folder holding the CTR ``train.csv`` and ``test.csv``.

    Args:
        data_dir: that folder, its parent or ``ctr.zip`` (``~`` expanded);
            None: ``$D2L_RECSYS_CTR``, else the download (module docstring).
        cache_dir: where the download goes (d2l's ``../data``).

    Raises:
        FileNotFoundError: one line: a path given holds no CTR files, or
            nothing is given and the download failed (it names the ways to
            provide the files).
    """
    if data_dir:
        return _ctr_from(os.path.expanduser(os.fspath(data_dir)))
    env = os.environ.get(CTR_ENV_VAR)
    if env:
        try:
            return _ctr_from(os.path.expanduser(env))
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{CTR_ENV_VAR}={env}: {e}') from None
    url = CTR_DATA_HUB[0]
    try:
        return _download_ctr(cache_dir)
    except Exception as e:  # offline, blocked, corrupted download ...
        raise FileNotFoundError(
            'The CTR data set (train.csv and test.csv) is not available. '
            'Provide it in one of three ways: (1) pass data_dir= PATH (the '
            'folder holding train.csv and test.csv, its parent holding '
            f'{CTR_FOLDER}/, or ctr.zip); (2) set {CTR_ENV_VAR}=PATH; (3) '
            f"let d2l download DATA_HUB['ctr'] ({url}) into {cache_dir} "
            f'(needs network). The download failed with: '
            f'{type(e).__name__}: {e}') from None


def count_fields(path):
    """The feature fields of a CTR file: the tab-separated fields of its
    first line but the label (0 for an empty file)."""
    with open(path, encoding='utf-8', errors='replace') as f:
        first = f.readline().rstrip('\r\n')
    return max(0, len(first.split('\t')) - 1) if first else 0


def read_ctr(data_dir=None, min_threshold=4, num_feat=34):
    """The book's two CTR data sets: ``(train_data, test_data)``, the test
    file encoded with the training file's ``feat_mapper`` and
    ``defaults`` (see ``ctr_dir`` for ``data_dir``).  ``num_feat='auto'``
    reads as many fields as the training file's first line has."""
    folder = ctr_dir(data_dir)
    if num_feat == 'auto':
        num_feat = count_fields(os.path.join(folder, CTR_FILES[0])) or 34
    train = CTRDataset(os.path.join(folder, CTR_FILES[0]),
                       min_threshold=min_threshold, num_feat=num_feat)
    test = CTRDataset(os.path.join(folder, CTR_FILES[1]),
                      feat_mapper=train.feat_mapper, defaults=train.defaults,
                      min_threshold=min_threshold, num_feat=num_feat)
    return train, test


def load_ctr(batch_size=2048, data_dir=None, min_threshold=4, num_feat=34,
             seed=None):
    """Mini-batches of the CTR data sliced from arrays.

    Returns:
        ``(train_iter, test_iter, train_data)``: iterators of ``(indices,
        labels)`` MXNet batches, indices int32 ``(batch, num_feat)``, labels
        float32 ``(batch, 1)`` (the shape the book's ``DataLoader`` gives);
        the training batches are shuffled with ``seed`` and roll over as the
        book's, the test batches keep every example in file order.
        ``train_data`` gives ``field_dims`` and ``num_inputs``.
    """
    from .iterators import ArrayIter
    train, test = read_ctr(data_dir, min_threshold, num_feat)
    train_iter = ArrayIter(train.features, train.labels[:, None],
                           batch_size=batch_size, shuffle=True,
                           last_batch='rollover', seed=seed)
    test_iter = ArrayIter(test.features, test.labels[:, None],
                          batch_size=batch_size)
    return train_iter, test_iter, train
