"""End-to-end runs with the book's settings: data -> model -> loop -> files.

``run_autorec`` and ``run_mf`` are what ``scripts/train_autorec.py`` and
``scripts/train_mf.py`` call; each returns a results dict and, given
``out``, writes ``metrics.json``, ``curves.html``, ``model.params`` and
``model.json`` there.  ``reevaluate`` loads such a folder back and scores it
on the same split.
"""
import os
import time

import mxnet as mx
import numpy as onp
from mxnet import gluon, init

from . import data as D
from .metrics import book_running_rmse
from .models import MF, AutoRec, MaskedL2Loss
from .plot import curves_figure, save_figure
from .train import (evaluate_autorec, evaluate_rmse, load_model,
                    parse_devices, predict_ratings, save_model,
                    train_recsys_rating, write_json)


def _check(name, value, ok, expected):
    if not ok:
        raise ValueError(f'{name}={value!r}: expected {expected}')


def _check_common(epochs, lr, wd, batch_size, test_ratio):
    _check('epochs', epochs, isinstance(epochs, int) and epochs >= 1,
           'a positive integer')
    _check('lr', lr, lr > 0, 'a positive number')
    _check('wd', wd, wd >= 0, 'a number >= 0')
    _check('batch_size', batch_size,
           isinstance(batch_size, int) and batch_size >= 1,
           'a positive integer')
    _check('test_ratio', test_ratio, 0 < test_ratio < 1,
           'a number between 0 and 1')


def rating_split(data_dir=None, train_file=None, test_file=None,
                 split='random', test_ratio=0.1, seed=0):
    """The train/test ratings: a given file pair, or the data set split
    ``'random'`` or ``'seq-aware'``.
    Returns ``(train, test, num_users, num_items)`` DataFrames and sizes."""
    if train_file or test_file:
        if not (train_file and test_file):
            raise ValueError('train_file and test_file must be given '
                             'together')
        return D.read_train_test(train_file, test_file)
    _check('split', split, split in ('random', 'seq-aware'),
           "'random' or 'seq-aware'")
    data, num_users, num_items = D.read_data_ml100k(data_dir)
    train, test = D.split_data_ml100k(data, num_users, num_items, split,
                                      test_ratio, seed=seed)
    return train, test, num_users, num_items


def _autorec_iters(train, test, num_users, num_items, variant, batch_size,
                   seed):
    transpose = variant == 'user'   # rows are users, columns items
    train_mat = D.interaction_matrix(train, num_users, num_items, transpose)
    test_mat = D.interaction_matrix(test, num_users, num_items, transpose)
    train_iter = D.ArrayIter(train_mat, batch_size=batch_size, shuffle=True,
                             last_batch='rollover', seed=seed)
    test_iter = D.ArrayIter(train_mat, test_mat, batch_size=1024)
    return train_mat.shape[1], train_iter, test_iter


def _mf_iters(train, test, batch_size, seed):
    iters = []
    for part, is_train in ((train, True), (test, False)):
        u, i, r = D.rating_arrays(part)
        iters.append(D.ArrayIter(
            u.astype(onp.int32), i.astype(onp.int32), r.astype(onp.float32),
            batch_size=batch_size, shuffle=is_train,
            last_batch='rollover' if is_train else 'keep', seed=seed))
    return iters


def _fit(net, train_iter, test_iter, loss, evaluator, config, verbose):
    """Seeded init, Adam as the book, the shared loop."""
    devices = parse_devices(config['devices'])
    net.initialize(init.Normal(0.01), ctx=devices, force_reinit=True)
    if not getattr(net, 'sparse', False):
        net.hybridize()
        loss.hybridize()
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': config['lr'],
                             'wd': config['wd']})
    history = train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                                  config['epochs'], devices, evaluator,
                                  verbose=verbose)
    return history, devices


def _finish(net, history, devices, config, timings, out, title, extra=None):
    results = dict(test_rmse=history[-1]['test_rmse'], **(extra or {}),
                   history=[{k: h[k] for k in ('epoch', 'train_loss',
                                                'test_rmse')}
                            for h in history],
                   seconds=timings, config=config,
                   devices=[str(d) for d in devices])
    if out:
        save_model(net, out, data={k: config[k] for k in (
            'data_dir', 'train_file', 'test_file', 'split', 'test_ratio',
            'seed', 'variant') if k in config})
        save_figure(curves_figure(history, title),
                    os.path.join(out, 'curves.html'))
        timings['total'] = time.perf_counter() - timings.pop('_start')
        write_json(os.path.join(out, 'metrics.json'), results)
    else:
        timings['total'] = time.perf_counter() - timings.pop('_start')
    return results


def run_autorec(data_dir=None, train_file=None, test_file=None,
                split='random', test_ratio=0.1, epochs=25, lr=0.002, wd=1e-5,
                batch_size=256, seed=0, devices='auto', out=None,
                num_hiddens=500, dropout=0.05, variant='item', sparse=False,
                verbose=True):
    """Train and evaluate AutoRec with the book's settings (item-based,
    random 90/10 split, 500 hidden units, dropout 0.05, Adam lr 0.002,
    wd 1e-5, 25 epochs, batch 256, Normal(0.01) init).  ``variant='user'``
    is the user-based AutoRec of the paper.  Returns the results dict."""
    config = {k: v for k, v in locals().items() if k != 'verbose'}
    _check_common(epochs, lr, wd, batch_size, test_ratio)
    _check('variant', variant, variant in ('item', 'user'), "'item' or 'user'")
    _check('num_hiddens', num_hiddens,
           isinstance(num_hiddens, int) and num_hiddens >= 1,
           'a positive integer')
    _check('dropout', dropout, 0 <= dropout < 1, 'a number in [0, 1)')
    timings = {'_start': time.perf_counter()}
    train, test, num_users, num_items = rating_split(
        data_dir, train_file, test_file, split, test_ratio, seed)
    width, train_iter, test_iter = _autorec_iters(
        train, test, num_users, num_items, variant, batch_size, seed)
    timings['data'] = time.perf_counter() - timings['_start']
    mx.random.seed(seed)
    net = AutoRec(num_hiddens, width, dropout=dropout, sparse=sparse)
    start = time.perf_counter()
    history, devs = _fit(net, train_iter, test_iter, MaskedL2Loss(),
                         evaluate_autorec, config, verbose)
    timings['train'] = time.perf_counter() - start
    return _finish(net, history, devs, config, timings, out,
                   f'AutoRec ({variant}-based)',
                   dict(num_users=num_users, num_items=num_items,
                        num_train=len(train), num_test=len(test)))


def run_mf(data_dir=None, train_file=None, test_file=None, split='seq-aware',
           test_ratio=0.1, epochs=20, lr=0.002, wd=1e-5, batch_size=512,
           seed=0, devices='auto', out=None, num_factors=30, verbose=True):
    """Train and evaluate matrix factorization with the book's settings
    (30 factors, Adam lr 0.002, wd 1e-5, 20 epochs, batch 512, Normal(0.01)
    init) and its split: the book's MF loads data with
    ``split_and_load_ml100k``, whose default split is **seq-aware** (each
    user's latest rating is the test set), not the random 90/10 of AutoRec.
    The results also carry ``test_rmse_book_running_avg``, the figure the
    book's evaluator prints (a mean of running per-batch RMSEs), labelled as
    such; ``test_rmse`` is the exact RMSE."""
    config = {k: v for k, v in locals().items() if k != 'verbose'}
    _check_common(epochs, lr, wd, batch_size, test_ratio)
    _check('num_factors', num_factors,
           isinstance(num_factors, int) and num_factors >= 1,
           'a positive integer')
    timings = {'_start': time.perf_counter()}
    train, test, num_users, num_items = rating_split(
        data_dir, train_file, test_file, split, test_ratio, seed)
    train_iter, test_iter = _mf_iters(train, test, batch_size, seed)
    timings['data'] = time.perf_counter() - timings['_start']
    mx.random.seed(seed)
    net = MF(num_factors, num_users, num_items)
    start = time.perf_counter()
    history, devs = _fit(net, train_iter, test_iter, gluon.loss.L2Loss(),
                         evaluate_rmse, config, verbose)
    timings['train'] = time.perf_counter() - start
    shards = predict_ratings(net, test_iter, devs[:1])[2]
    return _finish(net, history, devs, config, timings, out,
                   'Matrix factorization',
                   dict(test_rmse_book_running_avg=book_running_rmse(shards),
                        num_users=num_users, num_items=num_items,
                        num_train=len(train), num_test=len(test)))


def reevaluate(model_dir, data_dir=None, devices='cpu'):
    """Load a saved model and score it on the split recorded with it (same
    data source, split and seed); returns the test RMSE."""
    net, info = load_model(model_dir)
    opts = dict(info.get('data', {}))
    if data_dir:
        opts['data_dir'] = data_dir
    train, test, num_users, num_items = rating_split(
        opts.get('data_dir'), opts.get('train_file'), opts.get('test_file'),
        opts.get('split', 'random'), opts.get('test_ratio', 0.1),
        opts.get('seed', 0))
    devs = parse_devices(devices)
    net.collect_params().reset_ctx(devs)
    if info['model'] == 'AutoRec':
        _, _, test_iter = _autorec_iters(train, test, num_users, num_items,
                                         opts.get('variant', 'item'), 256, 0)
        return evaluate_autorec(net, test_iter, devs)
    test_iter = _mf_iters(train, test, 512, 0)[1]
    return evaluate_rmse(net, test_iter, devs)
