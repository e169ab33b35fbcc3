"""What every run shares: its configuration (fresh or resumed), its clock,
its place in a parameter-server job, the lifecycle callbacks, and the
outputs it writes (``run.json``, the model, ``curves.html``,
``metrics.json``)."""
import json
import os
import time
from dataclasses import replace

import numpy as onp

from ..callbacks import Checkpoint, EarlyStopping, StopOnSignal, \
    resume_command
from ..distributed import connect
from ..files import write_json
from ..run_folder import RUN_FILE, read_run, save_model, write_run
from ..plot import curves_figure, save_figure

# Options a resumed run may change; the others are the stored run's.
RESUMABLE = ('resume', 'epochs', 'devices', 'checkpoint_every')


class Clock:
    """Seconds of a run: ``lap('data')`` and ``lap('train')`` (the summary
    line), and finer ``phases``: read, split, iterators, epochs (training
    steps) and evaluate (every evaluation, through ``timed``)."""

    def __init__(self):
        self.start = self.last = self.mark = time.perf_counter()
        self.seconds, self.phases = {}, {}

    def lap(self, name):
        now = time.perf_counter()
        self.seconds[name] = now - self.last
        self.last = now
        if name == 'train':    # training steps = the lap less evaluations
            self.phases['epochs'] = self.seconds['train'] - \
                self.phases.get('evaluate', 0.0)

    def phase(self, name):
        now = time.perf_counter()
        self.phases[name] = now - self.mark
        self.mark = now

    def timed(self, fn):
        """``fn`` whose calls count as the ``evaluate`` phase."""
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.phases['evaluate'] = self.phases.get('evaluate', 0.0) \
                    + time.perf_counter() - start
        return wrapper

    def total(self):
        return dict(self.seconds, total=time.perf_counter() - self.start)


def make_config(entry, config, options):
    """The run's config: ``config``, or one built from ``options``; with
    ``resume=DIR`` the configuration stored in DIR, of which only the
    ``RESUMABLE`` options given (not None) change."""
    if config is not None and options:
        raise ValueError('give a config object or options, not both')
    if config is not None:
        return config
    # (an off switch, as the command line passes it, is not an option given)
    given = {k: v for k, v in options.items()
             if v is not None and not (k == 'overwrite' and v is False)}
    if given.get('resume'):
        extra = sorted(set(given) - set(RESUMABLE))
        if extra:
            raise ValueError(f'resume continues the stored configuration; '
                             f'only {", ".join(RESUMABLE[1:])} may change, '
                             f'not {", ".join(extra)}')
        stored = read_run(given['resume'])   # its entry: api._entry's
        options = dict(stored['config'], overwrite=False, **given,
                       out=given['resume'])
    return entry.config(**options)


def identity(cfg):
    """What a run's checkpoints record of it, and a resume checks: its
    configuration but the options a resume may change and the folder.
    (JSON-ready, as stored.)"""
    return json.loads(json.dumps(
        {k: v for k, v in cfg.to_dict().items()
         if k not in RESUMABLE + ('out', 'overwrite')}))


def join_cluster(cfg, verbose):
    """The run's place in a parameter-server job: ``(cluster, cfg,
    verbose)`` where only rank 0 keeps ``out`` and progress lines."""
    cluster = connect(cfg.kvstore)
    if not cluster.is_chief:
        cfg, verbose = replace(cfg, out=None), False
    return cluster, cfg, verbose


def lifecycle(cfg, train_iter, monitor, mode):
    """Early stopping, checkpoints and signal handling as ``cfg`` asks.
    Returns ``(callbacks, early_stopping or None)``."""
    es = EarlyStopping(monitor, cfg.early_stop, mode) if cfg.early_stop \
        else None
    callbacks = [es] if es else []
    if cfg.out and not cfg.kvstore.startswith('dist'):   # servers hold state
        ckpt = Checkpoint(cfg.out, train_iter, cfg.checkpoint_every,
                          resume=bool(cfg.resume), early_stopping=es,
                          config=identity(cfg))
        callbacks += [ckpt, StopOnSignal(ckpt, resume_command(cfg.out))]
    return callbacks, es


def ordered_params(net):
    """The parameters in the block's own order.  A Trainer given a dict
    sorts it by name, and names carry a process-wide counter
    (``embedding10`` sorts before ``embedding8``), so the optimizer states
    saved by one run would not line up with another's; a list keeps one
    order for every instance of the model."""
    return list(net.collect_params().values())


def final_entry(history, es):
    """The history entry whose parameters the net holds at the end: the
    best epoch's under early stopping, else the last."""
    if es is not None and es.best_epoch:
        return next(h for h in history if h['epoch'] == es.best_epoch)
    return history[-1]


def early_stop_facts(history, es):
    """``best_epoch`` and ``epochs_run`` under early stopping, else {}."""
    if es is None:
        return {}
    return dict(best_epoch=es.best_epoch, epochs_run=history[-1]['epoch'])


def throughput(cluster, history, num_examples):
    """Examples per second of each worker over the whole training
    (evaluation time included), gathered on every worker."""
    seconds = sum(h['seconds'] for h in history)
    mine = num_examples * len(history) / max(seconds, 1e-9)
    return dict(cluster.describe(),
                examples_per_second=cluster.gather(mine))


def write_run_early(entry, cfg):
    """Write ``run.json`` (the run's one stored definition) before any
    training when the run writes checkpoints, so that a run stopped early
    can be resumed.  (A parameter-server job keeps no checkpoint: a failed
    one leaves no folder.)"""
    if cfg.out and not cfg.resume and not cfg.kvstore.startswith('dist'):
        write_run(cfg.out, entry.name, cfg.to_dict())


def finish_run(entry, net, cfg, results, title, plotted):
    """Complete ``results`` (the run's config, history, timings) and, with
    ``cfg.out``, write ``run.json``, the model, ``curves.html`` and
    ``metrics.json``."""
    history, clock = results.pop('_history'), results.pop('_clock')
    plotted = tuple(plotted) + tuple(k for k in history[-1]
                                     if k.startswith('valid_')
                                     and k not in plotted)
    # the history is what a seed determines; the seconds are kept apart
    results.update(history=[{k: v for k, v in h.items() if k != 'seconds'}
                            for h in history],
                   epoch_seconds=[h.get('seconds') for h in history],
                   config=cfg.to_dict())
    if cfg.out:
        write_run(cfg.out, entry.name, cfg.to_dict())
        save_model(net, cfg.out)
        save_figure(curves_figure(history, title, plotted),
                    os.path.join(cfg.out, 'curves.html'))
    results['seconds'] = clock.total()
    results['phases'] = clock.phases
    if cfg.out:
        write_json(os.path.join(cfg.out, 'metrics.json'), results)
    return results


def cross_validate(entry, run, cfg, verbose, metric):
    """Run every fold of ``cfg.folds`` (``run(sub_config, verbose)``);
    results hold each fold's ``metric`` and its mean and sample standard
    deviation.  The folder holds ``run.json`` and ``metrics.json``; each
    fold is a run folder of its own, ``fold-K``.  ``run.json`` is written
    before the first fold, so that a run stopped in any fold resumes (the
    folds done are not trained again); it is removed again when the first
    fold fails before it began (bad data: nothing was made)."""
    clock, folds = Clock(), []
    begin = bool(cfg.out) and not cfg.resume
    if begin:
        write_run(cfg.out, entry.name, cfg.to_dict())
    for fold in range(cfg.folds):
        sub = replace(cfg, fold=fold, out=os.path.join(
            cfg.out, f'fold-{fold + 1}') if cfg.out else None)
        try:
            res = run(sub, verbose)
        except (ValueError, OSError, FloatingPointError):
            if begin and fold == 0 and not os.path.exists(
                    os.path.join(sub.out, RUN_FILE)):
                os.remove(os.path.join(cfg.out, RUN_FILE))
            raise
        folds.append(dict(fold=fold + 1, **{metric: res[metric]},
                          num_train=res['num_train'],
                          num_test=res['num_test'],
                          best_epoch=res.get('best_epoch')))
        print(f"fold {fold + 1}/{cfg.folds}  {metric} {res[metric]:.4f}  "
              f"({res['num_train']} train, {res['num_test']} test ratings)",
              flush=True)
    values = [f[metric] for f in folds]
    results = {metric: float(onp.mean(values)),
               f'{metric}_std': float(onp.std(values, ddof=1)),
               'folds': folds, 'config': cfg.to_dict(),
               'seconds': clock.total()}
    print(f"mean over {cfg.folds} folds: {metric} {results[metric]:.4f} ± "
          f"{results[metric + '_std']:.4f} (sample std)", flush=True)
    if cfg.out:
        write_run(cfg.out, entry.name, cfg.to_dict())
        write_json(os.path.join(cfg.out, 'metrics.json'), results)
    return results
