"""Batch jobs over files: top-k for every user, predictions for a file of
pairs.  Both stream chunk by chunk into an atomically written CSV."""
import csv

import numpy as onp
import pandas as pd

from ..files import atomic_write
from ..progress import Progress


def write_all_recommendations(predictor, path, k, exclude='rated',
                              quiet=False):
    """Write the top ``k`` of every known user as CSV rows ``user, rank,
    item, score, title`` (the data's original ids), one chunk of users at a
    time.

    Args:
        predictor: a ``Predictor``.
        path: the CSV file (written atomically).
        k: movies per user.
        exclude: ``'rated'`` or ``'train'`` (see ``predictor``).
        quiet: no progress display (see ``Progress``).

    Returns:
        ``(users, rows)``: users covered and rows written.
    """
    predictor.check_k(k)
    titles = onp.asarray(predictor.titles, dtype=object)
    total = int(predictor.known_users.sum())
    counts = [0, 0]

    def write(tmp):
        with open(tmp, 'w', newline='', encoding='utf-8') as f, \
                Progress(total, 'users', f'top-{k}', quiet) as progress:
            out = csv.writer(f)
            out.writerow(['user', 'rank', 'item', 'score', 'title'])
            for users, items, scores, index in predictor.iter_top_k(
                    k, exclude):
                keep = onp.isfinite(scores)
                ranks = onp.broadcast_to(onp.arange(1, scores.shape[1] + 1),
                                         scores.shape)
                out.writerows(zip(
                    onp.repeat(users, keep.sum(axis=1)).tolist(),
                    ranks[keep].tolist(), items[keep].tolist(),
                    scores[keep].astype(onp.float64).round(6).tolist(),
                    titles[index[keep]].tolist()))
                counts[0] += len(users)
                counts[1] += int(keep.sum())
                progress.update(len(users))
    atomic_write(path, write)
    return tuple(counts)


def _ids(frame, column, path, known):
    """A column of ids in the form of the model's ids ``known``: int64 for
    integer ids (else a ``ValueError`` naming the file and line of the
    first bad value; the frame's index counts data lines from 0), the
    stripped text for string ids."""
    text = frame[column].str.strip()
    if known.dtype.kind not in 'iu':
        return text.to_numpy(dtype=object)
    values = pd.to_numeric(text, errors='coerce')
    bad = values.isna() | (values % 1 != 0)
    if bad.any():
        row = int(onp.flatnonzero(bad.to_numpy())[0])
        line = frame.index[row] + 2
        raise ValueError(f'{path}, line {line}: {column} must be an integer '
                         f'id, got {frame[column].iloc[row]!r}')
    return values.to_numpy().astype(onp.int64)


def predict_file(predictor, path, out, chunk_rows=1 << 20):
    """Add a ``prediction`` column to a CSV of ``user,item`` pairs.

    Args:
        predictor: a ``Predictor``.
        path: a CSV with a header naming ``user`` and ``item`` (the data's
            original ids; other columns are copied).
        out: the CSV to write (atomically); the prediction is empty for a
            pair with an unknown user or item.
        chunk_rows: pairs read and scored at a time.

    Returns:
        ``(pairs, unknown)``: rows written and rows without a prediction.

    Raises:
        ValueError: a missing column or a value that is not an integer id,
            naming the file and line.
    """
    counts = [0, 0]

    def write(tmp):
        try:
            reader = pd.read_csv(path, dtype=str, keep_default_na=False,
                                 skip_blank_lines=False, chunksize=chunk_rows)
            header = True
            for frame in reader:
                frame.columns = frame.columns.str.strip()
                frame = frame[~(frame == '').all(axis=1)]   # blank lines
                for column in ('user', 'item'):
                    if column not in frame.columns:
                        raise ValueError(
                            f'{path}, line 1: no {column!r} column (the '
                            'header must name user and item, got '
                            f"{', '.join(frame.columns)})")
                users = _ids(frame, 'user', path, predictor.user_ids)
                items = _ids(frame, 'item', path, predictor.item_ids)
                preds, unknown = predictor.predict(users, items)
                frame = frame.assign(prediction=preds)
                frame.to_csv(tmp, mode='w' if header else 'a', index=False,
                             header=header, na_rep='', float_format='%.6g')
                header = False
                counts[0] += len(frame)
                counts[1] += unknown
        except pd.errors.EmptyDataError:
            raise ValueError(f'{path}, line 1: empty file; expected a header '
                             'user,item and one pair per line') from None
        except pd.errors.ParserError as e:
            raise ValueError(f'{path}: not a readable CSV ({e})') from None
        if not counts[0]:
            raise ValueError(f'{path}, line 2: no pairs after the header')
    atomic_write(out, write)
    return tuple(counts)
