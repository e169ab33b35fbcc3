"""MovieLens files -> pandas -> numpy/MXNet arrays, d2l-compatible.

The public functions keep the names, arguments, return values and meaning of
``d2l==1.0.3`` (``read_data_ml100k``, ``split_data_ml100k``,
``load_data_ml100k``, ``split_and_load_ml100k``) and add keyword arguments:
``data_dir=`` (where the ratings are), ``dataset=`` (which MovieLens release)
and ``seed=`` (a private random stream instead of MXNet's global one).  What
differs is speed: every step is vectorised (the book loops row by row, parses
with ``engine='python'`` and does an O(N*U) list search in its seq-aware
split).

Every release is read as GroupLens ships it (``RELEASES``):

=================  ===============  ==============  =======================
release            ratings file     titles file     ratings
=================  ===============  ==============  =======================
ml-100k            ``u.data`` (tab) ``u.item``      integers 1..5
ml-1m              ``ratings.dat``  ``movies.dat``  integers 1..5
ml-10m             ``ratings.dat``  ``movies.dat``  0.5..5 in half stars
ml-20m, 25m, 32m   ``ratings.csv``  ``movies.csv``  0.5..5 in half stars
=================  ===============  ==============  =======================

``.dat`` files separate fields by ``::``; ``.csv`` files start with the
header ``userId,movieId,rating,timestamp``.  The scale a file is checked
against is its release's; it is recorded as
``data.attrs['rating_scale'] = (lowest, highest, step)``.

Where the data comes from, first match wins:

1. the ``data_dir`` argument (``--data-dir`` in the scripts);
2. the environment variable ``D2L_RECSYS_DATA``;
3. the book's way: a d2l-style ``DATA_HUB`` entry (URL and SHA-1; d2l's own
   for ML-100K), downloaded with ``d2l.download`` into ``../data`` and
   checked against its SHA-1, or, where no SHA-1 is known, against the MD5
   GroupLens publishes beside the zip (``DATA_MD5``).

Each may name an extracted folder (e.g. ``ml-1m/``, or ``ml-10M100K/``,
where ML-10M's zip extracts to), its parent, or the zip file.  With
``dataset=None`` (the default) the first release found is read (ML-100K is
looked for first) and ML-100K is downloaded; naming a release reads that
release only.  Ids that are not ``1..N`` (ML-1M's movie ids have gaps) are
renumbered densely; ``data.attrs['user_ids']`` and ``data.attrs['item_ids']``
keep the original id of each dense id.
"""
import collections
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
CSV_HEADER = 'userId,movieId,rating,timestamp'
AUTO = 'auto'   # read_ratings' default: the scale of the file's release

STARS = (1, 5, 1)            # (lowest, highest, step)
HALF_STARS = (0.5, 5.0, 0.5)

Release = collections.namedtuple(
    'Release', 'title folders ratings sep titles scale')
RELEASES = {
    'ml-100k': Release('MovieLens 100K', ('ml-100k',), 'u.data', '\t',
                       'u.item', STARS),
    'ml-1m': Release('MovieLens 1M', ('ml-1m',), 'ratings.dat', '::',
                     'movies.dat', STARS),
    'ml-10m': Release('MovieLens 10M', ('ml-10M100K', 'ml-10m'),
                      'ratings.dat', '::', 'movies.dat', HALF_STARS),
    'ml-20m': Release('MovieLens 20M', ('ml-20m',), 'ratings.csv', ',',
                      'movies.csv', HALF_STARS),
    'ml-25m': Release('MovieLens 25M', ('ml-25m',), 'ratings.csv', ',',
                      'movies.csv', HALF_STARS),
    'ml-32m': Release('MovieLens 32M', ('ml-32m',), 'ratings.csv', ',',
                      'movies.csv', HALF_STARS),
}
DATASETS = tuple(RELEASES)

_GROUPLENS = 'https://files.grouplens.org/datasets/movielens/'
# d2l-style entries: name -> (url, SHA-1).  ML-100K's is d2l's own.  No
# SHA-1 of the other zips could be found in a source to trust, so theirs is
# None: ``d2l.download`` then skips its check and ``DATA_MD5`` is checked
# instead.
DATA_HUB = {
    'ml-100k': (_GROUPLENS + 'ml-100k.zip',
                'cd4dcac4241c8a4ad7badc7ca635da8a69dddb83'),
    'ml-1m': (_GROUPLENS + 'ml-1m.zip', None),
    'ml-10m': (_GROUPLENS + 'ml-10m.zip', None),
    'ml-20m': (_GROUPLENS + 'ml-20m.zip', None),
    'ml-25m': (_GROUPLENS + 'ml-25m.zip', None),
    'ml-32m': (_GROUPLENS + 'ml-32m.zip', None),
}
# The MD5s GroupLens publishes beside each zip (``<zip>.md5``).
DATA_MD5 = {
    'ml-100k': '0e33842e24a9c977be4e0107933c0723',
    'ml-1m': 'c4d9eecfca2ab87c1945afe126590906',
    'ml-10m': 'ce571fd55effeba0271552578f2648bd',
    'ml-20m': 'cd245b17a1ae2cc31bb14903e1204af3',
    'ml-25m': '6b51fb2759a8657d3bfcbfc42b592ada',
    'ml-32m': 'd472be332d4daa821edc399621853b57',
}

# Ratings are parsed as float32 (exact on the half-star grid; ratings off
# it are parsed again as float64), in chunks of rows: on ML-20M this halves
# pandas' peak memory against one whole-file parse.
_PARSE_ROWS = 1 << 21


# --------------------------------------------------------------------------
# Finding the data
# --------------------------------------------------------------------------
def _check_dataset(dataset):
    if dataset is not None and dataset not in RELEASES:
        raise ValueError(f'dataset={dataset!r}: expected one of '
                         f'{", ".join(DATASETS)}')


def _releases(dataset):
    return [dataset] if dataset else list(RELEASES)


def _release_of_folder(path):
    """The release whose folder (e.g. ``ml-10M100K``) holds ``path``."""
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    for name, rel in RELEASES.items():
        if folder.lower() in (f.lower() for f in rel.folders):
            return name
    return None


def _find_ratings_file(folder, dataset=None):
    """Return the ratings file inside ``folder`` or one level below, or None.
    Files in ``folder`` itself win; then release folders in ``RELEASES``
    order."""
    names = _releases(dataset)
    files = list(dict.fromkeys(RELEASES[n].ratings for n in names))
    subs = list(dict.fromkeys(
        [''] + [f for n in names for f in RELEASES[n].folders]))
    for sub in subs:
        for name in files:
            path = os.path.join(folder, sub, name)
            if os.path.isfile(path):
                return path
    return None


def safe_extract(zip_path, target_dir):
    """Extract ``zip_path`` into ``target_dir``, refusing any member whose
    path would land outside it (absolute paths, ``..``).

    Args:
        zip_path: the zip file.
        target_dir: the folder to extract into.
    """
    target = os.path.realpath(target_dir)
    with zipfile.ZipFile(zip_path) as zf:
        for member in zf.namelist():
            dest = os.path.realpath(os.path.join(target, member))
            if os.path.commonpath([target, dest]) != target:
                raise ValueError(f'{zip_path}: refusing to extract member '
                                 f'{member!r}: it would be written outside '
                                 f'{target_dir}')
        zf.extractall(target)


def _zip_member(zip_path, dataset):
    """The ratings file inside a zip (at its top or one folder down)."""
    with zipfile.ZipFile(zip_path) as zf:
        members = zf.namelist()
    for name in dict.fromkeys(RELEASES[n].ratings for n in
                              _releases(dataset)):
        for member in members:
            parts = member.split('/')
            if parts[-1] == name and len(parts) <= 2:
                return member
    return None


def _wanted(dataset):
    """What a folder must hold, for error messages."""
    if dataset:
        rel = RELEASES[dataset]
        return (f'{rel.ratings} ({rel.title})',
                ' or '.join(f'{f}/' for f in rel.folders))
    files = ', '.join(dict.fromkeys(r.ratings for r in RELEASES.values()))
    folders = ', '.join(f'{f}/' for r in RELEASES.values()
                        for f in r.folders)
    return f'MovieLens ratings file ({files})', f'release folders {folders}'


def _ratings_file_from(path, dataset=None):
    """A folder, its parent, or a zip -> the ratings file it holds."""
    if not os.path.exists(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        member = _zip_member(path, dataset)
        if member is None:
            raise FileNotFoundError(f'{path}: the zip holds no '
                                    f'{_wanted(dataset)[0]}')
        folder = os.path.dirname(os.path.abspath(path))
        found = os.path.join(folder, *member.split('/'))
        if not os.path.isfile(found):
            safe_extract(path, folder)
        return found
    if os.path.isfile(path):
        return path
    found = _find_ratings_file(path, dataset)
    if found is None:
        what, where = _wanted(dataset)
        raise FileNotFoundError(f'{path}: no {what} in this folder or its '
                                f'{where} subfolder')
    return found


def _digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _download_with_d2l(name='ml-100k', cache_dir=DEFAULT_CACHE):
    """The book's way: a DATA_HUB entry and d2l's download helper, then the
    SHA-1 check (the MD5 check where no SHA-1 is known)."""
    from d2l import mxnet as d2l
    url, sha1 = DATA_HUB[name]
    algorithm, expected = ('sha1', sha1) if sha1 else ('md5', DATA_MD5[name])
    cached = os.path.join(cache_dir, url.split('/')[-1])
    if not sha1 and os.path.isfile(cached) and \
            _digest(cached, algorithm) == expected:
        return cached   # d2l re-downloads whenever it has no SHA-1
    fname = d2l.download(url, folder=cache_dir, sha1_hash=sha1)
    got = _digest(fname, algorithm)
    if got != expected:
        raise ValueError(f'{fname}: {algorithm.upper()} {got} does not '
                         f'match {expected}, the one known for {url}')
    return fname


def _check_release(path, dataset):
    """A file found for ``dataset`` must be in its format and not in
    another release's folder."""
    if dataset is None:
        return
    rel = RELEASES[dataset]
    if _sep_of(path) != rel.sep:
        raise ValueError(f'{path}: not in the format of {rel.title} '
                         f'(dataset={dataset!r} is read from {rel.ratings})')
    other = _release_of_folder(path)
    if other not in (None, dataset):
        raise ValueError(f'{path}: this folder holds '
                         f'{RELEASES[other].title}, not {rel.title} '
                         f'(dataset={dataset!r})')


def resolve_ratings_file(data_dir=None, dataset=None):
    """Return the path of the ratings file to read (see module docstring).

    Args:
        data_dir: a release folder, its parent, its zip, or a ratings file;
            None: ``$D2L_RECSYS_DATA``, else download.
        dataset: the release (a key of ``RELEASES``, e.g. ``'ml-1m'``);
            None: the first release found, ML-100K when downloading.

    Returns:
        The path of the ratings file.
    """
    _check_dataset(dataset)
    if data_dir:
        path = _ratings_file_from(os.fspath(data_dir), dataset)
    elif os.environ.get(ENV_VAR):
        try:
            path = _ratings_file_from(os.environ[ENV_VAR], dataset)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{ENV_VAR}={os.environ[ENV_VAR]}: {e}') \
                from None
    else:
        name = dataset or 'ml-100k'
        rel, url = RELEASES[name], DATA_HUB[name][0]
        try:
            path = _ratings_file_from(_download_with_d2l(name), name)
        except Exception as e:  # offline, blocked, corrupted download ...
            raise FileNotFoundError(
                f'{rel.title} (dataset {name!r}) is not available. Provide '
                'it in one of three ways: (1) pass data_dir= / --data-dir '
                f'PATH (the {rel.folders[0]} folder, its parent or '
                f'{url.split("/")[-1]}); (2) set {ENV_VAR}=PATH; (3) let d2l '
                f'download it from DATA_HUB ({url}) into {DEFAULT_CACHE} '
                f'(needs network). The download failed with: '
                f'{type(e).__name__}: {e}') from None
    _check_release(path, dataset)
    return path


# --------------------------------------------------------------------------
# Reading and validating ratings files
# --------------------------------------------------------------------------
def _sep_of(path):
    """``::`` for ``.dat`` files, ``,`` for ``.csv`` files, else a tab."""
    name = os.path.basename(path).lower()
    if name.endswith('.csv'):
        return ','
    if name.endswith('.dat'):
        return '::'
    return '\t'


def _num(x):
    return f'{x:g}'


def _scale_text(scale):
    low, high, step = scale
    text = f'{_num(low)}..{_num(high)}'
    return text if step is None else f'{text} in steps of {_num(step)}'


def _on_scale(ratings, scale):
    """Boolean mask: which ratings are numbers on ``scale``."""
    low, high, step = scale
    ok = (ratings >= low) & (ratings <= high)
    if step is not None:
        steps = ratings / step
        ok &= steps == onp.round(steps)
    return ok


def _step_of(ratings):
    """1 if all ratings are whole, 0.5 if all are half stars, else None."""
    for step in (1, 0.5):
        if _on_scale(ratings, (-onp.inf, onp.inf, step)).all():
            return step
    return None


def _is_header(fields):
    first = fields[0].strip().strip('"').lower().replace('_', '')
    return first in ('userid', 'user', 'user id')


def _bad_fields(fields, sep, scale, csv):
    """What is wrong with one split line, or None."""
    if _is_header(fields):
        where = ('only line 1 of a .csv file is a header' if csv else
                 'this format has no header line')
        return f'a header line where a rating was expected ({where})'
    if len(fields) != 4:
        return (f'expected 4 fields (user, item, rating, timestamp) '
                f'separated by {sep!r}, found {len(fields)}: '
                f'{sep.join(fields).strip()!r}')
    for name, value in zip(('user id', 'item id', 'timestamp'),
                           (fields[0], fields[1], fields[3])):
        try:
            int(value)
        except ValueError:
            return f'{name} must be an integer, got {value!r}'
    try:
        rating = float(fields[2])
    except ValueError:
        rating = onp.nan
    if onp.isnan(rating):
        return f'rating must be a number, got {fields[2]!r}'
    if scale is not None:
        low, high, step = scale
        if not low <= rating <= high:
            return f'rating {fields[2]} is outside {_num(low)}..{_num(high)}'
        if not _on_scale(onp.array([rating]), scale)[0]:
            return (f'rating {fields[2]} is not a multiple of {_num(step)} '
                    f'(the scale is {_scale_text(scale)})')
    return None


def _first_bad_line(path, sep, scale):
    """Slow path, only taken when the fast parse failed: find the culprit.
    Reads the file line by line, never whole."""
    csv = sep == ','
    with open(path, encoding='latin-1') as f:
        for lineno, line in enumerate(f, 1):
            text = line.rstrip('\r\n')
            where = f'{path}, line {lineno}'
            if csv and lineno == 1:
                if text.strip().lstrip('\ufeff') != CSV_HEADER:
                    return ValueError(f'{where}: expected the header '
                                      f'{CSV_HEADER!r}, got {text!r}')
                continue
            if not text.strip():
                continue
            problem = _bad_fields(text.split(sep), sep, scale, csv)
            if problem:
                return ValueError(f'{where}: {problem}')
    return ValueError(f'{path}: could not be parsed as a ratings file')


def _line_numbers(path, rows, csv):
    """File line numbers of data rows (0-based, blank lines skipped as the
    parser skips them).  Error path only."""
    wanted, found, row = set(rows), {}, -1
    with open(path, encoding='latin-1') as f:
        for lineno, line in enumerate(f, 1):
            if (csv and lineno == 1) or not line.strip():
                continue
            row += 1
            if row in wanted:
                found[row] = lineno
                if len(found) == len(wanted):
                    break
    return [found[r] for r in rows]


def _first_duplicate(users, items):
    """Row positions ``(a, b)``, ``a < b``, of the earliest repeat of a
    ``(user, item)`` pair, or None.  O(N) when the rows are sorted by user
    and item (as ML-10M's and the csv releases' are), else one stable sort."""
    if len(users) < 2:
        return None
    du = onp.diff(users)
    if ((du > 0) | ((du == 0) & (onp.diff(items) > 0))).all():
        return None
    order = onp.lexsort((items, users))          # stable: file order kept
    u, i = users[order], items[order]
    same = onp.flatnonzero((u[1:] == u[:-1]) & (i[1:] == i[:-1]))
    if not len(same):
        return None
    k = same[onp.argmin(order[same + 1])]        # earliest second occurrence
    return int(order[k]), int(order[k + 1])


def _parse(path, sep, rating_dtype=onp.float32):
    """Fast parse -> {column: array}, or None if pandas refused the file."""
    dtypes = {'user_id': onp.int64, 'item_id': onp.int64,
              'rating': rating_dtype, 'timestamp': onp.int64}
    options = dict(header=None, names=COLUMNS, dtype=dtypes, engine='c',
                   chunksize=_PARSE_ROWS)
    try:
        if sep == ',':
            with open(path, 'rb') as f:
                first = f.readline().decode('latin-1').strip()
            if first.lstrip('\ufeff') != CSV_HEADER:
                return None
            reader = pd.read_csv(path, sep=',', skiprows=1, **options)
        elif sep == '\t':
            reader = pd.read_csv(path, sep='\t', **options)
        else:
            with open(path, 'rb') as f:   # the C parser takes one-char seps
                body = f.read().replace(sep.encode(), b'\t')
            reader = pd.read_csv(io.BytesIO(body), sep='\t', **options)
        with reader:
            chunks = list(reader)
    except (ValueError, OverflowError, pd.errors.ParserError):
        return None     # (EmptyDataError is a ValueError)
    return {col: onp.concatenate([c[col].to_numpy() for c in chunks] or
                                 [onp.zeros(0, dtypes[col])])
            for col in COLUMNS}


def _is_blank(path):
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            if block.strip():
                return False
    return True


def read_ratings(path, sep=None, rating_range=AUTO, dataset=None):
    """Read one ratings file into a DataFrame.

    Args:
        path: ``u.data`` format (tab-separated), a ``.dat`` file (``::``) or
            a ``.csv`` file (commas, header ``userId,movieId,rating,
            timestamp``).
        sep: the separator; None: from the file name as just said.
        rating_range: ``'auto'``: the scale of the file's release (integers
            1..5 for tab-separated files, half stars 0.5..5 for csv files;
            a ``.dat`` file is ML-1M's or ML-10M's: ``dataset`` or its
            folder's name tells which, else half stars are accepted);
            ``(low, high)``: any number in that range; ``(low, high,
            step)``: multiples of ``step`` in that range; None: any number.
        dataset: the release (a key of ``RELEASES``) whose scale ``'auto'``
            checks.

    Returns:
        A DataFrame with columns ``user_id, item_id, rating, timestamp`` in
        file order, raw ids as in the file; ratings are int64 when all are
        whole.  ``attrs['rating_scale']`` is ``(lowest, highest, step)``:
        the scale checked (``step`` None if any number was allowed).

    Raises:
        ValueError: naming the file and line: a malformed line, a rating off
            the scale, a misplaced header, or a ``(user, item)`` pair rated
            twice (both lines named).
    """
    path = os.fspath(path)
    _check_dataset(dataset)
    if sep is None:
        sep = _sep_of(path)
    infer = False
    if isinstance(rating_range, str):
        if rating_range != AUTO:
            raise ValueError(f'rating_range={rating_range!r}: expected '
                             f"'auto', None, (low, high) or (low, high, "
                             'step)')
        release = dataset or {'\t': 'ml-100k', ',': 'ml-20m'}.get(sep) or \
            _release_of_folder(path)
        infer = not dataset and (release is None or
                                 RELEASES[release].sep != sep)
        scale = HALF_STARS if infer else RELEASES[release].scale
    elif rating_range is None:
        scale = None
    else:
        scale = tuple(rating_range) + (None,) * (3 - len(rating_range))
    cols = _parse(path, sep)
    if cols is None or not len(cols['rating']):
        if _is_blank(path):
            raise ValueError(f'{path}: the file is empty; expected one '
                             f'rating per line: user{sep}item{sep}rating'
                             f'{sep}timestamp')
        if cols is not None and sep == ',':
            raise ValueError(f'{path}: no ratings after the header line')
    ok = cols is not None
    if ok:
        r = cols['rating']
        ok = not onp.isnan(r).any() and \
            (scale is None or bool(_on_scale(r, scale).all()))
    if not ok:
        raise _first_bad_line(path, sep, scale)
    users, items = cols['user_id'], cols['item_id']
    dup = _first_duplicate(users, items)
    if dup is not None:
        a, b = _line_numbers(path, dup, sep == ',')
        raise ValueError(f'{path}, lines {a} and {b}: user {users[dup[0]]} '
                         f'rated item {items[dup[0]]} twice; expected one '
                         'rating per (user, item) pair')
    step = _step_of(r)
    if step is None:                  # float32 is exact on the grid only
        r = _parse(path, sep, onp.float64)['rating']
    if infer:
        scale = STARS if step == 1 else HALF_STARS
    elif scale is None:
        scale = (r.min(), r.max(), step)
    elif scale[2] is None:
        scale = scale[:2] + (step,)
    cols['rating'] = r.astype(onp.int64 if step == 1 else onp.float64)
    df = pd.DataFrame(cols, copy=False)
    df.attrs['rating_scale'] = tuple(
        None if v is None else int(v) if float(v).is_integer() else float(v)
        for v in scale)
    return df


def _dense_ids(raw_ids):
    """Raw ids -> (dense 1-based ids, original id of each dense id), the
    dense ids in the order of the raw ids.  A lookup table (O(N)) where the
    ids are small, as MovieLens ids are, else a sort."""
    if len(raw_ids) and raw_ids.min() >= 0 and \
            raw_ids.max() < 4 * len(raw_ids) + (1 << 20):
        present = onp.zeros(int(raw_ids.max()) + 1, dtype=bool)
        present[raw_ids] = True
        lookup = onp.cumsum(present, dtype=onp.int64)
        return lookup[raw_ids], onp.flatnonzero(present).astype(raw_ids.dtype)
    uniq, dense = onp.unique(raw_ids, return_inverse=True)
    return dense.astype(onp.int64) + 1, uniq


def densify(frames):
    """Renumber users and items of one or more frames to ``1..N`` with one
    shared mapping.  Ids already equal to ``1..N`` keep their values.

    Args:
        frames: DataFrames with ``user_id`` and ``item_id`` columns.

    Returns:
        ``(frames, num_users, num_items)``: new frames (the inputs are not
        changed) with a fresh index, whose ``attrs`` are the input's plus
        ``user_ids`` and ``item_ids`` (the raw id of each dense id).
    """
    attrs, dense = {}, {}
    for col, key in (('user_id', 'user_ids'), ('item_id', 'item_ids')):
        ids = onp.concatenate([f[col].to_numpy() for f in frames])
        dense[col], attrs[key] = _dense_ids(ids)
    out, start = [], 0
    for frame in frames:
        stop = start + len(frame)
        # built column by column: no copy of a whole (fragmented) frame
        part = pd.DataFrame({
            col: dense[col][start:stop] if col in dense else
            frame[col].to_numpy(copy=True) for col in frame.columns},
            copy=False)
        part.attrs.update(frame.attrs)
        part.attrs.update(attrs)
        out.append(part)
        start = stop
    return out, len(attrs['user_ids']), len(attrs['item_ids'])


def read_data_ml100k(data_dir=None, dataset=None):
    """Read MovieLens ratings -> ``(data, num_users, num_items)`` as d2l.

    Args:
        data_dir: where the release is (see ``resolve_ratings_file``).
        dataset: which release (see ``resolve_ratings_file``).

    Returns:
        ``data`` has columns ``user_id, item_id, rating, timestamp`` in file
        order, ids renumbered to ``1..N`` where needed (see ``densify``);
        ``data.attrs`` also hold ``source`` (the file read) and
        ``rating_scale`` (see ``read_ratings``).
    """
    path = resolve_ratings_file(data_dir, dataset)
    (data,), num_users, num_items = densify(
        [read_ratings(path, dataset=dataset)])
    data.attrs['source'] = path
    return data, num_users, num_items


def read_train_test(train_file, test_file, rating_range=AUTO):
    """A given train/test pair of ratings files (e.g. ``u1.base`` and
    ``u1.test``), renumbered with one shared mapping.

    Args:
        train_file, test_file: ratings files (see ``read_ratings``); each is
            checked on its own (a pair may repeat across the two).
        rating_range: see ``read_ratings``.

    Returns:
        ``(train, test, num_users, num_items)``.
    """
    frames = [read_ratings(train_file, rating_range=rating_range),
              read_ratings(test_file, rating_range=rating_range)]
    (train, test), num_users, num_items = densify(frames)
    return train, test, num_users, num_items


def _decode(path, raw, encodings):
    for encoding in encodings[:-1]:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            pass
    return raw.decode(encodings[-1])


def _titles_from_lines(path, sep, encodings):
    """``id<sep>title<sep>...`` lines (u.item, movies.dat) -> {id: title}."""
    with open(path, 'rb') as f:
        text = _decode(path, f.read(), encodings)
    titles = {}
    for lineno, line in enumerate(text.split('\n'), 1):
        line = line.rstrip('\r')
        if not line.strip():
            continue
        fields = line.split(sep)
        try:
            titles[int(fields[0])] = fields[1]
        except (ValueError, IndexError):
            raise ValueError(f'{path}, line {lineno}: expected an integer '
                             f'movie id and a title separated by {sep!r}, '
                             f'got {line!r}') from None
    return titles


def _titles_from_csv(path):
    """movies.csv (``movieId,title,genres``, quoted titles) -> {id: title}."""
    try:
        movies = pd.read_csv(path, usecols=['movieId', 'title'],
                             dtype={'movieId': onp.int64, 'title': str},
                             keep_default_na=False, encoding='utf-8')
    except (ValueError, pd.errors.ParserError) as e:
        raise ValueError(f'{path}: expected a csv file with columns movieId, '
                         f'title, genres ({e})') from None
    return dict(zip(movies['movieId'].tolist(), movies['title'].tolist()))


def read_item_titles(data_dir=None, item_ids=None, dataset=None):
    """Movie titles by id.

    Read from the titles file beside the ratings: ``u.item`` (ML-100K,
    latin-1, ``|``), ``movies.dat`` (``::``; UTF-8, else latin-1 as ML-1M's)
    or ``movies.csv`` (UTF-8, quoted titles).

    Args:
        data_dir: where the release is (see ``resolve_ratings_file``).
        item_ids: the raw id of each dense id (``data.attrs['item_ids']``),
            or None.
        dataset: which release (see ``resolve_ratings_file``).

    Returns:
        ``{raw id: title}`` without ``item_ids``; with it, ``{dense id
        (1-based): title}``, ``'item <raw id>'`` where a title is missing.
    """
    ratings = resolve_ratings_file(data_dir, dataset)
    folder = os.path.dirname(ratings)
    pairs = {r.ratings: r.titles for r in RELEASES.values()}
    names = [pairs.get(os.path.basename(ratings))] + list(pairs.values())
    path = next((os.path.join(folder, n) for n in names
                 if n and os.path.isfile(os.path.join(folder, n))), None)
    if path is None:
        known = ', '.join(dict.fromkeys(pairs.values()))
        raise FileNotFoundError(f'{folder}: no titles file ({known})')
    name = os.path.basename(path)
    if name == 'movies.csv':
        titles = _titles_from_csv(path)
    elif name == 'movies.dat':
        titles = _titles_from_lines(path, '::', ('utf-8', 'latin-1'))
    else:
        titles = _titles_from_lines(path, '|', ('latin-1',))
    if item_ids is None:
        return titles
    return {k + 1: titles.get(int(raw), f'item {raw}')
            for k, raw in enumerate(item_ids)}
