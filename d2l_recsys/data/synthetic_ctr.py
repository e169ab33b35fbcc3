"""Synthetic CTR data with a known answer: clicks drawn from a planted
factorization machine.

``make_ctr(folder)`` writes ``train.csv`` and ``test.csv`` in the format of
the book's CTR data set (the click label, then tab-separated categorical
fields written as eight hex digits, as the book's anonymised values), so
``CTRDataset`` and ``read_ctr(folder)`` read them as the book's files.  Each
row takes one value per field; within a field the values are drawn with
Zipf-like frequencies (the value of rank ``r`` with weight ``r ** -zipf``),
so a field of many values has a long tail of values seen fewer than
``min_threshold`` times, which the encoding sends to the field's default
index.  The click probability is a factorization machine's::

    p = sigmoid(w0 + sum_f w[x_f] + sum_{f < g} <v[x_f], v[x_g]>)

over the row's values ``x_f``, with ``w ~ N(0, linear_std)`` and ``v ~ N(0,
factor_std)`` per value; the label is a Bernoulli draw of ``p``.

Beside the files, ``synthetic_ctr.json`` records the settings, the label
rates and the Bayes AUC: the AUC of the planted probabilities against the
drawn labels, on the test part and on the training part, which no model
can beat on average; ``planted.npz`` holds the planted model (``w0``,
``w``, ``v``, the values of each field) to compare a learnt one with or to
recompute the probabilities (``planted_probabilities``).  Both are written
atomically.

The defaults (the book's 15,000 + 3,000 rows; 34 fields of 2 to 200
values; four factors) were chosen so that the book's FM, trained with the
chapter's settings on ``train.csv``, ranks ``test.csv`` clearly better than
a logistic regression on the same indices (the pairwise part is learnable)
yet stays below the Bayes AUC; the steep value frequencies (``zipf=2``)
keep most rows on a learnable head of values while a long tail of values
(about a third of those in ``train.csv``) stays below the book's
``min_threshold``.
"""
import os

import numpy as onp
import pandas as pd

from ..files import atomic_write, write_json
from ..metrics import roc_auc
from .ctr import CTR_FILES, offsets_of

INFO_FILE = 'synthetic_ctr.json'
PLANTED_FILE = 'planted.npz'
DEFAULTS = dict(num_rows=18_000, num_test=3_000, num_fields=34,
                values_per_field=(2, 200), num_factors=4, zipf=2.0,
                bias=-1.0, linear_std=0.25, factor_std=0.25)
# ML-1M's feature fields at its size under RecBole's context protocol: its
# 1,000,209 ratings less the 261,197 of 3 stars leave 739,012 rows, a click
# at 4 stars and up (about 78% of them), split at random 8:1:1 (test.csv
# holds the last tenth; a run carves validation from train.csv).  Fields:
# user (6,040), item (3,706), gender, age band (7), occupation (21), zip
# prefix (a few hundred: 400), release year (about 80: 81) and one
# two-valued field per genre (18), 25 in all.  Values are drawn per field,
# independently (a user's attributes are not tied to the user): the shape,
# sizes and value frequencies of the data, for timing, not its structure.
# Users and items take mild Zipf exponents (the most active user has about
# 2,000 rows, the least about 60), the genre flags 2 (four in five rows
# without the genre); ``bias`` gives the click rate, ``factor_std`` a
# pairwise signal of the size of the first-order one.
ML_1M_GENRES = 18
ML_1M = dict(num_rows=739_012, num_test=73_901,
             num_fields=7 + ML_1M_GENRES,
             values_per_field=[6040, 3706, 2, 7, 21, 400, 81]
             + [2] * ML_1M_GENRES,
             zipf=[0.4, 0.6, 0.5, 0.5, 0.7, 0.8, 0.8] + [2.0] * ML_1M_GENRES,
             num_factors=4, bias=0.5, linear_std=0.25, factor_std=0.15)
_CHUNK = 1 << 18        # rows per chunk when computing logits
_WRITE_ROWS = 1 << 16   # rows per chunk when writing a file


def _field_sizes(values_per_field, num_fields):
    """Values of each field: an int (all alike), a ``(low, high)`` tuple
    (spread geometrically over the fields) or a list of one count per
    field."""
    if isinstance(values_per_field, int):
        sizes = [values_per_field] * num_fields
    elif isinstance(values_per_field, tuple) and len(values_per_field) == 2:
        low, high = values_per_field
        sizes = onp.round(onp.geomspace(low, high, num_fields)).astype(int)
    else:
        sizes = list(values_per_field)
    sizes = [int(s) for s in sizes]
    if len(sizes) != num_fields or min(sizes) < 1:
        raise ValueError(f'values_per_field={values_per_field!r}: expected '
                         f'a positive int, a (low, high) tuple or a list '
                         f'of {num_fields} positive counts')
    return sizes


def _exponents(zipf, num_fields):
    """The Zipf exponent of each field: one number for all, or a list of
    one per field."""
    exps = [float(zipf)] * num_fields if onp.isscalar(zipf) else \
        [float(z) for z in zipf]
    if len(exps) != num_fields or min(exps) < 0:
        raise ValueError(f'zipf={zipf!r}: expected a non-negative number '
                         f'or a list of {num_fields} of them')
    return exps


def _value_names(rng, size):
    """``size`` distinct eight-hex-digit strings."""
    ids = onp.unique(rng.integers(0, 1 << 32, 2 * size + 16))
    ids = rng.permutation(ids)[:size]
    while len(ids) < size:     # (a collision-heavy draw: draw again)
        ids = onp.unique(onp.concatenate(
            [ids, rng.integers(0, 1 << 32, size)]))[:size]
    return onp.char.mod('%08x', ids)


def _logits(rows, w0, w, v):
    """The FM's logit of each row of offset indices ``rows`` (n, fields)."""
    out = onp.empty(len(rows))
    for start in range(0, len(rows), _CHUNK):
        x = rows[start:start + _CHUNK]
        emb = v[x]                                   # (n, fields, k)
        pair = 0.5 * ((emb.sum(1) ** 2) - (emb ** 2).sum(1)).sum(1)
        out[start:start + _CHUNK] = w0 + w[x].sum(1) + pair
    return out


def _sigmoid(x):
    return 1 / (1 + onp.exp(-x))


def _write_file(path, labels, rows, values):
    """One CTR file: the label, then the value of each of the row's
    planted indices ``rows``, tab-separated; written in chunks of rows."""
    def write(tmp):
        with open(tmp, 'w', encoding='utf-8', newline='') as f:
            for start in range(0, len(labels), _WRITE_ROWS):
                part = slice(start, start + _WRITE_ROWS)
                frame = pd.DataFrame(values[rows[part]])
                frame.insert(0, 'label', labels[part])
                frame.to_csv(f, sep='\t', header=False, index=False,
                             lineterminator='\n')
    atomic_write(path, write)


def _rare_share(rows, field_dims, offsets, min_threshold):
    """Share of the values, and of the (row, field) cells, whose value
    occurs fewer than ``min_threshold`` times in ``rows``."""
    counts = onp.bincount(rows.ravel(), minlength=int(field_dims.sum()))
    rare = (counts > 0) & (counts < min_threshold)
    seen = counts > 0
    return dict(values=float(rare.sum() / max(seen.sum(), 1)),
                cells=float(counts[rare].sum() / max(rows.size, 1)))


def make_ctr(folder, num_rows=DEFAULTS['num_rows'],
             num_fields=DEFAULTS['num_fields'],
             values_per_field=DEFAULTS['values_per_field'],
             num_factors=DEFAULTS['num_factors'], seed=0,
             num_test=DEFAULTS['num_test'], zipf=DEFAULTS['zipf'],
             bias=DEFAULTS['bias'], linear_std=DEFAULTS['linear_std'],
             factor_std=DEFAULTS['factor_std']):
    """Write a CTR data set drawn from a planted factorization machine.

    Args:
        folder: where ``train.csv``, ``test.csv``, ``synthetic_ctr.json``
            and ``planted.npz`` go (created if needed).
        num_rows: rows in all; the last ``num_test`` form ``test.csv``.
        num_fields: categorical fields per row (the book's files have 34;
            ``CTRDataset(..., num_feat=num_fields)`` reads fewer).
        values_per_field: values of each field: an int, a ``(low, high)``
            tuple spread geometrically over the fields, or a list of one
            count per field.
        num_factors: the planted model's factors per value.
        seed: the random seed; the same seed writes the same files.
        num_test: rows of ``test.csv``.
        zipf: the exponent of the values' frequencies within a field, or
            a list of one per field.
        bias, linear_std, factor_std: the planted ``w0`` and the standard
            deviations of the planted ``w`` and ``v``.

    Returns:
        The content of ``synthetic_ctr.json``: the settings, ``field_sizes``,
        ``label_rate`` and ``bayes_auc`` (each for ``train`` and ``test``),
        and ``rare_in_train``: the share of the training values, and of its
        cells, seen fewer than 4 times (the book's ``min_threshold``).
    """
    if not 0 < num_test < num_rows:
        raise ValueError(f'num_test={num_test}: expected between 1 and '
                         f'num_rows - 1 = {num_rows - 1}')
    sizes = _field_sizes(values_per_field, num_fields)
    exponents = _exponents(zipf, num_fields)
    rng = onp.random.default_rng(seed)
    field_dims = onp.array(sizes, dtype=onp.int64)
    offsets = offsets_of(field_dims)
    rows = onp.empty((num_rows, num_fields), dtype=onp.int64)
    names = []
    for f, (size, exponent) in enumerate(zip(sizes, exponents)):
        weights = onp.arange(1, size + 1, dtype=onp.float64) ** -exponent
        rows[:, f] = offsets[f] + rng.choice(size, num_rows,
                                             p=weights / weights.sum())
        names.append(_value_names(rng, size))
    total = int(field_dims.sum())
    w = rng.normal(0, linear_std, total)
    v = rng.normal(0, factor_std, (total, num_factors))
    logits = _logits(rows, bias, w, v)
    probs = _sigmoid(logits)
    labels = (rng.random(num_rows) < probs).astype(onp.int64)
    values = onp.concatenate(names)
    split = num_rows - num_test
    parts = dict(train=slice(0, split), test=slice(split, num_rows))
    os.makedirs(folder, exist_ok=True)
    for name, part in zip(CTR_FILES, parts.values()):
        _write_file(os.path.join(folder, name), labels[part], rows[part],
                    values)

    def save(tmp):
        with open(tmp, 'wb') as f:
            onp.savez(f, w0=onp.float64(bias), w=w, v=v, values=values,
                      field_dims=field_dims)
    atomic_write(os.path.join(folder, PLANTED_FILE), save)
    info = dict(
        generator='planted factorization machine', seed=seed,
        num_rows=num_rows, num_train=split, num_test=num_test,
        num_fields=num_fields, values_per_field=values_per_field,
        field_sizes=sizes, num_factors=num_factors, zipf=zipf, bias=bias,
        linear_std=linear_std, factor_std=factor_std,
        files=list(CTR_FILES) + [PLANTED_FILE],
        logit_std=dict(linear=float((w[rows].sum(1)).std()),
                       pairwise=float((logits - bias - w[rows].sum(1)).std())),
        label_rate={k: float(labels[p].mean()) for k, p in parts.items()},
        bayes_auc={k: roc_auc(labels[p], probs[p]) for k, p in
                   parts.items()},
        rare_in_train=_rare_share(rows[:split], field_dims, offsets, 4))
    write_json(os.path.join(folder, INFO_FILE), info)
    return info


def planted_probabilities(folder, file):
    """The planted click probability of each row of ``folder/file`` (one
    of ``make_ctr``'s CTR files), from ``planted.npz``: ``(probabilities,
    labels)``, float64 and int64."""
    with onp.load(os.path.join(folder, PLANTED_FILE)) as planted:
        w0, w, v = float(planted['w0']), planted['w'], planted['v']
        values, field_dims = planted['values'], planted['field_dims']
    table = pd.read_csv(os.path.join(folder, file), sep='\t', header=None,
                        dtype=str, na_filter=False)
    offsets = offsets_of(field_dims)
    rows = onp.empty((len(table), len(field_dims)), dtype=onp.int64)
    for f, (start, size) in enumerate(zip(offsets, field_dims)):
        index = pd.Index(values[start:start + size])
        rows[:, f] = start + index.get_indexer(table[f + 1])
    return _sigmoid(_logits(rows, w0, w, v)), table[0].to_numpy(onp.int64)


def bayes_auc(folder, file):
    """The AUC of the planted probabilities against the labels of
    ``folder/file``: what ``synthetic_ctr.json`` records, recomputed."""
    probabilities, labels = planted_probabilities(folder, file)
    return roc_auc(labels, probabilities)
