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
import tempfile
import time

import mxnet as mx
import numpy as onp
import plotly.graph_objects as go

from .experiments import run_autorec, run_mf, run_ranking
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
              quick=False, verbose=True, readme=None):
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

    Returns:
        The report dict (as written to ``reproduction.json``).
    """
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f'seeds={seeds!r}: expected a positive integer')
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = _rating_rows(data_dir, quick) + \
            _ranking_rows(data_dir, quick, tmp)
        if ml1m_dir:
            rows += _ml1m_rows(ml1m_dir, quick, tmp)
        for row in rows:
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
            if verbose:
                print(f"{row['name']}: {row['metric']} {m['mean']:.4f} ± "
                      f"{m['std']:.4f} ({row['status']}, "
                      f"{row['seconds_per_seed']:.0f} s/seed)", flush=True)
    report = dict(date=datetime.date.today().isoformat(), seeds=seeds,
                  quick=quick, data_dir=data_dir, ml1m_dir=ml1m_dir,
                  machine=machine(),
                  seconds=time.perf_counter() - started, rows=rows)
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


def update_readme(readme_path, report):
    """Replace the README's reproduction table (between ``README_BEGIN`` and
    ``README_END``) with the one of ``report``, so that the README's numbers
    are generated, never retyped.

    Args:
        readme_path: the README file.
        report: a report as ``reproduce`` returns or ``reproduction.json``
            holds.

    Raises:
        ValueError: the README lacks the two markers.
    """
    with open(readme_path, encoding='utf-8') as f:
        text = f.read()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f'{readme_path}: no reproduction markers '
                         f'({README_BEGIN!r} ... {README_END!r})')
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    table = markdown_table(report['rows'])
    write_text(readme_path, f'{head}{README_BEGIN}\n{table}\n{README_END}'
                            f'{tail}')


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
