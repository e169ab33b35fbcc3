"""Random search on validation data only, with a leaderboard.

Every trial trains with ``validation=True`` and early stopping and is
ranked by its validation metric.  A trial sees the training data only
(``with_test=False``): a test file is never opened and the test part of a
split never read, so neither the id maps nor any metric of a trial come
from it.  The leaderboard is written once the trials are done; then the
best configuration is trained again and the test data scored once (when
the search has test data: a lone ``train_file`` has none).  The space
searched and where it comes from are declared in ``defaults``; the
leaderboard records them with ``space_hash``, and a search or report
refuses a leaderboard of another space (``search_space``).
``tune_folds`` nests the search in cross-validation: fold k's
configuration is searched on fold k's training part only (``folds=5,
fold=k``: ML-100K's ``u{k+1}.base``) and scored on its test part.  Trials
run in ``jobs`` processes, each finished trial is a file of its own (a
second call skips it), and a line per trial reports progress.  A trial
whose training diverges is recorded as failed (with the error) and ranked
last; a resumed search does not run it again.

This module imports no MXNet at the top: worker processes set their thread
count before MXNet loads.
"""
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context

import numpy as onp

from . import registry
from .folders import claim
from .files import damaged, read_json, write_json
from .progress import Progress as Bar
from .provenance import context, stamp
from .search_space import declared_space, sample, space_hash


def objective(model, fixed):
    """The metric a model's trials are ranked by, and whether lower is
    better: validation RMSE, or validation HR at the protocol's cut-off."""
    return registry.get(model).task.objective(fixed)


def has_test(fixed):
    """Whether a search's data has a test part to score after the search
    (a lone ``train_file`` has none)."""
    return not (fixed.get('train_file') and not fixed.get('test_file'))


def run_trial(model, options):
    """Train one configuration (in a worker process).

    Returns:
        The results dict of the run, without its history; a run whose
        training diverged gives ``{'failed': message, 'seconds': ...}``.
    """
    from .runs import run
    started = time.perf_counter()
    try:
        options = dict(options)
        res = run(options.pop('model', model), verbose=False, **options)
    except FloatingPointError as e:
        return dict(failed=str(e),
                    seconds={'total': time.perf_counter() - started})
    return {k: v for k, v in res.items() if k != 'history'}


def _init_worker(threads):
    os.environ['OMP_NUM_THREADS'] = str(threads)
    os.environ['MXNET_CPU_WORKER_NTHREADS'] = str(threads)


def tune(model, trials=20, jobs=1, out='runs/tune', seed=0, fixed=None,
         space=None, verbose=True, source=None, resume=False,
         overwrite=False, command=None):
    """Random search for ``model`` on validation data, then one test run.
    The search holds ``out`` for its whole life (``folders.claim``).

    Args:
        model: ``mf``, ``autorec``, ``gmf``, ``mlp``, ``neumf`` or ``dmf``
            (dot-product MF trained for ranking with sampled negatives).
        trials: configurations to try.
        jobs: trials running at once, each in its own process.
        out: folder for ``trials/``, ``leaderboard.json``,
            ``leaderboard.html`` and ``best/`` (the final run).
        seed: seeds the search (trial k's configuration is the same on every
            call, so a stopped search resumes where it was).
        fixed: options every trial shares (data, protocol, max epochs,
            patience, seed of the runs...).
        space: the options of the search space (default: the model's
            declared space, ``defaults.SEARCH_SPACES``).
        verbose: a line per trial.
        source: where ``space`` comes from (recorded; default: the
            declared space's source, or "given to tune" for another).
        resume: continue the search ``out`` holds (its finished trials are
            not run again); without it, or ``overwrite`` (start over), a
            folder holding a search is refused.
        command: the command line that started the search (recorded in
            ``made``).

    Returns:
        The leaderboard dict: ``trials`` sorted best first (validation
        metrics only), ``best``, its ``command``, ``space``,
        ``space_source``, ``space_hash``, ``made`` (date, commit, machine,
        seconds) and ``test``: the best configuration's test results,
        scored once after the search, or None when the data has no test
        part.
    """
    if not isinstance(trials, int) or trials < 1:
        raise ValueError(f'trials={trials!r}: expected a positive integer')
    with claim(out, resume=resume, overwrite=overwrite,
               resume_flag='--resume to continue it'):
        return _tune(model, trials, jobs, out, seed, fixed, space, verbose,
                     source, command)


def _tune(model, trials, jobs, out, seed, fixed, space, verbose, source,
          command):
    entry = registry.get(model)
    if space is None:
        space, source = declared_space(model)
    source = source or 'given to tune (space=...)'
    fixed = dict(fixed or {})
    fixed.setdefault('validation', True)
    fixed.setdefault('early_stop', 5)
    fixed.setdefault('devices', 'cpu')
    if 'model' in entry.config.__dataclass_fields__:
        fixed['model'] = entry.name
    metric, lower = objective(model, fixed)
    rng = onp.random.default_rng(seed)
    configs = [sample(space, rng) for _ in range(trials)]
    folder = os.path.join(out, 'trials')
    os.makedirs(folder, exist_ok=True)
    digest = space_hash(space)
    _same_search(out, dict(model=model, seed=seed, fixed=fixed, space=space,
                           space_hash=digest))
    ctx = context(command)
    done, todo = {}, []
    for k, trial in enumerate(configs):
        path = os.path.join(folder, f'trial-{k:03d}.json')
        if os.path.exists(path):
            done[k] = _read_trial(path, k, configs[k], metric)
        else:
            todo.append(k)
    started = time.perf_counter()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    bar = Bar(len(todo), 'trials', f'tuning {model}',
              quiet=not (verbose and sys.stderr.isatty()))
    # a trial sees the training data only: no test file, no test part
    trial_fixed = dict(fixed, with_test=False)
    with bar, ProcessPoolExecutor(jobs, mp_context=get_context('spawn'),
                             initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(run_trial, model,
                               dict(trial_fixed, **configs[k])): k
                   for k in todo}
        for future in as_completed(futures):
            k = futures[future]
            res = future.result()
            trial = dict(trial=k, config=configs[k], metric=metric,
                         value=res.get(metric), best_epoch=res.get(
                             'best_epoch'), seconds=res['seconds']['total'])
            if 'failed' in res:
                trial['failed'] = res['failed']
            write_json(os.path.join(folder, f'trial-{k:03d}.json'), trial)
            done[k] = trial
            bar.update(1)
            if verbose:
                print(f'trial {len(done):3d}/{trials}  {_outcome(trial)}  '
                      f'({trial["seconds"]:.0f} s)  '
                      f'{json.dumps(configs[k])}', flush=True)
    ranked = _ranked(done.values(), lower)
    best = ranked[0]
    if 'failed' in best:
        raise FloatingPointError(f'every trial of the search diverged; the '
                                 f'first: {best["failed"]}')
    # The final run keeps the early stopping of the search: its best epoch
    # is chosen on the same validation data; the test is scored once.
    options = dict(fixed, **best['config'])
    test_out = os.path.join(out, 'best')
    board = dict(model=model, metric=metric, lower_is_better=lower,
                 trials=ranked, best=best,
                 command=registry.command_line(model, dict(options,
                                                           out=test_out)),
                 test=None, space=space, space_source=source,
                 space_hash=digest, fixed=fixed,
                 made=stamp(time.perf_counter() - started, ctx))
    # the search is recorded before the test data is opened at all
    _write_board(board, out)
    if has_test(fixed):
        test = run_trial(model, dict(options, out=test_out,
                                     overwrite=True))
        if 'failed' in test:
            raise FloatingPointError(
                f'the final run diverged: {test["failed"]}')
        board.update(test=test,
                     made=stamp(time.perf_counter() - started, ctx))
        _write_board(board, out)
    return board


def _read_trial(path, k, config, metric):
    """The record of trial ``k`` (``config``, ranked by ``metric``) that
    a search wrote.

    Raises:
        DamagedFile: it cannot be read, or it is not that trial's record.
    """
    fix = 'delete it and resume the search (--resume): that trial runs again'
    trial = read_json(path, fix)
    if not isinstance(trial, dict) or not {'value', 'seconds'} <= set(
            trial) or (trial.get('trial'), trial.get('config'),
                       trial.get('metric')) != (
            k, json.loads(json.dumps(config)), metric):
        raise damaged(path, f'not the record of trial {k} of this search',
                      fix)
    return trial


def _write_board(board, out):
    write_json(os.path.join(out, 'leaderboard.json'), board)
    from .plot import leaderboard_figure, save_figure
    save_figure(leaderboard_figure(board),
                os.path.join(out, 'leaderboard.html'))


def tune_folds(model, folds=5, out='runs/tune', fixed=None, **options):
    """Nested search: one search per fold, fold k's on validation carved
    from fold k's training part and scored on its test part, so no search
    reads a test rating of the fold it chooses for.

    Fold k is the run option ``folds=folds, fold=k`` (0-based), as in
    every run: the data layer reads ML-100K's own ``u{k+1}.base`` and
    ``u{k+1}.test`` when ``folds`` is 5 and they are there, else fold k of
    a seeded split of the ratings into ``folds`` parts.

    Args:
        model: a rating model with a search space (``mf``, ``autorec``).
        folds: how many folds (ML-100K's own: 5).
        out: fold k's search goes to ``out/fold-{k+1}/``.
        fixed: options every trial shares (the data: ``data_dir``,
            ``dataset`` or ``ratings``; max epochs, patience...).
        **options: passed to ``tune`` (``trials``, ``jobs``, ``seed``...).

    Returns:
        The leaderboards, fold 0 (``fold-1/``) first.

    Raises:
        ValueError: ``folds`` below 2, a ranking model, or fixed options
            that choose the split another way (``train_file``, ``folds``,
            ``fold``, ``split``).
    """
    fixed = dict(fixed or {})
    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f'folds={folds!r}: expected an integer >= 2')
    if registry.get(model).kind != 'rating':
        raise ValueError(f'model={model!r}: fold searches are for rating '
                         'models (mf, autorec)')
    clash = [k for k in ('train_file', 'test_file', 'folds', 'fold',
                         'split') if fixed.get(k) is not None]
    if clash:
        raise ValueError(f'fixed={clash}: a fold search chooses the split '
                         '(folds, fold); expected only the data source')
    return [tune(model, out=os.path.join(out, f'fold-{k + 1}'),
                 fixed=dict(fixed, folds=folds, fold=k), **options)
            for k in range(folds)]


def _outcome(trial):
    """A trial's result for its progress line."""
    if 'failed' in trial:
        return f'failed: {trial["failed"]}'
    return (f'{trial["metric"]} {trial["value"]:.4f}  best epoch '
            f'{trial["best_epoch"]}')


def _ranked(trials, lower):
    """Trials best first; failed ones (no value) last."""
    ok = [t for t in trials if t.get('value') is not None]
    failed = [t for t in trials if t.get('value') is None]
    return sorted(ok, key=lambda t: t['value'], reverse=not lower) + \
        sorted(failed, key=lambda t: t['trial'])


def _same_search(out, search):
    """Record what a search is (``out/search.json``: model, seed, fixed
    options, space) or, when the folder holds one already, check that it
    is the same search: its trials are reused by number only."""
    path = os.path.join(out, 'search.json')
    search = json.loads(json.dumps(search))        # as stored (lists...)
    if not os.path.exists(path):
        write_json(path, search)
        return
    stored = read_json(path, 'start the search over (--overwrite)')
    changed = sorted(k for k in search if stored.get(k) != search[k])
    if changed:
        raise ValueError(f'{out}: holds a search with other '
                         f'{", ".join(changed)}'
                         ' than this one; its trials cannot be reused (use '
                         'another --out)')
