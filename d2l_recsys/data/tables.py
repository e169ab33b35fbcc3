"""The user's own interactions: a CSV/TSV file with a header, or a pandas
DataFrame, read into the ratings DataFrame the rest of the data layer takes.

Columns are found by name: ``user`` and ``item`` (required), ``rating`` and
``timestamp`` (optional), or other names mapped with ``columns`` (in the
scripts ``--columns user=user_id,item=sku,rating=stars,timestamp=ts``).
Other columns are ignored, except those named in ``features``: they are
kept as text, under their own names, after the four columns below (the
feature fields of FM, DeepFM and logistic regression).  What comes out is what ``read_ratings`` gives
for a MovieLens file: columns ``user_id, item_id, rating, timestamp`` in
input order, and

* ids as given, of any type: a column whose ids are all integer literals
  (``0``, ``-3``, ``42``: no ``+``, no leading zeros, which would make
  ``007`` and ``7`` one id; at most 18 digits) becomes int64, any other
  stays str; surrounding spaces are dropped.  ``densify`` renumbers both
  kinds to ``1..N``;
* ``rating``: int64 when every rating is whole, else float64.  Without a
  rating column the data are implicit feedback: every rating is 1 and
  ``attrs['implicit']`` is True;
* ``timestamp``: int64.  Without a timestamp column it is the row number
  (0, 1, ...), so code reading the column keeps working, and
  ``attrs['has_timestamp']`` is False: there is no time order to split by;
* ``attrs['source']``: the file (the DataFrame's name);
  ``attrs['rating_scale']``: ``(lowest, highest, step)`` of the data, the
  step 1 when all ratings are whole, 0.5 when all are half stars, else None.

Every check is vectorised; only when one fails is the file read line by
line, to name the line.  Each error is one line naming the file and line
(the DataFrame's name and row label) and what was expected.  Files are read
as UTF-8 (a BOM is allowed), else as latin-1.
"""
import csv
import os
import re

import numpy as onp
import pandas as pd

from .formats import COLUMNS, _scale_attr, _step_of

ROLES = ('user', 'item', 'rating', 'timestamp')
_INT = r'0|-?[1-9][0-9]{0,17}'   # ints that print back the same, in int64
_TIME = r'-?[0-9]{1,18}'
_HOW_TO_MAP = ('name the columns user, item[, rating, timestamp] or map '
               'yours with --columns user=NAME,item=NAME[,rating=NAME]'
               '[,timestamp=NAME]')


def parse_columns(text):
    """``--columns`` text -> ``{role: column name}``.

    Args:
        text: ``ROLE=NAME`` pairs separated by commas, each ROLE one of
            ``user, item, rating, timestamp``, e.g. ``'user=user_id,
            item=sku,rating=stars,timestamp=ts'``.

    Returns:
        ``{'user': 'user_id', 'item': 'sku', 'rating': 'stars',
        'timestamp': 'ts'}``.
    """
    columns = {}
    for part in text.split(','):
        role, eq, name = (s.strip() for s in part.partition('='))
        if not (eq and role and name):
            problem = f'{part.strip()!r} is not ROLE=NAME'
        elif role not in ROLES:
            problem = f'unknown role {role!r}'
        elif role in columns:
            problem = f'{role} is given twice'
        else:
            columns[role] = name
            continue
        raise ValueError(f'--columns {text!r}: {problem}; expected ROLE=NAME '
                         f'pairs separated by commas, ROLE one of '
                         f'{", ".join(ROLES)} (e.g. user=user_id,item=sku,'
                         f'rating=stars)')
    return columns


def _mapping(columns):
    """``columns`` -> ``({role: column name} for every role, roles given)``."""
    if isinstance(columns, str):
        columns = parse_columns(columns)
    columns = dict(columns or {})
    for role in columns:
        if role not in ROLES:
            raise ValueError(f'columns={columns!r}: unknown role {role!r}; '
                             f'expected keys among {", ".join(ROLES)}')
    mapping = {role: columns.get(role, role) for role in ROLES}
    names = list(mapping.values())
    for role, name in mapping.items():
        if names.count(name) > 1:
            other = next(r for r in ROLES if r != role and mapping[r] == name)
            raise ValueError(f'columns={columns!r}: column {name!r} would '
                             f'hold both the {role} and the {other}; expected '
                             'one column per role')
    return mapping, set(columns)


def _find_columns(names, columns, where, listing):
    """``{role: position in names}`` of each role present.

    Args:
        names: the column names (a file's header, a DataFrame's labels).
        columns: the mapping given (see ``read_table``).
        where: the start of error messages (file and line, or a name).
        listing: how the columns were found, to list them in errors.
    """
    mapping, given = _mapping(columns)
    shown = ', '.join(map(str, names))
    found = {}
    for role, name in mapping.items():
        hits = [k for k, n in enumerate(names) if n == name]
        if len(hits) > 1:
            raise ValueError(f'{where}: column {name!r} appears {len(hits)} '
                             f'times ({listing}: {shown}); expected it once')
        if hits:
            found[role] = hits[0]
        elif role in given:
            raise ValueError(f'{where}: --columns maps {role}={name}, but '
                             f'there is no column {name!r} ({listing}: '
                             f'{shown})')
        elif role in ('user', 'item'):
            raise ValueError(f'{where}: no {name!r} column for the {role} '
                             f'ids ({listing}: {shown}); {_HOW_TO_MAP}')
    return found


def _feature_columns(names, features, found, where, listing):
    """``{name: position in names}`` of the feature columns asked for."""
    if isinstance(features, str):
        features = [f.strip() for f in features.split(',')]
    positions = {}
    for name in features or ():
        hits = [k for k, n in enumerate(names) if n == name]
        role = next((r for r, k in found.items() if hits and k == hits[0]),
                    None)
        if not name or name in positions or name in COLUMNS:
            problem = ('an empty name' if not name else f'{name!r} twice'
                       if name in positions else f'the reserved name '
                       f'{name!r} (one of {", ".join(COLUMNS)})')
            raise ValueError(f'{where}: --features lists {problem}; '
                             'expected column names separated by commas')
        if not hits:
            raise ValueError(f'{where}: --features names {name!r}, but '
                             f'there is no column {name!r} ({listing}: '
                             f'{", ".join(map(str, names))})')
        if role:
            raise ValueError(f'{where}: --features names {name!r}, the '
                             f'{role} column; the user and item ids are '
                             'always fields, list only the other columns')
        positions[name] = hits[0]
    return positions


def _show(value):
    """An id or label for a message: strings quoted, numbers plain."""
    return repr(value.item() if isinstance(value, onp.generic) else value)


def _where(unit, labels):
    """``line 3`` / ``lines 3 and 5``."""
    if len(labels) == 1:
        return f'{unit} {labels[0]}'
    return f'{unit}s {labels[0]} and {labels[1]}'


class _FileRows:
    """Names a file's data rows in errors; reads the file (error path
    only) with the csv module, counting rows as pandas does."""

    def __init__(self, path, sep, encoding, names):
        self.path, self.sep, self.encoding = path, sep, encoding
        self.names = names

    def _rows(self):
        """``(line number, fields)`` of each data row."""
        with open(self.path, newline='', encoding=self.encoding) as f:
            reader = csv.reader(f, delimiter=self.sep)
            start, header = 1, True
            for fields in reader:
                line, start = start, reader.line_num + 1
                if len(fields) <= 1 and not ''.join(fields).strip():
                    continue                     # blank: pandas skips it
                if header:
                    header = False
                    continue
                yield line, fields

    def _fields_text(self, fields):
        return (f'expected {len(self.names)} fields '
                f'({", ".join(self.names)}) separated by {self.sep!r}, found '
                f'{len(fields)}: {self.sep.join(fields)!r}')

    def error(self, rows, problem):
        """A ValueError naming the lines of data rows ``rows`` (0-based);
        a row with too few fields is reported as such."""
        found = {}
        for k, (line, fields) in enumerate(self._rows()):
            if k in rows:
                found[k] = line, fields
                if len(found) == len(rows):
                    break
        lines = [found[k][0] for k in rows]
        fields = found[rows[0]][1]
        if len(rows) == 1 and len(fields) < len(self.names):
            problem = self._fields_text(fields)
        return ValueError(f'{self.path}, {_where("line", lines)}: {problem}')

    def misfit(self, parser_error):
        """The ValueError for rows pandas could not fit in one table: the
        first row whose fields are not the header's, else pandas' words."""
        for line, fields in self._rows():
            if len(fields) != len(self.names):
                return ValueError(f'{self.path}, line {line}: '
                                  f'{self._fields_text(fields)}')
        return ValueError(f'{self.path}: could not be read as text separated '
                          f'by {self.sep!r} with a header line '
                          f'({parser_error})')


class _FrameRows:
    """Names a DataFrame's rows in errors, by index label."""

    def __init__(self, name, index):
        self.name, self.index = name, index

    def error(self, rows, problem):
        labels = [_show(self.index[k]) for k in rows]
        return ValueError(f'{self.name}, {_where("row", labels)}: {problem}')


def _whole(x):
    """Which floats are whole numbers that fit in int64."""
    with onp.errstate(invalid='ignore'):
        return onp.isfinite(x) & (x == onp.trunc(x)) & (abs(x) < 2 ** 63)


def _integers(column):
    """A numeric column -> ``(int64 array, mask of entries that are not
    whole numbers, missing ones included)``; None for a text column."""
    kind = column.dtype.kind
    if kind in 'iu' and not column.isna().any():
        return column.to_numpy(onp.int64), onp.zeros(len(column), bool)
    if kind == 'f':
        x = column.to_numpy(onp.float64)
        bad = ~_whole(x)
        return onp.where(bad, 0, x).astype(onp.int64), bad
    return None


def _ids(column):
    """Ids -> ``(int64 or str array, mask of missing ids)``; integer
    literals stay text here (see ``_as_ids``)."""
    missing = column.isna().to_numpy()
    numbers = _integers(column)
    if numbers is not None and not (numbers[1] & ~missing).any():
        return numbers[0], missing
    text = column.astype(str).str.strip()
    return text.to_numpy(object), missing | (text == '').to_numpy()


def _as_ids(values):
    """A checked id column: int64 when every id is an integer literal."""
    if values.dtype != object or not re.fullmatch(_INT, values[0]):
        return values
    text = pd.Series(values, copy=False)
    if text.str.fullmatch(_INT).all():
        return pd.to_numeric(text).to_numpy(onp.int64)
    return values


def _ratings(column):
    """Ratings -> ``(float64 array, mask of non-numbers)``."""
    r = pd.to_numeric(column, errors='coerce').to_numpy(
        onp.float64, na_value=onp.nan)
    return r, ~onp.isfinite(r)


def _times(column):
    """Timestamps -> ``(int64 array, mask of non-integers)``."""
    numbers = _integers(column)
    if numbers is not None:
        return numbers
    missing = column.isna().to_numpy()
    text = column.astype(str).str.strip()
    bad = missing | ~text.str.fullmatch(_TIME).to_numpy(bool)
    return pd.to_numeric(text.where(~bad, '0')).to_numpy(onp.int64), bad


def _build(raw, rows, extra=None):
    """Checked columns -> the interactions DataFrame (module docstring).

    Args:
        raw: ``{role: Series}`` of the roles present, user and item at least.
        rows: a ``_FileRows`` or ``_FrameRows`` naming rows in errors.
        extra: ``{name: Series}`` of the feature columns kept as text.
    """
    values, bad = {}, {}
    for role in ('user', 'item'):
        values[role], bad[role] = _ids(raw[role])
    if 'rating' in raw:
        values['rating'], bad['rating'] = _ratings(raw['rating'])
    if 'timestamp' in raw:
        values['timestamp'], bad['timestamp'] = _times(raw['timestamp'])
    any_bad = onp.logical_or.reduce(list(bad.values()))
    if any_bad.any():
        k = int(onp.argmax(any_bad))
        role = next(r for r in bad if bad[r][k])
        value = _show(raw[role].iloc[k])
        problem = {
            'rating': f'rating must be a number, got {value}',
            'timestamp': f'timestamp must be an integer, got {value}',
        }.get(role, f'empty {role} id (column {raw[role].name!r}); '
                    'expected an id on every row')
        raise rows.error([k], problem)
    users, items = _as_ids(values['user']), _as_ids(values['item'])
    twice = pd.DataFrame({'u': users, 'i': items}, copy=False).duplicated()
    if twice.any():
        b = int(onp.argmax(twice.to_numpy()))
        a = int(onp.flatnonzero((users == users[b]) & (items == items[b]))[0])
        u, i = _show(users[b]), _show(items[b])
        raise rows.error([a, b], (
            f'user {u} rated item {i} twice; expected one rating per '
            '(user, item) pair') if 'rating' in raw else (
            f'user {u} and item {i} appear twice; expected one row per '
            '(user, item) pair'))
    n = len(users)
    if 'rating' in raw:
        r = values['rating']
        step = _step_of(r)
        scale = (r.min(), r.max(), step)
        ratings = r.astype(onp.int64 if step == 1 else onp.float64)
    else:
        ratings, scale = onp.ones(n, onp.int64), (1, 1, 1)
    times = values.get('timestamp', onp.arange(n, dtype=onp.int64))
    columns = dict(zip(COLUMNS, (users, items, ratings, times)))
    for name, column in (extra or {}).items():
        columns[name] = column.astype(str).str.strip().to_numpy()
    data = pd.DataFrame(columns, copy=False)
    data.attrs.update(rating_scale=_scale_attr(scale),
                      implicit='rating' not in raw,
                      has_timestamp='timestamp' in raw)
    return data


def _header(path, encoding):
    """The first non-blank line of a file and its number, or None."""
    with open(path, newline='', encoding=encoding) as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                return line.rstrip('\r\n'), lineno
    return None


def _sep_for(path, header):
    """``,`` for .csv, a tab for .tsv, else a tab if the header has one."""
    ext = os.path.splitext(path)[1].lower()
    if ext == '.csv':
        return ','
    if ext == '.tsv':
        return '\t'
    return '\t' if '\t' in header else ','


def _read(path, columns, sep, encoding, features=None):
    """``read_table`` of a file, decoded with ``encoding``."""
    first = _header(path, encoding)
    if first is None:
        raise ValueError(f'{path}: the file is empty; expected a header line '
                         'naming the columns (user, item, optionally '
                         'rating, timestamp) and one row per interaction')
    header, lineno = first
    sep = sep or _sep_for(path, header)
    names = [n.strip() for n in next(csv.reader([header], delimiter=sep))]
    where = f'{path}, line {lineno}'
    listing = f"the header's columns, split at {sep!r}"
    found = _find_columns(names, columns, where, listing)
    kept = _feature_columns(names, features, found, where, listing)
    rows = _FileRows(path, sep, encoding, names)
    text = dict.fromkeys(range(len(names)), str)
    typed = {**text, **{found[r]: t for r, t in (
        ('rating', onp.float64), ('timestamp', onp.int64)) if r in found}}
    table = _parse(path, sep, lineno, encoding, typed, rows)
    if table is None or ('rating' in found and not onp.isfinite(
            table[found['rating']].to_numpy()).all()):
        table = _parse(path, sep, lineno, encoding, text, rows)
    data = _build({role: table.iloc[:, k].rename(names[k], copy=False)
                   for role, k in found.items()}, rows,
                  {name: table.iloc[:, k] for name, k in kept.items()})
    data.attrs['source'] = path
    return data


def _parse(path, sep, header_line, encoding, dtype, rows):
    """The rows below the header -> a DataFrame with columns 0, 1, ...; None
    if a rating or timestamp would not convert to ``dtype`` (then the text
    is parsed to name the culprit)."""
    try:    # no header: pandas would take a wide first row's extra field
        table = pd.read_csv(path, sep=sep, header=None, skiprows=header_line,
                            dtype=dtype, keep_default_na=False,
                            encoding=encoding, engine='c')
    except pd.errors.EmptyDataError:
        raise ValueError(f'{path}: no rows after the header line (line '
                         f'{header_line}); expected one row per '
                         'interaction') from None
    except pd.errors.ParserError as e:
        raise rows.misfit(e) from None
    except UnicodeDecodeError:
        raise
    except (ValueError, OverflowError):
        return None
    if table.shape[1] != len(rows.names):    # every row too short or the
        raise rows.misfit(None)              # first too long
    return table


def read_table(path, columns=None, sep=None, features=None):
    """Read the user's own interactions from a CSV or TSV file.

    Args:
        path: a text file whose first line is a header naming the columns;
            ``~`` is expanded.
        columns: ``{role: column name}`` for roles named otherwise in the
            header (roles: ``user``, ``item``, ``rating``, ``timestamp``),
            or the same as ``--columns`` text (see ``parse_columns``);
            None: the header uses the role names.
        sep: one character; None: ``,`` for .csv files, a tab for .tsv
            files, else a tab if the header line has one, else ``,``.
        features: names of other columns to keep as text (a list, or the
            same as ``--features`` text: names separated by commas).

    Returns:
        A DataFrame with columns ``user_id, item_id, rating, timestamp``
        (then the ``features``, in the order given) and ``attrs``
        ``source``, ``rating_scale``, ``implicit``,
        ``has_timestamp`` (see the module docstring).

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file and line: an empty file, a column
            missing from the header, a row with too few or too many fields,
            an empty id, a rating that is not a number, a timestamp that is
            not an integer, a ``(user, item)`` pair given twice.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'{path}: is a folder; expected a CSV or TSV file'
            if os.path.isdir(path) else f'{path}: no such file')
    if sep is not None and len(sep) != 1:
        raise ValueError(f'sep={sep!r}: expected one character, e.g. "," '
                         'or "\\t"')
    try:
        return _read(path, columns, sep, 'utf-8-sig', features)
    except UnicodeDecodeError:
        return _read(path, columns, sep, 'latin-1', features)


def from_frame(df, columns=None, name='DataFrame', features=None):
    """The user's own interactions from a pandas DataFrame, checked and
    shaped as ``read_table`` does a file's.

    Args:
        df: one row per interaction; columns named by role or mapped by
            ``columns``.
        columns, features: see ``read_table``.
        name: what error messages call ``df``.

    Returns:
        A new DataFrame as ``read_table``'s (``df`` is not changed);
        ``attrs['source']`` is ``name``.

    Raises:
        ValueError: naming ``name`` and the row label (see ``read_table``).
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f'{name}: expected a pandas DataFrame, got '
                        f'{type(df).__name__}')
    found = _find_columns(list(df.columns), columns, name, 'its columns')
    kept = _feature_columns(list(df.columns), features, found, name,
                            'its columns')
    if not len(df):
        raise ValueError(f'{name}: no rows; expected one row per '
                         'interaction')
    data = _build({role: df.iloc[:, k] for role, k in found.items()},
                  _FrameRows(name, df.index),
                  {n: df.iloc[:, k] for n, k in kept.items()})
    data.attrs['source'] = name
    return data
