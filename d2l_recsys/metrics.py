"""Metrics as plain numpy functions: no models, no MXNet."""
import numpy as onp


def rmse(y_true, y_pred):
    """Root mean squared error over all given pairs."""
    y_true = onp.asarray(y_true, dtype=onp.float64).ravel()
    y_pred = onp.asarray(y_pred, dtype=onp.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f'rmse: {y_true.shape[0]} ratings but '
                         f'{y_pred.shape[0]} predictions')
    if y_true.size == 0:
        raise ValueError('rmse: no ratings to score')
    return float(onp.sqrt(onp.mean((y_true - y_pred) ** 2)))


def book_running_rmse(shards):
    """The figure the book's MF evaluator reports, for comparison only.

    The book feeds each batch shard to ``mx.metric.RMSE`` (whose value is the
    mean of per-shard RMSEs so far), records that running value after every
    batch and returns the mean of the records.  ``shards`` is a list of
    ``(y_true, y_pred)`` per shard, in evaluation order; one batch is one
    shard here (one device).  This is not the RMSE of the test set."""
    per_shard = [rmse(t, p) for t, p in shards]
    running = onp.cumsum(per_shard) / onp.arange(1, len(per_shard) + 1)
    return float(onp.mean(running))
