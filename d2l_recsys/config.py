"""Run configurations: one dataclass per model family.  Each option is
declared once, here: its field carries its help text and how a command
line parses it (``opt``); the scripts' argparse options and the README's
option tables are built from these fields (``cli.add_config_options``,
``cli.options_table``), and values left None take the book's or the
protocol's defaults from ``defaults`` when a config is made.  A config is
validated in one place and stored as-is (``asdict``) in the run folder's
``run.json``.
"""
from dataclasses import asdict, dataclass, field, fields, replace
from typing import List, Optional, Union

from . import defaults as D
from . import parse as P
from .data.formats import DATASETS
from .data.rows import FORMULATIONS
from .data.spec import SPLITS, DataSpec

KVSTORES = ('local', 'device', 'dist_sync', 'dist_device_sync',
            'dist_async')
LOSS_NAMES = ('bce', 'bpr', 'hinge')


def opt(help, default=None, group='model', **parse):
    """A config field with its command-line face: ``help``, its argparse
    ``group`` ('data', 'training', 'lifecycle' or 'model') and ``parse``
    (argparse's ``type``, ``choices``, ``metavar``; ``flag=True`` for an
    on/off switch, ``cli=False`` for a field set by the program only)."""
    return field(default=default,
                 metadata=dict(help=help, group=group, **parse))


def _data(help, **parse):
    return opt(help, group='data', **parse)


def check(name, value, ok, expected):
    """Raise ``ValueError('name=value: expected ...')`` unless ``ok``."""
    if not ok:
        raise ValueError(f'{name}={value!r}: expected {expected}')


def _positive_int(name, value):
    check(name, value, isinstance(value, int) and not isinstance(value, bool)
          and value >= 1, 'a positive integer')


@dataclass
class RunConfig:
    """What every run shares (each field's ``help`` says what it is)."""
    data_dir: Optional[str] = _data(
        'MovieLens folder, its parent or its zip (default: '
        '$D2L_RECSYS_DATA, else download through d2l)', metavar='DIR')
    dataset: Optional[str] = _data(
        'the release to read or download (default: what --data-dir holds; '
        'ml-100k when downloading)', choices=DATASETS)
    train_file: Optional[str] = _data(
        "ratings to train on, in a release's format (with --test-file; "
        'replaces the split)', metavar='FILE')
    test_file: Optional[str] = _data('held-out ratings', metavar='FILE')
    ratings: Optional[str] = _data(
        'your own ratings: a CSV or TSV file with a header naming user, '
        'item and optionally rating and timestamp (ids of any type)',
        metavar='FILE')
    columns: Optional[str] = _data(
        'column names of --ratings, e.g. user=user_id,item=sku,'
        'rating=stars,timestamp=ts', metavar='MAP')
    folds: Optional[int] = _data(
        'K-fold cross-validation (ML-100K: its own u1..u5 files for K=5 '
        'when present)', type=P.at_least_two, metavar='K')
    fold: Optional[int] = _data(
        'with --folds: train and score this fold alone (0-based: the '
        "cross-validation's fold-1/ is 0)", type=P.nonneg_int, metavar='K')
    frame_name: Optional[str] = _data('the in-memory DataFrame a run trains '
                                      'on (set by rs.fit)', cli=False)
    with_test: bool = opt('read and score the test part (False: the '
                          "training part only, as a search's trials see "
                          'it; set by tune)', True, 'data', cli=False)
    epochs: Optional[int] = opt('training epochs', group='training',
                                type=P.positive_int)
    lr: Optional[float] = opt('learning rate', group='training',
                              type=P.positive_float)
    wd: Optional[float] = opt('weight decay', group='training',
                              type=P.nonneg_float)
    batch_size: Optional[int] = opt('examples per step', group='training',
                                    type=P.positive_int)
    seed: int = opt('seeds the split, the shuffles, the sampling and MXNet',
                    D.COMMON['seed'], 'training', type=int)
    devices: str = opt('auto | cpu | cpu:K | gpu | gpu:0,1',
                       D.COMMON['devices'], 'training')
    kvstore: str = opt(
        'dist_*: a parameter-server job started by python -m '
        'd2l_recsys.launch', D.COMMON['kvstore'], 'training',
        choices=KVSTORES)
    out: Optional[str] = opt('the run folder to write (scripts: '
                             'runs/NAME-TIME)', group='lifecycle')
    validation: bool = opt(
        "carve validation data out of the training data (each user's "
        'latest remaining rating under a seq-aware split, else a '
        '--valid-ratio of it)', False, 'lifecycle', flag=True)
    valid_ratio: float = opt('validation fraction under a random split',
                             D.LIFECYCLE['valid_ratio'], 'lifecycle',
                             type=P.ratio)
    early_stop: Optional[int] = opt(
        'stop after PATIENCE epochs without a better validation metric and '
        'restore the best epoch (needs --validation)', group='lifecycle',
        type=P.positive_int, metavar='PATIENCE')
    checkpoint_every: int = opt('epochs between checkpoints in --out',
                                D.LIFECYCLE['checkpoint_every'],
                                'lifecycle', type=P.positive_int,
                                metavar='K')
    resume: Optional[str] = opt(
        'continue the run in DIR from its checkpoint, in DIR (its stored '
        'options are used; only --epochs, --devices and --checkpoint-every '
        'may be typed to change them)', group='lifecycle', metavar='DIR')
    overwrite: bool = opt(
        'replace what --out holds (a run folder is otherwise refused)',
        False, 'lifecycle', flag=True)

    # The option whose value picks the defaults table (the ranking
    # protocol, MF's preset); None: the class has one table.
    TABLE_KEY = None

    def __post_init__(self):
        self.fill_defaults()
        self.validate()

    @classmethod
    def default_tables(cls):
        """The defaults tables by the value of ``TABLE_KEY`` ({} when the
        class has one table)."""
        return {}

    @classmethod
    def table_defaults(cls, **choices):
        """The defaults that options left None take (the model's row of
        ``defaults``; ``choices``: the ``TABLE_KEY`` value picking it, by
        default that option's own default)."""
        tables = cls.default_tables()
        if not tables:
            return {}
        key = cls.TABLE_KEY
        value = choices.get(key, next(f.default for f in fields(cls)
                                      if f.name == key))
        check(key, value, value in tables,
              ' or '.join(repr(t) for t in tables))
        return tables[value]

    def book_defaults(self):
        if self.TABLE_KEY is None:
            return self.table_defaults()
        return self.table_defaults(
            **{self.TABLE_KEY: getattr(self, self.TABLE_KEY)})

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

    def pretrained_runs(self):
        """Run folders whose trained blocks this run starts from (the
        entry's ``pretrain`` copies them in): none but for a NeuMF."""
        return ()

    def to_dict(self):
        """The configuration as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def option_names(cls):
        """Names of every option, in declaration order."""
        return [f.name for f in fields(cls)]


# Options of the ranking protocols, shared by the classes that have them.
TEST_NEGATIVES = opt('sampled candidates per held-out item (ncf)',
                     D.RANKING['num_test_negatives'], 'data',
                     type=P.positive_int)
TOP_K = opt('the cut-off of HR and NDCG', group='data', type=P.positive_int)
BOOK_ITEM_RANGE = opt("rank only items 0..num_users-1, the book's bug",
                      False, 'data', flag=True)

_SPARSE_GRAD = opt('row-sparse embedding gradients with lazy Adam updates; '
                   'when not given, on where num_users + num_items >= 16 x '
                   'batch size and >= 8192, where they are faster (ML-100K '
                   'stays dense)', flag=True)


@dataclass
class RatingConfig(RunConfig):
    """Options of the rating models' runs (MF, AutoRec)."""
    split: Optional[str] = _data(
        "random: a --test-ratio of the ratings; seq-aware: each user's "
        'latest rating', choices=SPLITS)
    test_ratio: Optional[float] = _data('test fraction of the random split',
                                        type=P.ratio)
    bias_init: Optional[str] = opt(
        "normal: every weight from Normal(0.01), as the book; mean: the "
        "output biases start at the training ratings' mean (MF's item "
        "biases, AutoRec's decoder biases)", group='training',
        choices=('normal', 'mean'))
    lr_decay: Optional[float] = opt(
        'multiply the learning rate by this after every epoch',
        group='training', type=P.positive_float)

    def validate(self):
        super().validate()
        check('test_ratio', self.test_ratio, 0 < self.test_ratio < 1,
              'a number between 0 and 1')
        check('lr_decay', self.lr_decay, 0 < self.lr_decay <= 1,
              'a number in (0, 1]')
        check('bias_init', self.bias_init,
              self.bias_init in ('normal', 'mean'), "'normal' or 'mean'")
        check('split', self.split, self.split in SPLITS,
              "'random' or 'seq-aware'")


@dataclass
class MFConfig(RatingConfig):
    """Matrix factorization with the book's settings (``defaults.MF``), or
    the settings of another preset (``defaults.MF_PRESETS``)."""
    preset: str = opt(
        "book: the chapter's settings; fast: the same model trained in "
        'large batches with row-sparse gradients, biases started at the '
        'mean and a decaying learning rate (for large data)', 'book',
        'training', choices=tuple(D.MF_PRESETS))
    num_factors: Optional[int] = opt('latent factors per user and item',
                                     type=P.positive_int)
    sparse_grad: Optional[bool] = _SPARSE_GRAD

    TABLE_KEY = 'preset'

    @classmethod
    def default_tables(cls):
        return D.MF_PRESETS

    def validate(self):
        super().validate()
        _positive_int('num_factors', self.num_factors)


@dataclass
class AutoRecConfig(RatingConfig):
    """AutoRec with the book's settings (``defaults.AUTOREC``)."""
    num_hiddens: Optional[int] = opt('hidden units', type=P.positive_int)
    dropout: Optional[float] = opt('dropout on the hidden layer',
                                   type=P.ratio)
    variant: Optional[str] = opt('item-based (the book) or user-based '
                                 'AutoRec', choices=('item', 'user'))
    formulation: Optional[str] = opt(
        'dense rows (the book) or CSR rows scored at the observed entries '
        'only (same model and loss); auto: CSR below 2%% observed entries '
        '(ML-10M and larger)', choices=FORMULATIONS)

    @classmethod
    def table_defaults(cls, **choices):
        return D.AUTOREC

    def validate(self):
        super().validate()
        check('variant', self.variant, self.variant in ('item', 'user'),
              "'item' or 'user'")
        _positive_int('num_hiddens', self.num_hiddens)
        check('dropout', self.dropout, 0 <= self.dropout < 1,
              'a number in [0, 1)')
        check('formulation', self.formulation,
              self.formulation in FORMULATIONS,
              "'auto', 'dense' or 'sparse'")


@dataclass
class RankingConfig(RunConfig):
    """Options of a ranking run; those left None take the protocol's
    defaults (``defaults.PROTOCOL_DEFAULTS``) when the object is made."""
    model: str = opt('a ranking model of the registry (mf and dmf: '
                     'dot-product MF trained for ranking, Rendle et al. '
                     '2020)', D.RANKING['model'], cli=False)
    protocol: str = opt(
        "ncf: the NCF paper; book: the book's NeuMF section",
        D.RANKING['protocol'], 'data', choices=tuple(D.PROTOCOL_DEFAULTS))
    loss: Optional[str] = opt('training loss', choices=LOSS_NAMES)
    num_factors: Optional[int] = opt('GMF factors', type=P.positive_int)
    mlp_factors: Optional[int] = opt('MLP embedding size (None: '
                                     '--num-factors)', type=P.positive_int)
    nums_hiddens: Optional[List[int]] = opt('the MLP tower, e.g. 10,10,10',
                                            type=P.layer_sizes)
    num_negatives: Optional[int] = opt('training negatives per positive',
                                       type=P.positive_int)
    num_test_negatives: int = TEST_NEGATIVES
    top_k: Optional[int] = TOP_K
    pretrain_gmf: Optional[str] = opt('run folder of a GMF run to '
                                      'initialise a NeuMF from (with '
                                      '--pretrain-mlp)', metavar='DIR')
    pretrain_mlp: Optional[str] = opt('run folder of an MLP run',
                                      metavar='DIR')
    alpha: Union[float, str] = opt(
        'weight of the GMF part when pretraining; auto: of 0, 0.05, ..., '
        '1, the best on validation NDCG (21 evaluations; needs '
        '--validation)', D.RANKING['alpha'], type=P.unit_or_auto)
    optimizer: Optional[str] = opt('default: sgd after pretraining, else '
                                   'adam', group='training',
                                   choices=('adam', 'sgd'))
    book_item_range: bool = BOOK_ITEM_RANGE
    output_activation: Optional[str] = opt("the book's sigmoid on the score",
                                           choices=('sigmoid',))
    dense_init: str = opt("initialisation of the towers (normal: the "
                          "book's Normal(0.01))", D.RANKING['dense_init'],
                          choices=('xavier', 'normal'))
    prediction_bias: Optional[bool] = opt('a bias in the prediction layer',
                                          flag=True)
    sparse_grad: Optional[bool] = _SPARSE_GRAD
    eval_users: Optional[int] = opt(
        'evaluate a seeded sample of N users (default: all); metrics.json '
        'records how many', group='data', type=P.positive_int, metavar='N')

    TABLE_KEY = 'protocol'

    @classmethod
    def default_tables(cls):
        return D.PROTOCOL_DEFAULTS

    def fill_defaults(self):
        super().fill_defaults()
        self.nums_hiddens = list(self.nums_hiddens)
        if self.optimizer is None:
            self.optimizer = 'sgd' if self.pretrain_gmf else 'adam'

    def pretrained_runs(self):
        return (self.pretrain_gmf, self.pretrain_mlp) if self.pretrain_gmf \
            else ()

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
        check('alpha', self.alpha, self.alpha == 'auto' or (
            isinstance(self.alpha, (int, float)) and 0 <= self.alpha <= 1),
            "a number in [0, 1] or 'auto'")
        if self.alpha == 'auto' and not (self.pretrain_gmf and
                                         self.validation):
            raise ValueError("alpha='auto' is chosen on validation data: it "
                             'needs pretrain_gmf, pretrain_mlp and '
                             'validation=True')
        if self.eval_users is not None:
            _positive_int('eval_users', self.eval_users)
        if bool(self.pretrain_gmf) != bool(self.pretrain_mlp):
            raise ValueError('pretrain_gmf and pretrain_mlp go together')
