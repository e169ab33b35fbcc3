"""The report's rows, each a declaration: what runs, where its settings
come from, what it is compared with and what it needs first.  Nothing here
runs anything: ``runner`` and ``tuned`` run the rows as declared, and
adding a row is adding a declaration to ``ROWS`` or ``TUNED``.
"""
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Tuple, Union


@dataclass(frozen=True)
class Metric:
    """One number a row reports.

    Attributes:
        name: its name in the report.
        key: where it is in a run's results: a key, or a path of keys and
            indices (``('full_ranking', 'hit_rate@10')``, ``('history',
            -1, 'train_loss')``).  A run whose results lack it leaves it
            out.
        scored: ``runs.reevaluate``'s options when the number comes from
            the saved run scored another way (``dict(book_item_range=True,
            ties='index')``); empty: the run's own test.
    """
    name: str
    key: Union[str, Tuple]
    scored: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """A row of the report's first table: a configuration with the book's
    or a paper's settings, run over seeds and compared with the published
    numbers.

    Attributes:
        name: the row's name (its key in ``reproduction.json``).
        model: its registry name.
        settings: ``(kind, citation)``: ``'book'`` or ``'paper'``, and
            where those settings are printed.
        metric: the headline metric (a name of ``metrics``).
        metrics: what it reports, in the report's order.
        options: the run options that make it the configuration it names
            (split, protocol, variant, the book's exact model), never a
            hyperparameter of its own.
        published: ``{metric: value}`` it is compared with, or None.
        source: where the published numbers come from (or why none).
        tolerance: a difference that still matches.
        lower_is_better: how a difference reads (RMSE, loss).
        data: what it runs on: ``'ml-100k'`` (the report's data),
            ``'ml-1m'`` or ``'ctr'`` (the book's CTR files); a row whose
            data is not given is left out.
        needs: ``{option: model}``: runs made first, with this row's
            options and seed, whose folders those options name (a
            pretrained NeuMF's GMF and MLP); an identical run of an
            earlier row is used instead.
        seeds: runs with seeds 0..seeds-1 (None: the report's ``seeds``).
    """
    name: str
    model: str
    settings: Tuple[str, str]
    metric: str
    metrics: Sequence[Metric]
    options: Mapping = field(default_factory=dict)
    published: Optional[Mapping] = None
    source: Optional[str] = None
    tolerance: float = 0.0
    lower_is_better: bool = False
    data: str = 'ml-100k'
    needs: Mapping = field(default_factory=dict)
    seeds: Optional[int] = None


@dataclass(frozen=True)
class Tuned:
    """A row of the report's tuned table: a configuration chosen by
    ``d2l-recsys tune`` on validation data, trained again and scored once
    on the test data.

    Attributes:
        name: the row's name and its leaderboard's folder in the tuning
            folder (``NAME/leaderboard.json``; nested:
            ``NAME/fold-K/leaderboard.json``).
        model: the model its search tuned and its runs train.
        protocol: shown in the report (None: a rating model).
        split: shown in the report.
        metrics: its test metrics, a report row each.
        selection: what its search read and what the row scored, with
            ``{trials}``, ``{seeds}``, ``{negatives}`` and each of
            ``recorded`` filled in.
        options: options set over the chosen configuration.
        folds: nested: fold k (``folds=folds, fold=k``) runs with the
            choice of fold k's own search (``NAME/fold-{k+1}/``); None:
            the chosen configuration runs over seeds.
        chosen: ``{option: row}``: options taken from another tuned row's
            choice; a row with them has no search of its own.
        needs: ``{option: row}``: the run of that tuned row with the same
            seed whose folder the option names.
        recorded: ``{name: key}``: a value of every run's results (a key
            or path, as ``Metric.key``) kept on the row.
        shown: the model shown in the report (default: ``model``).
    """
    name: str
    model: str
    protocol: Optional[str]
    split: str
    metrics: Sequence[Metric]
    selection: str
    options: Mapping = field(default_factory=dict)
    folds: Optional[int] = None
    chosen: Mapping = field(default_factory=dict)
    needs: Mapping = field(default_factory=dict)
    recorded: Mapping = field(default_factory=dict)
    shown: Optional[str] = None


BOOK = 'd2l book, printed output of the chapter'
SEED_PROJECT = 'NCF seed project on ML-100K (HR@10 / NDCG@10)'

# Where a row's settings come from: (kind, citation).
BOOK_MF = ('book', 'd2l, "Matrix Factorization": 30 factors, Adam lr 0.002, '
           'wd 1e-5, 20 epochs, batches of 512')
BOOK_AUTOREC = ('book', 'd2l, "AutoRec": 500 hidden units, dropout 0.05, '
                'Adam lr 0.002, wd 1e-5, 25 epochs, batches of 256')
BOOK_NEUMF = ('book', 'd2l, "Neural Collaborative Filtering for '
              'Personalized Ranking": 10 factors, tower 10-10-10, BPR, Adam '
              'lr 0.01, wd 1e-5, 10 epochs, batches of 1,024, 1 negative')
NCF_PAPER = ('paper', 'He et al. (2017), section 4.1 and the authors\' code: '
             '8 predictive factors, MLP tower 32-16-8 on embeddings of 32, '
             'Adam lr 0.001, batches of 256, 4 negatives, 20 epochs, no '
             'weight decay')
NCF_PRETRAINED = ('paper', NCF_PAPER[1] + '; NeuMF from the pretrained GMF '
                  'and MLP with alpha 0.5, fine-tuned with plain SGD '
                  '(section 3.4.1)')
NO_SETTINGS = ('paper', 'He et al. (2017), section 4.1: the evaluation '
               'protocol; ItemPop has no settings')
BOOK_CASER = ('book', 'd2l, "Sequence-Aware Recommender Systems": L 5, d 16, '
              "d' 4, k 10, dropout 0.05, BPR, Adam lr 0.04, wd 1e-5, 8 "
              'epochs, batches of 4,096')
CASER_PRINTED = ("d2l book, output of earlier builds (the current book "
                 "disables Caser's training): Hit@50 0.384, AUC 0.754; "
                 'across builds 0.358-0.413 and 0.746-0.762')
_EARLY = (', stopped on the AUC of validation data carved from the '
          'training part (10%, patience 3)')
BOOK_FM = ('book', 'd2l, "Factorization Machines": k 20, Adam lr 0.02, '
           'batches of 2,048, up to 30 epochs' + _EARLY)
BOOK_DEEPFM = ('book', 'd2l, "Deep Factorization Machines": k 10, MLP '
               '30-20-10, dropout 0.1, Adam lr 0.01, batches of 2,048, up '
               'to 30 epochs' + _EARLY)
FM_FOR_LR = ('book', "the FM section's training settings, first-order "
             'part only' + _EARLY)
CTR_PRINTED = ("d2l book, printed output: train loss FM 0.504, DeepFM 0.509 "
               "(its accuracy compares probabilities with labels and means "
               'nothing)')
BOOK_FM_CTR = ('book', 'd2l, "Factorization Machines": k 20, Adam lr 0.02, '
               '30 epochs, batches of 2,048, the sigmoid output and loss')
BOOK_DEEPFM_CTR = ('book', 'd2l, "Deep Factorization Machines": k 10, MLP '
                   '30-20-10, dropout 0.1, Adam lr 0.01, 30 epochs, batches '
                   'of 2,048, the sigmoid output and loss')
DEEPFM_CLAIM = ('no value on ML-100K; Guo et al. (2017), Table 2, claim '
                'DeepFM > FM > LR on AUC (Criteo and a company data set)')
FIELDS = ("ML-100K's fields (user, item, age band, gender, occupation, zip "
          'region, release year, 19 genres; a click at 4 stars and up; '
          'random 90/10)')

# What each kind of run reports.
RMSE = (Metric('RMSE', 'test_rmse'),
        Metric('book running-average RMSE', 'test_rmse_book_running_avg'))
NCF = (Metric('HR@10', 'hit_rate@10'), Metric('NDCG@10', 'ndcg@10'))
# Recall@10 equals HR@10 with one held-out item: see report.RECALL_NOTE
NCF_FULL = NCF + (Metric('full-ranking HR@10',
                         ('full_ranking', 'hit_rate@10')),)
_ITEM_RANGE = dict(book_item_range=True)
BOOK_RANKING = (
    Metric('Hit@50', 'hit_rate@50'), Metric('AUC', 'auc'),
    Metric("Hit@50, book's item range", 'hit_rate@50', _ITEM_RANGE),
    Metric("AUC, book's item range", 'auc', _ITEM_RANGE),
    Metric("AUC, book's item range and d2l's tie order (what the book "
           'prints)', 'auc', dict(_ITEM_RANGE, ties='index')))
CASER = (Metric('Hit@50', 'hit_rate@50'), Metric('AUC', 'auc'),
         Metric('NDCG@50', 'ndcg@50'))
CLICKS = (Metric('AUC', 'auc'), Metric('log loss', 'log_loss'),
          Metric('accuracy@0.5', 'accuracy@0.5'))
# the book prints the last epoch's training loss
CTR_LOSS = (Metric('train loss', ('history', -1, 'train_loss')),
            Metric('AUC', 'auc'), Metric('log loss', 'log_loss'))

_NCF = dict(protocol='ncf')
_BOOK = dict(protocol='book')
_EARLY_STOP = dict(validation=True, early_stop=3)
_BOOK_BLOCKS = dict(book_sigmoid=True)   # a sigmoid output, and the loss's

ROWS = [
    Row('MF, book settings (seq-aware split)', 'mf', BOOK_MF,
        'book running-average RMSE', RMSE, lower_is_better=True,
        published={'book running-average RMSE': 1.061}, source=BOOK,
        tolerance=0.01),
    Row("MF on the random 90/10 split (AutoRec's test set)", 'mf', BOOK_MF,
        'RMSE', RMSE, options=dict(split='random'), lower_is_better=True,
        source='not in the book: shows the split effect'),
    Row('AutoRec item-based, book settings (random 90/10)', 'autorec',
        BOOK_AUTOREC, 'RMSE', RMSE, lower_is_better=True,
        published={'RMSE': 0.898}, source=BOOK, tolerance=0.01),
    Row('AutoRec user-based, same split', 'autorec', BOOK_AUTOREC, 'RMSE',
        RMSE, options=dict(variant='user'), lower_is_better=True,
        source='AutoRec paper: U-AutoRec 0.874 vs I-AutoRec 0.831, on '
               'ML-1M (reference only)'),
    Row('NeuMF, book protocol (logit output, Xavier tower)', 'neumf',
        BOOK_NEUMF, 'AUC', BOOK_RANKING, options=_BOOK,
        source='the book prints none'),
    Row("NeuMF, book protocol, the book's exact model (sigmoid output, "
        'Normal(0.01) init)', 'neumf', BOOK_NEUMF, 'AUC', BOOK_RANKING,
        options=dict(_BOOK, output_activation='sigmoid',
                     dense_init='normal'),
        source='the book prints none; its scores saturate and tie, and a '
               'held-out item ranked below ties scores 0'),
    Row('ItemPop, NCF protocol', 'itempop', NO_SETTINGS, 'HR@10', NCF_FULL,
        options=_NCF, published={'HR@10': 0.4221, 'NDCG@10': 0.2269},
        source=SEED_PROJECT, tolerance=0.02),
    Row('GMF, NCF protocol', 'gmf', NCF_PAPER, 'HR@10', NCF_FULL,
        options=_NCF, source='none on ML-100K'),
    Row('MLP, NCF protocol', 'mlp', NCF_PAPER, 'HR@10', NCF_FULL,
        options=_NCF, published={'HR@10': 0.6013, 'NDCG@10': 0.3294},
        source=SEED_PROJECT, tolerance=0.02),
    Row('NeuMF without pretraining, NCF protocol', 'neumf', NCF_PAPER,
        'HR@10', NCF_FULL, options=_NCF, source='none on ML-100K'),
    Row('NeuMF with pretraining (GMF + MLP above), NCF protocol', 'neumf',
        NCF_PRETRAINED, 'HR@10', NCF_FULL, options=_NCF,
        needs=dict(pretrain_gmf='gmf', pretrain_mlp='mlp'),
        source='none on ML-100K'),
    Row("Caser, book protocol (every unseen item ranked)", 'caser',
        BOOK_CASER, 'Hit@50', CASER,
        published={'Hit@50': 0.384, 'AUC': 0.754}, source=CASER_PRINTED,
        tolerance=0.03),
    Row("Caser, book protocol with the book's item range", 'caser',
        BOOK_CASER, 'Hit@50', CASER, options=dict(book_item_range=True),
        published={'Hit@50': 0.384, 'AUC': 0.754}, source=CASER_PRINTED,
        tolerance=0.03),
    Row('Logistic regression, ' + FIELDS, 'lr', FM_FOR_LR, 'AUC', CLICKS,
        options=_EARLY_STOP, source=DEEPFM_CLAIM),
    Row('FM, ' + FIELDS, 'fm', BOOK_FM, 'AUC', CLICKS, options=_EARLY_STOP,
        source=DEEPFM_CLAIM),
    Row('DeepFM, ' + FIELDS, 'deepfm', BOOK_DEEPFM, 'AUC', CLICKS,
        options=_EARLY_STOP, source=DEEPFM_CLAIM),
    # the papers' own data (--ml1m-dir)
    Row('ML-1M: I-AutoRec, random 90/10', 'autorec', BOOK_AUTOREC, 'RMSE',
        RMSE, lower_is_better=True, published={'RMSE': 0.831},
        source='AutoRec paper (Sedhain et al., 2015)', tolerance=0.01,
        data='ml-1m'),
    Row('ML-1M: NeuMF, 64 predictive factors, pretraining', 'neumf',
        ('paper', 'He et al. (2017), Table 3 and section 4.1: 64 predictive '
         'factors, pretrained GMF and MLP, alpha 0.5, SGD fine-tuning'),
        'HR@10', NCF_FULL, needs=dict(pretrain_gmf='gmf', pretrain_mlp='mlp'),
        options=dict(_NCF, num_factors=32, mlp_factors=64,
                     nums_hiddens=[64, 32]),
        published={'HR@10': 0.730, 'NDCG@10': 0.447},
        source='NCF paper (He et al., 2017)', tolerance=0.02, data='ml-1m'),
    # the book's CTR data (--ctr-dir): the book's blocks as printed (a
    # sigmoid output under a loss that applies another), whose training
    # loss the book prints, and the same settings on logits
    Row("FM, book settings, the book's CTR data, the book's blocks (a "
        'second sigmoid in the loss)', 'fm', BOOK_FM_CTR, 'train loss',
        CTR_LOSS, options=_BOOK_BLOCKS, published={'train loss': 0.504},
        source=CTR_PRINTED, tolerance=0.01, lower_is_better=True,
        data='ctr'),
    Row("FM, book settings, the book's CTR data, logit output", 'fm',
        BOOK_FM_CTR, 'AUC', CTR_LOSS, data='ctr',
        source="none: the book's loss is of a second sigmoid"),
    Row("DeepFM, book settings, the book's CTR data, the book's blocks",
        'deepfm', BOOK_DEEPFM_CTR, 'train loss', CTR_LOSS,
        options=_BOOK_BLOCKS, published={'train loss': 0.509},
        source=CTR_PRINTED, tolerance=0.01, lower_is_better=True,
        data='ctr'),
    Row("DeepFM, book settings, the book's CTR data, logit output",
        'deepfm', BOOK_DEEPFM_CTR, 'AUC', CTR_LOSS, data='ctr',
        source="none: the book's loss is of a second sigmoid"),
]

# What a tuned row's search read and what it scored (``Tuned.selection``).
NESTED = ('nested: for each fold k, {trials} read u{{k}}.base only (fit on '
          'a random 90%, ranked by RMSE on the other 10%); the fold\'s '
          'choice trained again the same way (seed 0) and scored once on '
          'u{{k}}.test')
SEQ_AWARE = ("{trials} on the training part (every rating but each user's "
             "latest), ranked by RMSE on each user's latest remaining "
             'rating; the choice scored on the held-out latest ratings, '
             '{seeds}')
NCF_SEARCH = ("{trials} on the training data (every interaction but each "
              "user's latest), ranked by HR@10 of each user's latest "
              'remaining interaction (candidates: items the user never '
              'interacted with, so never the test item); the choice scored '
              'on the test items against {negatives} sampled negatives, '
              '{seeds}')
PRETRAINED = ('no search of its own: NeuMF initialised from the GMF and MLP '
              'runs of the two rows above (same seed), the weight of the GMF '
              'part chosen from 0, 0.05, ..., 1 by validation NDCG@10, '
              'fine-tuned with SGD and early stopping on validation HR@10, '
              'scored on the test items against {negatives} sampled '
              'negatives, {seeds} (the weights chosen: {alphas}); its time '
              'is the fine-tuning only')
TUNED_RMSE = (Metric('RMSE', 'test_rmse'),)

TUNED = [
    Tuned('mf_folds', 'mf', None, 'u1-u5', TUNED_RMSE, NESTED, folds=5),
    Tuned('autorec_folds', 'autorec', None, 'u1-u5', TUNED_RMSE, NESTED,
          folds=5),
    Tuned('mf_seq', 'mf', None, 'seq-aware', TUNED_RMSE, SEQ_AWARE,
          options=dict(split='seq-aware')),
    Tuned('gmf_ncf', 'gmf', 'ncf', 'ncf', NCF, NCF_SEARCH),
    Tuned('mlp_ncf', 'mlp', 'ncf', 'ncf', NCF, NCF_SEARCH),
    Tuned('dmf_ncf', 'dmf', 'ncf', 'ncf', NCF, NCF_SEARCH, shown='mf'),
    Tuned('neumf_pretrained', 'neumf', 'ncf', 'ncf', NCF, PRETRAINED,
          options=dict(protocol='ncf', validation=True, early_stop=3,
                       epochs=20, alpha='auto'),
          chosen=dict(num_factors='gmf_ncf', mlp_factors='mlp_ncf',
                      nums_hiddens='mlp_ncf', num_test_negatives='gmf_ncf'),
          needs=dict(pretrain_gmf='gmf_ncf', pretrain_mlp='mlp_ncf'),
          recorded=dict(alphas=('pretrained', 'alpha'))),
]


def matches(name, texts):
    """Whether a row's ``name`` contains ``texts`` (a string) or one of
    them (a list); None matches nothing."""
    texts = [texts] if isinstance(texts, str) else texts or ()
    return any(t in name for t in texts)
