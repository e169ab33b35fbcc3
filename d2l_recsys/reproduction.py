"""Run each published configuration over several seeds and compare.

``reproduce(data_dir, seeds, out)`` writes ``REPRODUCTION.md``,
``reproduction.json`` and ``reproduction.html`` (plotly: published against
measured) into ``out`` and returns the rows.  A row's status is ``match``
when the published number lies within two standard deviations of our mean
or within the row's stated tolerance, else ``better`` or ``worse``; rows
without a published number on this data set are ``no reference``.
"""
import datetime
import os
import platform
import re
import tempfile
import time

import mxnet as mx
import numpy as onp
import plotly.graph_objects as go

from .runs import run_autorec, run_mf, run_ranking
from . import registry
from .plot import save_figure
from .devices import parse_devices
from .io import load_model, read_json, write_json, write_text
from .ranking import ranking_protocol

BOOK = 'd2l book, printed output of the chapter'
RECALL_NOTE = ('With one held-out item per user, full-ranking Recall@10 '
               'equals HR@10 by construction, so it is not repeated.')
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
    full = res['full_ranking']   # Recall@10 equals HR@10: see RECALL_NOTE
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


def reproduce(data_dir=None, seeds=5, out='results', ml1m_dir=None,
              quick=False, verbose=True, readme=None, tuning_dir=None,
              only_tuned=False, rows_matching=None):
    """Run every row over several seeds and write the report.

    Args:
        data_dir: MovieLens 100K.
        seeds: seeds 0..seeds-1 per row.
        out: folder for ``REPRODUCTION.md``, ``reproduction.json`` and
            ``reproduction.html``.
        ml1m_dir: MovieLens 1M, for the papers' own rows, or None.
        quick: one or two epochs per run (checks the pipeline only).
        verbose: a line per row.
        readme: a README whose reproduction table is regenerated, or None.
        tuning_dir: leaderboards of ``scripts/tune.py`` (see
            ``tuned_rows``): adds the report's ``tuned`` section.
        only_tuned: keep the book-settings rows of ``out/reproduction.json``
            and run the tuned section only.
        rows_matching: run only the rows whose name contains this text and
            keep the others from ``out/reproduction.json`` (each row records
            the date it was measured); in the tuned section, the names are
            the leaderboards' (``TUNED``: ``gmf_ncf``, ``mf_u1``, ...).

    Returns:
        The report dict (as written to ``reproduction.json``).
    """
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f'seeds={seeds!r}: expected a positive integer')
    started = time.perf_counter()
    previous = os.path.join(out, 'reproduction.json')
    with tempfile.TemporaryDirectory() as tmp:
        rows = [] if only_tuned else _rating_rows(data_dir, quick) + \
            _ranking_rows(data_dir, quick, tmp)
        if ml1m_dir:
            rows += _ml1m_rows(ml1m_dir, quick, tmp)
        kept = {}
        if rows_matching:
            kept = {r['name']: r for r in read_json(previous)['rows']}
            for r in kept.values():   # equal to HR@10: see RECALL_NOTE
                r['metrics'].pop('full-ranking Recall@10', None)
        for row in rows:
            if rows_matching and rows_matching not in row['name'] and \
                    row['name'] in kept:
                row.update(kept[row['name']])
                row.pop('run', None)
                continue
            runs, times = [], []
            for seed in range(seeds):
                t0 = time.perf_counter()
                runs.append(row['run'](seed))
                times.append(time.perf_counter() - t0)
            row.pop('run')
            row['metrics'] = {}
            for key in runs[0]:
                values = [r[key] for r in runs if r[key] is not None]
                if values:
                    row['metrics'][key] = dict(
                        mean=float(onp.mean(values)),
                        std=float(onp.std(values, ddof=1))
                        if len(values) > 1 else 0.0, values=values)
            m = row['metrics'][row['metric']]
            row['status'] = _status(row, m['mean'], m['std'])
            row['seconds_per_seed'] = float(onp.mean(times))
            row['measured'] = datetime.date.today().isoformat()
            if verbose:
                print(f"{row['name']}: {row['metric']} {m['mean']:.4f} ± "
                      f"{m['std']:.4f} ({row['status']}, "
                      f"{row['seconds_per_seed']:.0f} s/seed)", flush=True)
    earlier = read_json(previous).get('tuned', []) \
        if rows_matching and os.path.exists(previous) else []
    tuned = tuned_rows(tuning_dir, data_dir, seeds, quick, verbose,
                       rows_matching, earlier) if tuning_dir else []
    report = dict(date=datetime.date.today().isoformat(), seeds=seeds,
                  quick=quick, data_dir=data_dir, ml1m_dir=ml1m_dir,
                  machine=machine(),
                  seconds=time.perf_counter() - started, rows=rows,
                  tuned=tuned)
    if only_tuned:
        kept = read_json(previous)
        report = dict(kept, tuned=tuned, tuned_date=report['date'],
                      tuned_seconds=report['seconds'])
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, 'reproduction.json'), report)
    _write_markdown(report, os.path.join(out, 'REPRODUCTION.md'))
    save_figure(_figure(rows), os.path.join(out, 'reproduction.html'))
    if readme:
        update_readme(readme, report)
    return report


def _fmt(m):
    return f"{m['mean']:.4f} ± {m['std']:.4f}"


def markdown_table(rows):
    """The report's rows as a Markdown table: one line per configuration
    (its headline metric, the published number and its source, our mean and
    sample std, time per seed, status), then one line per other metric.

    Args:
        rows: the ``rows`` of a report.

    Returns:
        The table, a string.
    """
    lines = ['| configuration | metric | published (source) | ours, mean ± '
             'std | time/seed | status |', '| --- | --- | --- | --- | --- | '
             '--- |']
    for r in rows:
        pub = '—' if r['published'] is None else f"{r['published']:.4f}"
        ours = _fmt(r['metrics'][r['metric']])
        lines.append(f"| {r['name']} | {r['metric']} | {pub} "
                     f"({r['source']}) | {ours} | "
                     f"{r['seconds_per_seed']:.0f} s | {r['status']} |")
        extra = [(k, m) for k, m in r['metrics'].items() if k != r['metric']]
        for key, m in extra:
            pub2 = r.get('published_2')
            shown = f'{pub2[1]:.4f}' if pub2 and pub2[0] == key else ''
            lines.append(f'| | {key} | {shown} | {_fmt(m)} | | |')
    return '\n'.join(lines)


def machine():
    """What ran the report.

    Returns:
        ``{cpu, cores, mxnet, python, gpus}``: the CPU model, its cores, the
        MXNet and Python versions and the number of GPUs MXNet sees.
    """
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [l.split(':', 1)[1].strip() for l in f
                     if l.startswith('model name')]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return dict(cpu=cpu, cores=os.cpu_count(), mxnet=mx.__version__,
                python=platform.python_version(),
                gpus=mx.context.num_gpus())


def _machine_text(m):
    if not m:
        return 'a machine it did not record'
    gpus = f"{m['gpus']} GPU(s)" if m['gpus'] else 'no GPU'
    return (f"{m['cpu']}, {m['cores']} cores, {gpus}, MXNet {m['mxnet']}, "
            f"Python {m['python']}")


def _write_markdown(report, path):
    quick = ' (QUICK MODE: shortened training, not a reproduction)' \
        if report['quick'] else ''
    text = (f"# Reproduction report{quick}\n\n"
            f"Generated by `python scripts/reproduce.py --seeds "
            f"{report['seeds']}` on {report['date']} "
            f"({report['seconds'] / 60:.0f} min on "
            f"{_machine_text(report['machine'])}). Each row "
            f"is run with seeds 0..{report['seeds'] - 1}; *match* means the "
            "published number lies within two standard deviations of our "
            "mean or within the row's tolerance (0.01 RMSE for the book's "
            "single printed runs, 0.02 HR@10 for sampled-negative "
            "protocols). Standard deviations are sample ones (n - 1). "
            + RECALL_NOTE + "\n\n" + markdown_table(report['rows']) + '\n')
    if report.get('tuned'):
        text += ('\n## Tuned (chosen on validation data only)\n\n'
                 'Each configuration was chosen by `scripts/tune.py` on '
                 'validation data carved from the training data (random '
                 'search, early stopping); the test data was scored only '
                 'by the runs below, over five seeds (or ML-100K\'s five '
                 'folds u1..u5). `command` reproduces a row.\n\n'
                 + tuned_table(report['tuned']) + '\n')
    write_text(path, text)


def _figure(rows):
    shown = [r for r in rows if r['published'] is not None]
    fig = go.Figure()
    fig.add_bar(name='published', x=[r['name'] for r in shown],
                y=[r['published'] for r in shown])
    fig.add_bar(name='ours (mean ± std)', x=[r['name'] for r in shown],
                y=[r['metrics'][r['metric']]['mean'] for r in shown],
                error_y=dict(type='data', array=[
                    r['metrics'][r['metric']]['std'] for r in shown]))
    fig.update_layout(barmode='group', template='plotly_white',
                      title='Published against measured (each row in its '
                            'own metric: RMSE or HR@10)')
    return fig



README_BEGIN = '<!-- reproduction table: generated by scripts/reproduce.py -->'
README_END = '<!-- end of reproduction table -->'
TUNED_BEGIN = '<!-- tuned table: generated by scripts/reproduce.py -->'
TUNED_END = '<!-- end of tuned table -->'


def _replace_between(text, begin, end, content, where):
    if begin not in text or end not in text:
        raise ValueError(f'{where}: no markers ({begin!r} ... {end!r})')
    head, rest = text.split(begin, 1)
    return f'{head}{begin}\n{content}\n{end}{rest.split(end, 1)[1]}'


def update_readme(readme_path, report):
    """Replace the README's reproduction table (between ``README_BEGIN`` and
    ``README_END``) and its tuned table (``TUNED_BEGIN`` ... ``TUNED_END``)
    with those of ``report``, so that the README's numbers are generated,
    never retyped.

    Args:
        readme_path: the README file.
        report: a report as ``reproduce`` returns or ``reproduction.json``
            holds.

    Raises:
        ValueError: the README lacks the two markers.
    """
    with open(readme_path, encoding='utf-8') as f:
        text = f.read()
    text = _replace_between(text, README_BEGIN, README_END,
                            markdown_table(report['rows']), readme_path)
    if report.get('tuned'):
        text = _replace_between(text, TUNED_BEGIN, TUNED_END,
                                tuned_table(report['tuned']), readme_path)
    write_text(readme_path, text)


def rewrite_report(json_path, out, readme_path=None):
    """Regenerate ``REPRODUCTION.md`` (and the README's table) from a saved
    ``reproduction.json`` without running anything.

    Args:
        json_path: the saved report.
        out: the folder to write ``REPRODUCTION.md`` into.
        readme_path: a README to update too, or None.

    Returns:
        The report.
    """
    report = read_json(json_path)
    report.setdefault('machine', None)
    _write_markdown(report, os.path.join(out, 'REPRODUCTION.md'))
    if readme_path:
        update_readme(readme_path, report)
    return report


# --------------------------------------------------------------------------
# Tuned rows: configurations chosen on validation data by scripts/tune.py
# --------------------------------------------------------------------------
# (name of the leaderboard folder, model, protocol, split, metric)
TUNED = [
    ('mf_u1', 'mf', None, 'u1-u5', 'RMSE'),
    ('autorec_u1', 'autorec', None, 'u1-u5', 'RMSE'),
    ('mf_seq', 'mf', None, 'seq-aware', 'RMSE'),
    ('gmf_ncf', 'gmf', 'ncf', 'ncf', 'HR@10'),
    ('mlp_ncf', 'mlp', 'ncf', 'ncf', 'HR@10'),
    ('dmf_ncf', 'mf', 'ncf', 'ncf', 'HR@10'),
    ('neumf_pretrained', 'neumf', 'ncf', 'ncf', 'HR@10'),
]
# Options of the search that the final runs keep (not the data's).
_KEPT = ('epochs', 'early_stop', 'validation', 'devices', 'protocol',
         'num_test_negatives')


def _tuned_options(board):
    options = {k: v for k, v in board['fixed'].items() if k in _KEPT}
    options.update(board['best']['config'])
    entry = registry.get(board['model'])
    if entry.kind == 'ranking':
        options['model'] = entry.name
    return options


def _tuned_neumf(boards, data_dir, seed, tmp, epochs=None):
    """NeuMF initialised from the tuned GMF and MLP of this seed, fine-tuned
    with SGD and early stopping on validation.

    Returns:
        ``(results, options, command)``: the NeuMF run's results, its
        options and the three commands (GMF, MLP, NeuMF) that reproduce it.
    """
    from .tuning import command_line
    chosen = {name: _tuned_options(boards[f'{name}_ncf'])
              for name in ('gmf', 'mlp')}
    dirs, commands = {}, []
    for name, opts in chosen.items():
        if epochs:
            opts = dict(opts, epochs=epochs)
        dirs[name] = os.path.join(tmp, f'tuned-{name}-{seed}')
        run_ranking(data_dir=data_dir, seed=seed, out=dirs[name],
                    verbose=False, **opts)
        commands.append(command_line('neumf', dict(
            opts, data_dir=data_dir, out=name[0].upper())))
    gmf, mlp = chosen['gmf'], chosen['mlp']
    options = dict(model='neumf', protocol='ncf', validation=True,
                   early_stop=3, epochs=epochs or 20,
                   num_factors=gmf['num_factors'],
                   mlp_factors=mlp['mlp_factors'],
                   nums_hiddens=mlp['nums_hiddens'])
    res = run_ranking(data_dir=data_dir, seed=seed, verbose=False,
                      pretrain_gmf=dirs['gmf'], pretrain_mlp=dirs['mlp'],
                      **options)
    commands.append(command_line('neumf', dict(
        options, data_dir=data_dir, pretrain_gmf='G', pretrain_mlp='M')))
    return res, options, ' && '.join(commands)


# The test metrics a tuned row reports: (report name, results key).
_RATING_METRICS = [('RMSE', 'test_rmse')]
_RANKING_METRICS = [('HR@10', 'hit_rate@10'), ('NDCG@10', 'ndcg@10')]


def tuned_rows(tuning_dir, data_dir=None, seeds=5, quick=False,
               verbose=True, rows_matching=None, previous=()):
    """Run every validation-chosen configuration found in ``tuning_dir``
    over ``seeds`` seeds (or ML-100K's five folds), scoring the test data.

    Args:
        tuning_dir: a folder of ``NAME/leaderboard.json`` written by
            ``scripts/tune.py`` (names as in ``TUNED``); missing ones are
            skipped.
        data_dir: MovieLens 100K.
        seeds: runs per row (the fold rows always run the five folds).
        quick: at most 2 epochs per run (checks the pipeline only).
        verbose: a line per row.
        rows_matching: run only the leaderboards whose name contains this
            text; the others' rows are taken from ``previous``.
        previous: the ``tuned`` rows of an earlier report.

    Returns:
        A list of ``{name, model, protocol, split, metric, mean, std, n,
        values, config, command, seconds}``, in ``TUNED``'s order; ranking
        models give two rows (HR@10 and NDCG@10), rating models one (RMSE).
    """
    from .tuning import command_line
    boards = {}
    for name, *_ in TUNED:
        path = os.path.join(tuning_dir, name, 'leaderboard.json')
        if os.path.exists(path):
            boards[name] = read_json(path)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model, protocol, split, _ in TUNED:
            if rows_matching and rows_matching not in name:
                rows += [r for r in previous if r.get('name') == name]
                continue
            if name == 'neumf_pretrained':
                if not {'gmf_ncf', 'mlp_ncf'} <= set(boards):
                    continue
            elif name not in boards:
                continue
            t0 = time.perf_counter()
            values, options, command = _tuned_values(name, boards, data_dir,
                                                     seeds, quick, tmp)
            if command is None:
                script = 'mf' if model == 'mf' and protocol is None else \
                    ('autorec' if model == 'autorec' else 'neumf')
                extra = dict(folds=5) if split == 'u1-u5' else {}
                command = command_line(script, dict(
                    options, data_dir=data_dir, **extra))
            n = len(next(iter(values.values())))
            if split != 'u1-u5':
                command += f'  # seeds 0..{n - 1}: --seed S' + \
                    (' on all three' if name == 'neumf_pretrained' else '')
            seconds = time.perf_counter() - t0
            for metric, vals in values.items():
                row = dict(name=name, model=model, protocol=protocol,
                           split=split, metric=metric,
                           mean=float(onp.mean(vals)),
                           std=float(onp.std(vals, ddof=1)), n=len(vals),
                           values=vals, config=options, command=command,
                           seconds=seconds)
                rows.append(row)
                if verbose:
                    print(f"tuned {name}: {metric} {row['mean']:.4f} ± "
                          f"{row['std']:.4f} (n={row['n']})", flush=True)
    return rows


def _tuned_values(name, boards, data_dir, seeds, quick, tmp):
    """The test metrics of every seed (or fold) of one tuned row.

    Returns:
        ``({metric: values}, options, command or None)``.
    """
    short = dict(epochs=2) if quick else {}

    def collect(results, metrics):
        return {m: [r[key] for r in results] for m, key in metrics}
    if name == 'neumf_pretrained':
        runs = [_tuned_neumf(boards, data_dir, seed, tmp,
                             short.get('epochs')) for seed in range(seeds)]
        return collect([r for r, _, _ in runs], _RANKING_METRICS), \
            runs[0][1], runs[0][2]
    options = dict(_tuned_options(boards[name]), **short)
    if name.endswith('_u1'):
        run = run_mf if name.startswith('mf') else run_autorec
        res = run(data_dir=data_dir, folds=5, verbose=False, **options)
        return collect(res['folds'], _RATING_METRICS), options, None
    if name == 'mf_seq':
        return collect([run_mf(data_dir=data_dir, split='seq-aware', seed=s,
                               verbose=False, **options)
                        for s in range(seeds)], _RATING_METRICS), \
            dict(options, split='seq-aware'), None
    return collect([run_ranking(data_dir=data_dir, seed=s, verbose=False,
                                **options) for s in range(seeds)],
                   _RANKING_METRICS), options, None


def _portable(command):
    """A command as a reader would type it: the data folder of the machine
    that ran it (kept in the JSON) shown as ``ml-100k``."""
    return re.sub(r'--data-dir \S+', '--data-dir ml-100k', command)


# The tuning issue's targets on ML-100K: (leaderboard, metric) ->
# (bound, lower is better).
TUNED_TARGETS = {('mf_u1', 'RMSE'): (0.910, True),
                 ('autorec_u1', 'RMSE'): (0.900, True),
                 ('mf_seq', 'RMSE'): (1.020, True),
                 ('neumf_pretrained', 'HR@10'): (0.68, False),
                 ('neumf_pretrained', 'NDCG@10'): (0.40, False)}


def target_text(row):
    """``'<= 0.910: missed by 0.0102'``, ``'>= 0.68: met'`` or ``''`` for a
    tuned row, from ``TUNED_TARGETS``."""
    target = TUNED_TARGETS.get((row.get('name'), row['metric']))
    if target is None:
        return ''
    bound, lower = target
    gap = (row['mean'] - bound) if lower else (bound - row['mean'])
    sign = '≤' if lower else '≥'
    return f'{sign} {bound:.3f}: ' + ('met' if gap <= 0 else
                                       f'missed by {gap:.4f}')


def tuned_table(rows):
    """The tuned rows as a Markdown table, with the tuning issue's target
    where it set one."""
    lines = ['| model | protocol | split | metric | mean ± std (n) | target | '
             'command |', '| --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        lines.append(f"| {r['model']} | {r['protocol'] or '—'} | "
                     f"{r['split']} | {r['metric']} | {r['mean']:.4f} ± "
                     f"{r['std']:.4f} ({r['n']}) | {target_text(r)} | "
                     f"`{_portable(r['command'])}` |")
    return '\n'.join(lines)
