"""MovieLens files -> pandas -> numpy/MXNet arrays, d2l-compatible.

The public functions keep the names, arguments, return values and meaning of
``d2l==1.0.3`` (``read_data_ml100k``, ``split_data_ml100k``,
``load_data_ml100k``, ``split_and_load_ml100k``) and add two keyword
arguments: ``data_dir=`` (where the ratings are) and ``seed=`` (a private
random stream instead of MXNet's global one).  What differs is speed: every
step is vectorised (the book loops row by row, parses with
``engine='python'`` and does an O(N*U) list search in its seq-aware split).

Where the data comes from, first match wins:

1. the ``data_dir`` argument (``--data-dir`` in the scripts);
2. the environment variable ``D2L_RECSYS_DATA``;
3. the book's way: d2l's ``DATA_HUB['ml-100k']`` entry, downloaded with
   ``d2l.download`` into ``../data`` and checked against its SHA-1.

Each may name an extracted folder (``u.data`` for ML-100K, ``ratings.dat``
for ML-1M), its parent, or the zip file.  Ids that are not ``1..N`` (ML-1M's
movie ids have gaps) are renumbered densely; ``data.attrs['user_ids']`` and
``data.attrs['item_ids']`` keep the original id of each dense id.
"""
import hashlib
import io
import os
import zipfile

import numpy as onp
import pandas as pd

ENV_VAR = 'D2L_RECSYS_DATA'
COLUMNS = ['user_id', 'item_id', 'rating', 'timestamp']
RATING_RANGE = (1, 5)
DEFAULT_CACHE = os.path.join('..', 'data')  # where d2l itself caches downloads


# --------------------------------------------------------------------------
# Finding the data
# --------------------------------------------------------------------------
def _find_ratings_file(folder):
    """Return the ratings file inside ``folder`` or one level below, or None."""
    for sub in ('', 'ml-100k', 'ml-1m'):
        for name in ('u.data', 'ratings.dat'):
            path = os.path.join(folder, sub, name)
            if os.path.isfile(path):
                return path
    return None


def safe_extract(zip_path, target_dir):
    """Extract ``zip_path`` into ``target_dir``, refusing any member whose
    path would land outside it (absolute paths, ``..``)."""
    target = os.path.realpath(target_dir)
    with zipfile.ZipFile(zip_path) as zf:
        for member in zf.namelist():
            dest = os.path.realpath(os.path.join(target, member))
            if os.path.commonpath([target, dest]) != target:
                raise ValueError(f'{zip_path}: refusing to extract member '
                                 f'{member!r}: it would be written outside '
                                 f'{target_dir}')
        zf.extractall(target)


def _ratings_file_from(path):
    """A folder, its parent, or a zip -> the ratings file it holds."""
    if not os.path.exists(path):
        raise FileNotFoundError(f'{path}: no such file or folder')
    if os.path.isfile(path) and zipfile.is_zipfile(path):
        folder = os.path.dirname(os.path.abspath(path))
        found = _find_ratings_file(folder)
        if found is None:
            safe_extract(path, folder)
            found = _find_ratings_file(folder)
        if found is None:
            raise FileNotFoundError(f'{path}: the zip holds no u.data or '
                                    'ratings.dat')
        return found
    if os.path.isfile(path):
        return path
    found = _find_ratings_file(path)
    if found is None:
        raise FileNotFoundError(f'{path}: no u.data (ML-100K) or ratings.dat '
                                '(ML-1M) in this folder or its ml-100k/ or '
                                'ml-1m/ subfolder')
    return found


def _download_with_d2l(name='ml-100k', cache_dir=DEFAULT_CACHE):
    """The book's way: d2l's DATA_HUB entry and download helper."""
    from d2l import mxnet as d2l
    url, sha1 = d2l.DATA_HUB[name]
    fname = d2l.download(name, folder=cache_dir)
    digest = hashlib.sha1()
    with open(fname, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    if digest.hexdigest() != sha1:
        raise ValueError(f'{fname}: SHA-1 {digest.hexdigest()} does not match '
                         f"d2l's DATA_HUB entry {sha1} for {url}")
    return fname


def resolve_ratings_file(data_dir=None):
    """Return the path of the ratings file to read (see module docstring)."""
    if data_dir:
        return _ratings_file_from(os.fspath(data_dir))
    if os.environ.get(ENV_VAR):
        try:
            return _ratings_file_from(os.environ[ENV_VAR])
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{ENV_VAR}={os.environ[ENV_VAR]}: {e}') \
                from None
    try:
        return _ratings_file_from(_download_with_d2l())
    except Exception as e:  # offline, blocked, corrupted download ...
        raise FileNotFoundError(
            'MovieLens 100K is not available. Provide it in one of three '
            'ways: (1) pass data_dir= / --data-dir PATH (the ml-100k folder '
            f'or ml-100k.zip); (2) set {ENV_VAR}=PATH; (3) let d2l download '
            'it from DATA_HUB into ../data (needs network). The download '
            f'failed with: {type(e).__name__}: {e}') from None


# --------------------------------------------------------------------------
# Reading and validating ratings files
# --------------------------------------------------------------------------
def _first_bad_line(path, lines, sep, rating_range):
    """Slow path, only taken when the fast parse failed: find the culprit."""
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.rstrip('\r\n').split(sep)
        where = f'{path}, line {lineno}'
        if len(fields) != 4:
            return ValueError(f'{where}: expected 4 fields (user, item, '
                              f'rating, timestamp) separated by {sep!r}, '
                              f'found {len(fields)}: {line.strip()!r}')
        for name, value in zip(('user id', 'item id', 'timestamp'),
                               (fields[0], fields[1], fields[3])):
            try:
                int(value)
            except ValueError:
                return ValueError(f'{where}: {name} must be an integer, got '
                                  f'{value!r}')
        try:
            rating = float(fields[2])
        except ValueError:
            return ValueError(f'{where}: rating must be a number, got '
                              f'{fields[2]!r}')
        if rating_range and not rating_range[0] <= rating <= rating_range[1]:
            return ValueError(f'{where}: rating {fields[2]} is outside '
                              f'{rating_range[0]}..{rating_range[1]}')
    return ValueError(f'{path}: could not be parsed as a ratings file')


def read_ratings(path, sep=None, rating_range=RATING_RANGE):
    """Read one ratings file (``u.data`` format, or ML-1M's ``::`` format)
    into a DataFrame with columns ``user_id, item_id, rating, timestamp``,
    raw ids as in the file.  Malformed input raises ``ValueError`` naming the
    file and line; ``rating_range=None`` accepts any rating."""
    path = os.fspath(path)
    if sep is None:
        sep = '::' if os.path.basename(path) == 'ratings.dat' else '\t'
    with open(path, 'rb') as f:
        raw = f.read()
    if not raw.strip():
        raise ValueError(f'{path}: the file is empty; expected one rating per '
                         f'line: user{sep}item{sep}rating{sep}timestamp')
    body = raw.replace(sep.encode(), b'\t') if sep != '\t' else raw
    try:
        df = pd.read_csv(io.BytesIO(body), sep='\t', header=None,
                         names=COLUMNS, engine='c',
                         dtype={'user_id': onp.int64, 'item_id': onp.int64,
                                'rating': onp.float64,
                                'timestamp': onp.int64})
        ok = True
    except (ValueError, pd.errors.ParserError):
        ok = False
    if ok and rating_range:
        r = df['rating'].to_numpy()
        ok = bool(((r >= rating_range[0]) & (r <= rating_range[1])).all())
    if not ok:
        lines = raw.decode('latin-1').splitlines()
        raise _first_bad_line(path, lines, sep, rating_range)
    if (df['rating'] % 1 == 0).all():
        df['rating'] = df['rating'].astype(onp.int64)
    return df


def _dense_ids(raw_ids):
    """Raw ids -> (dense 1-based ids, original id of each dense id)."""
    uniq, dense = onp.unique(raw_ids, return_inverse=True)
    return dense.astype(onp.int64) + 1, uniq


def densify(frames):
    """Renumber users and items of one or more frames to ``1..N`` with one
    shared mapping.  Ids already equal to ``1..N`` keep their values.
    Returns (frames, num_users, num_items)."""
    sizes = [len(f) for f in frames]
    cat = pd.concat(frames, ignore_index=True)
    attrs = {}
    for col, key in (('user_id', 'user_ids'), ('item_id', 'item_ids')):
        dense, uniq = _dense_ids(cat[col].to_numpy())
        cat[col] = dense
        attrs[key] = uniq
    out, start = [], 0
    for n in sizes:
        part = cat.iloc[start:start + n].reset_index(drop=True)
        part.attrs.update(attrs)
        out.append(part)
        start += n
    return out, len(attrs['user_ids']), len(attrs['item_ids'])


def read_data_ml100k(data_dir=None):
    """Read MovieLens ratings -> ``(data, num_users, num_items)`` as d2l.

    ``data`` has columns ``user_id, item_id, rating, timestamp`` in file
    order, ids renumbered to ``1..N`` where needed (see ``densify``)."""
    path = resolve_ratings_file(data_dir)
    (data,), num_users, num_items = densify([read_ratings(path)])
    data.attrs['source'] = path
    return data, num_users, num_items


def read_train_test(train_file, test_file, rating_range=RATING_RANGE):
    """A given train/test pair in ``u.data`` format (e.g. ``u1.base`` and
    ``u1.test``), renumbered with one shared mapping.
    Returns ``(train, test, num_users, num_items)``."""
    frames = [read_ratings(train_file, rating_range=rating_range),
              read_ratings(test_file, rating_range=rating_range)]
    (train, test), num_users, num_items = densify(frames)
    return train, test, num_users, num_items


def read_item_titles(data_dir=None, item_ids=None):
    """Movie titles by dense item id (1-based), from ``u.item`` (ML-100K,
    latin-1, ``|``-separated) or ``movies.dat`` (ML-1M, ``::``).
    ``item_ids`` maps dense ids to raw ids (``data.attrs['item_ids']``)."""
    folder = os.path.dirname(resolve_ratings_file(data_dir))
    if os.path.isfile(os.path.join(folder, 'u.item')):
        path, sep = os.path.join(folder, 'u.item'), '|'
    else:
        path, sep = os.path.join(folder, 'movies.dat'), '::'
    titles = {}
    with open(path, encoding='latin-1') as f:
        for line in f:
            fields = line.rstrip('\r\n').split(sep)
            if len(fields) >= 2 and fields[0].strip():
                titles[int(fields[0])] = fields[1]
    if item_ids is None:
        return titles
    return {k + 1: titles.get(int(raw), f'item {raw}')
            for k, raw in enumerate(item_ids)}


# --------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------
def _uniform(n, seed):
    if seed is None:  # MXNet's global stream, exactly as d2l draws it
        from mxnet import np
        return np.random.uniform(0, 1, (n,)).asnumpy()
    return onp.random.default_rng(seed).uniform(0, 1, n)


def split_data_ml100k(data, num_users, num_items, split_mode='random',
                      test_ratio=0.1, seed=None):
    """Split ratings into ``(train_data, test_data)`` DataFrames, as d2l.

    ``'random'``: each rating goes to test with probability ``test_ratio``.
    With ``seed=None`` the draw uses MXNet's global random stream exactly as
    d2l does, so after the same ``mx.random.seed(s)`` both pick the same rows;
    an integer ``seed`` uses a private numpy stream instead.

    ``'seq-aware'``: each user's latest rating (the first of several with the
    same latest timestamp) is the test set; the rest, user by user in time
    order, is the training set.  Row order matches d2l's.
    """
    if split_mode == 'seq-aware':
        users = data['user_id'].to_numpy()
        times = data['timestamp'].to_numpy()
        pos = onp.arange(len(data))
        # Test: per user, max timestamp, earliest file position among ties.
        order = onp.lexsort((-pos, times, users))
        last = onp.r_[users[order][1:] != users[order][:-1], True]
        test_rows = order[last]
        first_seen = pd.unique(users)  # d2l lists test users in this order
        test_rows = test_rows[onp.searchsorted(users[test_rows], first_seen)]
        test_data = data.iloc[test_rows].reset_index(drop=True)
        # Train: the others, by user then time (stable); d2l also drops any
        # exact duplicate of a test row.
        order = onp.lexsort((pos, times, users))
        train_data = data.iloc[order]
        dup = train_data.merge(test_data.drop_duplicates(), how='left',
                               on=list(data.columns[:4]), indicator=True)
        keep = (dup['_merge'] == 'left_only').to_numpy()
        train_data = train_data[keep].reset_index(drop=True)
        return train_data, test_data
    if split_mode != 'random':
        raise ValueError(f"split_mode must be 'random' or 'seq-aware', got "
                         f'{split_mode!r}')
    if not 0 < test_ratio < 1:
        raise ValueError(f'test_ratio must be between 0 and 1, got '
                         f'{test_ratio}')
    mask = _uniform(len(data), seed) < 1 - test_ratio
    return data[mask], data[~mask]


# --------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------
def rating_arrays(data):
    """(user index, item index, rating) as numpy, by position like d2l."""
    cols = data.iloc[:, :3].to_numpy()
    return cols[:, 0].astype(onp.int64) - 1, cols[:, 1].astype(onp.int64) - 1, \
        cols[:, 2]


def interaction_matrix(data, num_users, num_items, transpose=False):
    """Dense float32 rating matrix, items x users (users x items with
    ``transpose=True``); unobserved entries are 0."""
    users, items, scores = rating_arrays(data)
    mat = onp.zeros((num_items, num_users), dtype=onp.float32)
    mat[items, users] = scores
    return mat.T.copy() if transpose else mat


def load_data_ml100k(data, num_users, num_items, feedback='explicit'):
    """``(users, items, scores, inter)`` as d2l: 0-based indices and scores
    (numpy arrays where d2l returns lists); ``inter`` is the items x users
    rating matrix (an MXNet array, as d2l's) for explicit feedback, or a dict
    user -> list of items (in data order) for implicit feedback."""
    if feedback not in ('explicit', 'implicit'):
        raise ValueError(f"feedback must be 'explicit' or 'implicit', got "
                         f'{feedback!r}')
    users, items, scores = rating_arrays(data)
    if feedback == 'explicit':
        from mxnet import np
        scores = scores.astype(onp.int64)
        inter = np.array(interaction_matrix(data, num_users, num_items))
        return users, items, scores, inter
    order = onp.argsort(users, kind='stable')      # keeps data order
    uniq, starts = onp.unique(users[order], return_index=True)
    chunks = dict(zip(uniq.tolist(), onp.split(items[order], starts[1:])))
    inter = {u: chunks[u].tolist() for u in pd.unique(users).tolist()}
    return users, items, onp.ones(len(users), dtype=onp.int64), inter


class ArrayIter:
    """Mini-batches over aligned arrays, yielded as MXNet arrays.

    The fast replacement of ``gluon.data.DataLoader(ArrayDataset(...))``:
    the arrays are copied into MXNet once, permuted once per epoch, and each
    batch is a slice (the DataLoader stacks samples one by one in Python).
    ``last_batch`` is ``'keep'`` (a short last batch), ``'discard'`` or
    ``'rollover'`` (left-over samples start the next epoch, as the book's
    training loaders).  One array yields arrays, several yield tuples.
    """

    def __init__(self, *arrays, batch_size, shuffle=False, last_batch='keep',
                 seed=None):
        from mxnet import np
        if not arrays or any(len(a) != len(arrays[0]) for a in arrays):
            raise ValueError('ArrayIter needs one or more arrays of equal '
                             'length')
        if batch_size < 1:
            raise ValueError(f'batch_size must be positive, got {batch_size}')
        if last_batch not in ('keep', 'discard', 'rollover'):
            raise ValueError(f'unknown last_batch {last_batch!r}')
        self.arrays = [np.array(a, dtype=onp.asarray(a).dtype)
                       for a in arrays]
        self.num_examples = len(arrays[0])
        self.batch_size, self.shuffle = batch_size, shuffle
        self.last_batch = last_batch
        self._rng = onp.random.default_rng(seed)
        self._carry = onp.zeros(0, dtype=onp.int64)

    def __len__(self):
        n = self.num_examples + len(self._carry)
        if self.last_batch == 'keep':
            return -(-n // self.batch_size)
        return n // self.batch_size

    def __iter__(self):
        from mxnet import np
        n = self.num_examples
        if not self.shuffle and not len(self._carry):
            idx, arrays = onp.arange(n), self.arrays
        else:
            idx = self._rng.permutation(n) if self.shuffle else onp.arange(n)
            idx = onp.concatenate([self._carry, idx])
            order = np.array(idx, dtype=onp.int64)
            arrays = [np.take(a, order, axis=0) for a in self.arrays]
        full = len(idx) // self.batch_size * self.batch_size
        self._carry = (idx[full:] if self.last_batch == 'rollover'
                       else onp.zeros(0, dtype=onp.int64))
        stop = len(idx) if self.last_batch == 'keep' else full
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, stop)
            batch = tuple(a[start:end] for a in arrays)
            yield batch if len(batch) > 1 else batch[0]


def rating_iters(train_data, test_data, batch_size, seed=None,
                 feedback='explicit'):
    """``(train_iter, test_iter)`` of ``(user indices, item indices,
    scores)`` batches: training batches shuffled with rollover (as the
    book's loaders), test batches in order.  Implicit scores are all 1."""
    iters = []
    for part, train in ((train_data, True), (test_data, False)):
        u, i, r = rating_arrays(part)
        if feedback == 'implicit':
            r = onp.ones(len(u))
        iters.append(ArrayIter(
            u.astype(onp.int32), i.astype(onp.int32), r.astype(onp.float32),
            batch_size=batch_size, shuffle=train,
            last_batch='rollover' if train else 'keep', seed=seed))
    return tuple(iters)


def split_and_load_ml100k(split_mode='seq-aware', feedback='explicit',
                          test_ratio=0.1, batch_size=256, data_dir=None,
                          seed=None):
    """``(num_users, num_items, train_iter, test_iter)`` as d2l: iterators of
    ``(user indices, item indices, scores)`` batches; training batches are
    shuffled with rollover, test batches keep file order."""
    if feedback not in ('explicit', 'implicit'):
        raise ValueError(f"feedback must be 'explicit' or 'implicit', got "
                         f'{feedback!r}')
    data, num_users, num_items = read_data_ml100k(data_dir)
    train_data, test_data = split_data_ml100k(
        data, num_users, num_items, split_mode, test_ratio, seed=seed)
    return (num_users, num_items,
            *rating_iters(train_data, test_data, batch_size, seed, feedback))


# --------------------------------------------------------------------------
# Implicit feedback: interactions and negative sampling
# --------------------------------------------------------------------------
def interaction_mask(users, items, num_users, num_items):
    """Boolean users x items matrix: True where a (user, item) pair occurs."""
    mask = onp.zeros((num_users, num_items), dtype=bool)
    mask[onp.asarray(users), onp.asarray(items)] = True
    return mask


def sample_negatives(users, mask, num, rng):
    """``num`` items per entry of ``users`` drawn uniformly among the items
    that user has no interaction with (``mask[u, j]`` False), vectorised by
    rejection: draw everywhere, redraw only the collisions."""
    users = onp.asarray(users)
    full = mask.all(axis=1)
    if full[users].any():
        raise ValueError(f'user {int(users[full[users]][0])} has interacted '
                         'with every item: no negative to sample')
    out = rng.integers(0, mask.shape[1], (len(users), num))
    bad = mask[users[:, None], out]
    while bad.any():
        out[bad] = rng.integers(0, mask.shape[1], int(bad.sum()))
        bad = mask[users[:, None], out]
    return out


def sample_test_negatives(mask, num, rng):
    """For every user, ``num`` distinct items it never interacted with (the
    NCF protocol's candidates, drawn once).  Returns (num_users, num)."""
    out = onp.empty((mask.shape[0], num), dtype=onp.int64)
    for u in range(mask.shape[0]):
        allowed = onp.flatnonzero(~mask[u])
        if len(allowed) < num:
            raise ValueError(f'user {u} has only {len(allowed)} items without '
                             f'interaction; cannot draw {num} test negatives')
        out[u] = rng.choice(allowed, num, replace=False)
    return out


class NegativeSamplingIter:
    """Training batches for implicit feedback with negatives redrawn every
    epoch, excluding each user's training items.

    Pointwise (NCF): each positive ``(u, i)`` is joined by ``num_negatives``
    pairs ``(u, j)``; batches are ``(users, items, labels)`` with labels 1/0.
    Pairwise (``pairwise=True``, BPR and hinge, the book's ``PRDataset``):
    batches are ``(users, positive items, negative items)``, one triple per
    positive and negative.  The book redraws with a Python set difference per
    sample; here one vectorised draw serves the whole epoch.
    """

    def __init__(self, users, items, num_users, num_items, num_negatives=4,
                 pairwise=False, batch_size=256, seed=None):
        self.users = onp.asarray(users, dtype=onp.int64)
        self.items = onp.asarray(items, dtype=onp.int64)
        self.mask = interaction_mask(self.users, self.items, num_users,
                                     num_items)
        self.num_negatives, self.pairwise = num_negatives, pairwise
        self.batch_size = batch_size
        self._rng = onp.random.default_rng(seed)

    def __len__(self):
        n = len(self.users) * (self.num_negatives + (not self.pairwise))
        return -(-n // self.batch_size)

    def __iter__(self):
        k = self.num_negatives
        neg = sample_negatives(self.users, self.mask, k, self._rng)  # (n, k)
        if self.pairwise:
            arrays = (onp.repeat(self.users, k), onp.repeat(self.items, k),
                      neg.ravel())
        else:
            n = len(self.users)
            arrays = (onp.concatenate([self.users, onp.repeat(self.users, k)]),
                      onp.concatenate([self.items, neg.ravel()]),
                      onp.r_[onp.ones(n), onp.zeros(n * k)])
        arrays = [a.astype(onp.int32) for a in arrays[:2]] + \
            [arrays[2].astype(onp.int32 if self.pairwise else onp.float32)]
        yield from ArrayIter(*arrays, batch_size=self.batch_size,
                             shuffle=True, seed=self._rng.integers(2 ** 31))
