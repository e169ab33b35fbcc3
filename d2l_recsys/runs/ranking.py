"""Ranking runs with implicit feedback (GMF, MLP, NeuMF, dot-product MF,
ItemPop and any model of the ``ranking`` family): spec -> held-out
protocol -> negative sampling -> the shared loop -> HR / NDCG."""
import mxnet as mx
from mxnet import gluon, init

from .. import data as D
from ..callbacks import Validation
from ..data.spec import materialize
from ..defaults import INIT_SIGMA
from ..devices import parse_devices
from ..io import load_model
from ..losses import LOSSES
from ..ranking import protocol_evaluator
from ..train import fit_ranking
from .common import (Clock, cross_validate, final, finish, join, lifecycle,
                     ordered_params, start, stopped, throughput)


def evaluator(cfg, data, validation=False):
    """The test (or validation) evaluator of a ranking config on
    ``data``; None for the test of data without a test part."""
    if not validation and data.test is None:
        return None
    return protocol_evaluator(
        data, cfg.protocol, cfg.num_test_negatives, cfg.top_k,
        cfg.book_item_range, cfg.seed, eval_users=cfg.eval_users,
        validation=validation)


def _train(net, cfg, data, evaluators, devices, cluster, verbose):
    """Loss, negative sampling, trainer and the loop (on this worker's
    share of the positives under a parameter server).  ``evaluators`` is
    ``(test, validation or None)``.  Returns ``(history, early stopping or
    None, examples per epoch)``."""
    test_eval, valid = evaluators
    sigmoid_bce = cfg.loss == 'bce' and cfg.output_activation == 'sigmoid'
    loss_fn = LOSSES[cfg.loss](
        **({'from_sigmoid': True} if sigmoid_bce else {}))
    net.hybridize()
    loss_fn.hybridize()
    callbacks = []
    if valid is not None:
        callbacks.append(Validation(lambda n: {
            f'valid_{k}': v for k, v in valid(n, devices).items()
            if isinstance(v, float)}))
    users, items, _ = D.rating_arrays(data.train)
    train_iter = D.NegativeSamplingIter(
        users, items, data.num_users, data.num_items, cfg.num_negatives,
        pairwise=loss_fn.pairwise, batch_size=cfg.batch_size, seed=cfg.seed,
        rank=cluster.rank,
        num_workers=cluster.num_workers if cluster.is_dist else None)
    trainer = gluon.Trainer(ordered_params(net), cfg.optimizer,
                            {'learning_rate': cfg.lr, 'wd': cfg.wd},
                            **cluster.trainer_options())
    more, es = lifecycle(cfg, train_iter, f'valid_hit_rate@{cfg.top_k}',
                         'max')
    history = fit_ranking(net, train_iter, loss_fn, trainer, cfg.epochs,
                          devices, test_eval, verbose=verbose,
                          callbacks=callbacks + more, seed=cfg.seed,
                          num_workers=cluster.num_workers)
    return history, es, len(train_iter) * cfg.batch_size


ALPHA_GRID = [round(0.05 * j, 2) for j in range(21)]
"""The values ``alpha='auto'`` tries: 0 (the MLP alone) to 1 (GMF)."""


def _choose_alpha(entry, net, pretrained, valid, devices, k):
    """The weight of the GMF part that scores best on the validation data
    before fine-tuning: every value of ``ALPHA_GRID`` is loaded into the
    pretrained NeuMF and ranked by validation NDCG@K (finer than HR@K on
    a few thousand users; ties go to the smaller value).  Returns
    ``{alpha, grid, valid_ndcg@K}``: the choice, the values tried and
    their scores."""
    scores = []
    for a in ALPHA_GRID:
        entry.pretrain(net, *pretrained, a)
        scores.append(float(valid(net, devices)[f'ndcg@{k}']))
    best = max(range(len(scores)), key=lambda j: (scores[j], -j))
    return {'alpha': ALPHA_GRID[best], 'grid': ALPHA_GRID,
            f'valid_ndcg@{k}': scores}


def run_ranking(entry, cfg, verbose=True, frame=None):
    """Train and evaluate a ranking model (``entry``) as ``cfg`` says.

    Returns:
        The results dict: ``hit_rate@K``, ``ndcg@K``, ``auc``,
        ``full_ranking`` (and their ``valid_`` twins), sizes, ``history``,
        ``seconds``, ``config``, ``devices``; a NeuMF started from
        pretrained parts has ``pretrained``: ``{alpha}`` and, for
        ``alpha='auto'``, the grid and its validation scores; with
        ``folds``, each fold's ``hit_rate@K`` and their mean and std.
    """
    k = cfg.top_k
    if cfg.pretrain_gmf and entry.pretrain is None:
        raise ValueError(f'pretrain_gmf, pretrain_mlp: a {entry.name} cannot '
                         'start from pretrained GMF and MLP runs (a neumf '
                         'can)')
    if cfg.folds and cfg.fold is None:
        return cross_validate(
            entry, lambda c, v: run_ranking(entry, c, v, frame), cfg,
            verbose, f'hit_rate@{k}')
    cluster, cfg, verbose = join(cfg, verbose)
    clock = Clock()
    data = materialize(cfg.data_spec(), frame)
    test_eval = evaluator(cfg, data)
    valid = None if data.valid is None else \
        evaluator(cfg, data, validation=True)
    pretrained = cfg.pretrain_gmf and (load_model(cfg.pretrain_gmf)[0],
                                       load_model(cfg.pretrain_mlp)[0])
    start(entry, cfg)             # data and inputs are good: the run begins
    scored = test_eval or valid         # what the history's metrics are of
    eval_users = len(scored.users)
    test_eval = test_eval and clock.timed(test_eval)
    clock.phase('read')
    clock.lap('data')
    devices = parse_devices(cfg.devices)
    mx.random.seed(cfg.seed)
    net = entry.build(cfg, data.num_users, data.num_items)
    # Normal(0.01) where a block attaches no initialiser of its own (MF);
    # GMF, MLP, NeuMF and ItemPop keep theirs.
    net.initialize(init.Normal(INIT_SIGMA), ctx=devices)
    alpha = None
    if pretrained:
        alpha = _choose_alpha(entry, net, pretrained, valid, devices, k) \
            if cfg.alpha == 'auto' else dict(alpha=cfg.alpha)
        if verbose and cfg.alpha == 'auto':
            print(f"alpha {alpha['alpha']:g}: the best validation NDCG@{k} "
                  f"({max(alpha[f'valid_ndcg@{k}']):.4f}) of "
                  f"{', '.join(f'{a:g}' for a in ALPHA_GRID[:3])}, ..., 1",
                  flush=True)
        entry.pretrain(net, *pretrained, alpha['alpha'])
    es = None
    if entry.counts:
        entry.counts(net, D.rating_arrays(data.train_all)[1])
        history = [dict(epoch=0, train_loss=None,
                        **(test_eval(net, devices) if test_eval else {}))]
        if valid is not None:
            history[0].update({f'valid_{key}': value for key, value in
                               valid(net, devices).items()
                               if isinstance(value, float)})
    else:
        history, es, examples = _train(net, cfg, data, (test_eval, valid),
                                       devices, cluster, verbose)
    clock.lap('train')
    last = final(history, es)
    results = {key: last[key] for key in (f'hit_rate@{k}', f'ndcg@{k}',
                                          'auc', 'full_ranking',
                                          f'valid_hit_rate@{k}',
                                          f'valid_ndcg@{k}') if key in last}
    results.update(stopped(history, es), num_users=data.num_users,
                   num_items=data.num_items, num_train=len(data.train_all),
                   **({} if data.test is None else
                      {'num_test': len(data.test)}), eval_users=eval_users,
                   sparse_grad=bool(getattr(net, 'config', {}).get(
                       'sparse_grad')),
                   devices=[str(d) for d in devices], _history=history,
                   **({'pretrained': alpha} if alpha else {}),
                   _clock=clock)
    if cluster.is_dist and not entry.counts:
        results.update(throughput(cluster, history, examples))
    title = f'{entry.title}, {cfg.protocol} protocol'
    plotted = ('train_loss',) if test_eval is None else \
        ('train_loss', f'hit_rate@{k}', f'ndcg@{k}', 'auc')
    return finish(entry, net, cfg, results, title, plotted)
