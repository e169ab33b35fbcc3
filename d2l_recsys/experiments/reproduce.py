"""Run each declared configuration over several seeds and compare.

``reproduce(data_dir, seeds, out)`` runs the rows of ``rows.ROWS`` (and,
with ``tuning_dir``, the tuned rows of ``rows.TUNED``), writes
``REPRODUCTION.md``, ``reproduction.json`` and ``reproduction.html``
(plotly: published against measured) into ``out`` and returns the report.

A row's settings come from the book's printed settings or a paper's
published settings (the tuned rows': a search on validation data; nothing
else).  A row's ``status`` weighs every published metric it shows
(``report.STATUS_WORDS``).  Every row records how it was made
(``provenance.stamp``): date, commit, machine and the seconds of its own
runs.
"""
import os
import tempfile
import time

from .. import registry
from ..files import read_json, write_json
from ..folders import FolderInUse, lock
from ..provenance import check_one_commit, context, stamp, today
from .report import status, write_report
from .rows import ROWS, TUNED, matches
from .runner import QUICK, Runner, summary
from .tuned_rows import tuned_rows

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


def measure_row(row, runner, source, seeds, quick=False, ctx=None,
                verbose=False, keep=False):
    """Run one declared row (``rows.Row``) over seeds 0..seeds-1 (its own
    ``seeds`` when it declares them).

    Args:
        row: the declaration.
        runner: the report's ``runner.Runner``.
        source: the options of the row's data (``data_dir=...`` or
            ``ctr_dir=...``).
        seeds: the report's seeds.
        quick: one epoch per run.
        ctx: ``provenance.context()`` of the report's run.
        verbose: a line for the row.
        keep: keep its runs for the rows that start from them.

    Returns:
        The report's dict of the row: its declaration, the settings its
        runs used (``config``), ``metrics`` (``{name: {mean, std,
        values}}``), ``status`` and ``made``.
    """
    options = dict(row.options, **source, **(QUICK if quick else {}))
    started, runs = time.perf_counter(), []
    for seed in range(row.seeds or seeds):
        run_options = dict(options, seed=seed)
        results, values = runner.measure(
            row.model, run_options, row.metrics,
            {option: (model, run_options)
             for option, model in row.needs.items()}, keep)
        runs.append(values)
    seconds = time.perf_counter() - started
    out = dict(name=row.name, model=row.model, options=dict(row.options),
               settings=row.settings[0], settings_source=row.settings[1],
               metric=row.metric, published=dict(row.published)
               if row.published else None, source=row.source,
               tolerance=row.tolerance, lower_is_better=row.lower_is_better,
               config=_settings(row.model, results['config']),
               metrics=summary(runs))
    out['status'] = status(out, out['metrics'])
    out['made'] = stamp(seconds, ctx or context())
    if verbose:
        m = out['metrics'][row.metric]
        print(f"{row.name}: {row.metric} {m['mean']:.4f} ± {m['std']:.4f} "
              f"({out['status']}, {seconds:.0f} s)", flush=True)
    return out


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
              ctr_dir=None, quick=False, verbose=True, readme=None,
              tuning_dir=None, only_tuned=False, rows_matching=None,
              allow_mixed=False, command=None, tuned_seeds=None,
              overwrite=False, rows=ROWS, tuned=TUNED):
    """Run every row over several seeds and write the report.

    Args:
        data_dir: MovieLens 100K.
        seeds: seeds 0..seeds-1 per row.
        out: folder for ``REPRODUCTION.md``, ``reproduction.json`` and
            ``reproduction.html``.
        ml1m_dir: MovieLens 1M, for the papers' own rows, or None.
        ctr_dir: the book's CTR data (``ctr.zip`` or its folder), for the
            rows of the book's FM and DeepFM settings on it, or None.
        quick: one epoch per run (checks the pipeline only).
        verbose: a line per row.
        readme: a README whose generated tables are replaced, or None.
        tuning_dir: leaderboards of ``d2l-recsys tune`` (see
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
        rows: the declared rows (``rows.Row``), in the report's order;
            those on data not given (``ml1m_dir``, ``ctr_dir``) are left
            out.
        tuned: the declared tuned rows (``rows.Tuned``).

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
        return _reproduce(
            dict(data_dir=data_dir, ml1m_dir=ml1m_dir, ctr_dir=ctr_dir),
            seeds, out, quick, verbose, readme, tuning_dir, only_tuned,
            rows_matching, allow_mixed, command, tuned_seeds, rows, tuned)


def _sources(data):
    """The options of each kind of data given: ``{Row.data: options}``."""
    sources = {'ml-100k': dict(data_dir=data['data_dir'])}
    if data['ml1m_dir']:
        sources['ml-1m'] = dict(data_dir=data['ml1m_dir'])
    if data['ctr_dir']:
        sources['ctr'] = dict(ctr_dir=data['ctr_dir'])
    return sources


def _reproduce(data, seeds, out, quick, verbose, readme, tuning_dir,
               only_tuned, rows_matching, allow_mixed, command, tuned_seeds,
               declared, tuned):
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
    sources = _sources(data)
    declared = [] if only_tuned else [r for r in declared
                                      if r.data in sources]
    kept = {}
    if only_tuned:
        kept = {r['name']: r for r in earlier['rows']}
    elif rows_matching:
        old = {r['name']: r for r in earlier['rows']}
        kept = {r.name: old[r.name] for r in declared
                if not matches(r.name, rows_matching) and r.name in old}
    old_tuned = earlier.get('tuned', []) if earlier else []
    if tuning_dir and rows_matching:
        kept.update({f"tuned {r['name']} {r['metric']}": r
                     for r in old_tuned
                     if not matches(r['name'], rows_matching)})
    check_one_commit(kept, ctx, allow_mixed)
    needed = {model for r in declared for model in r.needs.values()}
    with tempfile.TemporaryDirectory() as tmp:
        runner = Runner(tmp)
        rows = list(earlier['rows']) if only_tuned else [
            kept.get(r.name) or measure_row(
                r, runner, sources[r.data], seeds, quick, ctx, verbose,
                keep=r.model in needed)
            for r in declared]
    tuned = tuned_rows(tuning_dir, data['data_dir'], tuned_seeds, quick,
                       verbose, rows_matching, old_tuned, ctx, tuned) \
        if tuning_dir else []
    report = dict(date=today(), **ctx,
                  seeds=seeds, tuned_seeds=tuned_seeds, quick=quick,
                  **data, seconds=time.perf_counter() - started, rows=rows,
                  tuned=tuned)
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, 'reproduction.json'), report)
    write_report(report, out, readme)
    return report
