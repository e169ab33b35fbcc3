"""Run each published configuration over several seeds and compare.

``reproduce(data_dir, seeds, out)`` writes ``REPRODUCTION.md``,
``reproduction.json`` and ``reproduction.html`` (plotly: published against
measured) into ``out`` and returns the report.

Each row is a declaration (``ROWS``): its model, options, where those
settings come from (``settings``: the book's printed settings, a paper's
published settings, or a search on validation data -- the tuned rows of
``tuned.tuned_rows``; nothing else), the published numbers it is compared
with and their source.  A row's ``status`` weighs every published metric
it shows (``STATUS_WORDS``).  Every row records how it was made
(``provenance.stamp``): date, commit, machine and the seconds of its own
run; the writing is ``report``'s.
"""
import os
import tempfile
import time

import numpy as onp

from . import registry
from .runs import run, run_ranking
from .devices import parse_devices
from .folders import FolderInUse, lock
from .files import read_json, write_json
from .run_folder import load_model
from .provenance import check_one_commit, context, stamp, today
from .ranking import ranking_protocol
from .report import STATUS_WORDS, write_report  # noqa: F401
from .tuned import matches, tuned_rows

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

# The metrics of each kind of run: (report name, results key).
RMSE = [('RMSE', 'test_rmse'),
        ('book running-average RMSE', 'test_rmse_book_running_avg')]
NCF = [('HR@10', 'hit_rate@10'), ('NDCG@10', 'ndcg@10')]
CASER = [('Hit@50', 'hit_rate@50'), ('AUC', 'auc'), ('NDCG@50', 'ndcg@50')]
CLICKS = [('AUC', 'auc'), ('log loss', 'log_loss'),
          ('accuracy@0.5', 'accuracy@0.5')]
CTR_LOSS = [('train loss', 'train_loss'), ('AUC', 'auc'),
            ('log loss', 'log_loss')]
FIELDS = ("ML-100K's fields (user, item, age band, gender, occupation, zip "
          'region, release year, 19 genres; a click at 4 stars and up; '
          'random 90/10)')


def _row(name, model, settings, metric, metrics=RMSE, options=None,
         published=None, source=None, tolerance=0.0, lower_is_better=False,
         kind='run', needs=()):
    """One declared row.  ``published``: ``{metric: value}``; ``kind``:
    how a seed is measured (``'run'``, ``'book_ranking'`` or ``'ncf'``);
    ``needs``: the rows whose run folders of the same seed it starts
    from (by model: pretrained GMF and MLP)."""
    return dict(name=name, model=model, options=dict(options or {}),
                settings=settings[0], settings_source=settings[1],
                metric=metric, metric_keys=metrics, published=published,
                source=source, tolerance=tolerance,
                lower_is_better=lower_is_better, kind=kind,
                needs=list(needs))


ROWS = [
    _row('MF, book settings (seq-aware split)', 'mf', BOOK_MF,
         'book running-average RMSE', lower_is_better=True,
         published={'book running-average RMSE': 1.061}, source=BOOK,
         tolerance=0.01),
    _row("MF on the random 90/10 split (AutoRec's test set)", 'mf', BOOK_MF,
         'RMSE', options=dict(split='random'), lower_is_better=True,
         source='not in the book: shows the split effect'),
    _row('AutoRec item-based, book settings (random 90/10)', 'autorec',
         BOOK_AUTOREC, 'RMSE', lower_is_better=True,
         published={'RMSE': 0.898}, source=BOOK, tolerance=0.01),
    _row('AutoRec user-based, same split', 'autorec', BOOK_AUTOREC, 'RMSE',
         options=dict(variant='user'), lower_is_better=True,
         source='AutoRec paper: U-AutoRec 0.874 vs I-AutoRec 0.831, on '
                'ML-1M (reference only)'),
    _row('NeuMF, book protocol (logit output, Xavier tower)', 'neumf',
         BOOK_NEUMF, 'AUC', kind='book_ranking', options=dict(protocol='book'),
         source='the book prints none'),
    _row("NeuMF, book protocol, the book's exact model (sigmoid output, "
         'Normal(0.01) init)', 'neumf', BOOK_NEUMF, 'AUC',
         kind='book_ranking', options=dict(
             protocol='book', output_activation='sigmoid',
             dense_init='normal'),
         source='the book prints none; its scores saturate and tie, and a '
                'held-out item ranked below ties scores 0'),
    _row('ItemPop, NCF protocol', 'itempop', NO_SETTINGS, 'HR@10', NCF,
         kind='ncf', published={'HR@10': 0.4221, 'NDCG@10': 0.2269},
         source=SEED_PROJECT, tolerance=0.02),
    _row('GMF, NCF protocol', 'gmf', NCF_PAPER, 'HR@10', NCF, kind='ncf',
         source='none on ML-100K'),
    _row('MLP, NCF protocol', 'mlp', NCF_PAPER, 'HR@10', NCF, kind='ncf',
         published={'HR@10': 0.6013, 'NDCG@10': 0.3294},
         source=SEED_PROJECT, tolerance=0.02),
    _row('NeuMF without pretraining, NCF protocol', 'neumf', NCF_PAPER,
         'HR@10', NCF, kind='ncf', source='none on ML-100K'),
    _row('NeuMF with pretraining (GMF + MLP above), NCF protocol', 'neumf',
         NCF_PRETRAINED, 'HR@10', NCF, kind='ncf', needs=('gmf', 'mlp'),
         source='none on ML-100K'),
    _row("Caser, book protocol (every unseen item ranked)", 'caser',
         BOOK_CASER, 'Hit@50', CASER, published={'Hit@50': 0.384,
                                                 'AUC': 0.754},
         source=CASER_PRINTED, tolerance=0.03),
    _row("Caser, book protocol with the book's item range", 'caser',
         BOOK_CASER, 'Hit@50', CASER, options=dict(book_item_range=True),
         published={'Hit@50': 0.384, 'AUC': 0.754}, source=CASER_PRINTED,
         tolerance=0.03),
    _row('Logistic regression, ' + FIELDS, 'lr', FM_FOR_LR, 'AUC', CLICKS,
         options=dict(validation=True, early_stop=3), source=DEEPFM_CLAIM),
    _row('FM, ' + FIELDS, 'fm', BOOK_FM, 'AUC', CLICKS,
         options=dict(validation=True, early_stop=3), source=DEEPFM_CLAIM),
    _row('DeepFM, ' + FIELDS, 'deepfm', BOOK_DEEPFM, 'AUC', CLICKS,
         options=dict(validation=True, early_stop=3), source=DEEPFM_CLAIM),
]

ML1M_ROWS = [
    _row('ML-1M: I-AutoRec, random 90/10', 'autorec', BOOK_AUTOREC, 'RMSE',
         lower_is_better=True, published={'RMSE': 0.831},
         source='AutoRec paper (Sedhain et al., 2015)', tolerance=0.01),
    _row('ML-1M: NeuMF, 64 predictive factors, pretraining', 'neumf',
         ('paper', 'He et al. (2017), Table 3 and section 4.1: 64 predictive '
          'factors, pretrained GMF and MLP, alpha 0.5, SGD fine-tuning'),
         'HR@10', NCF, kind='ncf', needs=('gmf', 'mlp'),
         options=dict(num_factors=32, mlp_factors=64, nums_hiddens=[64, 32]),
         published={'HR@10': 0.730, 'NDCG@10': 0.447},
         source='NCF paper (He et al., 2017)', tolerance=0.02),
]


# The book's CTR data (``ctr.zip``), with ``--ctr-dir``: the book's blocks
# as printed (a sigmoid output under a loss that applies another), whose
# training loss the book prints, and the same settings on logits.
_BOOK_BLOCKS = dict(book_sigmoid=True)
CTR_ROWS = [
    _row("FM, book settings, the book's CTR data, the book's blocks (a "
         'second sigmoid in the loss)', 'fm', BOOK_FM_CTR, 'train loss',
         CTR_LOSS, options=_BOOK_BLOCKS, published={'train loss': 0.504},
         source=CTR_PRINTED, tolerance=0.01, lower_is_better=True,
         kind='ctr'),
    _row("FM, book settings, the book's CTR data, logit output", 'fm',
         BOOK_FM_CTR, 'AUC', CTR_LOSS, kind='ctr',
         source="none: the book's loss is of a second sigmoid"),
    _row("DeepFM, book settings, the book's CTR data, the book's blocks",
         'deepfm', BOOK_DEEPFM_CTR, 'train loss', CTR_LOSS,
         options=_BOOK_BLOCKS, published={'train loss': 0.509},
         source=CTR_PRINTED, tolerance=0.01, lower_is_better=True,
         kind='ctr'),
    _row("DeepFM, book settings, the book's CTR data, logit output",
         'deepfm', BOOK_DEEPFM_CTR, 'AUC', CTR_LOSS, kind='ctr',
         source="none: the book's loss is of a second sigmoid"),
]


def _book_ranking(row, data_dir, seed, epochs, tmp):
    """One book-protocol run, scored with all items and with the book's
    item range (the same trained network)."""
    out = tempfile.mkdtemp(dir=tmp, prefix=f'book-{seed}-')
    res = run_ranking(model=row['model'], data_dir=data_dir, seed=seed,
                      verbose=False, out=out, **epochs, **row['options'])
    net = load_model(out)[0]
    scores = {}
    for ties in ('pessimistic', 'index'):
        ev = ranking_protocol(data_dir=data_dir, protocol='book', top_k=50,
                              book_item_range=True, ties=ties)['evaluator']
        scores[ties] = ev(net, parse_devices('cpu'))
    bug, d2l_order = scores['pessimistic'], scores['index']
    return res, {'Hit@50': res['hit_rate@50'], 'AUC': res['auc'],
                 "Hit@50, book's item range": bug['hit_rate@50'],
                 "AUC, book's item range": bug['auc'],
                 "AUC, book's item range and d2l's tie order (what the book "
                 'prints)': d2l_order['auc']}


def _ncf(row, data_dir, seed, epochs, tmp):
    """One NCF-protocol run; its folder is kept (``tmp/MODEL-SEED``) for
    the rows that start from it."""
    options = dict(row['options'], **epochs)
    parts = {part: os.path.join(tmp, f'{part}-{seed}')
             for part in row['needs']}
    for part, folder in parts.items():
        if not os.path.exists(os.path.join(folder, 'metrics.json')):
            # not run by an earlier row of this report: train it here
            run_ranking(model=part, protocol='ncf', data_dir=data_dir,
                        seed=seed, verbose=False, out=folder, **options)
    options.update({f'pretrain_{part}': folder
                    for part, folder in parts.items()})
    # the folder the rows that start from this one look for (a model
    # started from others gets a name of its own)
    name = '-'.join([row['model'], *row['needs'], str(seed)])
    res = run_ranking(model=row['model'], protocol='ncf', data_dir=data_dir,
                      seed=seed, verbose=False, out=os.path.join(tmp, name),
                      **options)
    full = res['full_ranking']   # Recall@10 equals HR@10: see report
    return res, {'HR@10': res['hit_rate@10'], 'NDCG@10': res['ndcg@10'],
                 'full-ranking HR@10': full['hit_rate@10']}


def _rating(row, data_dir, seed, epochs, tmp):
    res = run(row['model'], data_dir=data_dir, seed=seed, verbose=False,
              **epochs, **row['options'])
    return res, {name: res.get(key) for name, key in row['metric_keys']}


def _ctr(row, ctr_dir, seed, epochs, tmp):
    """One run on the CTR files; its last epoch's training loss is the
    figure the book prints."""
    res = run(row['model'], ctr_dir=ctr_dir, seed=seed, verbose=False,
              **epochs, **row['options'])
    values = dict(res, train_loss=res['history'][-1]['train_loss'])
    return res, {name: values.get(key) for name, key in row['metric_keys']}


KINDS = {'run': _rating, 'book_ranking': _book_ranking, 'ncf': _ncf,
         'ctr': _ctr}


def _status(row, metrics):
    """The row's status (``STATUS_WORDS``) over every published metric:
    ``metrics`` maps a metric to ``{mean, std}``."""
    published = row.get('published') or {}
    if not published:
        return 'no reference'
    verdicts = set()
    for name, pub in published.items():
        m = metrics[name]
        if abs(m['mean'] - pub) <= max(2 * m['std'], row.get('tolerance', 0)):
            continue
        lower = row.get('lower_is_better')
        ours_better = m['mean'] < pub if lower else m['mean'] > pub
        verdicts.add('better' if ours_better else 'worse')
    if not verdicts:
        return 'match'
    return verdicts.pop() if len(verdicts) == 1 else 'mixed'


# Options that say where a run's data and folder are, how it runs or
# when it checkpoints: not settings a reader compares.
_NOT_SETTINGS = ('data_dir', 'ctr_dir', 'dataset', 'train_file', 'test_file',
                 'ratings', 'columns', 'out', 'resume', 'pretrain_gmf',
                 'pretrain_mlp', 'frame_name', 'devices', 'kvstore', 'seed',
                 'fold', 'folds', 'with_test', 'checkpoint_every',
                 'valid_ratio', 'validation', 'early_stop')
# What a model without training (``Entry.from_counts``) is run with.
_PROTOCOL = ('protocol', 'num_test_negatives', 'top_k')


def _settings(model, config):
    """The settings of a run's stored config that a reader compares."""
    keep = _PROTOCOL if registry.get(model).from_counts else None
    return {k: v for k, v in config.items()
            if v is not None and k not in _NOT_SETTINGS
            and (keep is None or k in keep)}


def _measure(row, data_dir, seeds, quick, tmp, ctx, verbose):
    """Run one row over seeds 0..seeds-1 and record its metrics, settings,
    status and provenance in place."""
    measure = KINDS[row['kind']]
    epochs = dict(epochs=1 if row['kind'] == 'ncf' else 2) if quick else {}
    started, runs = time.perf_counter(), []
    for seed in range(seeds):
        res, values = measure(row, data_dir, seed, epochs, tmp)
        runs.append(values)
    seconds = time.perf_counter() - started
    row['config'] = _settings(row['model'], res['config'])
    row['metrics'] = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        if values:
            row['metrics'][key] = dict(
                mean=float(onp.mean(values)),
                std=float(onp.std(values, ddof=1)) if len(values) > 1
                else 0.0, values=values)
    m = row['metrics'][row['metric']]
    row['status'] = _status(row, row['metrics'])
    row['made'] = stamp(seconds, ctx)
    for key in ('metric_keys', 'kind', 'needs'):
        row.pop(key)
    if verbose:
        print(f"{row['name']}: {row['metric']} {m['mean']:.4f} ± "
              f"{m['std']:.4f} ({row['status']}, {seconds:.0f} s)",
              flush=True)


def _previous(out, needed):
    """The earlier report of ``out`` (None when not ``needed``)."""
    path = os.path.join(out, 'reproduction.json')
    if not needed:
        return None
    if not os.path.exists(path):
        raise ValueError(f'out={out!r}: keeping rows needs an earlier '
                         f'report at {path}; run the whole report first')
    return read_json(path, 'run the whole report again (--overwrite)')


def reproduce(data_dir=None, seeds=5, out='results', ml1m_dir=None,
              ctr_dir=None, quick=False, verbose=True, readme=None, tuning_dir=None,
              only_tuned=False, rows_matching=None, allow_mixed=False,
              command=None, tuned_seeds=None, overwrite=False):
    """Run every row over several seeds and write the report.

    Args:
        data_dir: MovieLens 100K.
        seeds: seeds 0..seeds-1 per row.
        out: folder for ``REPRODUCTION.md``, ``reproduction.json`` and
            ``reproduction.html``.
        ml1m_dir: MovieLens 1M, for the papers' own rows, or None.
        ctr_dir: the book's CTR data (``ctr.zip`` or its folder), for the
            rows of the book's FM and DeepFM settings on it, or None.
        quick: one or two epochs per run (checks the pipeline only).
        verbose: a line per row.
        readme: a README whose generated tables are replaced, or None.
        tuning_dir: leaderboards of ``scripts/tune.py`` (see
            ``tuned.tuned_rows``): adds the report's tuned section.
        only_tuned: keep the book-settings rows of ``out/reproduction.json``
            and run the tuned section only.
        rows_matching: run only the rows whose name contains this text (or
            one of these texts) and keep the others from
            ``out/reproduction.json``; in the tuned section, the names are
            the leaderboards' (``gmf_ncf``, ...).
        allow_mixed: keep rows made at another commit than this run's (or
            with other uncommitted changes); the report then shows each
            row's date and commit.  Without it such rows are refused.
        command: the command line to record (default: the script with
            ``--seeds``).
        tuned_seeds: runs per tuned row (default: ``seeds``; the nested
            fold rows run the five folds once).
        overwrite: replace the report ``out`` holds; without it (or rows
            to rerun) such a folder is refused.  Only the report's own
            files are replaced (``out/tuning`` stays).

    Returns:
        The report dict (as written to ``reproduction.json``).

    Raises:
        ValueError: bad ``seeds``; rows to keep but no earlier report; kept
            rows of another commit without ``allow_mixed``.
    """
    keeps = bool(only_tuned or rows_matching)
    with lock(out):
        if not keeps and not overwrite and os.path.exists(
                os.path.join(out, 'reproduction.json')):
            raise FolderInUse(
                f'{out}: already holds a report (reproduction.json); give '
                '--overwrite to replace it, --rows TEXT to rerun some of '
                'its rows, or another folder')
        return _reproduce(data_dir, seeds, out, ml1m_dir, ctr_dir, quick,
                          verbose,
                          readme, tuning_dir, only_tuned, rows_matching,
                          allow_mixed, command, tuned_seeds)


def _reproduce(data_dir, seeds, out, ml1m_dir, ctr_dir, quick, verbose,
               readme, tuning_dir, only_tuned, rows_matching, allow_mixed, command,
               tuned_seeds):
    tuned_seeds = seeds if tuned_seeds is None else tuned_seeds
    for name, value in (('seeds', seeds), ('tuned_seeds', tuned_seeds)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f'{name}={value!r}: expected a positive integer')
    started = time.perf_counter()
    # the report's own files are what this run writes, not what it runs
    ctx = context(command or f'python scripts/reproduce.py --seeds {seeds}',
                  outputs=[os.path.join(out, name) for name in (
                      'reproduction.json', 'REPRODUCTION.md',
                      'reproduction.html')] + [readme])
    earlier = _previous(out, only_tuned or rows_matching)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [] if only_tuned else [dict(r) for r in ROWS]
        if ml1m_dir and not only_tuned:
            rows += [dict(r, data_dir=ml1m_dir) for r in ML1M_ROWS]
        if ctr_dir and not only_tuned:
            rows += [dict(r, data_dir=ctr_dir) for r in CTR_ROWS]
        kept = {}
        if only_tuned:
            kept = {r['name']: r for r in earlier['rows']}
            rows = list(earlier['rows'])
        elif rows_matching:
            old = {r['name']: r for r in earlier['rows']}
            kept = {r['name']: old[r['name']] for r in rows
                    if not matches(r['name'], rows_matching) and
                    r['name'] in old}
        old_tuned = earlier.get('tuned', []) if earlier else []
        if tuning_dir and rows_matching:
            kept.update({f"tuned {r['name']} {r['metric']}": r
                         for r in old_tuned
                         if not matches(r['name'], rows_matching)})
        check_one_commit(kept, ctx, allow_mixed)
        for k, row in enumerate(rows):
            if row['name'] in kept:
                rows[k] = kept[row['name']]
            else:
                where = row.pop('data_dir', data_dir)
                _measure(row, where, seeds, quick,
                         os.path.join(tmp, 'other-data') if where != data_dir
                         else tmp, ctx, verbose)
    tuned = tuned_rows(tuning_dir, data_dir, tuned_seeds, quick, verbose,
                       rows_matching, old_tuned, ctx) \
        if tuning_dir else []
    report = dict(date=today(), **ctx,
                  seeds=seeds, tuned_seeds=tuned_seeds, quick=quick,
                  data_dir=data_dir, ml1m_dir=ml1m_dir, ctr_dir=ctr_dir,
                  seconds=time.perf_counter() - started, rows=rows,
                  tuned=tuned)
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, 'reproduction.json'), report)
    write_report(report, out, readme)
    return report
