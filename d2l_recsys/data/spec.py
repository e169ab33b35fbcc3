"""Which data a run uses, said once: ``DataSpec`` describes it and
``materialize`` turns it into everything a consumer needs.

A run folder stores its spec (inside the run's configuration); training,
resuming, re-evaluation, tuning, the predictor, export and the service all
call ``materialize`` on it, so they see the same ratings, the same split
and the same id maps.  Nothing here knows a model or a training loop.

Sources (first that is set wins):

* ``ratings`` -- the user's own CSV/TSV file with a header (``tables``),
  columns mapped by ``columns``; ids of any type.
* ``train_file`` + ``test_file`` -- a given pair (e.g. ``u1.base``,
  ``u1.test``): the files' own split.
* an in-memory DataFrame handed to ``materialize(spec, frame=df)``.
* ``data_dir`` / ``dataset`` -- a MovieLens release (``formats``).

Splits of a single source: ``split='random'`` (a ``test_ratio`` of the
ratings, seeded), ``'seq-aware'`` (each user's latest rating: the book's MF
split and the ranking protocols' leave-one-out) or fold ``fold`` of
``folds`` (ML-100K's own ``u1..u5`` files when ``folds`` is 5 and they are
beside the ratings, else a seeded k-fold split).  ``validation`` carves
validation data out of the training part only (``valid_split``: each
user's latest remaining rating, or a random ``valid_ratio``; by default
seq-aware exactly when the test split is a seq-aware split of one source).

``with_test=False`` gives the training part only, as a search's trial must
see it: a given test file is never opened, the test part of a split is
dropped, and the id maps cover the training part alone.  Validation is
then the only held-out data (``validation`` must be on).
"""
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Optional

import numpy as onp
import pandas as pd

from .formats import (densify, read_data_ml100k, read_item_titles,
                      read_ratings, read_train_test, resolve_ratings_file)
from .splits import (kfold_split, official_fold_files, split_data_ml100k,
                     validation_split)

SPLITS = ('random', 'seq-aware')


@dataclass(frozen=True)
class DataSpec:
    """Where a run's ratings come from and how they are split.

    Attributes:
        data_dir, dataset: a MovieLens folder (its parent or zip) and
            release (None: ``$D2L_RECSYS_DATA``, else d2l's download).
        train_file, test_file: a given train/test pair.
        ratings: the user's own ratings file (CSV or TSV with a header).
        columns: its column names, ``'user=...,item=...[,rating=...]
            [,timestamp=...]'`` or a dict (default: those names).
        features: other columns of ``ratings`` (or of the DataFrame) kept
            as text beside the ratings, the feature fields of FM, DeepFM
            and logistic regression: names separated by commas.
        split: ``'random'`` or ``'seq-aware'``.
        test_ratio: test fraction of the random split.
        folds, fold: cross-validation: fold ``fold`` (0-based) of ``folds``.
        seed: seeds the random split, the folds and the carve-out.
        validation: carve validation data out of the training data.
        valid_ratio: its fraction under a random carve-out.
        valid_split: ``'random'``, ``'seq-aware'`` or None (the rule in the
            module docstring).
        frame_name: set when the ratings are an in-memory DataFrame handed
            to ``materialize`` (a run folder then says it needs one).
        with_test: read the test part; False: the training part only
            (``test_file`` may then be absent, and is not read if given).
    """
    data_dir: Optional[str] = None
    dataset: Optional[str] = None
    train_file: Optional[str] = None
    test_file: Optional[str] = None
    ratings: Optional[str] = None
    columns: object = None
    features: Optional[str] = None
    split: str = 'random'
    test_ratio: float = 0.1
    folds: Optional[int] = None
    fold: Optional[int] = None
    seed: int = 0
    validation: bool = False
    valid_ratio: float = 0.1
    valid_split: Optional[str] = None
    frame_name: Optional[str] = None
    with_test: bool = True

    def __post_init__(self) -> None:
        if self.test_file and not self.train_file:
            raise ValueError('test_file: give train_file with it')
        if self.train_file and not self.test_file and self.with_test:
            raise ValueError('train_file and test_file must be given '
                             'together')
        if not self.with_test and not self.validation:
            raise ValueError('with_test=False: a run without its test part '
                             'needs validation=True (the only data it '
                             'scores)')
        sources = [name for name, given in (
            ('data_dir/dataset', self.data_dir or self.dataset),
            ('train_file/test_file', self.train_file),
            ('ratings', self.ratings), ('a DataFrame', self.frame_name))
            if given]
        if len(sources) > 1:
            raise ValueError(f'{" and ".join(sources)}: give one source of '
                             'ratings')
        if self.columns and not (self.ratings or self.frame_name):
            raise ValueError('columns: it maps the columns of --ratings (or '
                             'of a DataFrame); give that too')
        if self.features and not (self.ratings or self.frame_name):
            raise ValueError('features: they name columns of --ratings (or '
                             'of a DataFrame); give that too (MovieLens '
                             "folders' fields are fixed: see "
                             'data.attributes)')
        if self.split not in SPLITS:
            raise ValueError(f"split={self.split!r}: expected 'random' or "
                             "'seq-aware'")
        if self.valid_split not in (None,) + SPLITS:
            raise ValueError(f'valid_split={self.valid_split!r}: expected '
                             "'random', 'seq-aware' or None")
        if self.fold is not None and not (
                self.folds and 0 <= self.fold < self.folds):
            raise ValueError(f'fold={self.fold!r}: expected an integer in '
                             f'0..folds-1 (folds={self.folds!r})')

    @classmethod
    def from_options(cls, options: Any) -> 'DataSpec':
        """The spec of a run's options (a dict or a config object): the
        fields of ``DataSpec`` it has; the rest is ignored."""
        get = options.get if isinstance(options, dict) else \
            (lambda k, d=None: getattr(options, k, d))
        values = {f.name: get(f.name) for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if v is not None})

    def to_dict(self) -> dict:
        return asdict(self)

    def split_key(self) -> tuple:
        """What fixes the test part: the source and the split (the seed
        where it draws one).  Two specs with equal keys hold out the same
        ratings; a network trained on one saw no test rating of the
        other."""
        data_dir = self.data_dir or os.environ.get('D2L_RECSYS_DATA')
        paths = [os.path.abspath(os.path.expanduser(p)) if p else None
                 for p in (data_dir, self.train_file, self.test_file,
                           self.ratings)]
        kfold = self.fold is not None
        drawn = (self.split == 'random' and not self.train_file) or kfold
        return (*paths, self.dataset, str(self.columns), self.frame_name,
                None if self.train_file or kfold else self.split,
                self.test_ratio if drawn and not kfold else None,
                self.folds, self.fold, self.seed if drawn else None)

    def carve_out(self) -> str:
        """The validation split's rule: ``'seq-aware'`` or ``'random'``."""
        if self.valid_split:
            return self.valid_split
        single = self.fold is None and not self.train_file
        return 'seq-aware' if self.split == 'seq-aware' and single \
            else 'random'

    def describe(self) -> str:
        """A short text naming the source and the split (for messages)."""
        source = self.ratings or self.frame_name or (
            self.train_file and f'{self.train_file} + {self.test_file}') \
            or self.data_dir or os.environ.get('D2L_RECSYS_DATA') or \
            'MovieLens (download)'
        split = 'files' if self.train_file else (
            f'fold {self.fold + 1}/{self.folds}' if self.fold is not None
            else self.split)
        return f'{source} ({split})'


@dataclass
class RunData:
    """A materialized spec: DataFrames with dense 1-based ids, all sharing
    one id map.

    Attributes:
        spec: the ``DataSpec``.
        train: the ratings to fit on (after the validation carve-out).
        valid: the validation ratings, or None.
        test: the held-out ratings (None under ``with_test=False``).
        train_all: the training part before the carve-out (``train`` when
            there is no validation).
        num_users, num_items: sizes of the id spaces.
        user_ids, item_ids: the original id of each 0-based index.
        folder: where titles may be found (None for an own file or frame).
    """
    spec: DataSpec
    train: pd.DataFrame
    valid: Optional[pd.DataFrame]
    test: Optional[pd.DataFrame]
    train_all: pd.DataFrame
    num_users: int
    num_items: int
    user_ids: onp.ndarray
    item_ids: onp.ndarray
    folder: Optional[str] = field(default=None, repr=False)

    @property
    def rating_scale(self) -> Optional[tuple]:
        """``(lowest, highest, step)`` of the ratings, read from the data."""
        return self.train_all.attrs.get('rating_scale')

    @property
    def implicit(self) -> bool:
        """Whether the data has no ratings (every score is 1)."""
        return bool(self.train_all.attrs.get('implicit'))

    def heldout(self) -> pd.DataFrame:
        """Validation and test ratings together (what a user rated that
        the model did not fit on)."""
        parts = [p for p in (self.valid, self.test) if p is not None]
        if len(parts) == 1:
            return parts[0]
        return pd.concat(parts, ignore_index=True)

    def titles(self) -> Optional[list[str]]:
        """A title per item index ('' where unknown), or None when the
        source has no titles file."""
        if self.folder is None:
            return None
        try:
            titles = read_item_titles(self.folder, self.item_ids)
        except (OSError, ValueError):
            return None
        return [titles.get(k + 1, '') for k in range(self.num_items)]


def _own(spec, frame):
    """The user's own ratings (a file or a DataFrame), ids densified."""
    from .tables import from_frame, parse_columns, read_table
    columns = spec.columns
    if isinstance(columns, str):
        columns = parse_columns(columns)
    data = read_table(spec.ratings, columns, features=spec.features) \
        if spec.ratings else from_frame(frame, columns, spec.frame_name or
                                        'DataFrame', spec.features)
    (data,), num_users, num_items = densify([data])
    return data, num_users, num_items


def _single(spec, frame):
    """All ratings of a single source and the folder of its titles."""
    if spec.frame_name and frame is None:
        raise ValueError(f'{spec.describe()}: the run trained on an in-memory '
                         'DataFrame; hand it over again, e.g. '
                         'load_predictor(folder, frame=df)')
    if spec.ratings or frame is not None:
        return _own(spec, frame), None
    data, num_users, num_items = read_data_ml100k(spec.data_dir,
                                                  spec.dataset)
    return (data, num_users, num_items), \
        os.path.dirname(data.attrs['source'])


def _pair(spec, train_file, test_file):
    """A train/test file pair, or the training file alone (test None)
    when the spec leaves the test part out."""
    if not spec.with_test:
        (train,), _, _ = densify([read_ratings(train_file)])
        return train, None
    return read_train_test(train_file, test_file)[:2]


def _training_only(train):
    """The training part of a split, its ids renumbered over it alone
    (``attrs`` still map each dense id to the source's raw id)."""
    (part,), _, _ = densify([train])
    for key in ('user_ids', 'item_ids'):
        if key in train.attrs:
            part.attrs[key] = onp.asarray(train.attrs[key])[
                onp.asarray(part.attrs[key]) - 1]
    return part


def _train_test(spec, frame):
    """``(train, test, folder)`` of the spec's source and split (test
    None under ``with_test=False``)."""
    if spec.train_file:
        return (*_pair(spec, spec.train_file, spec.test_file),
                os.path.dirname(os.path.abspath(
                    os.path.expanduser(spec.train_file))))
    if spec.fold is not None and spec.folds == 5 and not spec.ratings \
            and frame is None:
        folder = os.path.dirname(resolve_ratings_file(spec.data_dir,
                                                      spec.dataset))
        files = official_fold_files(folder, spec.fold)
        if files:
            return (*_pair(spec, *files), folder)
    (data, num_users, num_items), folder = _single(spec, frame)
    if spec.fold is not None:
        train, test = kfold_split(data, spec.folds, spec.fold, spec.seed)
    else:
        if spec.split == 'seq-aware' and \
                data.attrs.get('has_timestamp') is False:
            raise ValueError(f'{spec.describe()}: the seq-aware split '
                             "(each user's latest rating held out; the "
                             'ranking protocols use it) needs a timestamp '
                             'column; map one with --columns timestamp=NAME '
                             '(a rating model may use --split random '
                             'instead)')
        train, test = split_data_ml100k(data, num_users, num_items,
                                        spec.split, spec.test_ratio,
                                        seed=spec.seed)
    if not spec.with_test:
        return _training_only(train), None, folder
    return train, test, folder


def materialize(spec: DataSpec,
                frame: Optional[pd.DataFrame] = None) -> RunData:
    """Everything a consumer needs of a spec's data.

    Args:
        spec: a ``DataSpec``.
        frame: the in-memory DataFrame of a run on one (``rs.fit``).

    Returns:
        A ``RunData``.
    """
    train_all, test, folder = _train_test(spec, frame)
    train, valid = train_all, None
    if spec.validation:
        train, valid = validation_split(train_all, spec.carve_out(),
                                        spec.valid_ratio, spec.seed)
    attrs = train_all.attrs
    return RunData(spec, train, valid, test, train_all,
                   len(attrs['user_ids']), len(attrs['item_ids']),
                   onp.asarray(attrs['user_ids']),
                   onp.asarray(attrs['item_ids']), folder)


def rating_split(data_dir: Optional[str] = None,
                 train_file: Optional[str] = None,
                 test_file: Optional[str] = None, split: str = 'random',
                 test_ratio: float = 0.1, seed: int = 0,
                 dataset: Optional[str] = None) -> tuple:
    """``(train, test, num_users, num_items)`` of a MovieLens folder's split
    or of a file pair: ``materialize`` of that ``DataSpec``, as a tuple."""
    data = materialize(DataSpec(data_dir=data_dir, dataset=dataset,
                                train_file=train_file, test_file=test_file,
                                split=split, test_ratio=test_ratio,
                                seed=seed))
    return data.train, data.test, data.num_users, data.num_items
