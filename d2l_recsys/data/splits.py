"""Train/test splits of a ratings DataFrame (d2l's ``split_data_ml100k``
and the project's protocols built on it)."""
import os

import numpy as onp
import pandas as pd
from mxnet import np



def _uniform(n, seed):
    if seed is None:  # MXNet's global stream, exactly as d2l draws it
        return np.random.uniform(0, 1, (n,)).asnumpy()
    return onp.random.default_rng(seed).uniform(0, 1, n)


def split_data_ml100k(data, num_users, num_items, split_mode='random',
                      test_ratio=0.1, seed=None):
    """Split ratings into train and test, as d2l's function of that name.

    ``'random'``: each rating goes to test with probability ``test_ratio``.
    With ``seed=None`` the draw uses MXNet's global random stream exactly as
    d2l does, so after the same ``mx.random.seed(s)`` both pick the same rows;
    an integer ``seed`` uses a private numpy stream instead.

    ``'seq-aware'``: each user's latest rating (the first of several with the
    same latest timestamp) is the test set; the rest, user by user in time
    order, is the training set.  Row order matches d2l's.

    Args:
        data: the ratings DataFrame.
        num_users, num_items: unused (kept for d2l's signature).
        split_mode: ``'random'`` or ``'seq-aware'``.
        test_ratio: test probability of the random split.
        seed: None (MXNet's stream, as d2l) or an integer.

    Returns:
        ``(train_data, test_data)`` DataFrames.
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


def validation_split(train, split='random', valid_ratio=0.1, seed=0):
    """Carve validation data out of the training data only.

    Args:
        train: the training ratings (the test data is never touched).
        split: the run's protocol: ``'random'`` holds out a seeded fraction
            ``valid_ratio`` of the training ratings; ``'seq-aware'`` (MF's
            book split, the leave-one-out ranking protocols) holds out each
            user's latest remaining rating, by the same rule as the test.
        valid_ratio: validation fraction of the random carve-out.
        seed: seed of the random carve-out (a stream of its own, so the
            test split of the same seed is not repeated).

    Returns:
        ``(fit, valid)``: the ratings to train on and the validation ones.
    """
    if split == 'seq-aware':
        return split_data_ml100k(train, None, None, 'seq-aware')
    if not 0 < valid_ratio < 1:
        raise ValueError(f'valid_ratio={valid_ratio!r}: expected a number '
                         'between 0 and 1')
    rng = onp.random.default_rng([seed, 1])
    mask = rng.uniform(0, 1, len(train)) < 1 - valid_ratio
    return train[mask], train[~mask]


def kfold_split(data, folds, fold, seed=0):
    """Fold ``fold`` of a seeded ``folds``-fold split of the ratings.

    Args:
        data: all ratings.
        folds: number of folds (>= 2).
        fold: which one is the test part, ``0..folds-1``.
        seed: seed of the shuffle (the same for every fold of one split).

    Returns:
        ``(train, test)``: every rating is in the test part of exactly one
        fold.
    """
    if not 0 <= fold < folds:
        raise ValueError(f'fold={fold!r}: expected 0..{folds - 1}')
    order = onp.random.default_rng([seed, 2]).permutation(len(data))
    test = onp.zeros(len(data), dtype=bool)
    test[onp.array_split(order, folds)[fold]] = True
    return data[~test], data[test]


def official_fold_files(folder, fold):
    """ML-100K's own five folds: ``(u{fold+1}.base, u{fold+1}.test)`` in
    ``folder``, or None when they are not there."""
    base = os.path.join(folder, f'u{fold + 1}.base')
    test = os.path.join(folder, f'u{fold + 1}.test')
    return (base, test) if os.path.isfile(base) and os.path.isfile(test) \
        else None
