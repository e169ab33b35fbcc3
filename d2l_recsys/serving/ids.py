"""Original ids and top-k rows: the lookups every predictor makes.

Ids are integers (int64, searched in sorted order) or strings (through a
``pandas.Index``); ``top_k_rows`` is the batch top-k of a score matrix.
"""
import numpy as onp
import pandas as pd


def top_k_rows(scores, k):
    """The ``k`` best entries of each row, best first; equal scores in item
    order, exactly as a stable sort (whatever the chunking).

    A full sort or ``argpartition`` of every row is the slow part of a
    batch top-k.  Instead: cut each row into at least ``8k`` blocks; the
    k-th largest block maximum is a lower bound of the row's k-th largest
    score (k blocks hold a larger-or-equal score each), so only the few
    entries above that bound are candidates, and only they are sorted:
    less work than an ``argpartition`` of every row (the figure at
    ML-20M's width: docs/benchmarks.md, "Figures measured once, without a
    result file").

    Args:
        scores: ``(n, m)`` float array; ``-inf`` marks excluded entries.
        k: how many per row (at most ``m``).

    Returns:
        ``(items, values)``, both ``(n, k)``; a row with fewer than ``k``
        finite scores ends with ``-inf`` values.
    """
    n, m = scores.shape
    k = min(k, m)
    if 8 * k >= m:
        items = onp.argsort(-scores, axis=1, kind='stable')[:, :k]
        return items, onp.take_along_axis(scores, items, axis=1)
    size = m // (8 * k)
    full = m // size * size
    maxima = scores[:, :full].reshape(n, -1, size).max(axis=2)
    if full < m:
        maxima = onp.concatenate(
            [maxima, scores[:, full:].max(axis=1, keepdims=True)], axis=1)
    cut = onp.partition(maxima, maxima.shape[1] - k, axis=1)[:, -k]
    rows, cols = onp.nonzero(scores >= cut[:, None])
    values = scores[rows, cols]
    order = onp.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    rank = onp.arange(len(rows)) - onp.searchsorted(rows, onp.arange(n))[rows]
    keep = rank < k
    top = onp.zeros((n, k), dtype=onp.int64)
    best = onp.full((n, k), -onp.inf, dtype=scores.dtype)
    top[rows[keep], rank[keep]] = cols[keep]
    best[rows[keep], rank[keep]] = values[keep]
    return top, best


def _lookup(ids, query, index=None):
    """Positions of ``query`` in the sorted array ``ids`` and whether each
    was found.  Integer ids are searched in O(log n) each; other ids
    (strings) through ``index``, a ``pandas.Index`` of ``ids``."""
    query = list(query) if not isinstance(query, (list, onp.ndarray)) \
        else query
    if ids.dtype.kind in 'iu':
        try:
            query = onp.asarray(query, dtype=onp.int64).reshape(-1)
        except OverflowError:
            raise ValueError('ids must be 64-bit integers') from None
        except (ValueError, TypeError):     # a string among integer ids
            query = onp.asarray([_as_int(q) for q in query], onp.int64)
        pos = onp.clip(onp.searchsorted(ids, query), 0, max(len(ids) - 1, 0))
        found = ids[pos] == query if len(ids) else onp.zeros(len(query), bool)
        return pos, found
    index = pd.Index(ids) if index is None else index
    pos = index.get_indexer(pd.Index(onp.asarray(query, object).astype(str)))
    return onp.maximum(pos, 0), pos >= 0


def _as_int(value):
    """An id asked of an integer-id model: the integer it spells, else the
    smallest int64 (an id no data set uses)."""
    try:
        return int(value)
    except (ValueError, TypeError):
        return onp.iinfo(onp.int64).min


def plain(value):
    """An id as a JSON-ready Python value (int or str)."""
    return value.item() if isinstance(value, onp.generic) else value


def _ids(values):
    """Original ids as an array: int64 when they are integers, else str."""
    values = onp.asarray(values)
    if values.dtype.kind in 'iu':
        return values.astype(onp.int64)
    return values.astype(str).astype(object)
