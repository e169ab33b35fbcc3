"""Run configurations: one dataclass per model family, validated in one
place and stored as-is (``asdict``) in the run folder's ``model.json`` and
``metrics.json``.  Defaults come from ``defaults``.
"""
from dataclasses import asdict, dataclass, fields, replace
from typing import List, Optional

from . import defaults as D
from .data.formats import DATASETS
from .data.spec import DataSpec

KVSTORES = ('local', 'device', 'dist_sync', 'dist_device_sync',
            'dist_async')


def check(name, value, ok, expected):
    """Raise ``ValueError('name=value: expected ...')`` unless ``ok``."""
    if not ok:
        raise ValueError(f'{name}={value!r}: expected {expected}')


def _positive_int(name, value):
    check(name, value, isinstance(value, int) and not isinstance(value, bool)
          and value >= 1, 'a positive integer')


@dataclass
class RunConfig:
    """What every run shares.

    Attributes:
        data_dir: MovieLens folder, its parent or its zip (None: the
            ``D2L_RECSYS_DATA`` variable, else d2l's download).
        dataset: the release (``ml-100k``, ``ml-1m``, ``ml-10m``,
            ``ml-20m``, ``ml-25m``, ``ml-32m``), or None for whatever
            ``data_dir`` holds (ML-100K when downloading).
        train_file, test_file: a given train/test pair instead of a split.
        ratings: the user's own ratings file (CSV/TSV with a header naming
            user, item and optionally rating and timestamp).
        columns: its column names, ``user=...,item=...,rating=...,
            timestamp=...`` (default: those names).
        folds: cross-validation with this many folds (ML-100K's own
            u1..u5 files when the data folder has them and folds is 5,
            else a seeded split); None trains once.
        fold: the one fold a run trains on (set by the cross-validation).
        epochs, lr, wd, batch_size: training (Adam unless said otherwise).
        seed: seeds the split, the shuffles, the sampling and MXNet.
        devices: ``auto | cpu | cpu:K | gpu | gpu:0,1``.
        out: the run folder to write, or None.
        validation: carve validation data out of the training data
            (``data.validation_split``); history gains ``valid_*`` metrics.
        valid_ratio: its fraction under a random split.
        early_stop: stop after this many epochs without a better
            validation metric and restore the best epoch (needs validation).
        checkpoint_every: epochs between checkpoints in ``out``.
        resume: a run folder whose checkpoint to continue from.
        kvstore: ``local``, ``device`` (Gluon's default) or a parameter
            server's ``dist_sync``, ``dist_device_sync``, ``dist_async``
            (see ``distributed``).
    """
    data_dir: Optional[str] = None
    dataset: Optional[str] = None
    train_file: Optional[str] = None
    test_file: Optional[str] = None
    ratings: Optional[str] = None
    columns: Optional[str] = None
    folds: Optional[int] = None
    fold: Optional[int] = None
    epochs: Optional[int] = None
    lr: Optional[float] = None
    wd: Optional[float] = None
    batch_size: Optional[int] = None
    seed: int = D.COMMON['seed']
    devices: str = D.COMMON['devices']
    out: Optional[str] = None
    validation: bool = False
    valid_ratio: float = D.LIFECYCLE['valid_ratio']
    early_stop: Optional[int] = None
    checkpoint_every: int = D.LIFECYCLE['checkpoint_every']
    resume: Optional[str] = None
    kvstore: str = D.COMMON['kvstore']

    def __post_init__(self):
        self.fill_defaults()
        self.validate()

    def book_defaults(self):
        """The settings that options left None take: the model's row of
        ``defaults``."""
        return {}

    def fill_defaults(self):
        """Give every option left None its value from ``book_defaults``."""
        for key, value in self.book_defaults().items():
            if getattr(self, key) is None:
                setattr(self, key, value)

    def validate(self):
        """Check every option; raise ``ValueError`` naming the bad one."""
        check('dataset', self.dataset, self.dataset is None or
              self.dataset in DATASETS, 'one of ' + ', '.join(DATASETS))
        _positive_int('epochs', self.epochs)
        check('lr', self.lr, self.lr > 0, 'a positive number')
        check('wd', self.wd, self.wd >= 0, 'a number >= 0')
        _positive_int('batch_size', self.batch_size)
        if self.folds is not None:
            check('folds', self.folds, isinstance(self.folds, int) and
                  self.folds >= 2, 'an integer >= 2')
            check('folds', self.folds, not self.train_file,
                  'no train_file/test_file (the folds make the splits)')
        self.data_spec()    # the data options, checked where they live
        check('valid_ratio', self.valid_ratio, 0 < self.valid_ratio < 1,
              'a number between 0 and 1')
        if self.early_stop is not None:
            _positive_int('early_stop', self.early_stop)
            check('early_stop', self.early_stop, self.validation,
                  'validation=True as well (it watches the validation '
                  'metric)')
        _positive_int('checkpoint_every', self.checkpoint_every)
        check('kvstore', self.kvstore, self.kvstore in KVSTORES,
              'one of ' + ', '.join(KVSTORES))
        if self.kvstore.startswith('dist'):
            check('resume', self.resume, not self.resume,
                  'no resume under a dist kvstore (the servers hold state)')
            # MXNet 1.9's servers fail on row-sparse gradients of dense
            # weights (a size check aborts the server process)
            check('sparse_grad', getattr(self, 'sparse_grad', None),
                  not getattr(self, 'sparse_grad', None),
                  'no row-sparse gradients under a dist kvstore (MXNet '
                  "1.9's parameter server cannot apply them to dense "
                  'embedding weights)')

    def data_spec(self):
        """The ``DataSpec`` of this run's data options."""
        return DataSpec.from_options(self)

    def to_dict(self):
        """The configuration as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def option_names(cls):
        """Names of every option, in declaration order."""
        return [f.name for f in fields(cls)]


@dataclass
class RatingConfig(RunConfig):
    """Options of the rating models' runs (MF, AutoRec).

    Attributes:
        split: ``'random'`` or ``'seq-aware'`` (see ``split_data_ml100k``).
        test_ratio: test fraction of the random split.
    """
    split: Optional[str] = None
    test_ratio: Optional[float] = None

    def validate(self):
        super().validate()
        check('test_ratio', self.test_ratio, 0 < self.test_ratio < 1,
              'a number between 0 and 1')
        check('split', self.split, self.split in ('random', 'seq-aware'),
              "'random' or 'seq-aware'")


@dataclass
class MFConfig(RatingConfig):
    """Matrix factorization with the book's settings (``defaults.MF``).

    Attributes:
        sparse_grad: row-sparse embedding gradients (None: when
            ``models.mf.prefer_sparse_grad`` says they are faster).
    """
    num_factors: Optional[int] = None
    sparse_grad: Optional[bool] = None

    def book_defaults(self):
        return D.MF

    def validate(self):
        super().validate()
        _positive_int('num_factors', self.num_factors)


@dataclass
class AutoRecConfig(RatingConfig):
    """AutoRec with the book's settings (``defaults.AUTOREC``).

    Attributes:
        variant: ``'item'`` (the book) or ``'user'``.
        formulation: ``'dense'`` (the book's dense rows), ``'sparse'``
            (CSR rows, observed entries only) or ``'auto'``: sparse below
            2% observed entries (``data.rows.choose_formulation``).
    """
    num_hiddens: Optional[int] = None
    dropout: Optional[float] = None
    variant: Optional[str] = None
    formulation: Optional[str] = None

    def book_defaults(self):
        return D.AUTOREC

    def validate(self):
        super().validate()
        check('variant', self.variant, self.variant in ('item', 'user'),
              "'item' or 'user'")
        _positive_int('num_hiddens', self.num_hiddens)
        check('dropout', self.dropout, 0 <= self.dropout < 1,
              'a number in [0, 1)')
        check('formulation', self.formulation,
              self.formulation in ('auto', 'dense', 'sparse'),
              "'auto', 'dense' or 'sparse'")


LOSS_NAMES = ('bce', 'bpr', 'hinge')


@dataclass
class RankingConfig(RunConfig):
    """Options of a ranking run; those left None take the protocol's
    defaults (``defaults.PROTOCOL_DEFAULTS``) when the object is made.

    Attributes:
        model: a ranking model of the registry: ``neumf``, ``gmf``,
            ``mlp``, ``itempop`` or ``dmf`` (alias ``mf``: the dot-product
            baseline of Rendle et al. 2020, MF trained for ranking with
            sampled negatives).
        protocol: ``ncf`` (the NCF paper) or ``book`` (d2l).
        loss: ``bce``, ``bpr`` or ``hinge``.
        num_factors, mlp_factors, nums_hiddens: the model's sizes.
        num_negatives: training negatives per positive.
        num_test_negatives: sampled candidates per held-out item (ncf).
        top_k: the cut-off of HR and NDCG.
        pretrain_gmf, pretrain_mlp: run folders to initialise a NeuMF from.
        alpha: weight of the GMF part when pretraining.
        optimizer: ``adam`` or ``sgd`` (default: sgd after pretraining).
        book_item_range: rank only items ``0..num_users-1``, the book's bug.
        output_activation: ``'sigmoid'`` for the book's model, else None.
        dense_init: ``xavier`` or ``normal`` (the book's Normal(0.01)).
        prediction_bias: a bias in the prediction layer.
        sparse_grad: row-sparse embedding gradients (None: when
            ``models.mf.prefer_sparse_grad`` says they are faster).
        eval_users: evaluate a seeded sample of this many users (None:
            all).
    """
    model: str = D.RANKING['model']
    protocol: str = D.RANKING['protocol']
    loss: Optional[str] = None
    num_factors: Optional[int] = None
    nums_hiddens: Optional[List[int]] = None
    mlp_factors: Optional[int] = None
    num_negatives: Optional[int] = None
    num_test_negatives: int = D.RANKING['num_test_negatives']
    top_k: Optional[int] = None
    pretrain_gmf: Optional[str] = None
    pretrain_mlp: Optional[str] = None
    alpha: float = D.RANKING['alpha']
    optimizer: Optional[str] = None
    book_item_range: bool = False
    output_activation: Optional[str] = None
    dense_init: str = D.RANKING['dense_init']
    prediction_bias: Optional[bool] = None
    sparse_grad: Optional[bool] = None
    eval_users: Optional[int] = None

    def book_defaults(self):
        check('protocol', self.protocol,
              self.protocol in D.PROTOCOL_DEFAULTS, "'ncf' or 'book'")
        return D.PROTOCOL_DEFAULTS[self.protocol]

    def fill_defaults(self):
        super().fill_defaults()
        self.nums_hiddens = list(self.nums_hiddens)
        if self.optimizer is None:
            self.optimizer = 'sgd' if self.pretrain_gmf else 'adam'

    def data_spec(self):
        """Both protocols hold out each user's latest interaction, and
        validation takes the latest remaining one."""
        return replace(super().data_spec(), split='seq-aware',
                       valid_split='seq-aware')

    def validate(self):
        super().validate()
        check('loss', self.loss, self.loss in LOSS_NAMES,
              'bce, bpr or hinge')
        for key in ('num_factors', 'num_negatives', 'num_test_negatives',
                    'top_k'):
            _positive_int(key, getattr(self, key))
        check('nums_hiddens', self.nums_hiddens,
              self.nums_hiddens and all(h >= 1 for h in self.nums_hiddens),
              'positive layer sizes, e.g. 10,10,10')
        check('optimizer', self.optimizer, self.optimizer in ('adam', 'sgd'),
              "'adam' or 'sgd'")
        check('dense_init', self.dense_init,
              self.dense_init in ('xavier', 'normal'), "'xavier' or 'normal'")
        check('alpha', self.alpha, 0 <= self.alpha <= 1, 'a number in [0, 1]')
        if self.eval_users is not None:
            _positive_int('eval_users', self.eval_users)
        if (self.pretrain_gmf or self.pretrain_mlp) and not (
                self.pretrain_gmf and self.pretrain_mlp and
                self.model == 'neumf'):
            raise ValueError('pretrain_gmf and pretrain_mlp go together, '
                             'with model neumf')
