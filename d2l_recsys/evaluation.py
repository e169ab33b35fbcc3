"""Rating evaluators: ``(net, test_iter, devices) -> RMSE``.

They run a network over held-out batches and hand the numbers to
``metrics``; ranking evaluators live in ``ranking``.
"""
import math
import weakref

import numpy as onp
from mxnet import np

from . import metrics
from .devices import split_shards


def predict_ratings(net, test_iter, devices):
    """Predict every held-out rating.

    Args:
        net: a model called as ``net(users, items)``.
        test_iter: batches of ``(users, items, ratings)``.
        devices: contexts to split each batch over.

    Returns:
        ``(truth, preds, shards)``: numpy arrays of true and predicted
        ratings, and the per-shard ``(truth, preds)`` pairs in evaluation
        order (what the book's running figure averages).
    """
    shards = []
    for batch in test_iter:
        for users, items, ratings in split_shards(batch, devices):
            shards.append((ratings.asnumpy(), net(users, items).asnumpy()))
    truth = onp.concatenate([t for t, _ in shards])
    preds = onp.concatenate([p for _, p in shards])
    return truth, preds, shards


def evaluate_rmse(net, test_iter, devices):
    """Exact RMSE over every held-out rating of a ``net(u, i)`` model (MF).

    Args:
        net, test_iter, devices: as ``predict_ratings``.

    Returns:
        The RMSE, a float.
    """
    truth, preds, _ = predict_ratings(net, test_iter, devices)
    return metrics.rmse(truth, preds)


def evaluate_autorec(net, test_iter, devices):
    """Exact RMSE of an AutoRec over the held-out ratings.

    The model reconstructs each row from its training ratings and is scored
    at the held-out entries, as in the book.  Dense batches ``(B, n)`` are
    split over the devices; CSR batches (``data.rows``, for matrices too
    big to hold densely) run on the first device, predict the held-out
    entries only and are read back once, at the end, with at most two
    batches in flight (each holds temporaries the size of the weights).

    Args:
        net: an ``AutoRec``.
        test_iter: batches of ``(observed rows, held-out rows)``, both
            dense or both CSR.
        devices: contexts to split each batch over.

    Returns:
        The RMSE, a float (NaN when nothing is held out).
    """
    sq_err, count, sums, pending = 0.0, 0, [], None
    known = _HELD_OUT.get(test_iter, devices)
    entries = []                # the held-out entries, shard by shard
    for batch in test_iter:
        rows, held_out = batch
        if held_out.stype == 'csr':
            rows, held_out = [a.as_in_context(devices[0]) for a in batch]
            truth = held_out.data.as_np_ndarray()          # (nnz,)
            if truth.shape[0]:
                err = net.predict(rows, held_out) - truth
                if sums:
                    sums[-1].wait_to_read()
                sums.append((err * err).astype('float64').sum())
                count += truth.shape[0]
            continue
        for rows, held_out in split_shards(batch, devices):
            entries.append(known[len(entries)] if known else
                           _held_out_at(held_out))
            flat, truth = entries[-1]
            if flat is None:
                continue
            pred = _predict_at(net, rows, held_out, flat)
            if pending is not None:     # the previous shard's, read now
                sq_err += _squared_error(*pending)
            pending = pred, truth
            count += len(truth)
    if pending is not None:
        sq_err += _squared_error(*pending)
    if known is None:
        _HELD_OUT.put(test_iter, devices, entries)
    sq_err += sum(float(s) for s in sums)
    return math.sqrt(sq_err / count) if count else float('nan')


def _held_out_at(held_out):
    """``(positions, ratings)`` of a dense shard of held-out rows: the
    row-major positions of its nonzero entries, on its device (None when
    there is none), and their ratings in that order (``truth[truth !=
    0]``)."""
    truth = held_out.asnumpy().reshape(-1)
    flat = onp.flatnonzero(truth)
    return (np.array(flat, ctx=held_out.ctx) if len(flat) else None,
            truth[flat])


class _HeldOutCache:
    """The held-out entries of evaluation iterators that yield the same
    batches on every pass (an ``ArrayIter`` in order), found on the first
    evaluation and kept for the next ones, so that an evaluation after
    every epoch reads only its predictions back."""

    def __init__(self):
        self._found = weakref.WeakKeyDictionary()

    @staticmethod
    def _key(test_iter, devices):
        from .data.iterators import ArrayIter
        order = getattr(test_iter, 'order', None)
        if not isinstance(test_iter, ArrayIter) or order.shuffle or \
                order.last_batch != 'keep':
            return None
        return tuple(id(a) for a in test_iter.arrays), \
            tuple(str(d) for d in devices)

    def get(self, test_iter, devices):
        key = self._key(test_iter, devices)
        if key is None or test_iter not in self._found:
            return None
        stored, entries = self._found[test_iter]
        return entries if stored == key else None

    def put(self, test_iter, devices, entries):
        key = self._key(test_iter, devices)
        if key is not None:
            self._found[test_iter] = key, entries


_HELD_OUT = _HeldOutCache()


def _predict_at(net, rows, held_out, flat):
    """``net``'s predictions at the row-major positions ``flat`` (on the
    rows' device) of the dense held-out rows, not yet read back: computed
    at those entries alone by a block with ``predict_at`` (``AutoRec``),
    else the whole ``predict`` and its entries picked."""
    if hasattr(net, 'predict_at'):
        return net.predict_at(rows, flat)
    return net.predict(rows, held_out).reshape(-1)[flat]


def _squared_error(pred, truth):
    """The sum of squared errors of one shard, summed as numpy sums the
    float32 errors (the figure does not depend on how the predictions were
    picked)."""
    return float(((pred.asnumpy() - truth) ** 2).sum())
