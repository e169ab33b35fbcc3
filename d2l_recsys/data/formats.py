"""MovieLens files -> pandas -> numpy/MXNet arrays, d2l-compatible.

The public functions keep the names, arguments, return values and meaning of
``d2l==1.0.3`` (``read_data_ml100k``, ``split_data_ml100k``,
``load_data_ml100k``, ``split_and_load_ml100k``) and add two keyword
arguments: ``data_dir=`` (where the ratings are) and ``seed=`` (a private
random stream instead of MXNet's global one).  What differs is speed: every
step is vectorised (the book loops row by row, parses with
``engine='python'`` and does an O(N*U) list search in its seq-aware split).

Where the data comes from, first match wins:

1. the ``data_dir`` argument (``--data-dir`` in the scripts);
2. the environment variable ``D2L_RECSYS_DATA``;
3. the book's way: d2l's ``DATA_HUB['ml-100k']`` entry, downloaded with
   ``d2l.download`` into ``../data`` and checked against its SHA-1.

Each may name an extracted folder (``u.data`` for ML-100K, ``ratings.dat``
for ML-1M), its parent, or the zip file.  Ids that are not ``1..N`` (ML-1M's
movie ids have gaps) are renumbered densely; ``data.attrs['user_ids']`` and
``data.attrs['item_ids']`` keep the original id of each dense id.
"""
import hashlib
import io
import os
import zipfile

import numpy as onp
import pandas as pd

ENV_VAR = 'D2L_RECSYS_DATA'
COLUMNS = ['user_id', 'item_id', 'rating', 'timestamp']
RATING_RANGE = (1, 5)
DEFAULT_CACHE = os.path.join('..', 'data')  # where d2l itself caches downloads


# --------------------------------------------------------------------------
# Finding the data
# --------------------------------------------------------------------------
def _find_ratings_file(folder):
    """Return the ratings file inside ``folder`` or one level below, or None."""
    for sub in ('', 'ml-100k', 'ml-1m'):
        for name in ('u.data', 'ratings.dat'):
            path = os.path.join(folder, sub, name)
            if os.path.isfile(path):
                return path
    return None


def safe_extract(zip_path, target_dir):
    """Extract ``zip_path`` into ``target_dir``, refusing any member whose
    path would land outside it (absolute paths, ``..``)."""
    target = os.path.realpath(target_dir)
    with zipfile.ZipFile(zip_path) as zf:
        for member in zf.namelist():
            dest = os.path.realpath(os.path.join(target, member))
            if os.path.commonpath([target, dest]) != target:
                raise ValueError(f'{zip_path}: refusing to extract member '
                                 f'{member!r}: it would be written outside '
                                 f'{target_dir}')
        zf.extractall(target)


def _ratings_file_from(path):
    """A folder, its parent, or a zip -> the ratings file it holds."""
    if not os.path.exists(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        folder = os.path.dirname(os.path.abspath(path))
        found = _find_ratings_file(folder)
        if found is None:
            safe_extract(path, folder)
            found = _find_ratings_file(folder)
        if found is None:
            raise FileNotFoundError(f'{path}: the zip holds no u.data or '
                                    'ratings.dat')
        return found
    if os.path.isfile(path):
        return path
    found = _find_ratings_file(path)
    if found is None:
        raise FileNotFoundError(f'{path}: no u.data (ML-100K) or ratings.dat '
                                '(ML-1M) in this folder or its ml-100k/ or '
                                'ml-1m/ subfolder')
    return found


def _download_with_d2l(name='ml-100k', cache_dir=DEFAULT_CACHE):
    """The book's way: d2l's DATA_HUB entry and download helper."""
    from d2l import mxnet as d2l
    url, sha1 = d2l.DATA_HUB[name]
    fname = d2l.download(name, folder=cache_dir)
    digest = hashlib.sha1()
    with open(fname, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    if digest.hexdigest() != sha1:
        raise ValueError(f'{fname}: SHA-1 {digest.hexdigest()} does not match '
                         f"d2l's DATA_HUB entry {sha1} for {url}")
    return fname


def resolve_ratings_file(data_dir=None):
    """Return the path of the ratings file to read (see module docstring)."""
    if data_dir:
        return _ratings_file_from(os.fspath(data_dir))
    if os.environ.get(ENV_VAR):
        try:
            return _ratings_file_from(os.environ[ENV_VAR])
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{ENV_VAR}={os.environ[ENV_VAR]}: {e}') \
                from None
    try:
        return _ratings_file_from(_download_with_d2l())
    except Exception as e:  # offline, blocked, corrupted download ...
        raise FileNotFoundError(
            'MovieLens 100K is not available. Provide it in one of three '
            'ways: (1) pass data_dir= / --data-dir PATH (the ml-100k folder '
            f'or ml-100k.zip); (2) set {ENV_VAR}=PATH; (3) let d2l download '
            'it from DATA_HUB into ../data (needs network). The download '
            f'failed with: {type(e).__name__}: {e}') from None


# --------------------------------------------------------------------------
# Reading and validating ratings files
# --------------------------------------------------------------------------
def _first_bad_line(path, lines, sep, rating_range):
    """Slow path, only taken when the fast parse failed: find the culprit."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.rstrip('\r\n').split(sep)
        where = f'{path}, line {lineno}'
        if len(fields) != 4:
            return ValueError(f'{where}: expected 4 fields (user, item, '
                              f'rating, timestamp) separated by {sep!r}, '
                              f'found {len(fields)}: {line.strip()!r}')
        for name, value in zip(('user id', 'item id', 'timestamp'),
                               (fields[0], fields[1], fields[3])):
            try:
                int(value)
            except ValueError:
                return ValueError(f'{where}: {name} must be an integer, got '
                                  f'{value!r}')
        try:
            rating = float(fields[2])
        except ValueError:
            return ValueError(f'{where}: rating must be a number, got '
                              f'{fields[2]!r}')
        if rating_range and not rating_range[0] <= rating <= rating_range[1]:
            return ValueError(f'{where}: rating {fields[2]} is outside '
                              f'{rating_range[0]}..{rating_range[1]}')
    return ValueError(f'{path}: could not be parsed as a ratings file')


def read_ratings(path, sep=None, rating_range=RATING_RANGE):
    """Read one ratings file (``u.data`` format, or ML-1M's ``::`` format)
    into a DataFrame with columns ``user_id, item_id, rating, timestamp``,
    raw ids as in the file.  Malformed input raises ``ValueError`` naming the
    file and line; ``rating_range=None`` accepts any rating."""
    path = os.fspath(path)
    if sep is None:
        sep = '::' if os.path.basename(path) == 'ratings.dat' else '\t'
    with open(path, 'rb') as f:
        raw = f.read()
    if not raw.strip():
        raise ValueError(f'{path}: the file is empty; expected one rating per '
                         f'line: user{sep}item{sep}rating{sep}timestamp')
    body = raw.replace(sep.encode(), b'\t') if sep != '\t' else raw
    try:
        df = pd.read_csv(io.BytesIO(body), sep='\t', header=None,
                         names=COLUMNS, engine='c',
                         dtype={'user_id': onp.int64, 'item_id': onp.int64,
                                'rating': onp.float64,
                                'timestamp': onp.int64})
        ok = True
    except (ValueError, pd.errors.ParserError):
        ok = False
    if ok and rating_range:
        r = df['rating'].to_numpy()
        ok = bool(((r >= rating_range[0]) & (r <= rating_range[1])).all())
    if not ok:
        lines = raw.decode('latin-1').splitlines()
        raise _first_bad_line(path, lines, sep, rating_range)
    if (df['rating'] % 1 == 0).all():
        df['rating'] = df['rating'].astype(onp.int64)
    return df


def _dense_ids(raw_ids):
    """Raw ids -> (dense 1-based ids, original id of each dense id)."""
    uniq, dense = onp.unique(raw_ids, return_inverse=True)
    return dense.astype(onp.int64) + 1, uniq


def densify(frames):
    """Renumber users and items of one or more frames to ``1..N`` with one
    shared mapping.  Ids already equal to ``1..N`` keep their values.
    Returns (frames, num_users, num_items)."""
    sizes = [len(f) for f in frames]
    cat = pd.concat(frames, ignore_index=True)
    attrs = {}
    for col, key in (('user_id', 'user_ids'), ('item_id', 'item_ids')):
        dense, uniq = _dense_ids(cat[col].to_numpy())
        cat[col] = dense
        attrs[key] = uniq
    out, start = [], 0
    for n in sizes:
        part = cat.iloc[start:start + n].reset_index(drop=True)
        part.attrs.update(attrs)
        out.append(part)
        start += n
    return out, len(attrs['user_ids']), len(attrs['item_ids'])


def read_data_ml100k(data_dir=None):
    """Read MovieLens ratings -> ``(data, num_users, num_items)`` as d2l.

    ``data`` has columns ``user_id, item_id, rating, timestamp`` in file
    order, ids renumbered to ``1..N`` where needed (see ``densify``)."""
    path = resolve_ratings_file(data_dir)
    (data,), num_users, num_items = densify([read_ratings(path)])
    data.attrs['source'] = path
    return data, num_users, num_items


def read_train_test(train_file, test_file, rating_range=RATING_RANGE):
    """A given train/test pair in ``u.data`` format (e.g. ``u1.base`` and
    ``u1.test``), renumbered with one shared mapping.
    Returns ``(train, test, num_users, num_items)``."""
    frames = [read_ratings(train_file, rating_range=rating_range),
              read_ratings(test_file, rating_range=rating_range)]
    (train, test), num_users, num_items = densify(frames)
    return train, test, num_users, num_items


def read_item_titles(data_dir=None, item_ids=None):
    """Movie titles by dense item id (1-based), from ``u.item`` (ML-100K,
    latin-1, ``|``-separated) or ``movies.dat`` (ML-1M, ``::``).
    ``item_ids`` maps dense ids to raw ids (``data.attrs['item_ids']``)."""
    folder = os.path.dirname(resolve_ratings_file(data_dir))
    if os.path.isfile(os.path.join(folder, 'u.item')):
        path, sep = os.path.join(folder, 'u.item'), '|'
    else:
        path, sep = os.path.join(folder, 'movies.dat'), '::'
    titles = {}
    with open(path, encoding='latin-1') as f:
        for line in f:
            fields = line.rstrip('\r\n').split(sep)
            if len(fields) >= 2 and fields[0].strip():
                titles[int(fields[0])] = fields[1]
    if item_ids is None:
        return titles
    return {k + 1: titles.get(int(raw), f'item {raw}')
            for k, raw in enumerate(item_ids)}
