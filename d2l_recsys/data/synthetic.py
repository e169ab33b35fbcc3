"""Synthetic MovieLens releases with a known answer.

``generate('ml-1m', out)`` writes a data set of ML-1M's shape (users, items,
ratings) in ML-1M's own files (``ratings.dat`` and ``movies.dat``), so that
the readers of ``formats`` are exercised as on the real release, and records
in ``synthetic.json`` the best RMSE any model can reach on it.

The ratings come from a planted low-rank model with biases and noise::

    r = mu + b_u + b_i + p_u . q_i + eps,   rounded and clipped to the scale

and ``floor_rmse`` is the RMSE of the noise-free predictions (clipped to the
scale, not rounded) against the written ratings.  Who rates what is skewed
as in MovieLens: item popularity and user activity are lognormal (a long
tail), every user has at least 20 ratings, every item at least one, and no
``(user, item)`` pair occurs twice.  Timestamps increase per user.

Everything is vectorised: ML-20M's shape (20 million ratings) is generated
in well under two minutes.
"""
import os

import numpy as onp
import pandas as pd

from ..files import atomic_write, write_json
from .formats import CSV_HEADER, HALF_STARS, STARS

# The releases' shapes and native formats.  ``max_user_id``/``max_item_id``:
# raw ids are a sorted random subset of ``1..max`` (the releases' ids have
# gaps where max > count); ``order``: how the release orders its lines;
# ``period``: first and last timestamp.
SHAPES = {
    'ml-100k': dict(num_users=943, num_items=1682, num_ratings=100_000,
                    max_user_id=943, max_item_id=1682, ratings='u.data',
                    sep='\t', titles='u.item', encoding='latin-1',
                    scale=STARS, order='random',
                    period=(874724710, 893286638)),
    'ml-1m': dict(num_users=6040, num_items=3706, num_ratings=1_000_209,
                  max_user_id=6040, max_item_id=3952, ratings='ratings.dat',
                  sep='::', titles='movies.dat', encoding='latin-1',
                  scale=STARS, order='user', period=(956703932, 1046454590)),
    'ml-10m': dict(num_users=69_878, num_items=10_677,
                   num_ratings=10_000_054, max_user_id=71_567,
                   max_item_id=65_133, ratings='ratings.dat', sep='::',
                   titles='movies.dat', encoding='utf-8', scale=HALF_STARS,
                   order='user-item', period=(789652009, 1231131736)),
    'ml-20m': dict(num_users=138_493, num_items=26_744,
                   num_ratings=20_000_263, max_user_id=138_493,
                   max_item_id=131_262, ratings='ratings.csv', sep=',',
                   titles='movies.csv', encoding='utf-8', scale=HALF_STARS,
                   order='user-item', period=(789652004, 1427784002)),
}

# The planted model, tuned at ML-1M's shape against the book's MF (30
# factors, Adam, 20 epochs): the factor part's variance (factor_std**2) is
# about the noise's, so biases alone stay >= 1.2 x floor_rmse, and the rank
# is low, so the book's MF gets within 1.1 x floor_rmse.  A stronger factor
# part or a higher rank makes MF's error grow faster than the floor (the
# book's Adam overfits 30 factors on the light users); see the tests.
PLANTED = dict(rank=1, mu=3.55, user_bias_std=0.3, item_bias_std=0.4,
               factor_std=0.55, noise_std=0.6)
MIN_PER_USER = 20        # as in MovieLens
ACTIVITY_SIGMA = 1.0     # lognormal spread of ratings per user
POPULARITY_SIGMA = 1.5   # lognormal spread of item popularity
MAX_USER_SHARE = 0.6     # no user rates more than this share of the items
MEAN_GAP_SECONDS = 600   # between two ratings of one user
CHUNK = 1 << 20          # rows per vectorised chunk


# --------------------------------------------------------------------------
# Who rates what
# --------------------------------------------------------------------------
def _user_counts(rng, num_users, num_items, num_ratings):
    """Ratings per user: at least ``MIN_PER_USER`` (fewer only if the shape
    has fewer ratings), a lognormal tail, at most ``MAX_USER_SHARE`` of the
    items, summing to ``num_ratings``."""
    low = min(MIN_PER_USER, num_ratings // num_users, num_items)
    cap = min(num_items, max(int(MAX_USER_SHARE * num_items),
                             -(-num_ratings // num_users)))
    room, extra = cap - low, num_ratings - low * num_users
    weights = rng.lognormal(0.0, ACTIVITY_SIGMA, num_users)
    share = onp.zeros(num_users)
    free = onp.ones(num_users, dtype=bool)
    while True:             # water-filling: users over the cap are capped
        left = extra - share[~free].sum()
        share[free] = left * weights[free] / weights[free].sum()
        over = free & (share > room)
        if not over.any():
            break
        share[over] = room
        free &= ~over
    counts = onp.floor(share).astype(onp.int64)
    frac = onp.where(counts < room, share - counts, -1.0)
    counts[onp.argsort(-frac, kind='stable')[:extra - counts.sum()]] += 1
    return counts + low


def _rank_in_runs(sorted_values):
    """0, 1, 2, ... within each run of equal values of a sorted array."""
    n = len(sorted_values)
    starts = onp.flatnonzero(onp.r_[True, sorted_values[1:] !=
                                    sorted_values[:-1]])
    return onp.arange(n) - onp.repeat(starts, onp.diff(onp.r_[starts, n]))


def _alias_table(weights):
    """Walker's alias table: draw ``j`` uniformly, keep it with probability
    ``accept[j]``, else take ``alias[j]``; ``j`` then has probability
    proportional to ``weights[j]``.  One pass over the items (Vose)."""
    n = len(weights)
    scaled = weights * (n / weights.sum())
    accept, alias = onp.ones(n), onp.arange(n)
    small = [j for j in range(n) if scaled[j] < 1]
    large = [j for j in range(n) if scaled[j] >= 1]
    while small and large:
        s, g = small.pop(), large[-1]
        accept[s], alias[s] = scaled[s], g
        scaled[g] -= 1 - scaled[s]
        if scaled[g] < 1:
            small.append(large.pop())
    return accept, alias


def _sample_pairs(rng, counts, popularity):
    """Each user's items, drawn without replacement with probabilities
    proportional to ``popularity``: items are drawn with replacement and
    repeats dropped (the first ``counts[u]`` distinct draws are kept, which
    is sampling without replacement), in rounds until every user has
    enough.  Returns (users, items), int64."""
    num_users, num_items = len(counts), len(popularity)
    accept, alias = _alias_table(popularity)
    done_u, done_i = [], []
    who = onp.arange(num_users)
    have_u = have_i = onp.zeros(0, dtype=onp.int64)
    factor = 1.3
    while len(who):
        need = counts[who] - onp.bincount(have_u, minlength=num_users)[who]
        draws = onp.repeat(who, onp.ceil(need * factor).astype(onp.int64) + 4)
        x = rng.random(len(draws)) * num_items       # Walker's alias method
        picks = x.astype(onp.int64)
        picks = onp.where(x - picks < accept[picks], picks, alias[picks])
        del x
        cand_u = onp.concatenate([have_u, draws])    # kept pairs first
        cand_i = onp.concatenate([have_i, picks])
        del draws, picks
        _, first = onp.unique(cand_u * num_items + cand_i, return_index=True)
        first.sort()                                 # draw order
        by_user = first[onp.argsort(cand_u[first], kind='stable')]
        users = cand_u[by_user]
        rank = _rank_in_runs(users)
        keep = by_user[rank < counts[users]]
        have_u, have_i = cand_u[keep], cand_i[keep]
        del cand_u, cand_i, first, by_user, users, rank, keep
        got = onp.bincount(have_u, minlength=num_users)
        full = got[have_u] == counts[have_u]
        done_u.append(have_u[full])
        done_i.append(have_i[full])
        have_u, have_i = have_u[~full], have_i[~full]
        who = who[got[who] < counts[who]]
        factor *= 2
    return onp.concatenate(done_u), onp.concatenate(done_i)


def _sort_pairs(users, items, num_items):
    """(users, items) sorted by user, then item."""
    key = users * num_items + items
    key.sort()
    return key // num_items, key % num_items


def _cover_items(rng, items, num_items):
    """Give every unrated item one rating, taken from a random rating of an
    item rated more than once (that user cannot have rated the unrated
    item, so no pair repeats).  Changes ``items`` in place."""
    counts = onp.bincount(items, minlength=num_items)
    missing = onp.flatnonzero(counts == 0)
    while len(missing):
        rows = rng.choice(len(items), min(len(items), 4 * len(missing) + 64),
                          replace=False)
        # a row may go if its item keeps a rating: rank among the chosen
        # rows of the same item < that item's count - 1
        order = onp.argsort(items[rows], kind='stable')
        chosen = items[rows][order]
        rank = _rank_in_runs(chosen)
        free = rows[order][rank < counts[chosen] - 1][:len(missing)]
        items[free] = missing[:len(free)]
        counts = onp.bincount(items, minlength=num_items)
        missing = onp.flatnonzero(counts == 0)


# --------------------------------------------------------------------------
# What they rate it
# --------------------------------------------------------------------------
def _to_scale(x, scale):
    low, high, step = scale
    return onp.clip(onp.round(x / step) * step, low, high)


def _planted_ratings(rng, users, items, num_users, num_items, scale):
    """(written ratings, RMSE of the noise-free model, RMSE of its biases
    alone), both RMSEs against the written ratings."""
    k = PLANTED['rank']
    std = (PLANTED['factor_std'] ** 2 / k) ** 0.25   # p.q has factor_std
    p = rng.normal(0, std, (num_users, k))
    q = rng.normal(0, std, (num_items, k))
    b_u = rng.normal(0, PLANTED['user_bias_std'], num_users)
    b_i = rng.normal(0, PLANTED['item_bias_std'], num_items)
    low, high, _ = scale
    written = onp.empty(len(users))
    sq_err = sq_bias_err = 0.0
    for start in range(0, len(users), CHUNK):
        u, i = users[start:start + CHUNK], items[start:start + CHUNK]
        biases = PLANTED['mu'] + b_u[u] + b_i[i]
        truth = biases + onp.einsum('nk,nk->n', p[u], q[i])
        noise = rng.normal(0, PLANTED['noise_std'], len(u))
        r = _to_scale(truth + noise, scale)
        written[start:start + CHUNK] = r
        sq_err += float(((onp.clip(truth, low, high) - r) ** 2).sum())
        sq_bias_err += float(((onp.clip(biases, low, high) - r) ** 2).sum())
    n = max(len(users), 1)
    return written, (sq_err / n) ** 0.5, (sq_bias_err / n) ** 0.5


def _timestamps(rng, users, num_users, period):
    """Increasing per user, in a random order of each user's ratings: a
    user starts at a random time and rates every MEAN_GAP_SECONDS or so.
    ``users`` must be sorted."""
    order = onp.argsort(users + rng.random(len(users)))   # shuffled per user
    gaps = 1 + rng.exponential(MEAN_GAP_SECONDS, len(users)).astype(onp.int64)
    elapsed = onp.cumsum(gaps)
    first = onp.searchsorted(users, onp.arange(num_users))
    elapsed -= (elapsed - gaps)[first][users]       # per user, from gap 1
    span = max(period[1] - period[0], 1)
    start = period[0] + rng.integers(0, span, num_users)
    times = onp.empty(len(users), dtype=onp.int64)
    times[order] = start[users] + elapsed
    return times


def _raw_ids(rng, count, max_id):
    """Sorted raw ids: ``1..count``, or a random subset of ``1..max_id``."""
    if max_id <= count:
        return onp.arange(1, count + 1)
    return onp.sort(rng.choice(max_id, count, replace=False)) + 1


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------
def _digits(values):
    """Decimal text of non-negative integers, vectorised: a uint8 matrix of
    zero-padded digits and the mask of those to write."""
    values = onp.asarray(values, dtype=onp.int64)
    width = len(str(int(values.max()))) if len(values) else 1
    digits = onp.empty((len(values), width), dtype=onp.uint8)
    rest = values.copy()
    for k in range(width - 1, -1, -1):
        rest, digits[:, k] = onp.divmod(rest, 10)
    digits += ord('0')
    powers = 10 ** onp.arange(width - 1, -1, -1, dtype=onp.int64)
    mask = values[:, None] >= powers
    mask[:, -1] = True
    return digits, mask


def _constant(text, n):
    chars = onp.frombuffer(text.encode(), dtype=onp.uint8)
    return onp.tile(chars, (n, 1)), onp.ones((n, len(chars)), dtype=bool)


def _rating_text(ratings, scale, sep):
    """Ratings as the release writes them: ``4`` (ML-100K, ML-1M), ``4`` and
    ``3.5`` (ML-10M), ``4.0`` and ``3.5`` (csv releases)."""
    halves = onp.round(onp.asarray(ratings) * 2).astype(onp.int64)
    whole, mask = _digits(halves // 2)
    if scale[2] == 1:
        return whole, mask
    frac = onp.where(halves % 2, ord('5'), ord('0')).astype(onp.uint8)
    tail = onp.stack([onp.full(len(halves), ord('.'), onp.uint8), frac], 1)
    tail_mask = onp.repeat((halves % 2 == 1)[:, None] | (sep == ','), 2, 1)
    return (onp.concatenate([whole, tail], 1),
            onp.concatenate([mask, tail_mask], 1))


def _lines(columns, shape):
    """Rows -> bytes of the release's lines, without a Python loop: the
    fields' characters side by side in one matrix, masked, read row-major."""
    n, sep = len(columns[0]), shape['sep']
    parts = [_digits(columns[0]), _constant(sep, n), _digits(columns[1]),
             _constant(sep, n), _rating_text(columns[2], shape['scale'], sep),
             _constant(sep, n), _digits(columns[3]), _constant('\n', n)]
    chars = onp.concatenate([c for c, _ in parts], axis=1)
    mask = onp.concatenate([m for _, m in parts], axis=1)
    return chars[mask].tobytes()


def _write_ratings(path, columns, shape):
    """Ratings in the release's format, written in chunks of rows."""
    def write(tmp):
        with open(tmp, 'wb') as f:
            if shape['sep'] == ',':
                f.write(CSV_HEADER.encode() + b'\n')
            for start in range(0, len(columns[0]), CHUNK):
                f.write(_lines([c[start:start + CHUNK] for c in columns],
                               shape))
    atomic_write(path, write)


_WORDS = ('Night', 'River', 'Garden', 'Stranger', 'Summer', 'Machine',
          'Letter', 'Island', 'Shadow', 'Promise', 'Road', 'Winter')
_ACCENTED = ('Café', 'Amélie', 'Mañana', 'Über')    # latin-1 too
_UNICODE = ('Łódź', 'Пётр', '千と千尋')    # UTF-8 only
_GENRES = ('Action', 'Adventure', 'Animation', "Children's", 'Comedy',
           'Crime', 'Documentary', 'Drama', 'Fantasy', 'Film-Noir',
           'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller',
           'War', 'Western')


def _titles(rng, raw_ids, shape):
    """A made-up title and genres per movie, with what real titles hold:
    commas (``Contender, The (2000)``), accents, quotes (csv) and non-latin
    letters (UTF-8 releases)."""
    titles, genres = [], []
    years = rng.integers(1920, 2015, len(raw_ids))
    for k, (raw, year) in enumerate(zip(raw_ids.tolist(), years.tolist())):
        words = f'{_WORDS[raw % len(_WORDS)]} {raw}'
        if k % 5 == 1:
            words = f'{words}, The'
        if k % 7 == 2:
            words = f'{_ACCENTED[k % len(_ACCENTED)]} {words}'
        if k % 11 == 3 and shape['encoding'] == 'utf-8':
            words = f'{_UNICODE[k % len(_UNICODE)]} {words}'
        if k % 13 == 4 and shape['sep'] == ',':
            words = f'"Big" {words}'
        titles.append(f'{words} ({year})')
        genres.append([_GENRES[(raw + j) % len(_GENRES)]
                       for j in range(1 + k % 3)])
    return titles, genres


def _write_titles(path, rng, raw_ids, shape):
    titles, genres = _titles(rng, raw_ids, shape)
    name = shape['titles']

    def write(tmp):
        if name == 'movies.csv':
            pd.DataFrame({'movieId': raw_ids, 'title': titles,
                          'genres': ['|'.join(g) for g in genres]}).to_csv(
                tmp, index=False, encoding='utf-8', lineterminator='\n')
            return
        with open(tmp, 'w', encoding=shape['encoding'], newline='\n') as f:
            for raw, title, genre in zip(raw_ids.tolist(), titles, genres):
                if name == 'u.item':
                    flags = ['1' if g in genre else '0' for g in
                             ('unknown',) + _GENRES]
                    f.write(f'{raw}|{title}|01-Jan-{title[-5:-1]}||'
                            f'http://example.invalid/{raw}|'
                            f'{"|".join(flags)}\n')
                else:
                    f.write(f'{raw}::{title}::{"|".join(genre)}\n')
    atomic_write(path, write)


def _shape(like, num_users, num_items, num_ratings):
    if like not in SHAPES:
        raise ValueError(f'like={like!r}: expected one of '
                         f'{", ".join(SHAPES)}')
    shape = dict(SHAPES[like])
    for key, value in (('num_users', num_users), ('num_items', num_items),
                       ('num_ratings', num_ratings)):
        if value is not None:
            if int(value) != value or value < 1:
                raise ValueError(f'{key}={value!r}: expected a positive '
                                 'integer')
            shape[key] = int(value)
    for key, count in (('max_user_id', 'num_users'),
                       ('max_item_id', 'num_items')):   # keep the id gaps
        ratio = SHAPES[like][key] / SHAPES[like][count]
        shape[key] = max(shape[count], round(shape[count] * ratio))
    users, items, n = (shape['num_users'], shape['num_items'],
                       shape['num_ratings'])
    if not max(users, items) <= n <= users * items:
        raise ValueError(f'{n} ratings cannot cover {users} users and '
                         f'{items} items: expected between {max(users, items)}'
                         f' and {users * items} (users x items) ratings')
    return shape


def generate(like, out, seed=0, num_users=None, num_items=None,
             num_ratings=None):
    """Write a synthetic data set shaped and formatted like a release.

    Args:
        like: the release to imitate, a key of ``SHAPES`` (``'ml-100k'``,
            ``'ml-1m'``, ``'ml-10m'``, ``'ml-20m'``).
        out: the folder to write (created if needed); it then reads like the
            release's extracted folder: ``read_data_ml100k(out)``.
        seed: the random seed; the same seed writes the same files.
        num_users, num_items, num_ratings: other sizes than the release's
            (small test shapes); the format stays the release's.

    Returns:
        The content of ``out/synthetic.json``: the shape, the seed, the
        planted model (``planted``) and ``floor_rmse``, the RMSE of its
        noise-free predictions against the written ratings (what no model
        can beat on average), and ``planted_biases_rmse``, the same for its
        biases alone.
    """
    shape = _shape(like, num_users, num_items, num_ratings)
    num_users, num_items = shape['num_users'], shape['num_items']
    rng = onp.random.default_rng(seed)
    counts = _user_counts(rng, num_users, num_items, shape['num_ratings'])
    popularity = rng.lognormal(0.0, POPULARITY_SIGMA, num_items)
    users, items = _sample_pairs(rng, counts, popularity)
    _cover_items(rng, items, num_items)
    users, items = _sort_pairs(users, items, num_items)
    ratings, floor, bias_floor = _planted_ratings(
        rng, users, items, num_users, num_items, shape['scale'])
    times = _timestamps(rng, users, num_users, shape['period'])
    user_ids = _raw_ids(rng, num_users, shape['max_user_id'])
    item_ids = _raw_ids(rng, num_items, shape['max_item_id'])
    del counts, popularity
    if shape['order'] == 'random':
        order = rng.permutation(len(users))
    elif shape['order'] == 'user':
        order = onp.argsort(users + rng.random(len(users)))
    else:
        order = slice(None)    # as sampled: by user and item (raw ids too)
    columns = (user_ids[users[order]], item_ids[items[order]],
               ratings[order], times[order])
    del users, items, ratings, times, order
    os.makedirs(out, exist_ok=True)
    _write_ratings(os.path.join(out, shape['ratings']), columns, shape)
    top = onp.sort(onp.bincount(columns[1], minlength=1))[::-1]
    top10 = float(top[:max(1, num_items // 10)].sum() / len(columns[1]))
    del columns
    _write_titles(os.path.join(out, shape['titles']), rng, item_ids, shape)
    info = dict(like=like, num_users=num_users, num_items=num_items,
                num_ratings=shape['num_ratings'], seed=seed,
                files=[shape['ratings'], shape['titles']],
                rating_scale=list(shape['scale']),
                planted=dict(PLANTED), rank=PLANTED['rank'],
                noise_std=PLANTED['noise_std'],
                floor_rmse=floor, planted_biases_rmse=bias_floor,
                min_ratings_per_user=min(MIN_PER_USER,
                                         shape['num_ratings'] // num_users,
                                         num_items),
                top10pct_items_share=top10)

    write_json(os.path.join(out, 'synthetic.json'), info)
    return info
