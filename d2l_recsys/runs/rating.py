"""Rating prediction runs (MF, AutoRec and any model of the ``pairs`` or
``rows`` family): spec -> data -> iterators -> the shared loop -> RMSE.

``setup(entry, cfg, data)`` builds a family's iterators, loss and
evaluator; training and ``api.reevaluate`` both use it, so a run is
re-scored exactly as it was scored.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import mxnet as mx
from mxnet import gluon, init

from .. import data as D
from ..callbacks import LearningRateDecay, Validation
from ..data.rows import choose_formulation
from ..data.spec import materialize
from ..defaults import INIT_SIGMA
from ..devices import parse_devices
from ..evaluation import evaluate_autorec, evaluate_rmse, predict_ratings
from ..losses import MaskedL2Loss, ObservedL2Loss
from ..metrics import book_running_rmse
from ..train import train_recsys_rating
from .common import (Clock, cross_validate, final, finish, join, lifecycle,
                     ordered_params, start, stopped, throughput)


@dataclass
class Setup:
    """A rating family's data and scoring for one run.

    Attributes:
        train_iter, valid_iter, test_iter: the iterators (valid: or None).
        loss: the training loss.
        evaluate: ``(net, iterator, devices) -> RMSE``.
        extra: ``(net, devices) -> dict`` of family-specific results.
        train_mean: the training ratings' mean (for ``bias_init='mean'``).
    """
    train_iter: object
    valid_iter: Optional[object]
    test_iter: object
    loss: object
    evaluate: Callable
    extra: Callable
    train_mean: Optional[float] = None


def _pairs(cfg, data, shard):
    """``(user, item, rating)`` batches, L2 loss (MF)."""
    train_iter, test_iter = D.rating_iters(data.train, data.test,
                                           cfg.batch_size, cfg.seed,
                                           shard=shard)
    valid_iter = None if data.valid is None else \
        D.rating_iters(data.train, data.valid, cfg.batch_size)[1]

    def extra(net, devices):
        if test_iter is None:
            return dict(sparse_grad=net.config['sparse_grad'])
        shards = predict_ratings(net, test_iter, devices[:1])[2]
        return dict(test_rmse_book_running_avg=book_running_rmse(shards),
                    sparse_grad=net.config['sparse_grad'])
    return Setup(train_iter, valid_iter, test_iter, gluon.loss.L2Loss(),
                 evaluate_rmse, extra)


def _rows(cfg, data, shard):
    """Rows of the rating matrix, dense or CSR (AutoRec)."""
    num_rows, width = (data.num_users, data.num_items) if \
        cfg.variant == 'user' else (data.num_items, data.num_users)
    formulation = choose_formulation(num_rows, width, len(data.train),
                                     cfg.formulation)
    _, train_iter, test_iter = D.autorec_iters(
        data.train, data.test, data.num_users, data.num_items, cfg.variant,
        cfg.batch_size, cfg.seed, formulation, shard)
    valid_iter = None if data.valid is None else D.autorec_iters(
        data.train, data.valid, data.num_users, data.num_items, cfg.variant,
        formulation=formulation)[2]
    loss = ObservedL2Loss() if formulation == 'sparse' else MaskedL2Loss()
    return Setup(train_iter, valid_iter, test_iter, loss, evaluate_autorec,
                 lambda net, devices: dict(formulation=formulation))


FAMILIES = {'pairs': _pairs, 'rows': _rows}


def setup(entry, cfg, data, shard=None):
    """The iterators, loss and evaluator of a rating run on ``data``.

    Raises:
        ValueError: the data has no ratings.
    """
    if data.implicit:
        raise ValueError(f'{data.spec.describe()}: {entry.title} predicts '
                         'ratings and the data has none (no rating column); '
                         'map one with --columns rating=NAME, or train a '
                         'ranking model')
    s = FAMILIES[entry.family](cfg, data, shard)
    if cfg.bias_init == 'mean':     # where the output biases start
        s.train_mean = float(data.train.iloc[:, 2].to_numpy().mean())
    return s


def data_facts(data):
    """What a rating run's results record about its data: sizes and the
    rating scale read from it."""
    facts = dict(num_users=data.num_users, num_items=data.num_items,
                 num_train=len(data.train), rating_scale=data.rating_scale)
    if data.test is not None:
        facts['num_test'] = len(data.test)
    if data.valid is not None:
        facts['num_valid'] = len(data.valid)
    return facts


def _fit(net, s, cfg, cluster, verbose, clock):
    """Seeded Normal(0.01) init, Adam as the book, the shared loop with
    validation, early stopping and checkpoints as ``cfg`` asks (and the
    ``bias_init`` and ``lr_decay`` of configs that have them).  Returns
    ``(history, devices, early_stopping or None)``."""
    devices = parse_devices(cfg.devices)
    net.initialize(init.Normal(INIT_SIGMA), ctx=devices, force_reinit=True)
    if cfg.bias_init == 'mean':
        net.start_at_mean(s.train_mean)
    net.hybridize()
    s.loss.hybridize()
    trainer = gluon.Trainer(ordered_params(net), 'adam',
                            {'learning_rate': cfg.lr, 'wd': cfg.wd},
                            **cluster.trainer_options())
    evaluate = clock.timed(s.evaluate)
    callbacks = []
    if cfg.lr_decay != 1.0:
        callbacks.append(LearningRateDecay(cfg.lr, cfg.lr_decay))
    if s.valid_iter is not None:
        callbacks.append(Validation(lambda n: {
            'valid_rmse': evaluate(n, s.valid_iter, devices)}))
    more, es = lifecycle(cfg, s.train_iter, 'valid_rmse', 'min')
    history = train_recsys_rating(net, s.train_iter, s.test_iter, s.loss,
                                  trainer, cfg.epochs, devices, evaluate,
                                  verbose, callbacks + more, seed=cfg.seed,
                                  num_workers=cluster.num_workers)
    return history, devices, es


def run_rating(entry, cfg, verbose=True, frame=None):
    """Train and evaluate a rating model (``entry``) as ``cfg`` says.

    Returns:
        The results dict: ``test_rmse`` (and ``valid_rmse``), sizes,
        ``history``, ``seconds``, ``config``, ``devices`` and the family's
        extras; with ``folds``, each fold's and their mean and std.
    """
    if cfg.folds and cfg.fold is None:
        return cross_validate(
            entry, lambda c, v: run_rating(entry, c, v, frame), cfg,
            verbose, 'test_rmse')
    cluster, cfg, verbose = join(cfg, verbose)
    clock = Clock()
    data = materialize(cfg.data_spec(), frame)
    clock.phase('read')
    s = setup(entry, cfg, data, cluster.shard)
    start(entry, cfg)             # the data is good: the run begins
    facts = data_facts(data)
    del data                        # the iterators hold the ratings
    clock.phase('iterators')
    clock.lap('data')
    mx.random.seed(cfg.seed)
    net = entry.build(cfg, facts['num_users'], facts['num_items'])
    history, devices, es = _fit(net, s, cfg, cluster, verbose, clock)
    clock.lap('train')
    last = final(history, es)
    results = dict(**stopped(history, es), **facts,
                   **s.extra(net, devices))
    if s.test_iter is not None:
        results['test_rmse'] = last['test_rmse']
    if s.valid_iter is not None:
        results['valid_rmse'] = last['valid_rmse']
    results.update(devices=[str(d) for d in devices], _history=history,
                   _clock=clock)
    if cluster.is_dist:
        results.update(throughput(cluster, history,
                                  len(s.train_iter) * cfg.batch_size))
    title = entry.title + (f' ({cfg.variant}-based)'
                           if entry.family == 'rows' else '')
    plotted = ('train_loss',) if s.test_iter is None else \
        ('train_loss', 'test_rmse')
    return finish(entry, net, cfg, results, title, plotted)
