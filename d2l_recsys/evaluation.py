"""Rating evaluators: ``(net, test_iter, devices) -> RMSE``.

They run a network over held-out batches and hand the numbers to
``metrics``; ranking evaluators live in ``ranking``.
"""
import math

import numpy as onp

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
    sq_err, count, sums = 0.0, 0, []
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
            pred = net.predict(rows, held_out).asnumpy()
            truth = held_out.asnumpy()
            mask = truth != 0
            sq_err += float(((pred[mask] - truth[mask]) ** 2).sum())
            count += int(mask.sum())
    sq_err += sum(float(s) for s in sums)
    return math.sqrt(sq_err / count) if count else float('nan')
