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
import pandas as pd
from mxnet import gluon, init

from . import data as D
from .metrics import book_running_rmse
from .losses import LOSSES
from .models import (GMF, MF, MLP, AutoRec, ItemPop, MaskedL2Loss, NeuMF,
                     load_pretrained)
from .plot import curves_figure, save_figure
from .ranking import RankingEvaluator, recommend
from .train import (evaluate_autorec, evaluate_rmse, load_model,
                    parse_devices, predict_ratings, save_model,
                    train_ranking, train_recsys_rating, write_json)


def _check(name, value, ok, expected):
    if not ok:
        raise ValueError(f'{name}={value!r}: expected {expected}')


def _check_common(epochs, lr, wd, batch_size, test_ratio=0.1):
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


def _finish(net, history, devices, config, timings, out, title, headline,
            plotted, data_keys):
    """Assemble the results dict; with ``out``, write the model (with the
    config keys that rebuild its data), curves.html and metrics.json."""
    results = dict(headline, history=[
        {k: v for k, v in h.items() if k != 'seconds'} for h in history],
        seconds=timings, config=config, devices=[str(d) for d in devices])
    if out:
        save_model(net, out, data={k: config[k] for k in data_keys
                                   if k in config})
        save_figure(curves_figure(history, title, plotted),
                    os.path.join(out, 'curves.html'))
    timings['total'] = time.perf_counter() - timings.pop('_start')
    if out:
        write_json(os.path.join(out, 'metrics.json'), results)
    return results


RATING_DATA_KEYS = ('data_dir', 'train_file', 'test_file', 'split',
                    'test_ratio', 'seed', 'variant')


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
                   dict(test_rmse=history[-1]['test_rmse'],
                        num_users=num_users, num_items=num_items,
                        num_train=len(train), num_test=len(test)),
                   ('train_loss', 'test_rmse'), RATING_DATA_KEYS)


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
    train_iter, test_iter = D.rating_iters(train, test, batch_size, seed)
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
                   dict(test_rmse=history[-1]['test_rmse'],
                        test_rmse_book_running_avg=book_running_rmse(shards),
                        num_users=num_users, num_items=num_items,
                        num_train=len(train), num_test=len(test)),
                   ('train_loss', 'test_rmse'), RATING_DATA_KEYS)


def reevaluate(model_dir, data_dir=None, devices='cpu'):
    """Load a saved model and score it on the split recorded with it (same
    data source, split and seed): the test RMSE of a rating model, the
    metrics dict of a ranking model."""
    net, info = load_model(model_dir)
    opts = dict(info.get('data', {}))
    if data_dir:
        opts['data_dir'] = data_dir
    if info['model'] in RANKING_MODELS.values():
        setup = _ranking_setup(**{k: opts.get(k) for k in RANKING_DATA_KEYS})
        return setup['evaluator'](net, parse_devices(devices))
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
    test_iter = D.rating_iters(train, test, 512)[1]
    return evaluate_rmse(net, test_iter, devs)


# --------------------------------------------------------------------------
# Ranking with implicit feedback
# --------------------------------------------------------------------------
RANKING_MODELS = {'gmf': 'GMF', 'mlp': 'MLP', 'neumf': 'NeuMF',
                  'itempop': 'ItemPop'}
# The book's NeuMF section, and the NCF paper / its code (He et al., 2017).
PROTOCOL_DEFAULTS = {
    'book': dict(loss='bpr', num_factors=10, nums_hiddens=(10, 10, 10),
                 mlp_factors=None, lr=0.01, wd=1e-5, epochs=10,
                 batch_size=1024, num_negatives=1, top_k=50,
                 prediction_bias=False),
    'ncf': dict(loss='bce', num_factors=8, nums_hiddens=(32, 16, 8),
                mlp_factors=32, lr=0.001, wd=0.0, epochs=20, batch_size=256,
                num_negatives=4, top_k=10, prediction_bias=True),
}
RANKING_DATA_KEYS = ('data_dir', 'train_file', 'test_file', 'protocol',
                     'num_test_negatives', 'top_k', 'book_item_range', 'seed')


def _ranking_setup(data_dir=None, train_file=None, test_file=None,
                   protocol='ncf', num_test_negatives=99, top_k=10,
                   book_item_range=False, seed=0, ties='pessimistic'):
    """Interactions, held-out items and the protocol's evaluator.  Both
    protocols hold out each user's latest interaction (the book's seq-aware
    split), unless a train/test file pair is given."""
    if train_file or test_file:
        train, test, num_users, num_items = rating_split(
            train_file=train_file, test_file=test_file)
    else:
        train, test, num_users, num_items = rating_split(
            data_dir, split='seq-aware')
    tu, ti, _ = D.rating_arrays(train)
    su, si, _ = D.rating_arrays(test)
    negatives = None
    if protocol == 'ncf':
        seen = D.interaction_mask(onp.r_[tu, su], onp.r_[ti, si], num_users,
                                  num_items)
        negatives = D.sample_test_negatives(
            seen, num_test_negatives, onp.random.default_rng(seed or 0))
    evaluator = RankingEvaluator(
        tu, ti, su, si, num_users, num_items, protocol, top_k, negatives,
        item_range=num_users if book_item_range else None, ties=ties)
    return dict(train_users=tu, train_items=ti, num_users=num_users,
                num_items=num_items, num_test=len(su), evaluator=evaluator)


def _ranking_net(model, num_users, num_items, c):
    if model == 'itempop':
        return ItemPop(num_users, num_items)
    style = dict(output_activation=c['output_activation'],
                 prediction_bias=c['prediction_bias'],
                 dense_init=init.Xavier() if c['dense_init'] == 'xavier'
                 else init.Normal(0.01))
    if model == 'gmf':
        return GMF(c['num_factors'], num_users, num_items, **style)
    if model == 'mlp':
        return MLP(c['mlp_factors'] or c['num_factors'], num_users,
                   num_items, c['nums_hiddens'], **style)
    return NeuMF(c['num_factors'], num_users, num_items, c['nums_hiddens'],
                 mlp_factors=c['mlp_factors'], **style)


def run_ranking(model='neumf', protocol='ncf', loss=None, num_factors=None,
                nums_hiddens=None, mlp_factors=None, num_negatives=None,
                num_test_negatives=99, top_k=None, pretrain_gmf=None,
                pretrain_mlp=None, alpha=0.5, optimizer=None,
                book_item_range=False, output_activation=None,
                dense_init='xavier', prediction_bias=None, data_dir=None,
                train_file=None, test_file=None, epochs=None, lr=None, wd=None,
                batch_size=None, seed=0, devices='auto', out=None,
                verbose=True):
    """Train and evaluate a ranking model (``neumf``, ``gmf``, ``mlp`` or
    ``itempop``) under ``protocol='ncf'`` or ``'book'``.  Options left None
    take the protocol's defaults (``PROTOCOL_DEFAULTS``: the book's NeuMF
    settings, or the NCF paper's).  ``pretrain_gmf`` and ``pretrain_mlp``
    name output folders of earlier GMF and MLP runs to initialise a NeuMF
    from; it is then fine-tuned with plain SGD unless ``optimizer`` says
    otherwise (the NCF paper: Adam's moment estimates are not part of the
    pretrained weights, and a fresh Adam start undoes the pretraining).
    ``output_activation='sigmoid'`` and ``dense_init='normal'`` restore the
    book's model exactly (see ``models/neumf.py`` for why they are not the
    defaults).  Returns the results dict."""
    _check('protocol', protocol, protocol in PROTOCOL_DEFAULTS,
           "'ncf' or 'book'")
    _check('model', model, model in RANKING_MODELS,
           'one of ' + ', '.join(RANKING_MODELS))
    config = {k: v for k, v in locals().items() if k != 'verbose'}
    for key, value in PROTOCOL_DEFAULTS[protocol].items():
        if config[key] is None:
            config[key] = value
    c = config
    c['nums_hiddens'] = list(c['nums_hiddens'])
    _check_common(c['epochs'], c['lr'], c['wd'], c['batch_size'])
    _check('loss', c['loss'], c['loss'] in LOSSES, 'bce, bpr or hinge')
    for key in ('num_factors', 'num_negatives', 'num_test_negatives',
                'top_k'):
        _check(key, c[key], isinstance(c[key], int) and c[key] >= 1,
               'a positive integer')
    _check('nums_hiddens', c['nums_hiddens'],
           c['nums_hiddens'] and all(h >= 1 for h in c['nums_hiddens']),
           'positive layer sizes, e.g. 10,10,10')
    if c['optimizer'] is None:
        c['optimizer'] = 'sgd' if pretrain_gmf else 'adam'
    _check('optimizer', c['optimizer'], c['optimizer'] in ('adam', 'sgd'),
           "'adam' or 'sgd'")
    _check('dense_init', dense_init, dense_init in ('xavier', 'normal'),
           "'xavier' or 'normal'")
    if (pretrain_gmf or pretrain_mlp) and not (
            pretrain_gmf and pretrain_mlp and model == 'neumf'):
        raise ValueError('pretrain_gmf and pretrain_mlp go together, with '
                         'model neumf')

    timings = {'_start': time.perf_counter()}
    setup = _ranking_setup(**{k: c[k] for k in RANKING_DATA_KEYS})
    num_users, num_items = setup['num_users'], setup['num_items']
    evaluator = setup['evaluator']
    timings['data'] = time.perf_counter() - timings['_start']
    devs = parse_devices(devices)
    mx.random.seed(seed)
    net = _ranking_net(model, num_users, num_items, c)
    net.initialize(ctx=devs)
    start = time.perf_counter()
    if model == 'itempop':
        net.fit(setup['train_items'])
        history = [dict(epoch=0, train_loss=None, **evaluator(net, devs))]
    else:
        if pretrain_gmf:
            gmf, mlp = load_model(pretrain_gmf)[0], load_model(pretrain_mlp)[0]
            load_pretrained(net, gmf, mlp, alpha)
        sigmoid_bce = c['loss'] == 'bce' and output_activation == 'sigmoid'
        loss_fn = LOSSES[c['loss']](
            **({'from_sigmoid': True} if sigmoid_bce else {}))
        net.hybridize()
        loss_fn.hybridize()
        train_iter = D.NegativeSamplingIter(
            setup['train_users'], setup['train_items'], num_users, num_items,
            c['num_negatives'], pairwise=loss_fn.pairwise,
            batch_size=c['batch_size'], seed=seed)
        trainer = gluon.Trainer(net.collect_params(), c['optimizer'],
                                {'learning_rate': c['lr'], 'wd': c['wd']})
        history = train_ranking(net, train_iter, loss_fn, trainer,
                                c['epochs'], devs, evaluator, verbose=verbose)
    timings['train'] = time.perf_counter() - start
    k = c['top_k']
    final = history[-1]
    headline = {key: final[key] for key in (f'hit_rate@{k}', f'ndcg@{k}',
                                            'auc', 'full_ranking')}
    headline.update(num_users=num_users, num_items=num_items,
                    num_train=len(setup['train_users']),
                    num_test=setup['num_test'])
    title = f"{RANKING_MODELS[model]}, {protocol} protocol"
    return _finish(net, history, devs, config, timings, out, title, headline,
                   ('train_loss', f'hit_rate@{k}', f'ndcg@{k}', 'auc'),
                   RANKING_DATA_KEYS)


def recommend_for(model_dir, user, k=10, data_dir=None, devices='cpu'):
    """Top ``k`` movies for MovieLens user id ``user`` from a saved ranking
    model, skipping every movie the user has rated in the data (training and
    held-out).  Returns a list of ``{rank, item_id, title, score}``."""
    net, info = load_model(model_dir)
    if info['model'] not in RANKING_MODELS.values():
        raise ValueError(f'{model_dir}: a {info["model"]} model does not rank '
                         'items; train one with scripts/train_neumf.py')
    opts = dict(info.get('data', {}))
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
