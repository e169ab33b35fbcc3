"""Feature tables for feature-based models (FM, DeepFM): MovieLens 100K's
ratings with its user and movie attributes, or your own table, encoded as
the CTR data are (``ctr.FieldDataset``: one field per column, one slot per
value plus a default slot per field, offset into one embedding table).

``ml100k_features`` builds one example per rating of ``u.data``, with the
attributes of ``u.user`` and ``u.item`` beside it, in these fields:

==============  ===========================================================
field           values
==============  ===========================================================
user, item      the raw ids of ``u.data``
age             MovieLens 1M's age bands: ``under 18``, ``18-24``,
                ``25-34``, ``35-44``, ``45-49``, ``50-55``, ``56+``
gender          ``M``, ``F``
occupation      the 21 occupations of ``u.occupation``
zip             the first ``zip_digits`` characters (default 1: the US
                zip region, ``0`` to ``9``) when they are digits, else
                ``other`` (the Canadian postal codes among the users)
year            the release year from ``u.item``'s date (``year='decade'``:
                ``1990-1999``); a movie without a date has ``unknown``
genre:NAME      19 two-valued fields, ``0`` or ``1``, one per genre of
                ``u.genre`` (``genre:unknown``, ``genre:Action``, ...)
==============  ===========================================================

The label is 1 where the rating is at least ``threshold`` (default 4), else
0.  The protocol is RecBole's for context-aware models: the examples are
split at random 8:1:1 into train, valid and test with ``seed`` (valid and
test each get ``int(0.1 * n)`` examples, train the rest; each part keeps
file order).  ``drop_ratings=(3,)`` first removes the neutral ratings, as
RecBole's ML-1M setting does; it is off by default.  The value mapping is
learnt on the training part only: a value seen there fewer than
``min_count`` times (default 1: never) gets its field's default index, so
nothing of the valid or test part shapes the encoding.

``feature_table`` does the same for your own data: a DataFrame, or a CSV or
TSV file with a header (read as ``tables`` reads ratings files, every
column as text), any columns as fields and one numeric label column.
"""
import csv
import os
import re

import numpy as onp
import pandas as pd

from . import tables
from .ctr import FieldDataset, encode_fields, read_fields
from .formats import read_ratings
from .locate import resolve_ratings_file
from .synthetic import _GENRES

GENRES = ('unknown',) + _GENRES            # u.genre's order
AGE_BANDS = ((0, 'under 18'), (18, '18-24'), (25, '25-34'), (35, '35-44'),
             (45, '45-49'), (50, '50-55'), (56, '56+'))   # (lowest age, band)
ML100K_FIELDS = ('user', 'item', 'age', 'gender', 'occupation', 'zip',
                 'year') + tuple(f'genre:{g}' for g in GENRES)
SPLIT = (0.8, 0.1, 0.1)
PARTS = ('train', 'valid', 'test')
_USER_FIELDS = 'user id|age|gender|occupation|zip code'
_ITEM_FIELDS = ('movie id|title|release date|video release date|IMDb URL|'
                '19 genre flags')


class FeatureTable:
    """A feature table split into parts.

    Attributes:
        train, valid, test: ``ctr.FieldDataset`` parts (``features`` int32
            offset indices, ``labels`` float32, the book's items).
        field_names, field_dims, offsets, feat_mapper, defaults,
            num_inputs: the encoding, shared by the parts (see
            ``ctr.FieldDataset``; ``feat_mapper`` and ``defaults`` are
            keyed by field name).
        rows: ``{part: positions}``: each part's examples as positions in
            the source rows (after ``drop_ratings``).
        info: a JSON-ready record of the protocol, sizes and label rates.
    """

    def __init__(self, parts, rows, info):
        self.parts = parts
        self.train, self.valid, self.test = (parts[p] for p in PARTS)
        for name in ('field_names', 'field_dims', 'offsets', 'feat_mapper',
                     'defaults', 'num_inputs'):
            setattr(self, name, getattr(self.train, name))
        self.rows, self.info = rows, info

    def __repr__(self):
        sizes = ', '.join(f'{p}={len(self.parts[p])}' for p in PARTS)
        return (f'FeatureTable({sizes}; {len(self.field_names)} fields, '
                f'{self.num_inputs} slots)')


def split_rows(num_rows, split=SPLIT, seed=0):
    """Random train/valid/test positions of ``num_rows`` examples.

    Args:
        split: the train, valid and test shares (non-negative, summing to
            1): valid and test get ``int(share * num_rows)`` examples each
            (as RecBole counts), train the rest.
        seed: the permutation's seed.

    Returns:
        ``{part: sorted int64 positions}``.
    """
    shares = tuple(float(s) for s in split)
    if len(shares) != 3 or min(shares) < 0 or shares[0] <= 0 or \
            abs(sum(shares) - 1) > 1e-6:
        raise ValueError(f'split={split!r}: expected three shares (train, '
                         'valid, test), train positive, none negative, '
                         'summing to 1, e.g. (0.8, 0.1, 0.1)')
    sizes = [int(s * num_rows) for s in shares[1:]]
    order = onp.random.default_rng(seed).permutation(num_rows)
    cuts = onp.cumsum([num_rows - sum(sizes)] + sizes)
    return {p: onp.sort(part) for p, part in
            zip(PARTS, onp.split(order, cuts[:-1]))}


def _factorize(column):
    """A column -> ``(codes int64, distinct values)``; a missing value is a
    value of its own."""
    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    return codes.astype(onp.int64), pd.Index(uniques).to_numpy()


def encode_table(frame, fields, labels, split=SPLIT, seed=0, min_count=1):
    """Split the rows of ``frame`` and encode ``fields`` with the mapping
    learnt on the training part.

    Args:
        frame: a DataFrame holding the field columns.
        fields: the columns to encode, in field order.
        labels: 0/1 per row (float32).
        split, seed: see ``split_rows``; min_count: see the module
            docstring.

    Returns:
        A ``FeatureTable``.
    """
    rows = split_rows(len(frame), split, seed)
    columns = [_factorize(frame[f]) for f in fields]
    features, field_dims, mapper, defaults = encode_fields(
        columns, fit_rows=rows['train'], min_count=min_count,
        field_names=fields)
    del columns
    parts = {p: FieldDataset(features[r], labels[r], field_dims, fields,
                             mapper, defaults) for p, r in rows.items()}
    info = dict(protocol='random split, mapping learnt on train',
                split=list(split), seed=seed, min_count=min_count,
                num_rows=len(frame), fields=list(fields),
                field_dims=field_dims.tolist(),
                sizes={p: len(r) for p, r in rows.items()},
                label_rate={p: float(labels[r].mean(dtype=onp.float64))
                            if len(r) else None
                            for p, r in rows.items()})
    return FeatureTable(parts, rows, info)


# --------------------------------------------------------------------------
# Your own data
# --------------------------------------------------------------------------
def _read_file(path, sep):
    """A CSV/TSV file with a header, every column as text -> ``(table,
    row namer, where the header is)``; errors as ``tables.read_table``'s."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f'{path}: is a folder; expected a CSV or TSV file'
            if os.path.isdir(path) else f'{path}: no such file')
    for encoding in ('utf-8-sig', 'latin-1'):
        try:
            first = tables._header(path, encoding)
            if first is None:
                raise ValueError(f'{path}: the file is empty; expected a '
                                 'header line naming the columns and one '
                                 'row per example')
            header, lineno = first
            use = sep or tables._sep_for(path, header)
            names = [n.strip() for n in
                     next(csv.reader([header], delimiter=use))]
            rows = tables._FileRows(path, use, encoding, names)
            table = tables._parse(path, use, lineno, encoding,
                                  dict.fromkeys(range(len(names)), str), rows)
        except UnicodeDecodeError:
            continue
        if table is None:
            raise ValueError(f'{path}: could not be read as text separated '
                             f'by {use!r} with a header line')
        table.columns = names
        return table, rows, f'{path}, line {lineno}'


def _columns_present(names, wanted, where, listing):
    """Each wanted column once among ``names``, or a one-line error naming
    the missing (or repeated) one and the columns present."""
    shown = ', '.join(map(str, names))
    for name in wanted:
        count = list(names).count(name)
        if count != 1:
            problem = (f'no column {name!r}' if not count else
                       f'column {name!r} appears {count} times')
            raise ValueError(f'{where}: {problem} ({listing}: {shown}); '
                             'expected each feature and the label column '
                             'once')


def _label_values(column, rows, name, threshold):
    """The label column -> ``(values float64, labels float32)``: values
    must be numbers; without a threshold they must be 0 or 1."""
    values = pd.to_numeric(column, errors='coerce').to_numpy(
        onp.float64, na_value=onp.nan)
    bad = ~onp.isfinite(values)
    if threshold is None:
        bad |= ~onp.isin(values, (0, 1))
    if bad.any():
        k = int(onp.argmax(bad))
        expected = 'a number' if threshold is not None else '0 or 1 ' \
            '(threshold=None: the column holds the labels)'
        raise rows.error([k], f'{name} must be {expected}, got '
                              f'{tables._show(column.iloc[k])}')
    labels = values >= threshold if threshold is not None else values > 0
    return values, labels.astype(onp.float32)


def feature_table(frame, features, label='rating', threshold=4,
                  drop_ratings=(), split=SPLIT, seed=0, min_count=1,
                  sep=None, name='DataFrame'):
    """A feature table from your own data.

    Args:
        frame: a DataFrame, or the path of a CSV/TSV file with a header
            (``sep`` as in ``tables.read_table``; every column read as text,
            so ``007`` and ``7`` are two values).
        features: the columns that become fields, in field order.
        label: the numeric column the label comes from.
        threshold: the label is 1 where ``label >= threshold``; None: the
            column holds 0/1 labels already.
        drop_ratings: values of ``label`` whose rows are removed first
            (e.g. ``(3,)``).
        split, seed, min_count: see the module docstring.
        name: what error messages call a DataFrame.

    Returns:
        A ``FeatureTable``; its ``info`` also records ``label``,
        ``threshold``, ``drop_ratings`` and how many rows were dropped.

    Raises:
        ValueError: one line: a missing or repeated column (naming the
            columns present), the label among the features, a label that
            is not a number (naming the file and line, or the row).
    """
    features = list(features)
    if not features:
        raise ValueError('features=[]: expected the columns that become '
                         'fields')
    if label in features:
        raise ValueError(f'{label!r} is both the label column and a '
                         'feature; a feature must not hold the label')
    if isinstance(frame, pd.DataFrame):
        table, rows, where = frame, tables._FrameRows(name, frame.index), name
        listing = 'its columns'
    else:
        path = os.path.expanduser(os.fspath(frame))
        table, rows, where = _read_file(path, sep)
        listing = "the header's columns"
    _columns_present(list(table.columns), features + [label], where, listing)
    if not len(table):
        raise ValueError(f'{where}: no rows; expected one row per example')
    values, labels = _label_values(table[label], rows, label, threshold)
    keep = ~onp.isin(values, list(drop_ratings))
    if not keep.any():
        raise ValueError(f'{where}: drop_ratings={tuple(drop_ratings)!r} '
                         'removes every row')
    kept = table.loc[keep, features] if not keep.all() else table[features]
    out = encode_table(kept, features, labels[keep], split, seed, min_count)
    out.info.update(label=label, threshold=threshold,
                    drop_ratings=list(drop_ratings),
                    dropped=int((~keep).sum()))
    return out


# --------------------------------------------------------------------------
# MovieLens 100K
# --------------------------------------------------------------------------
def _integers(path, table, k, lines, what):
    """Column ``k`` of a ``read_fields`` table as int64; a value that is
    not an integer is an error naming its line."""
    codes = table[k].cat.codes.to_numpy()
    cats = table[k].cat.categories.to_numpy(dtype=object)
    as_int = pd.to_numeric(pd.Series(cats), errors='coerce').to_numpy(
        onp.float64, na_value=onp.nan)
    bad = ~(onp.isfinite(as_int) & (as_int == onp.round(as_int)))
    if bad[codes].any():
        row = int(onp.flatnonzero(bad[codes])[0])
        raise ValueError(f'{path}, line {lines[row]}: {what} must be an '
                         f'integer, got {cats[codes[row]]!r}')
    return as_int.astype(onp.int64)[codes]


def _texts(table, k):
    """Column ``k`` of a ``read_fields`` table as an object array."""
    return table[k].to_numpy(dtype=object)


def _by_id(path, ids, lines, what):
    """A unique index of ``ids``; an id on two lines is an error."""
    index = pd.Index(ids)
    if not index.is_unique:
        dup = onp.flatnonzero(index.duplicated())[0]
        first = onp.flatnonzero(ids == ids[dup])[0]
        raise ValueError(f'{path}, lines {lines[first]} and {lines[dup]}: '
                         f'{what} {ids[dup]} appears twice')
    return index


def _positions(index, ids, source, path, what):
    """Where each of ``ids`` is in ``index``; an id it lacks is an error."""
    pos = index.get_indexer(ids)
    if (pos < 0).any():
        missing = ids[onp.argmax(pos < 0)]
        raise ValueError(f'{source}: {what} {missing} has no line in {path}')
    return pos


def _zip_prefix(zips, digits):
    """The first ``digits`` characters when they are digits, else
    ``other``; computed once per distinct code."""
    codes, uniques = pd.factorize(zips)
    pattern = re.compile(r'[0-9]{%d}' % digits)
    prefix = onp.array([z[:digits] if pattern.match(z) else 'other'
                        for z in uniques], dtype=object)
    return prefix[codes]


def _release_year(dates, year):
    """``dd-Mon-yyyy`` -> ``yyyy`` (``year='decade'``: ``1990-1999``), or
    ``unknown`` without a date."""
    if year not in ('year', 'decade'):
        raise ValueError(f"year={year!r}: expected 'year' or 'decade'")
    codes, uniques = pd.factorize(dates)
    found = [re.search(r'([0-9]{4})$', d.strip()) for d in uniques]
    values = onp.array([
        'unknown' if m is None else m.group(1) if year == 'year' else
        f'{m.group(1)[:3]}0-{m.group(1)[:3]}9' for m in found], dtype=object)
    return values[codes]


def _age_band(ages):
    lows = onp.array([low for low, _ in AGE_BANDS])
    names = onp.array([band for _, band in AGE_BANDS], dtype=object)
    return names[onp.searchsorted(lows, ages, side='right') - 1]


def _side_file(folder, name):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{folder}: no {name} beside u.data; the '
                                'ML-100K feature table needs u.data, u.user '
                                'and u.item')
    return path


def ml100k_frame(data_dir=None, zip_digits=1, year='year'):
    """MovieLens 100K's ratings with their user and movie attributes.

    Args:
        data_dir: where ML-100K is (see ``locate.resolve_ratings_file``).
        zip_digits, year: see the module docstring.

    Returns:
        A DataFrame, one row per line of ``u.data`` in file order: columns
        ``ML100K_FIELDS`` (values as in the module docstring; ids int64,
        genre flags int8, the others text) and ``rating``, ``timestamp``.

    Raises:
        ValueError: naming the file and line: a line with another number of
            fields, an id or age that is not an integer, a genre flag other
            than 0 or 1, an id on two lines; or a user or movie of ``u.data``
            without a line.
    """
    ratings_path = resolve_ratings_file(data_dir, 'ml-100k')
    folder = os.path.dirname(ratings_path)
    ratings = read_ratings(ratings_path, dataset='ml-100k')
    path = _side_file(folder, 'u.user')
    users, lines = read_fields(path, 5, '|', _USER_FIELDS, ('latin-1',))
    index = _by_id(path, _integers(path, users, 0, lines, 'user id'), lines,
                   'user id')
    ages = _integers(path, users, 1, lines, 'age')
    u = _positions(index, ratings['user_id'].to_numpy(), ratings_path, path,
                   'user')
    out = {'user': ratings['user_id'].to_numpy(),
           'item': ratings['item_id'].to_numpy(),
           'age': _age_band(ages)[u], 'gender': _texts(users, 2)[u],
           'occupation': _texts(users, 3)[u],
           'zip': _zip_prefix(_texts(users, 4), int(zip_digits))[u]}
    path = _side_file(folder, 'u.item')
    items, lines = read_fields(path, 5 + len(GENRES), '|', _ITEM_FIELDS,
                               ('latin-1',))
    index = _by_id(path, _integers(path, items, 0, lines, 'movie id'), lines,
                   'movie id')
    i = _positions(index, out['item'], ratings_path, path, 'movie')
    out['year'] = _release_year(_texts(items, 2), year)[i]
    for k, genre in enumerate(GENRES, 5):
        flags = _integers(path, items, k, lines, f'the {genre} flag')
        if not onp.isin(flags, (0, 1)).all():
            row = int(onp.argmax(~onp.isin(flags, (0, 1))))
            raise ValueError(f'{path}, line {lines[row]}: the {genre} flag '
                             f'must be 0 or 1, got {flags[row]}')
        out[f'genre:{genre}'] = flags.astype(onp.int8)[i]
    out['rating'] = ratings['rating'].to_numpy()
    out['timestamp'] = ratings['timestamp'].to_numpy()
    frame = pd.DataFrame(out, copy=False)
    frame.attrs['source'] = ratings_path
    return frame


def ml100k_features(data_dir=None, threshold=4, drop_ratings=(),
                    split=SPLIT, seed=0, min_count=1, zip_digits=1,
                    year='year'):
    """MovieLens 100K as a feature table (the module docstring's fields,
    label and protocol).

    Args:
        data_dir: where ML-100K is (see ``locate.resolve_ratings_file``).
        threshold: a rating at least this is a positive example.
        drop_ratings: ratings removed before splitting (``(3,)``: the
            neutral ones).
        split, seed, min_count, zip_digits, year: see the module docstring.

    Returns:
        A ``FeatureTable`` (``field_names`` are ``ML100K_FIELDS``).
    """
    frame = ml100k_frame(data_dir, zip_digits, year)
    out = feature_table(frame, ML100K_FIELDS, 'rating', threshold,
                        drop_ratings, split, seed, min_count,
                        name=frame.attrs['source'])
    out.info.update(source=frame.attrs['source'], zip_digits=zip_digits,
                    year=year)
    return out
