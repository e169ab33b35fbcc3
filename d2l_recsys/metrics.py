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

    The means of ``full_ranking_per_user``; see there for the arrays.
    """
    terms = full_ranking_per_user(scores, relevant, candidates, k, ties)
    return {name: float(terms[name].mean())
            for name in ('hit_rate', 'ndcg', 'recall', 'auc')}


def full_ranking_per_user(scores, relevant, candidates, k,
                          ties='pessimistic'):
    """The per-user terms whose means ``full_ranking_metrics`` reports, so
    that users can be scored in chunks and reduced at the end.

    No row is sorted: a relevant candidate's place in the ranked list is the
    number of candidates ahead of it (a higher score, or an equal one that
    the tie rule puts first), which is a few vectorised passes over the
    scores.  The terms are exactly those of sorting every row (as
    ``numpy.lexsort`` would; tested).

    Args:
        scores: (users, items) scores, any float dtype.
        relevant: (users, items) booleans, the held-out items.
        candidates: (users, items) booleans, the items that may be ranked.
        k: the cut-off.
        ties: ``'pessimistic'`` or ``'index'`` (see
            ``full_ranking_metrics``).

    Returns:
        A dict of arrays over the rows with a relevant item, in row order:
        ``users`` (their row indices), ``hit_rate`` (bool), ``ndcg``,
        ``recall`` and ``auc`` (float64).
    """
    return terms_at(relevant_places(scores, relevant, candidates, ties), k)


def relevant_places(scores, relevant, candidates, ties='pessimistic'):
    """Where each relevant candidate lands when every row's candidates are
    ranked by score (the expensive part of ``full_ranking_per_user``, done
    once for any number of cut-offs; see ``terms_at``).

    Args: as ``full_ranking_per_user``, without ``k``.

    Returns:
        A dict: ``users`` (rows with a relevant item), ``n_rel`` and
        ``n_cand`` (their relevant items and candidates), ``at`` (the index
        into ``users`` of each relevant candidate) and ``places`` (its
        0-based place in its row's ranked candidates), ``num_items``.
    """
    if ties not in ('pessimistic', 'index'):
        raise ValueError(f"ties must be 'pessimistic' or 'index', got "
                         f'{ties!r}')
    scores = onp.asarray(scores)
    if not onp.issubdtype(scores.dtype, onp.floating):
        scores = scores.astype(onp.float64)
    relevant = onp.asarray(relevant, dtype=bool)
    candidates = onp.asarray(candidates, dtype=bool)
    rows, items = onp.nonzero(relevant)                      # row-major
    users = onp.unique(rows)
    n_rel = onp.bincount(rows, minlength=len(relevant))[users]
    keep = candidates[rows, items]
    rows, items = rows[keep], items[keep]
    keyed = onp.where(candidates, scores, -onp.inf)          # (n, items)
    return dict(users=users, n_rel=n_rel,
                n_cand=onp.count_nonzero(candidates, axis=1)[users],
                at=onp.searchsorted(users, rows),
                places=_places(keyed, relevant, rows, items, ties),
                num_items=scores.shape[1])


def terms_at(ranked, k):
    """The per-user terms of ``full_ranking_per_user`` at cut-off ``k``
    from ``relevant_places``' result."""
    users, places, at = ranked['users'], ranked['places'], ranked['at']
    n_rel, n_cand = ranked['n_rel'], ranked['n_cand']
    k = min(k, ranked['num_items'])
    top = onp.zeros((len(users), k), dtype=bool)             # (u, k)
    top[at[places < k], places[places < k]] = True
    gains = 1 / onp.log2(onp.arange(2, k + 2))
    dcg = (top * gains).sum(axis=1)
    idcg = onp.cumsum(gains)[onp.minimum(n_rel, k) - 1]
    first = onp.full(len(users), ranked['num_items'])
    onp.minimum.at(first, at, places)
    found = first < ranked['num_items']
    auc = onp.where(found, (n_cand - 1 - first) / onp.maximum(n_cand - 1, 1),
                    0.0)
    return dict(users=users, hit_rate=top.any(axis=1), ndcg=dcg / idcg,
                recall=top.sum(axis=1) / n_rel, auc=auc)


def _places(keyed, relevant, rows, items, ties):
    """0-based place of each relevant candidate ``(rows[p], items[p])`` in
    its row ranked by ``keyed`` (descending), equal keys ordered by the tie
    rule: ``'pessimistic'`` puts other items first and relevant ones by
    index, ``'index'`` orders by index.  Works on as many pairs at a time as
    ``keyed`` has rows, so temporaries stay the size of ``keyed``."""
    places = onp.empty(len(rows), dtype=onp.int64)
    step = max(keyed.shape[0], 1)
    cols = onp.arange(keyed.shape[1])
    for start in range(0, len(rows), step):
        r, j = rows[start:start + step], items[start:start + step]
        block = keyed if onp.array_equal(r, onp.arange(keyed.shape[0])) \
            else keyed[r]
        own = keyed[r, j][:, None]                           # (b, 1)
        ahead = onp.count_nonzero(block > own, axis=1)
        equal = block == own
        tied = onp.flatnonzero(onp.count_nonzero(equal, axis=1) > 1)
        if len(tied):       # rare unless scores saturate or are counts
            first = cols < j[tied, None]
            if ties == 'pessimistic':
                first |= ~relevant[r[tied]]
            ahead[tied] += onp.count_nonzero(equal[tied] & first, axis=1)
        places[start:start + step] = ahead
    return places
