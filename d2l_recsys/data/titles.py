"""Movie titles: the titles file beside a release's ratings, by movie id."""
import os

import numpy as onp
import pandas as pd

from .locate import RELEASES, resolve_ratings_file


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
