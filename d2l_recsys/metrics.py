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


# --------------------------------------------------------------------------
# Ranking.  Ties are broken against the held-out item (it ranks below every
# candidate with an equal score): popularity counts tie a lot, and a
# pessimistic rule cannot flatter a model.
# --------------------------------------------------------------------------
def rank_among(pos_scores, neg_scores):
    """0-based rank of each positive among its negatives: the number of
    negatives scoring at least as high.  (n,), (n, m) -> (n,) ints."""
    pos = onp.asarray(pos_scores)[:, None]
    return (onp.asarray(neg_scores) >= pos).sum(axis=1)


def hit_rate(ranks, k):
    """Fraction of held-out items ranked in the top ``k``."""
    return float(onp.mean(onp.asarray(ranks) < k))


def ndcg(ranks, k):
    """Mean NDCG@k with one relevant item per row: 1 / log2(rank + 2) inside
    the top ``k``, else 0."""
    ranks = onp.asarray(ranks, dtype=onp.float64)
    return float(onp.mean(onp.where(ranks < k, 1 / onp.log2(ranks + 2), 0)))


def auc_from_ranks(ranks, num_negatives):
    """AUC with one positive per row: the fraction of negatives ranked
    below it, ``(num_negatives - rank) / num_negatives``."""
    ranks = onp.asarray(ranks, dtype=onp.float64)
    return float(onp.mean((num_negatives - ranks) / num_negatives))


def full_ranking_metrics(scores, relevant, candidates, k,
                         ties='pessimistic'):
    """Rank every candidate item of every user and score the top ``k``.

    ``scores``, ``relevant`` and ``candidates`` are users x items arrays;
    ``relevant`` marks held-out items, ``candidates`` the items that may be
    ranked (typically those not seen in training; relevant items outside it
    are simply never found).  Users without any relevant item are skipped.
    Returns ``hit_rate`` (a relevant item in the top k), ``ndcg`` (binary
    relevance, ideal DCG over min(k, #relevant)), ``recall`` (share of the
    relevant items in the top k) and the book's ``auc``: the share of the
    other candidates ranked below the best-ranked relevant item, 0 when no
    relevant item is a candidate.

    ``ties='pessimistic'`` ranks relevant items below equal scores;
    ``ties='index'`` orders equal scores by item index, as d2l's stable sort
    of its candidate list does (a model whose scores saturate, like the
    book's sigmoid NeuMF, is then ranked by item id).
    """
    if ties not in ('pessimistic', 'index'):
        raise ValueError(f"ties must be 'pessimistic' or 'index', got "
                         f'{ties!r}')
    scores = onp.asarray(scores, dtype=onp.float64)
    relevant, candidates = onp.asarray(relevant), onp.asarray(candidates)
    users = relevant.any(axis=1)
    scores, relevant, candidates = scores[users], relevant[users], \
        candidates[users]
    keyed = onp.where(candidates, scores, -onp.inf)
    # sort by score (descending), then relevant items last, or by index
    second = relevant if ties == 'pessimistic' else \
        onp.broadcast_to(onp.arange(scores.shape[1]), scores.shape)
    order = onp.lexsort((second, -keyed), axis=1)
    ranked_rel = onp.take_along_axis(relevant & candidates, order, axis=1)
    k = min(k, scores.shape[1])
    top = ranked_rel[:, :k]
    n_rel = relevant.sum(axis=1)
    gains = 1 / onp.log2(onp.arange(2, k + 2))
    dcg = (top * gains).sum(axis=1)
    idcg = onp.cumsum(gains)[onp.minimum(n_rel, k) - 1]
    n_cand = candidates.sum(axis=1)
    found = ranked_rel.any(axis=1)
    first = onp.argmax(ranked_rel, axis=1)
    auc = onp.where(found, (n_cand - 1 - first) / onp.maximum(n_cand - 1, 1),
                    0.0)
    return dict(hit_rate=float(top.any(axis=1).mean()),
                ndcg=float((dcg / idcg).mean()),
                recall=float((top.sum(axis=1) / n_rel).mean()),
                auc=float(auc.mean()))
