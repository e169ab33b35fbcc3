"""The book's pipelines, for side-by-side timing: d2l's own loaders and
``d2l.train_recsys_rating``, the book's settings, the same model blocks
(run eagerly, as the book's ``nn.Block`` models), and evaluators that do what
the book's chapter evaluators do.  Only for benchmarks: nothing imports it.
"""
import os
import time

import mxnet as mx
import numpy as onp
from d2l import mxnet as d2l
from mxnet import gluon, np

import d2l_recsys as rs
from d2l_recsys.defaults import AUTOREC, INIT_SIGMA, MF, PROTOCOL_DEFAULTS

BOOK_NEUMF = PROTOCOL_DEFAULTS['book']


class _NoPlot:
    """Stands in for d2l.Animator: with d2l's pinned matplotlib 3.7 and
    IPython 9 (what pip installs today) pyplot fails to create a figure
    outside a notebook.  Skipping the plot only makes the book faster, so
    the measured speed-ups are conservative."""

    def __init__(self, *args, **kwargs):
        pass

    def add(self, *args, **kwargs):
        pass


d2l.Animator = _NoPlot


def point_d2l_at(data_dir):
    """Make d2l read a local folder instead of downloading (offline)."""
    folder = os.path.dirname(rs.resolve_ratings_file(data_dir))
    d2l.download_extract = lambda name, folder_=None: folder


def book_autorec_evaluator(net, row_iter, test_mat, devices):
    """Reconstruct every row from the training matrix, score the held-out
    entries (the book's AutoRec evaluator, in this project's words)."""
    recons = []
    for rows in row_iter:
        for part in gluon.utils.split_and_load(rows, devices,
                                               even_split=False):
            recons.append(net(part))
    recons = np.concatenate([r.as_in_ctx(mx.cpu()) for r in recons])
    mask = np.sign(test_mat)
    return float(np.sqrt(np.sum(np.square(test_mat - mask * recons))
                         / np.sum(mask)))


def book_mf_evaluator(net, test_iter, devices):
    """The book's MF evaluator: MXNet's RMSE metric updated per batch, the
    running value recorded after every batch, the records averaged."""
    metric, records = mx.metric.RMSE(), []
    for users, items, ratings in test_iter:
        u = gluon.utils.split_and_load(users, devices, even_split=False)
        i = gluon.utils.split_and_load(items, devices, even_split=False)
        r = gluon.utils.split_and_load(ratings, devices, even_split=False)
        metric.update(labels=r, preds=[net(a, b) for a, b in zip(u, i)])
        records.append(metric.get()[1])
    return float(onp.mean(records))


def book_autorec(devices, epochs=AUTOREC['epochs']):
    """Returns (data seconds, train+eval seconds, final test RMSE)."""
    start = time.perf_counter()
    df, num_users, num_items = d2l.read_data_ml100k()
    train_data, test_data = d2l.split_data_ml100k(df, num_users, num_items)
    train_mat = d2l.load_data_ml100k(train_data, num_users, num_items)[3]
    test_mat = d2l.load_data_ml100k(test_data, num_users, num_items)[3]
    workers = d2l.get_dataloader_workers()
    train_iter = gluon.data.DataLoader(train_mat, shuffle=True,
                                       last_batch='rollover',
                                       batch_size=AUTOREC['batch_size'],
                                       num_workers=workers)
    test_iter = gluon.data.DataLoader(np.array(train_mat), shuffle=False,
                                      last_batch='keep', batch_size=1024,
                                      num_workers=workers)
    data_s = time.perf_counter() - start
    net = rs.AutoRec(AUTOREC['num_hiddens'], num_users,
                     dropout=AUTOREC['dropout'])
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(INIT_SIGMA))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': AUTOREC['lr'],
                             'wd': AUTOREC['wd']})
    start = time.perf_counter()
    d2l.train_recsys_rating(net, train_iter, test_iter, rs.MaskedL2Loss(),
                            trainer, epochs, devices, book_autorec_evaluator,
                            inter_mat=test_mat)
    train_s = time.perf_counter() - start
    rmse = book_autorec_evaluator(net, test_iter, test_mat, devices)
    return data_s, train_s, rmse


def book_mf(devices, epochs=MF['epochs']):
    start = time.perf_counter()
    num_users, num_items, train_iter, test_iter = d2l.split_and_load_ml100k(
        test_ratio=MF['test_ratio'], batch_size=MF['batch_size'])
    data_s = time.perf_counter() - start
    net = rs.MF(MF['num_factors'], num_users, num_items)
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(INIT_SIGMA))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': MF['lr'], 'wd': MF['wd']})
    start = time.perf_counter()
    d2l.train_recsys_rating(net, train_iter, test_iter, gluon.loss.L2Loss(),
                            trainer, epochs, devices, book_mf_evaluator)
    train_s = time.perf_counter() - start
    return data_s, train_s, book_mf_evaluator(net, test_iter, devices)


def book_neumf(devices, epochs=BOOK_NEUMF['epochs']):
    """The book's NeuMF run: seq-aware split, implicit feedback, rs.PRDataset,
    the book's model (sigmoid output, Normal(0.01) everywhere), BPR, Adam
    0.01, d2l.train_ranking with d2l.evaluate_ranking every epoch.
    Returns (seconds, the net, test dict, candidates)."""
    start = time.perf_counter()
    df, num_users, num_items = d2l.read_data_ml100k()
    train_data, test_data = d2l.split_data_ml100k(df, num_users, num_items,
                                                  'seq-aware')
    users, items, _, candidates = d2l.load_data_ml100k(
        train_data, num_users, num_items, feedback='implicit')
    _, _, _, test_iter = d2l.load_data_ml100k(
        test_data, num_users, num_items, feedback='implicit')
    train_iter = gluon.data.DataLoader(
        rs.PRDataset(users, items, candidates, num_items),
        BOOK_NEUMF['batch_size'], True,
        last_batch='rollover', num_workers=d2l.get_dataloader_workers())
    net = rs.NeuMF(BOOK_NEUMF['num_factors'], num_users, num_items,
                   list(BOOK_NEUMF['nums_hiddens']),
                   output_activation='sigmoid',
                   dense_init=mx.init.Normal(INIT_SIGMA))
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(INIT_SIGMA))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': BOOK_NEUMF['lr'],
                             'wd': BOOK_NEUMF['wd']})
    d2l.train_ranking(net, train_iter, test_iter, d2l.BPRLoss(), trainer,
                      None, num_users, num_items, epochs, devices,
                      d2l.evaluate_ranking, candidates)
    return time.perf_counter() - start, net, test_iter, candidates
