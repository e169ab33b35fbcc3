#!/usr/bin/env python
"""The book's MovieLens pipelines against this package's, side by side in
one process on the same devices, imports outside every timing (``--parts``):

* ``data``: read ``u.data``, split it at random 90/10 and load both parts
  as the book's chapters do: d2l's own functions against this package's
  functions of the same names (ours: the best of ``--repeats``);
* ``autorec``, ``mf``: whole runs with the book's settings, data loading
  plus training with an evaluation after every epoch (AutoRec 25 epochs,
  MF 20): the book's pipeline (d2l's loaders and
  ``d2l.train_recsys_rating``, the same model blocks run eagerly as the
  book's ``nn.Block`` models, evaluators doing what the chapter's do)
  against the package's (``run_autorec``, ``run_mf``).  The book's plot is
  skipped, which only makes the book faster.

The book's NeuMF run and its evaluation are ``bench_eval.py --ml100k
--book-epochs 10``'s.

    python bench/bench_book.py --data-dir ../shared/data/ml-100k \\
        --parts data --json bench/results/data.json
    python bench/bench_book.py --data-dir ../shared/data/ml-100k \\
        --parts autorec,mf --json bench/results/end-to-end.json
"""
import argparse
import os
import time

import mxnet as mx
import numpy as onp
from mxnet import gluon, np

import harness
import d2l_recsys as rs
from d2l_recsys.defaults import AUTOREC, INIT_SIGMA, MF

PARTS = ('data', 'autorec', 'mf')


# --- reading -----------------------------------------------------------------
def pipeline(lib, **kw):
    """Seconds of reading, a random split and loading both parts."""
    start = time.perf_counter()
    data, nu, ni = lib.read_data_ml100k(**kw)
    train, test = lib.split_data_ml100k(data, nu, ni, 'random', 0.1)
    lib.load_data_ml100k(train, nu, ni)
    lib.load_data_ml100k(test, nu, ni)
    return time.perf_counter() - start


def data_part(d2l, data_dir, repeats):
    theirs = pipeline(d2l)
    ours = min(pipeline(rs, data_dir=data_dir) for _ in range(repeats))
    print(f'read+random split+load: d2l {theirs:.2f} s, ours {ours:.3f} s '
          f'(best of {repeats}): {theirs / ours:.0f}x', flush=True)
    return dict(part='data', d2l_seconds=theirs, ours_seconds=ours,
                repeats=repeats, speedup=theirs / ours)


# --- the book's whole runs ---------------------------------------------------
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


def book_run(d2l, net, settings, devices, train_iter, test_iter, loss,
             evaluator, **kwargs):
    """``d2l.train_recsys_rating`` with the book's initialization and
    Adam: ``(seconds, the evaluator's final figure)``."""
    net.initialize(ctx=devices, force_reinit=True,
                   init=mx.init.Normal(INIT_SIGMA))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': settings['lr'],
                             'wd': settings['wd']})
    start = time.perf_counter()
    d2l.train_recsys_rating(net, train_iter, test_iter, loss, trainer,
                            settings['epochs'], devices, evaluator, **kwargs)
    seconds = time.perf_counter() - start
    extra = [kwargs['inter_mat']] if kwargs else []
    return seconds, evaluator(net, test_iter, *extra, devices)


def book_autorec(d2l, devices):
    """The book's AutoRec: ``(data seconds, train+eval seconds, RMSE)``."""
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
    data_seconds = time.perf_counter() - start
    net = rs.AutoRec(AUTOREC['num_hiddens'], num_users,
                     dropout=AUTOREC['dropout'])
    return (data_seconds, *book_run(
        d2l, net, AUTOREC, devices, train_iter, test_iter,
        rs.MaskedL2Loss(), book_autorec_evaluator, inter_mat=test_mat))


def book_mf(d2l, devices):
    """The book's MF: ``(data seconds, train+eval seconds, its RMSE)``."""
    start = time.perf_counter()
    num_users, num_items, train_iter, test_iter = d2l.split_and_load_ml100k(
        test_ratio=MF['test_ratio'], batch_size=MF['batch_size'])
    data_seconds = time.perf_counter() - start
    net = rs.MF(MF['num_factors'], num_users, num_items)
    return (data_seconds, *book_run(
        d2l, net, MF, devices, train_iter, test_iter, gluon.loss.L2Loss(),
        book_mf_evaluator))


def whole_run(d2l, name, data_dir, devices, device_text):
    """One model's row: ours, then the book's."""
    from d2l_recsys.runs import run_autorec, run_mf
    ours_fn, book_fn = {'autorec': (run_autorec, book_autorec),
                        'mf': (run_mf, book_mf)}[name]
    ours = ours_fn(data_dir=data_dir, devices=device_text, verbose=False)
    bd, bt, br = book_fn(d2l, devices)
    od, ot = ours['seconds']['data'], ours['seconds']['train']
    print(f'{name}: book {bd:.2f} s data + {bt:.2f} s train, RMSE {br:.4f} '
          f"| ours {od:.2f} + {ot:.2f} s, RMSE {ours['test_rmse']:.4f} | "
          f'{(bd + bt) / (od + ot):.1f}x', flush=True)
    return dict(part='whole-run', model=name, book_data_seconds=bd,
                book_train_seconds=bt, book_rmse=br, ours_data_seconds=od,
                ours_train_seconds=ot, ours_rmse=ours['test_rmse'],
                speedup=(bd + bt) / (od + ot))


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--data-dir', default=os.environ.get(harness.DATA_ENV),
                   help='MovieLens 100K (default: $D2L_RECSYS_DATA)')
    p.add_argument('--parts', default=','.join(PARTS),
                   help='data, autorec, mf (default: all three)')
    p.add_argument('--devices', default='cpu')
    p.add_argument('--repeats', type=int, default=3,
                   help='runs of our reading (the best is kept)')
    harness.add_option(p)
    args = p.parse_args()
    parts = args.parts.split(',')
    if not set(parts) <= set(PARTS):
        p.error(f"--parts: expected some of {', '.join(PARTS)}")
    if not args.data_dir:
        p.error('give --data-dir or set D2L_RECSYS_DATA')
    d2l = harness.point_d2l_at(args.data_dir)
    devices = rs.parse_devices(args.devices)
    rows = [data_part(d2l, args.data_dir, args.repeats)] \
        if 'data' in parts else []
    rows += [whole_run(d2l, name, args.data_dir, devices, args.devices)
             for name in parts if name != 'data']
    print("(book RMSE: the book's own evaluator; for MF that is its running "
          'per-batch average, not the exact RMSE)')
    harness.write(args.json, 'bench_book', rows)


if __name__ == '__main__':
    main()
