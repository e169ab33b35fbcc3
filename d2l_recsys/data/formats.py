"""MovieLens ratings files -> pandas DataFrames, d2l-compatible.

The public functions keep the names, arguments, return values and meaning of
``d2l==1.0.3`` (``read_data_ml100k``, ``split_data_ml100k``,
``load_data_ml100k``, ``split_and_load_ml100k``) and add keyword arguments:
``data_dir=`` (where the ratings are), ``dataset=`` (which MovieLens release)
and ``seed=`` (a private random stream instead of MXNet's global one).  What
differs is speed: every step is vectorised (the book loops row by row, parses
with ``engine='python'`` and does an O(N*U) list search in its seq-aware
split).

Which releases exist and where their files are found is ``locate``'s job
(``RELEASES``, ``resolve_ratings_file``; re-exported here), their titles
``titles``'.  This module parses and checks a ratings file: ``.dat`` files
separate fields by ``::``; ``.csv`` files start with the header
``userId,movieId,rating,timestamp``.  The scale a file is checked against is
its release's; it is recorded as ``data.attrs['rating_scale'] = (lowest,
highest, step)``.  Ids that are not ``1..N`` (ML-1M's movie ids have gaps,
the user's own ids may be strings) are renumbered densely (``densify``);
``data.attrs['user_ids']`` and ``data.attrs['item_ids']`` keep the original
id of each dense id.
"""
import io
import os
import re

import numpy as onp
import pandas as pd

from .locate import (DATA_HUB, DATA_MD5, DATASETS, DEFAULT_CACHE,  # noqa: F401
                     ENV_VAR, HALF_STARS, RELEASES, STARS, Release,
                     _check_dataset, _release_of_folder, _sep_of,
                     resolve_ratings_file, safe_extract)
from .titles import read_item_titles  # noqa: F401

COLUMNS = ['user_id', 'item_id', 'rating', 'timestamp']
RATING_RANGE = (1, 5)
CSV_HEADER = 'userId,movieId,rating,timestamp'
AUTO = 'auto'   # read_ratings' default: the scale of the file's release
# ML-100K's own file names: a tab-separated file so named has its scale; any
# other tab-separated file outside a release folder may hold half stars.
_ML100K_NAME = re.compile(r'u\.data|u[1-5]\.(base|test)|u[ab]\.(base|test)')

# Ratings are parsed as float32 (exact on the half-star grid; ratings off
# it are parsed again as float64), in chunks of rows: on ML-20M this halves
# pandas' peak memory against one whole-file parse.
_PARSE_ROWS = 1 << 21


# --------------------------------------------------------------------------
# Reading and validating ratings files
# --------------------------------------------------------------------------
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
            timestamp``); ``~`` is expanded.
        sep: the separator; None: from the file name as just said.
        rating_range: ``'auto'``: the scale of the file's release (integers
            1..5 for ML-100K's files, by name or folder; half stars 0.5..5
            for csv files, and inferred for other tab-separated files;
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
    path = os.path.expanduser(os.fspath(path))
    _check_dataset(dataset)
    if sep is None:
        sep = _sep_of(path)
    infer = False
    if isinstance(rating_range, str):
        if rating_range != AUTO:
            raise ValueError(f'rating_range={rating_range!r}: expected '
                             f"'auto', None, (low, high) or (low, high, "
                             'step)')
        release = dataset or _release_of_folder(path) or (
            'ml-20m' if sep == ',' else
            'ml-100k' if sep == '\t' and _ML100K_NAME.fullmatch(
                os.path.basename(path)) else None)
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
    df.attrs['rating_scale'] = _scale_attr(scale)
    return df


def _scale_attr(scale):
    """``(low, high, step)`` as plain numbers, ints where whole."""
    return tuple(
        None if v is None else int(v) if float(v).is_integer() else float(v)
        for v in scale)


def _dense_ids(raw_ids):
    """Raw ids -> (dense 1-based ids, original id of each dense id), the
    dense ids in the order of the raw ids, the originals sorted.  A lookup
    table (O(N)) where the ids are small integers, as MovieLens ids are,
    else a hash of any ids (strings too; where numbers and strings mix,
    the numbers sort first) and a sort of the distinct ones."""
    if raw_ids.dtype.kind in 'iu' and len(raw_ids) and raw_ids.min() >= 0 \
            and raw_ids.max() < 4 * len(raw_ids) + (1 << 20):
        present = onp.zeros(int(raw_ids.max()) + 1, dtype=bool)
        present[raw_ids] = True
        lookup = onp.cumsum(present, dtype=onp.int64)
        return lookup[raw_ids], onp.flatnonzero(present).astype(raw_ids.dtype)
    dense, uniq = pd.factorize(raw_ids, sort=True, use_na_sentinel=False)
    return dense.astype(onp.int64) + 1, uniq


def densify(frames):
    """Renumber users and items of one or more frames to ``1..N`` with one
    shared mapping.  Ids already equal to ``1..N`` keep their values.

    Args:
        frames: DataFrames with ``user_id`` and ``item_id`` columns of any
            ids (integers, strings).

    Returns:
        ``(frames, num_users, num_items)``: new frames (the inputs are not
        changed) with a fresh index, whose ``attrs`` are the input's plus
        ``user_ids`` and ``item_ids``: the raw id of each dense id, sorted
        (dense id ``k`` is the ``k``-th smallest raw id).
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
        train_file, test_file: ratings files (see ``read_ratings``; ``~``
            is expanded); each is checked on its own (a pair may repeat
            across the two).
        rating_range: see ``read_ratings``.

    Returns:
        ``(train, test, num_users, num_items)``.
    """
    frames = [read_ratings(train_file, rating_range=rating_range),
              read_ratings(test_file, rating_range=rating_range)]
    (train, test), num_users, num_items = densify(frames)
    return train, test, num_users, num_items

