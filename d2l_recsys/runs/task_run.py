"""One run of any registered model: configuration -> the task's data and
setup -> the block -> the shared loop -> results and the run folder.

Everything that differs between kinds of model comes from the entry's
task (``tasks``); this file never asks which model it trains.
"""
import mxnet as mx
from mxnet import gluon, init

from ..callbacks import LearningRateDecay, Validation
from ..defaults import INIT_SIGMA
from ..devices import parse_devices
from ..run_folder import open_pretrained
from ..train import EpochLog, train_loop
from .common import (Clock, cross_validate, early_stop_facts, final_entry,
                     finish_run, join_cluster, lifecycle, ordered_params,
                     throughput, write_run_early)


def _loop(net, s, monitor, cfg, cluster, devices, verbose, clock):
    """The trainer, callbacks and the shared loop.  Returns ``(history,
    early stopping or None)``."""
    net.hybridize()
    s.loss.hybridize()
    trainer = gluon.Trainer(ordered_params(net), s.optimizer,
                            {'learning_rate': cfg.lr, 'wd': cfg.wd},
                            **cluster.trainer_options())
    test = s.test and clock.timed(s.test)
    callbacks = []
    if getattr(cfg, 'lr_decay', 1.0) not in (None, 1.0):
        callbacks.append(LearningRateDecay(cfg.lr, cfg.lr_decay))
    if s.valid is not None:
        valid = clock.timed(s.valid)
        callbacks.append(Validation(lambda n: valid(n, devices)))
    more, es = lifecycle(cfg, s.train_iter, *monitor)
    history = train_loop(net, s.train_iter, s.shard_loss(net), trainer,
                         cfg.epochs, devices,
                         test and (lambda n: test(n, devices)),
                         callbacks=callbacks + more + (
                             [EpochLog()] if verbose else []),
                         seed=cfg.seed, num_workers=cluster.num_workers)
    return history, es


def run_task(entry, cfg, verbose=True, frame=None):
    """Train and evaluate ``entry``'s model as ``cfg`` says.

    Returns:
        The results dict: the task's test (and validation) metrics of the
        final epoch, the data's sizes, ``history``, ``seconds``,
        ``config``, ``devices`` and the task's extras; with ``folds``, each
        fold's main metric and their mean and std.
    """
    task = entry.task
    if cfg.folds and cfg.fold is None:
        return cross_validate(
            entry, lambda c, v: run_task(entry, c, v, frame), cfg, verbose,
            task.main_metric(cfg))
    cluster, cfg, verbose = join_cluster(cfg, verbose)
    clock = Clock()
    data = task.load(cfg, frame)
    clock.phase('read')
    s = task.setup(entry, cfg, data, cluster.shard,
                   pretrained=open_pretrained(entry, cfg))
    write_run_early(entry, cfg)   # data and inputs are good: the run begins
    del data                      # the setup holds what it needs
    clock.phase('iterators')
    clock.lap('data')
    devices = parse_devices(cfg.devices)
    mx.random.seed(cfg.seed)
    net = entry.build(cfg, *s.shape)
    # Normal(0.01) where a block attaches no initialiser of its own
    net.initialize(s.init or init.Normal(INIT_SIGMA), ctx=devices,
                   force_reinit=True)
    prepared = s.prepare(net, devices, verbose)
    es = None
    if s.counted:
        history = s.counted(net, devices)
    else:
        history, es = _loop(net, s, task.monitor(cfg), cfg, cluster,
                            devices, verbose, clock)
    clock.lap('train')
    last = final_entry(history, es)
    results = {k: last[k] for k in s.reported if k in last}
    results.update(early_stop_facts(history, es), **s.facts,
                   **s.extra(net, devices),
                   **prepared, devices=[str(d) for d in devices],
                   _history=history, _clock=clock)
    if cluster.is_dist and s.train_iter is not None:
        results.update(throughput(cluster, history,
                                  len(s.train_iter) * cfg.batch_size))
    return finish_run(entry, net, cfg, results, s.title, s.plotted)
