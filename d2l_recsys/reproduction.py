"""Run each published configuration over several seeds and compare.

``reproduce(data_dir, seeds, out)`` writes ``REPRODUCTION.md``,
``reproduction.json`` and ``reproduction.html`` (plotly: published against
measured) into ``out`` and returns the report.  A row's status is ``match``
when the published number lies within two standard deviations of our mean
or within the row's stated tolerance, else ``better`` or ``worse``; rows
without a published number on this data set are ``no reference``.  Every
row records how it was made (``provenance.stamp``): date, commit, machine
and the seconds of its own run.  The tuned rows are ``tuned.tuned_rows``';
the writing is ``report``'s.
"""
import os
import tempfile
import time

import numpy as onp

from .runs import run_autorec, run_mf, run_ranking
from .devices import parse_devices
from .io import load_model, read_json, write_json
from .provenance import check_one_commit, context, stamp, today
from .ranking import ranking_protocol
from .report import write_report
from .tuned import matches, tuned_rows

BOOK = 'd2l book, printed output of the chapter'
SEED_PROJECT = 'NCF seed project on ML-100K (HR@10 / NDCG@10)'
# Settings of the NCF-protocol rows (the NCF code's, but 16 GMF factors and
# a light weight decay on the MLP: see README, "Reproduction").
NCF_GMF = dict(num_factors=16, lr=0.002)
NCF_MLP = dict(lr=0.002, wd=1e-6, epochs=12)
NCF_NEUMF = dict(num_factors=16)


def _rating_rows(data_dir, quick):
    e = dict(epochs=2) if quick else {}
    return [
        dict(name='MF, book settings (seq-aware split)', metric='RMSE',
             lower_is_better=True, published=1.061, source=BOOK,
             tolerance=0.01,
             run=lambda s: _rmse(run_mf(data_dir=data_dir, seed=s,
                                        verbose=False, **e))),
        dict(name='MF on the random 90/10 split (AutoRec\'s test set)',
             metric='RMSE', lower_is_better=True, published=None,
             source='not in the book: shows the split effect',
             run=lambda s: _rmse(run_mf(data_dir=data_dir, seed=s,
                                        split='random', verbose=False, **e))),
        dict(name='AutoRec item-based, book settings (random 90/10)',
             metric='RMSE', lower_is_better=True, published=0.898,
             source=BOOK, tolerance=0.01,
             run=lambda s: _rmse(run_autorec(data_dir=data_dir, seed=s,
                                             verbose=False, **e))),
        dict(name='AutoRec user-based, same split', metric='RMSE',
             lower_is_better=True, published=None,
             source='AutoRec paper: U-AutoRec 0.874 vs I-AutoRec 0.831, '
                    'on ML-1M (reference only)',
             run=lambda s: _rmse(run_autorec(data_dir=data_dir, seed=s,
                                             variant='user', verbose=False,
                                             **e))),
    ]


def _rmse(res):
    return {'RMSE': res['test_rmse'],
            'book running-average RMSE': res.get('test_rmse_book_running_avg')}


def _book_ranking(data_dir, seed, quick, **model):
    """One book-protocol run, scored with all items and with the book's
    item range (the same trained network)."""
    with tempfile.TemporaryDirectory() as tmp:
        res = run_ranking(model='neumf', protocol='book', data_dir=data_dir,
                          seed=seed, verbose=False, out=tmp,
                          **(dict(epochs=2) if quick else {}), **model)
        net = load_model(tmp)[0]
        scores = {}
        for ties in ('pessimistic', 'index'):
            ev = ranking_protocol(data_dir=data_dir, protocol='book', top_k=50,
                                book_item_range=True, ties=ties)['evaluator']
            scores[ties] = ev(net, parse_devices('cpu'))
    bug, d2l_order = scores['pessimistic'], scores['index']
    return {'Hit@50': res['hit_rate@50'], 'AUC': res['auc'],
            "Hit@50, book's item range": bug['hit_rate@50'],
            "AUC, book's item range": bug['auc'],
            "AUC, book's item range and d2l's tie order (what the book "
            "prints)": d2l_order['auc']}


def _ncf(data_dir, seed, quick, model, tmp, **kw):
    if quick:
        kw['epochs'] = 1
    out = os.path.join(tmp, f'{model}-{seed}')
    res = run_ranking(model=model, protocol='ncf', data_dir=data_dir,
                      seed=seed, verbose=False, out=out, **kw)
    full = res['full_ranking']   # Recall@10 equals HR@10: see report
    return {'HR@10': res['hit_rate@10'], 'NDCG@10': res['ndcg@10'],
            'full-ranking HR@10': full['hit_rate@10']}


def _ranking_rows(data_dir, quick, tmp):
    def ncf(model, **kw):
        return lambda s: _ncf(data_dir, s, quick, model, tmp, **kw)

    def pretrained(s):
        return _ncf(data_dir, s, quick, 'neumf', tmp, **NCF_NEUMF,
                    pretrain_gmf=os.path.join(tmp, f'gmf-{s}'),
                    pretrain_mlp=os.path.join(tmp, f'mlp-{s}'),
                    **({} if quick else {'epochs': 5}))
    return [
        dict(name='NeuMF, book protocol (logit output, Xavier tower)',
             metric='AUC', published=None, source='the book prints none',
             run=lambda s: _book_ranking(data_dir, s, quick)),
        dict(name="NeuMF, book protocol, the book's exact model "
                  "(sigmoid output, Normal(0.01) init)",
             metric='AUC', published=None,
             source='the book prints none; its scores saturate and tie, '
                    'and a held-out item ranked below ties scores 0',
             run=lambda s: _book_ranking(data_dir, s, quick,
                                         output_activation='sigmoid',
                                         dense_init='normal')),
        dict(name='ItemPop, NCF protocol', metric='HR@10',
             published=0.4221, published_2=('NDCG@10', 0.2269),
             source=SEED_PROJECT, tolerance=0.02, run=ncf('itempop')),
        dict(name='GMF, NCF protocol', metric='HR@10', published=None,
             source='none on ML-100K', run=ncf('gmf', **NCF_GMF)),
        dict(name='MLP, NCF protocol', metric='HR@10', published=0.6013,
             published_2=('NDCG@10', 0.3294), source=SEED_PROJECT,
             tolerance=0.02, run=ncf('mlp', **NCF_MLP)),
        dict(name='NeuMF without pretraining, NCF protocol', metric='HR@10',
             published=None, source='none on ML-100K',
             run=ncf('neumf', **NCF_NEUMF)),
        dict(name='NeuMF with pretraining (GMF + MLP above), NCF protocol',
             metric='HR@10', published=None,
             source='none on ML-100K', run=pretrained),
    ]


def _ml1m_rows(ml1m_dir, quick, tmp):
    e = dict(epochs=1) if quick else {}
    return [
        dict(name='ML-1M: I-AutoRec, random 90/10', metric='RMSE',
             lower_is_better=True, published=0.831,
             source='AutoRec paper (Sedhain et al., 2015)', tolerance=0.01,
             run=lambda s: _rmse(run_autorec(data_dir=ml1m_dir, seed=s,
                                             verbose=False, **e))),
        dict(name='ML-1M: NeuMF, 64 predictive factors, pretraining',
             metric='HR@10', published=0.730, published_2=('NDCG@10', 0.447),
             source='NCF paper (He et al., 2017)', tolerance=0.02,
             run=lambda s: _ml1m_neumf(ml1m_dir, s, quick, tmp)),
    ]


def _ml1m_neumf(ml1m_dir, seed, quick, tmp):
    kw = dict(num_factors=32, mlp_factors=64, nums_hiddens=[64, 32])
    for model in ('gmf', 'mlp'):
        _ncf(ml1m_dir, seed, quick, model, tmp + '/1m', **kw)
    return _ncf(ml1m_dir, seed, quick, 'neumf', tmp + '/1m', **kw,
                pretrain_gmf=os.path.join(tmp + '/1m', f'gmf-{seed}'),
                pretrain_mlp=os.path.join(tmp + '/1m', f'mlp-{seed}'))


def _status(row, mean, std):
    pub = row.get('published')
    if pub is None:
        return 'no reference'
    if abs(mean - pub) <= max(2 * std, row.get('tolerance', 0)):
        return 'match'
    ours_better = mean < pub if row.get('lower_is_better') else mean > pub
    return 'better' if ours_better else 'worse'


def _measure(row, seeds, ctx, verbose):
    """Run one row over seeds 0..seeds-1 and record its metrics, status and
    provenance in place."""
    started, runs = time.perf_counter(), []
    for seed in range(seeds):
        runs.append(row['run'](seed))
    seconds = time.perf_counter() - started
    row.pop('run')
    row['metrics'] = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        if values:
            row['metrics'][key] = dict(
                mean=float(onp.mean(values)),
                std=float(onp.std(values, ddof=1)) if len(values) > 1
                else 0.0, values=values)
    m = row['metrics'][row['metric']]
    row['status'] = _status(row, m['mean'], m['std'])
    row['made'] = stamp(seconds, ctx)
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
    return read_json(path)


def reproduce(data_dir=None, seeds=5, out='results', ml1m_dir=None,
              quick=False, verbose=True, readme=None, tuning_dir=None,
              only_tuned=False, rows_matching=None, allow_mixed=False,
              command=None, tuned_seeds=None):
    """Run every row over several seeds and write the report.

    Args:
        data_dir: MovieLens 100K.
        seeds: seeds 0..seeds-1 per row.
        out: folder for ``REPRODUCTION.md``, ``reproduction.json`` and
            ``reproduction.html``.
        ml1m_dir: MovieLens 1M, for the papers' own rows, or None.
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

    Returns:
        The report dict (as written to ``reproduction.json``).

    Raises:
        ValueError: bad ``seeds``; rows to keep but no earlier report; kept
            rows of another commit without ``allow_mixed``.
    """
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
        rows = [] if only_tuned else _rating_rows(data_dir, quick) + \
            _ranking_rows(data_dir, quick, tmp)
        if ml1m_dir and not only_tuned:
            rows += _ml1m_rows(ml1m_dir, quick, tmp)
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
                _measure(row, seeds, ctx, verbose)
    tuned = tuned_rows(tuning_dir, data_dir, tuned_seeds, quick, verbose,
                       rows_matching, old_tuned, ctx) \
        if tuning_dir else []
    report = dict(date=today(), **ctx,
                  seeds=seeds, tuned_seeds=tuned_seeds, quick=quick,
                  data_dir=data_dir, ml1m_dir=ml1m_dir,
                  seconds=time.perf_counter() - started, rows=rows,
                  tuned=tuned)
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, 'reproduction.json'), report)
    write_report(report, out, readme)
    return report
