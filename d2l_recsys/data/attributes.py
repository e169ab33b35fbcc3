"""MovieLens 100K's user and movie attributes (``u.user``, ``u.item``) as
categorical fields of each dense user and item index: what the
feature-based models (FM, DeepFM, logistic regression) read beside the
user and item ids.

Fields: ``age`` in bands (under 18, 18-24, 25-34, 35-44, 45-49, 50-55, 56
and over: the bands MovieLens 1M itself uses), ``gender``, ``occupation``,
``zip`` (the first digit: the US region; letters, as in Canadian codes,
give ``other``), ``year`` (the release year; ``unknown`` when the date is
missing) and one two-valued field per genre (``genre_0`` .. ``genre_18``,
u.item's flags).
"""
import os

import numpy as onp
import pandas as pd

AGE_BANDS = (18, 25, 35, 45, 50, 56)
USER_FIELDS = ('age', 'gender', 'occupation', 'zip')
NUM_GENRES = 19


def _read(path, names):
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: not found; the feature fields of '
                                'MovieLens 100K come from u.user and u.item')
    table = pd.read_csv(path, sep='|', header=None, encoding='latin-1',
                        dtype=str, keep_default_na=False)
    if table.shape[1] < len(names):
        raise ValueError(f'{path}: {table.shape[1]} columns, expected '
                         f'{len(names)} (' + ', '.join(names) + ')')
    table = table.iloc[:, :len(names)]
    table.columns = names
    return table.set_index('id')


def _by_index(table, ids, path):
    """Rows of ``table`` in the order of the raw ``ids``."""
    keys = [str(i) for i in ids]
    missing = [k for k in keys if k not in table.index]
    if missing:
        raise ValueError(f'{path}: no line for id {missing[0]} (of '
                         f'{len(missing)} missing)')
    return table.loc[keys]


def user_fields(folder, user_ids):
    """``{field: values}`` of each user index (values: strings, one per
    entry of ``user_ids``, the raw ids)."""
    path = os.path.join(folder, 'u.user')
    users = _by_index(_read(path, ['id', 'age', 'gender', 'occupation',
                                   'zip']), user_ids, path)
    age = pd.to_numeric(users['age'], errors='coerce').to_numpy()
    band = onp.searchsorted(AGE_BANDS, age, side='right')
    zips = users['zip'].str[:1]
    return {'age': onp.where(onp.isnan(age), 'unknown', band.astype(str)),
            'gender': users['gender'].to_numpy(),
            'occupation': users['occupation'].to_numpy(),
            'zip': onp.where(zips.str.isdigit(), zips, 'other')}


def item_fields(folder, item_ids):
    """``{field: values}`` of each item index: ``year`` and the genre
    flags."""
    path = os.path.join(folder, 'u.item')
    names = ['id', 'title', 'date', 'video', 'url'] + \
        [f'genre_{g}' for g in range(NUM_GENRES)]
    items = _by_index(_read(path, names), item_ids, path)
    year = items['date'].str[-4:]
    out = {'year': onp.where(year.str.isdigit(), year, 'unknown')}
    out.update({f'genre_{g}': items[f'genre_{g}'].to_numpy()
                for g in range(NUM_GENRES)})
    return out
