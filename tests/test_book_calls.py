"""The chapters' calls, made exactly as the book prints them, with
``d2l_recsys`` in place of ``d2l`` (d2l's own ``get_dataloader_workers``
aside): the MF, AutoRec and NeuMF chapters run unchanged.  What a chapter
defines in its own text (its evaluators) is written here as a reader
would; the NeuMF chapter's ``PRDataset`` is the package's.  The data is
the synthetic ML-100K folder, found the way the book's calls find theirs
when no folder is named: ``D2L_RECSYS_DATA``."""
import mxnet as mx
import numpy as onp
import pytest
from d2l import mxnet as d2l
from mxnet import autograd, gluon, np

import d2l_recsys as rs
from d2l_recsys.data import ENV_VAR


@pytest.fixture(autouse=True)
def data(ml_dir, monkeypatch):
    monkeypatch.setenv(ENV_VAR, ml_dir)


def adam_as_printed(net, devices, lr, wd, optimizer):
    """The lines every chapter prints before training: Normal(0.01) init
    on the devices and a Gluon trainer."""
    net.initialize(ctx=devices, force_reinit=True, init=mx.init.Normal(0.01))
    return gluon.Trainer(net.collect_params(), optimizer,
                         {"learning_rate": lr, 'wd': wd})


def test_mf_chapter():
    def evaluator(net, test_iter, devices):       # the chapter's, in short
        se, n = 0.0, 0
        for users, items, ratings in test_iter:
            pred = net(users.as_in_context(devices[0]),
                       items.as_in_context(devices[0]))
            se += float(((pred - ratings.as_in_context(devices[0])) ** 2)
                        .sum())
            n += len(ratings)
        return (se / n) ** 0.5

    devices = rs.try_all_gpus()
    num_users, num_items, train_iter, test_iter = rs.split_and_load_ml100k(
        test_ratio=0.1, batch_size=512)
    net = rs.MF(30, num_users, num_items)
    lr, num_epochs, wd, optimizer = 0.002, 20, 1e-5, 'adam'
    loss = gluon.loss.L2Loss()
    trainer = adam_as_printed(net, devices, lr, wd, optimizer)
    history = rs.train_recsys_rating(net, train_iter, test_iter, loss,
                                     trainer, num_epochs, devices, evaluator)
    assert len(history) == 20
    assert history[-1]['train_loss'] < history[0]['train_loss']


def test_autorec_chapter():
    def evaluator(network, inter_matrix, test_data, devices):
        """The chapter's: reconstruct every training row, RMSE at the
        held-out entries."""
        recons = onp.concatenate([
            network(part).asnumpy() for values in inter_matrix
            for part in gluon.utils.split_and_load(values, devices,
                                                   even_split=False)])
        test = test_data.asnumpy()
        mask = onp.sign(test)
        return float(onp.sqrt(((test - mask * recons) ** 2).sum()
                              / mask.sum()))

    devices = rs.try_all_gpus()
    df, num_users, num_items = rs.read_data_ml100k()
    train_data, test_data = rs.split_data_ml100k(df, num_users, num_items)
    _, _, _, train_inter_mat = rs.load_data_ml100k(train_data, num_users,
                                                   num_items)
    _, _, _, test_inter_mat = rs.load_data_ml100k(test_data, num_users,
                                                  num_items)
    train_iter = gluon.data.DataLoader(
        train_inter_mat, shuffle=True, last_batch="rollover", batch_size=256,
        num_workers=d2l.get_dataloader_workers())
    test_iter = gluon.data.DataLoader(
        np.array(train_inter_mat), shuffle=False, last_batch="keep",
        batch_size=1024, num_workers=d2l.get_dataloader_workers())
    net = rs.AutoRec(500, num_users)
    lr, num_epochs, wd, optimizer = 0.002, 25, 1e-5, 'adam'
    loss = gluon.loss.L2Loss()
    trainer = adam_as_printed(net, devices, lr, wd, optimizer)
    history = rs.train_recsys_rating(net, train_iter, test_iter, loss,
                                     trainer, num_epochs, devices, evaluator,
                                     inter_mat=test_inter_mat)
    assert len(history) == 25 and onp.isfinite(history[-1]['test_rmse'])
    # the book's keyword builds the same block
    assert rs.AutoRec(num_hidden=500, num_users=num_users).config == \
        net.config


def test_neumf_chapter():
    batch_size = 1024
    df, num_users, num_items = rs.read_data_ml100k()
    train_data, test_data = rs.split_data_ml100k(df, num_users, num_items,
                                                 'seq-aware')
    users_train, items_train, ratings_train, candidates = \
        rs.load_data_ml100k(train_data, num_users, num_items,
                            feedback="implicit")
    users_test, items_test, ratings_test, test_iter = rs.load_data_ml100k(
        test_data, num_users, num_items, feedback="implicit")
    train_iter = gluon.data.DataLoader(
        rs.PRDataset(users_train, items_train, candidates, num_items),
        batch_size, True, last_batch="rollover",
        num_workers=d2l.get_dataloader_workers())
    devices = rs.try_all_gpus()
    net = rs.NeuMF(10, num_users, num_items, nums_hiddens=[10, 10, 10])
    lr, num_epochs, wd, optimizer = 0.01, 10, 1e-5, 'adam'
    loss = rs.BPRLoss()
    trainer = adam_as_printed(net, devices, lr, wd, optimizer)
    history = rs.train_ranking(net, train_iter, test_iter, loss, trainer,
                               None, num_users, num_items, num_epochs,
                               devices, rs.evaluate_ranking, candidates,
                               eval_step=1)
    assert len(history) == 10
    assert set(history[-1]) >= {'hit_rate', 'auc', 'train_loss'}
    hit_rate, auc = rs.evaluate_ranking(net, test_iter, None, candidates,
                                        num_users, num_items, devices)
    assert history[-1]['auc'] == pytest.approx(float(auc))
    with autograd.predict_mode():
        assert 0 <= float(hit_rate) <= 1
