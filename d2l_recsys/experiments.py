"""End-to-end runs: configuration -> data -> model -> ``fit`` -> results.

``run_autorec``, ``run_mf`` and ``run_ranking`` are what the training
scripts call; each takes a config object (``config.py``) or its options as
keywords, returns a results dict and, given ``out``, writes
``metrics.json``, ``curves.html``, ``model.params`` and ``model.json``
there.  ``reevaluate`` loads such a folder back and scores it on the same
split.
"""
import os
import time
from dataclasses import replace

import mxnet as mx
import numpy as onp
import pandas as pd
from mxnet import gluon, init

from . import data as D
from .callbacks import (Checkpoint, EarlyStopping, StopOnSignal, Validation,
                        resume_command)
from .config import (RANKING_MODELS, AutoRecConfig, MFConfig,  # noqa: F401
                     RankingConfig)
from .defaults import INIT_SIGMA
from .devices import parse_devices
from .distributed import connect
from .evaluation import evaluate_autorec, evaluate_rmse, predict_ratings
from .io import load_checkpoint, load_model, save_model, write_json
from .losses import LOSSES, MaskedL2Loss, ObservedL2Loss
from .metrics import book_running_rmse
from .models import GMF, MF, MLP, AutoRec, ItemPop, NeuMF, load_pretrained
from .models.mf import prefer_sparse_grad
from .plot import curves_figure, save_figure
from .ranking import RankingEvaluator, ranking_protocol, recommend
from .train import train_ranking, train_recsys_rating


class _Clock:
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


RESUMABLE = ('resume', 'epochs', 'devices', 'out')


def _config(cls, config, options):
    """The run's config: ``config``, or one built from ``options``; with
    ``resume=DIR`` the configuration stored in DIR's checkpoint, of which
    only ``epochs`` and ``devices`` may change."""
    if config is not None and options:
        raise ValueError('give a config object or options, not both')
    if config is not None:
        return config
    if options.get('resume'):
        extra = sorted(set(options) - set(RESUMABLE))
        if extra:
            raise ValueError(f'resume continues the stored configuration; '
                             f'only epochs and devices may change, not '
                             f'{", ".join(extra)}')
        stored = load_checkpoint(options['resume'])['config']
        stored.update({k: v for k, v in options.items() if v is not None})
        stored['out'] = options.get('out') or options['resume']
        options = stored
    return cls(**options)


def _lifecycle(cfg, train_iter, monitor, mode):
    """Early stopping, checkpoints and signal handling as ``cfg`` asks.
    Returns ``(callbacks, early_stopping or None)``."""
    es = EarlyStopping(monitor, cfg.early_stop, mode) if cfg.early_stop \
        else None
    callbacks = [es] if es else []
    if cfg.out and not cfg.kvstore.startswith('dist'):   # servers hold state
        ckpt = Checkpoint(cfg.out, train_iter, cfg.checkpoint_every,
                          resume=bool(cfg.resume), early_stopping=es,
                          config=cfg.to_dict())
        callbacks += [ckpt, StopOnSignal(ckpt, resume_command(cfg.out,
                                                              cfg.epochs))]
    return callbacks, es


def _ordered_params(net):
    """The parameters in the block's own order.  A Trainer given a dict
    sorts it by name, and names carry a process-wide counter
    (``embedding10`` sorts before ``embedding8``), so the optimizer states
    saved by one run would not line up with another's; a list keeps one
    order for every instance of the model."""
    return list(net.collect_params().values())


def _final(history, es):
    """The history entry whose parameters the net holds at the end: the
    best epoch's under early stopping, else the last."""
    if es is not None and es.best_epoch:
        return next(h for h in history if h['epoch'] == es.best_epoch)
    return history[-1]


def _finish(net, cfg, results, title, plotted):
    """Complete ``results`` (the run's config, devices, history, timings)
    and, with ``cfg.out``, write the model, ``curves.html`` and
    ``metrics.json`` there."""
    history, clock = results.pop('_history'), results.pop('_clock')
    plotted = tuple(plotted) + tuple(k for k in history[-1]
                                     if k.startswith('valid_')
                                     and k not in plotted)
    results.update(history=[{k: v for k, v in h.items() if k != 'seconds'}
                            for h in history],
                   config=cfg.to_dict())
    if cfg.out:
        save_model(net, cfg.out, run=cfg.to_dict())
        save_figure(curves_figure(history, title, plotted),
                    os.path.join(cfg.out, 'curves.html'))
    results['seconds'] = clock.total()
    results['phases'] = clock.phases
    if cfg.out:
        write_json(os.path.join(cfg.out, 'metrics.json'), results)
    return results


# --------------------------------------------------------------------------
# Rating prediction
# --------------------------------------------------------------------------
def _fold_data(cfg):
    """Fold ``cfg.fold``: ML-100K's own u1..u5 files when ``folds`` is 5
    and they are beside the ratings, else a seeded split."""
    if cfg.folds == 5:
        folder = os.path.dirname(D.resolve_ratings_file(cfg.data_dir,
                                                        cfg.dataset))
        files = D.official_fold_files(folder, cfg.fold)
        if files:
            return D.read_train_test(*files)
    data, num_users, num_items = D.read_data_ml100k(cfg.data_dir,
                                                    cfg.dataset)
    train, test = D.kfold_split(data, cfg.folds, cfg.fold, cfg.seed)
    return train, test, num_users, num_items


def _rating_data(cfg, clock):
    """``(train, valid or None, test, num_users, num_items)`` of a run."""
    if cfg.fold is not None:
        train, test, num_users, num_items = _fold_data(cfg)
    elif cfg.train_file:
        train, test, num_users, num_items = D.read_train_test(
            cfg.train_file, cfg.test_file)
    else:
        data, num_users, num_items = D.read_data_ml100k(cfg.data_dir,
                                                        cfg.dataset)
        clock.phase('read')
        train, test = D.split_data_ml100k(data, num_users, num_items,
                                          cfg.split, cfg.test_ratio,
                                          seed=cfg.seed)
    valid = None
    if cfg.validation:
        seq = cfg.split == 'seq-aware' and cfg.fold is None and \
            not cfg.train_file
        train, valid = D.validation_split(
            train, 'seq-aware' if seq else 'random', cfg.valid_ratio,
            cfg.seed)
    clock.phase('split' if 'read' in clock.phases else 'read')
    return train, valid, test, num_users, num_items


def _rating_setup(cfg, verbose):
    """A single rating run's start: its place in a parameter-server job
    (``_join``), a clock, and its data (``_rating_data``).  Returns
    ``(cluster, cfg, verbose, clock, (train, valid, test, num_users,
    num_items))``."""
    cluster, cfg, verbose = _join(cfg, verbose)
    clock = _Clock()
    return cluster, cfg, verbose, clock, _rating_data(cfg, clock)


def _sparse_grad(cfg, num_users, num_items):
    """The run's ``sparse_grad``: as configured, else the measured rule;
    never under a parameter server (see ``RunConfig.validate``)."""
    if cfg.sparse_grad is not None:
        return cfg.sparse_grad
    return not cfg.kvstore.startswith('dist') and \
        prefer_sparse_grad(num_users, num_items, cfg.batch_size)


def _fit_rating(net, iters, loss, evaluator, cfg, cluster, verbose):
    """Seeded Normal(0.01) init, Adam as the book, the shared loop with
    validation, early stopping and checkpoints as ``cfg`` asks.
    ``iters`` is ``(train_iter, valid_iter or None, test_iter)``.
    Returns ``(history, devices, early_stopping or None)``."""
    train_iter, valid_iter, test_iter = iters
    devices = parse_devices(cfg.devices)
    net.initialize(init.Normal(INIT_SIGMA), ctx=devices, force_reinit=True)
    if not getattr(net, 'sparse', False):
        net.hybridize()
        loss.hybridize()
    trainer = gluon.Trainer(_ordered_params(net), 'adam',
                            {'learning_rate': cfg.lr, 'wd': cfg.wd},
                            **cluster.trainer_options())
    callbacks = []
    if valid_iter is not None:
        callbacks.append(Validation(lambda n: {
            'valid_rmse': evaluator(n, valid_iter, devices)}))
    more, es = _lifecycle(cfg, train_iter, 'valid_rmse', 'min')
    history = train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                                  cfg.epochs, devices, evaluator, verbose,
                                  callbacks + more, seed=cfg.seed,
                                  num_workers=cluster.num_workers)
    return history, devices, es


def _join(cfg, verbose):
    """The run's place in a parameter-server job: ``(cluster, cfg,
    verbose)`` where only rank 0 keeps ``out`` and progress lines."""
    cluster = connect(cfg.kvstore)
    if not cluster.is_chief:
        cfg, verbose = replace(cfg, out=None), False
    return cluster, cfg, verbose


def _throughput(cluster, history, num_examples):
    """Examples per second of each worker over the whole training
    (evaluation time included), gathered on every worker."""
    seconds = sum(h['seconds'] for h in history)
    mine = num_examples * len(history) / max(seconds, 1e-9)
    return dict(cluster.describe(),
                examples_per_second=cluster.gather(mine))


def data_facts(train, valid, test, num_users, num_items):
    """What a rating run's results record about its data: sizes and the
    rating scale read from it.  Taken early, so that the DataFrames can be
    dropped once the iterators hold the ratings (at ML-20M they are
    ~1 GB)."""
    facts = dict(num_users=num_users, num_items=num_items,
                 num_train=len(train), num_test=len(test),
                 rating_scale=train.attrs.get('rating_scale'))
    if valid is not None:
        facts['num_valid'] = len(valid)
    return facts


def _rating_headline(history, es, facts):
    final = _final(history, es)
    out = dict(test_rmse=final['test_rmse'])
    if 'num_valid' in facts:
        out['valid_rmse'] = final['valid_rmse']
    if es is not None:
        out['best_epoch'] = es.best_epoch
        out['epochs_run'] = history[-1]['epoch']
    out.update(facts)
    return out


def _rating_results(cfg, cluster, facts, fitted, train_iter, clock,
                    **extra):
    """The results dict of a rating run: the headline, ``extra``, the
    devices, history and clock, and under a parameter server the workers'
    throughput.  ``facts`` is ``data_facts``', ``fitted``
    ``_fit_rating``'s."""
    history, devs, es = fitted
    results = dict(_rating_headline(history, es, facts), **extra,
                   devices=[str(d) for d in devs], _history=history,
                   _clock=clock)
    if cluster.is_dist:
        results.update(_throughput(cluster, history,
                                   len(train_iter) * cfg.batch_size))
    return results


def _cross_validate(run, cfg, verbose):
    """Run every fold of ``cfg.folds``; results hold each fold's and the
    mean and sample standard deviation of the test RMSE."""
    clock, folds = _Clock(), []
    for fold in range(cfg.folds):
        sub = replace(cfg, fold=fold, out=os.path.join(
            cfg.out, f'fold-{fold + 1}') if cfg.out else None)
        res = run(sub, verbose=verbose)
        folds.append(dict(fold=fold + 1, test_rmse=res['test_rmse'],
                          num_train=res['num_train'],
                          num_test=res['num_test'],
                          best_epoch=res.get('best_epoch')))
        print(f"fold {fold + 1}/{cfg.folds}  test RMSE "
              f"{res['test_rmse']:.4f}  ({res['num_train']} train, "
              f"{res['num_test']} test ratings)", flush=True)
    values = [f['test_rmse'] for f in folds]
    results = dict(test_rmse=float(onp.mean(values)),
                   test_rmse_std=float(onp.std(values, ddof=1)),
                   folds=folds, config=cfg.to_dict(),
                   seconds=clock.total())
    print(f"mean over {cfg.folds} folds: test RMSE "
          f"{results['test_rmse']:.4f} ± {results['test_rmse_std']:.4f} "
          f"(sample std)", flush=True)
    if cfg.out:
        write_json(os.path.join(cfg.out, 'metrics.json'), results)
    return results


def run_autorec(config=None, verbose=True, **options):
    """Train and evaluate AutoRec.

    The defaults are the book's (``defaults.AUTOREC``): item-based, random
    90/10 split, 500 hidden units, dropout 0.05, Adam lr 0.002, wd 1e-5,
    25 epochs, batch 256, Normal(0.01) init.  ``variant='user'`` is the
    user-based AutoRec of the paper.

    Args:
        config: an ``AutoRecConfig``, or None to build one from ``options``.
        verbose: print a line per epoch.
        **options: fields of ``AutoRecConfig``.

    Returns:
        The results dict: ``test_rmse``, sizes, ``history``, ``seconds``,
        ``config``, ``devices``.
    """
    cfg = _config(AutoRecConfig, config, options)
    if cfg.folds and cfg.fold is None:
        return _cross_validate(run_autorec, cfg, verbose)
    cluster, cfg, verbose, clock, data = _rating_setup(cfg, verbose)
    train, valid, test, num_users, num_items = data
    width, train_iter, test_iter = D.autorec_iters(
        train, test, num_users, num_items, cfg.variant, cfg.batch_size,
        cfg.seed, cfg.formulation, cluster.shard)
    formulation = 'sparse' if getattr(train_iter, 'sparse', False) \
        else 'dense'
    valid_iter = None if valid is None else D.autorec_iters(
        train, valid, num_users, num_items, cfg.variant,
        formulation=formulation)[2]
    facts = data_facts(*data)
    del data, train, valid, test            # the iterators hold the ratings
    clock.phase('iterators')
    clock.lap('data')
    mx.random.seed(cfg.seed)
    net = AutoRec(cfg.num_hiddens, width, dropout=cfg.dropout,
                  sparse=cfg.sparse)
    loss = ObservedL2Loss() if formulation == 'sparse' else MaskedL2Loss()
    history, devs, es = _fit_rating(net, (train_iter, valid_iter, test_iter),
                                    loss, clock.timed(evaluate_autorec), cfg,
                                    cluster, verbose)
    clock.lap('train')
    results = _rating_results(cfg, cluster, facts, (history, devs, es),
                              train_iter, clock, formulation=formulation)
    return _finish(net, cfg, results, f'AutoRec ({cfg.variant}-based)',
                   ('train_loss', 'test_rmse'))


def run_mf(config=None, verbose=True, **options):
    """Train and evaluate matrix factorization.

    The defaults are the book's (``defaults.MF``): 30 factors, Adam lr
    0.002, wd 1e-5, 20 epochs, batch 512, Normal(0.01) init, and its split:
    the book's MF loads data with ``split_and_load_ml100k``, whose default
    split is **seq-aware** (each user's latest rating is the test set), not
    the random 90/10 of AutoRec.

    Args:
        config: an ``MFConfig``, or None to build one from ``options``.
        verbose: print a line per epoch.
        **options: fields of ``MFConfig``.

    Returns:
        The results dict as ``run_autorec``'s, plus
        ``test_rmse_book_running_avg``: the figure the book's evaluator
        prints (a mean of running per-batch RMSEs), labelled as such;
        ``test_rmse`` is the exact RMSE.
    """
    cfg = _config(MFConfig, config, options)
    if cfg.folds and cfg.fold is None:
        return _cross_validate(run_mf, cfg, verbose)
    cluster, cfg, verbose, clock, data = _rating_setup(cfg, verbose)
    train, valid, test, num_users, num_items = data
    train_iter, test_iter = D.rating_iters(train, test, cfg.batch_size,
                                           cfg.seed, shard=cluster.shard)
    valid_iter = None if valid is None else \
        D.rating_iters(train, valid, cfg.batch_size)[1]
    facts = data_facts(*data)
    del data, train, valid, test            # the iterators hold the ratings
    clock.phase('iterators')
    clock.lap('data')
    mx.random.seed(cfg.seed)
    sparse_grad = _sparse_grad(cfg, num_users, num_items)
    net = MF(cfg.num_factors, num_users, num_items, sparse_grad=sparse_grad)
    history, devs, es = _fit_rating(net, (train_iter, valid_iter, test_iter),
                                    gluon.loss.L2Loss(),
                                    clock.timed(evaluate_rmse), cfg,
                                    cluster, verbose)
    clock.lap('train')
    shards = predict_ratings(net, test_iter, devs[:1])[2]
    results = _rating_results(
        cfg, cluster, facts, (history, devs, es), train_iter, clock,
        test_rmse_book_running_avg=book_running_rmse(shards),
        sparse_grad=sparse_grad)
    return _finish(net, cfg, results, 'Matrix factorization',
                   ('train_loss', 'test_rmse'))


def _saved_run(info):
    """The run configuration stored in a ``model.json``."""
    return dict(info.get('run') or info.get('data') or {})


def reevaluate(model_dir, data_dir=None, devices='cpu'):
    """Score a saved run again on the split recorded with it.

    Args:
        model_dir: the run folder.
        data_dir: the MovieLens folder, if not the one recorded.
        devices: where to score.

    Returns:
        The test RMSE of a rating model, the metrics dict of a ranking model.
    """
    net, info = load_model(model_dir)
    opts = _saved_run(info)
    if data_dir:
        opts['data_dir'] = data_dir
    devs = parse_devices(devices)
    if 'protocol' in opts:     # a ranking run
        return _protocol(opts)['evaluator'](net, devs)
    train, test, num_users, num_items = D.rating_split(
        opts.get('data_dir'), opts.get('train_file'), opts.get('test_file'),
        opts.get('split', 'random'), opts.get('test_ratio', 0.1),
        opts.get('seed', 0))
    net.collect_params().reset_ctx(devs)
    if info['model'] == 'AutoRec':
        _, _, test_iter = D.autorec_iters(train, test, num_users, num_items,
                                          opts.get('variant', 'item'))
        return evaluate_autorec(net, test_iter, devs)
    test_iter = D.rating_iters(train, test, 512)[1]
    return evaluate_rmse(net, test_iter, devs)


# --------------------------------------------------------------------------
# Ranking with implicit feedback
# --------------------------------------------------------------------------
def _protocol(opts):
    """The protocol of a ranking config (an object or a saved dict)."""
    get = opts.get if isinstance(opts, dict) else \
        (lambda k, d=None: getattr(opts, k, d))
    return ranking_protocol(
        data_dir=get('data_dir'), train_file=get('train_file'),
        test_file=get('test_file'), protocol=get('protocol', 'ncf'),
        num_test_negatives=get('num_test_negatives', 99),
        top_k=get('top_k', 10), book_item_range=get('book_item_range', False),
        seed=get('seed', 0), dataset=get('dataset'),
        eval_users=get('eval_users'))


def ranking_net(cfg, num_users, num_items):
    """The untrained network a ``RankingConfig`` describes.

    Args:
        cfg: a ``RankingConfig``.
        num_users, num_items: sizes of the id spaces.

    Returns:
        A ``GMF``, ``MLP``, ``NeuMF`` or ``ItemPop`` block.
    """
    if cfg.model == 'itempop':
        return ItemPop(num_users, num_items)
    sparse_grad = _sparse_grad(cfg, num_users, num_items)
    if cfg.model == 'mf':
        return MF(cfg.num_factors, num_users, num_items,
                  sparse_grad=sparse_grad)
    style = dict(sparse_grad=sparse_grad,
                 output_activation=cfg.output_activation,
                 prediction_bias=cfg.prediction_bias,
                 dense_init=init.Xavier() if cfg.dense_init == 'xavier'
                 else init.Normal(INIT_SIGMA))
    if cfg.model == 'gmf':
        return GMF(cfg.num_factors, num_users, num_items, **style)
    if cfg.model == 'mlp':
        return MLP(cfg.mlp_factors or cfg.num_factors, num_users, num_items,
                   cfg.nums_hiddens, **style)
    return NeuMF(cfg.num_factors, num_users, num_items, cfg.nums_hiddens,
                 mlp_factors=cfg.mlp_factors, **style)


def _ranking_validation(cfg, setup):
    """Validation for a ranking run: each user's latest remaining training
    interaction is held out (the test protocol's rule, applied to the
    training data only); the model trains on the rest.  Under the NCF
    protocol the validation candidates are drawn, with a stream of their
    own, from items the user never interacted with.  Returns the training
    interactions to fit on and the validation evaluator."""
    train, test, num_users, num_items = D.rating_split(
        cfg.data_dir, cfg.train_file, cfg.test_file, split='seq-aware')
    fit_df, valid_df = D.validation_split(train, 'seq-aware')
    fu, fi, _ = D.rating_arrays(fit_df)
    vu, vi, _ = D.rating_arrays(valid_df)
    negatives = None
    if cfg.protocol == 'ncf':
        su, si, _ = D.rating_arrays(test)
        seen = D.interaction_mask(onp.r_[fu, vu, su], onp.r_[fi, vi, si],
                                  num_users, num_items)
        negatives = D.sample_test_negatives(
            seen, cfg.num_test_negatives,
            onp.random.default_rng([cfg.seed, 3]))
    evaluator = RankingEvaluator(
        fu, fi, vu, vi, num_users, num_items, cfg.protocol, cfg.top_k,
        negatives, item_range=num_users if cfg.book_item_range else None)
    return fu, fi, evaluator


def _train_ranking_net(net, cfg, setup, devs, cluster, verbose):
    """Pretraining, loss, negative sampling, trainer and the loop (on this
    worker's share of the positives under a parameter server).  Returns
    ``(history, early stopping or None, examples per epoch)``."""
    if cfg.pretrain_gmf:
        gmf, mlp = load_model(cfg.pretrain_gmf)[0], \
            load_model(cfg.pretrain_mlp)[0]
        load_pretrained(net, gmf, mlp, cfg.alpha)
    sigmoid_bce = cfg.loss == 'bce' and cfg.output_activation == 'sigmoid'
    loss_fn = LOSSES[cfg.loss](
        **({'from_sigmoid': True} if sigmoid_bce else {}))
    net.hybridize()
    loss_fn.hybridize()
    users, items = setup['train_users'], setup['train_items']
    callbacks = []
    if cfg.validation:
        users, items, valid = _ranking_validation(cfg, setup)
        callbacks.append(Validation(lambda n: {
            f'valid_{k}': v for k, v in valid(n, devs).items()
            if isinstance(v, float)}))
    train_iter = D.NegativeSamplingIter(
        users, items, setup['num_users'], setup['num_items'],
        cfg.num_negatives, pairwise=loss_fn.pairwise,
        batch_size=cfg.batch_size, seed=cfg.seed, rank=cluster.rank,
        num_workers=cluster.num_workers if cluster.is_dist else None)
    trainer = gluon.Trainer(_ordered_params(net), cfg.optimizer,
                            {'learning_rate': cfg.lr, 'wd': cfg.wd},
                            **cluster.trainer_options())
    more, es = _lifecycle(cfg, train_iter, f'valid_hit_rate@{cfg.top_k}',
                          'max')
    history = train_ranking(net, train_iter, loss_fn, trainer, cfg.epochs,
                            devs, setup['evaluator'], verbose=verbose,
                            callbacks=callbacks + more, seed=cfg.seed,
                            num_workers=cluster.num_workers)
    return history, es, len(train_iter) * cfg.batch_size


def run_ranking(config=None, verbose=True, **options):
    """Train and evaluate a ranking model under the NCF or the book's
    protocol.

    Options left None take the protocol's defaults
    (``defaults.PROTOCOL_DEFAULTS``: the book's NeuMF settings, or the NCF
    paper's).  ``pretrain_gmf`` and ``pretrain_mlp`` name output folders of
    earlier GMF and MLP runs to initialise a NeuMF from; it is then
    fine-tuned with plain SGD unless ``optimizer`` says otherwise (the NCF
    paper: Adam's moment estimates are not part of the pretrained weights,
    and a fresh Adam start undoes the pretraining).
    ``output_activation='sigmoid'`` and ``dense_init='normal'`` restore the
    book's model exactly (see ``models/neumf.py`` for why they are not the
    defaults).

    Args:
        config: a ``RankingConfig``, or None to build one from ``options``.
        verbose: print a line per epoch.
        **options: fields of ``RankingConfig``.

    Returns:
        The results dict: ``hit_rate@K``, ``ndcg@K``, ``auc``,
        ``full_ranking``, sizes, ``history``, ``seconds``, ``config``,
        ``devices``.
    """
    cfg = _config(RankingConfig, config, options)
    cluster, cfg, verbose = _join(cfg, verbose)
    clock = _Clock()
    setup = _protocol(cfg)
    eval_users = len(setup['evaluator'].users)
    setup['evaluator'] = clock.timed(setup['evaluator'])
    clock.phase('read')
    clock.lap('data')
    devs = parse_devices(cfg.devices)
    mx.random.seed(cfg.seed)
    net = ranking_net(cfg, setup['num_users'], setup['num_items'])
    # Normal(0.01) where a block attaches no initialiser of its own (MF);
    # GMF, MLP, NeuMF and ItemPop keep theirs.
    net.initialize(init.Normal(INIT_SIGMA), ctx=devs)
    if cfg.model == 'itempop':
        net.fit(setup['train_items'])
        history, es = [dict(epoch=0, train_loss=None,
                            **setup['evaluator'](net, devs))], None
    else:
        history, es, examples = _train_ranking_net(net, cfg, setup, devs,
                                                   cluster, verbose)
    clock.lap('train')
    k, final = cfg.top_k, _final(history, es)
    results = {key: final[key] for key in (f'hit_rate@{k}', f'ndcg@{k}',
                                           'auc', 'full_ranking',
                                           f'valid_hit_rate@{k}',
                                           f'valid_ndcg@{k}') if key in final}
    if es is not None:
        results.update(best_epoch=es.best_epoch,
                       epochs_run=history[-1]['epoch'])
    results.update(num_users=setup['num_users'],
                   num_items=setup['num_items'],
                   num_train=len(setup['train_users']),
                   num_test=setup['num_test'],
                   eval_users=eval_users,
                   sparse_grad=bool(getattr(net, 'config', {}).get(
                       'sparse_grad')),
                   devices=[str(d) for d in devs], _history=history,
                   _clock=clock)
    if cluster.is_dist and cfg.model != 'itempop':
        results.update(_throughput(cluster, history, examples))
    title = f'{RANKING_MODELS[cfg.model]}, {cfg.protocol} protocol'
    return _finish(net, cfg, results, title,
                   ('train_loss', f'hit_rate@{k}', f'ndcg@{k}', 'auc'))


def recommend_for(model_dir, user, k=10, data_dir=None, devices='cpu'):
    """Top movies for one user from a saved ranking model.

    Args:
        model_dir: the run folder of a ranking model.
        user: a MovieLens user id.
        k: how many movies.
        data_dir: the MovieLens folder, if not the one recorded.
        devices: where to score.

    Returns:
        A list of ``{rank, item_id, title, score}``, skipping every movie the
        user has rated in the data (training and held-out).
    """
    net, info = load_model(model_dir)
    if 'protocol' not in _saved_run(info):
        raise ValueError(f'{model_dir}: a {info["model"]} model does not rank '
                         'items; train one with scripts/train_neumf.py')
    opts = _saved_run(info)
    data_dir = data_dir or opts.get('data_dir')
    if opts.get('train_file'):
        train, test = D.read_train_test(opts['train_file'],
                                        opts['test_file'])[:2]
        data = pd.concat([train, test], ignore_index=True)
        data.attrs.update(train.attrs)
    else:
        data = D.read_data_ml100k(data_dir)[0]
    user_ids = list(data.attrs['user_ids'])
    if user not in user_ids:
        raise ValueError(f'unknown user {user}: ids run from {user_ids[0]} '
                         f'to {user_ids[-1]}')
    index = user_ids.index(user)
    num_items = net.config['num_items']
    seen = data['item_id'].to_numpy()[data['user_id'].to_numpy() == index + 1]
    items, scores = recommend(net, index, k, seen - 1, num_items,
                              parse_devices(devices))
    try:
        titles = D.read_item_titles(data_dir, data.attrs['item_ids'])
    except (OSError, ValueError):
        titles = {}
    return [dict(rank=r + 1, item_id=int(data.attrs['item_ids'][i]),
                 title=titles.get(int(i) + 1, ''), score=float(sc))
            for r, (i, sc) in enumerate(zip(items, scores))]
