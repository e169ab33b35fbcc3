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


# --------------------------------------------------------------------------
# Binary classification (click-through rate): labels are 0/1, one score or
# probability per example.
# --------------------------------------------------------------------------
def _binary(name, labels, values):
    """``labels`` and ``values`` as flat float64 arrays of equal length,
    the labels all 0 or 1, the values all finite; ``name`` is the calling
    metric, for the error messages."""
    labels = onp.asarray(labels, dtype=onp.float64).ravel()
    values = onp.asarray(values, dtype=onp.float64).ravel()
    if labels.shape != values.shape:
        raise ValueError(f'{name}: {labels.size} labels but {values.size} '
                         'scores')
    if labels.size == 0:
        raise ValueError(f'{name}: no examples to score')
    other = (labels != 0) & (labels != 1)
    if onp.any(other):
        raise ValueError(f'{name}: labels must be 0 or 1, got '
                         f'{onp.unique(labels[other])[:5].tolist()}')
    if not onp.all(onp.isfinite(values)):
        raise ValueError(f'{name}: scores must be finite numbers')
    return labels, values


def roc_auc(labels, scores):
    """Area under the ROC curve: the probability that a random positive
    scores above a random negative, a tie counting one half.

    Computed from ranks (the Mann-Whitney U statistic): with tied scores
    sharing the average of their ranks, ``AUC = (R_pos - P (P + 1) / 2) /
    (P N)``, where ``R_pos`` sums the positives' ranks, ``P`` and ``N``
    count positives and negatives.  O(n log n).

    Args:
        labels: 0/1 labels, any shape.
        scores: one score per label (a logit or a probability: any
            increasing transform gives the same AUC).

    Returns:
        The AUC, a float in [0, 1].

    Raises:
        ValueError: lengths differ, labels other than 0/1, non-finite
            scores, or only one class present (the AUC is undefined).
    """
    labels, scores = _binary('roc_auc', labels, scores)
    num_pos = float(labels.sum())
    num_neg = labels.size - num_pos
    if num_pos == 0 or num_neg == 0:
        raise ValueError('roc_auc: needs both positive and negative labels, '
                         f'got {int(num_pos)} positive and {int(num_neg)} '
                         'negative')
    _, where, counts = onp.unique(scores, return_inverse=True,
                                  return_counts=True)
    # 1-based average rank of each distinct score: the ranks it spans are
    # (ends - count + 1) .. ends.
    ends = onp.cumsum(counts)
    average = ends - (counts - 1) / 2.0
    rank_sum = float(average[where][labels == 1].sum())
    return (rank_sum - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg)


def log_loss(labels, probabilities, eps=1e-15):
    """Mean binary cross-entropy ``-[y log p + (1 - y) log(1 - p)]``.

    Args:
        labels: 0/1 labels, any shape.
        probabilities: predicted probabilities of label 1, in [0, 1].
        eps: probabilities are clipped to ``[eps, 1 - eps]`` first, so a
            confident mistake costs ``-log(eps)`` rather than infinity.

    Returns:
        The mean log loss (natural log), a float.

    Raises:
        ValueError: lengths differ, labels other than 0/1, probabilities
            outside [0, 1], or ``eps`` outside (0, 0.5).
    """
    labels, p = _binary('log_loss', labels, probabilities)
    if not 0 < eps < 0.5:
        raise ValueError(f'log_loss: eps must be in (0, 0.5), got {eps!r}')
    if onp.any((p < 0) | (p > 1)):
        raise ValueError('log_loss: probabilities must be in [0, 1], got '
                         f'values from {p.min()} to {p.max()}')
    p = onp.clip(p, eps, 1 - eps)
    return float(-onp.mean(labels * onp.log(p)
                           + (1 - labels) * onp.log1p(-p)))


def threshold_accuracy(labels, probabilities, threshold=0.5):
    """Share of examples classified right when a probability above
    ``threshold`` predicts 1 (``accuracy@0.5`` with the default; with
    logits, a logit above 0 is the same rule at 0.5)."""
    labels, p = _binary('threshold_accuracy', labels, probabilities)
    return float(onp.mean((p > threshold) == (labels == 1)))


def book_ctr_accuracy(labels, outputs):
    """The figure the book's FM and DeepFM chapters print as accuracy, for
    comparison only.

    ``d2l.train_ch13`` scores with ``d2l.accuracy``, which takes an argmax
    only for outputs of more than one column; the blocks' ``(B, 1)``
    outputs are compared with the labels as they are.  The figure is
    therefore the share of outputs *exactly equal* to their 0/1 label:
    of sigmoids that saturated to exactly 1.0 or 0.0 in float32 (logits
    above about 17, or below about -88).  The book's double sigmoid drives
    the logits there, which is why its figure moves at all; it is not a
    classification accuracy at any threshold."""
    labels = onp.asarray(labels, dtype=onp.float32).ravel()
    outputs = onp.asarray(outputs, dtype=onp.float32).ravel()
    if labels.shape != outputs.shape:
        raise ValueError(f'book_ctr_accuracy: {labels.size} labels but '
                         f'{outputs.size} outputs')
    return float(onp.mean(outputs == labels)) if labels.size else 0.0
