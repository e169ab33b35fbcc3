#!/usr/bin/env python
"""The book's AutoRec and a factorization machine written plainly in
PyTorch: the peers of the project's AutoRec (``bench/bench_peers.py``) and
FM (``bench/bench_ctr.py``).

It runs in a virtual environment of its own (the bench makes it, with
``torch``), so it imports nothing of ``d2l_recsys``; each model is what a
practitioner would write from the book's chapter.  Both train with
``common.fit``: Adam, a new shuffle every epoch (the last batch of an
epoch is smaller; MXNet's loader rolls it over into the next epoch
instead), an evaluation of the test file after every epoch.

``autorec``:

* item-based: each item's row of the item x user rating matrix (a dense
  float32 tensor, 0 = unobserved) is an input;
* ``Linear(users, 500)``, sigmoid, dropout 0.05, ``Linear(500, users)``;
  weights from Normal(0, 0.01) and biases zero (what the project's
  ``net.initialize(init.Normal(0.01))`` gives: Gluon's Dense layers keep
  their zero bias initializer);
* the loss of the project's ``MaskedL2Loss``: per row, half the mean over
  all columns of ``(sign(x) * f(x) - x)**2``, averaged over the batch;
* Adam, lr 0.002, ``weight_decay=1e-5`` (MXNet's ``wd`` adds ``wd * w`` to
  the gradient: torch Adam's weight decay, not AdamW), 256 rows a batch,
  25 epochs;
* the RMSE of the predictions at every held-out rating, unclipped, from
  the training rows, as ``d2l_recsys.evaluation.evaluate_autorec``.
  Users and items are numbered over both files together, as the
  project's ``read_train_test`` does, so a held-out rating of a user or
  item absent from the training file is scored too.  Files: tab-separated
  ``user item rating timestamp`` (ML-100K's ``u.data``) or, for ``.csv``,
  comma-separated with a header line.

``fm``:

* the CTR files (the click label, then tab-separated categorical fields)
  read with pandas and encoded as the book's ``CTRDataset`` encodes them:
  in each field the values seen at least ``--min-threshold`` times in
  ``train.csv`` get the indices ``0 .. n - 1`` (in sorted order), every
  other value the field's default ``n``; the test file takes the training
  file's indices; field ``f``'s indices are shifted by the slots of the
  fields before it, so one table serves all fields;
* ``bias + sum_f w[x_f] + 1/2 sum_l ((sum_f v[x_f, l])^2 - sum_f
  v[x_f, l]^2)`` with ``nn.Embedding`` tables ``w`` and ``v`` (``k`` per
  feature), Xavier-uniform (what the project's ``init.Xavier()`` draws), a
  zero bias; a logit, trained with ``BCEWithLogitsLoss``;
* Adam (lr 0.02), 2,048 rows a batch;
* the AUC (ties count one half) and the log loss of the test file.

    python torch_peers.py autorec --train train.tsv --test test.tsv
    python torch_peers.py fm --train train.csv --test test.csv

Prints the result as JSON (``common.emit``; also to ``--out``); progress
goes to stderr.
"""
import argparse
import csv
import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from common import emit, fit, log


# --- AutoRec -----------------------------------------------------------------
def read_ratings(path):
    """A ratings file as a DataFrame ``user, item, rating``."""
    csv_file = path.endswith('.csv')
    return pd.read_csv(path, sep=',' if csv_file else '\t',
                       header=0 if csv_file else None, usecols=[0, 1, 2],
                       names=['user', 'item', 'rating'])


class AutoRec(nn.Module):
    def __init__(self, num_inputs, num_hiddens, dropout):
        super().__init__()
        self.encoder = nn.Linear(num_inputs, num_hiddens)
        self.decoder = nn.Linear(num_hiddens, num_inputs)
        self.dropout = nn.Dropout(dropout)
        for layer in (self.encoder, self.decoder):
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x):
        return self.decoder(self.dropout(torch.sigmoid(self.encoder(x))))


def masked_loss(pred, x):
    """Half the mean squared error over the columns, observed entries only,
    averaged over the rows."""
    err = torch.sign(x) * pred - x
    return 0.5 * (err * err).mean(dim=1).mean()


def test_rmse(model, train_mat, test, batch_size=1024):
    """RMSE at the held-out ratings ``test = (rows, cols, ratings)``, rows
    sorted, predicted from the training rows ``batch_size`` at a time."""
    rows, cols, ratings = test
    bounds = np.searchsorted(rows.numpy(), np.arange(
        0, len(train_mat) + batch_size, batch_size))
    sq_err = 0.0
    for k, start in enumerate(range(0, len(train_mat), batch_size)):
        lo, hi = bounds[k], bounds[k + 1]
        if lo == hi:
            continue
        out = model(train_mat[start:start + batch_size])
        err = out[rows[lo:hi] - start, cols[lo:hi]] - ratings[lo:hi]
        sq_err += float((err.double() ** 2).sum())
    return math.sqrt(sq_err / len(ratings))


def autorec(args):
    start = time.perf_counter()
    train_df, test_df = read_ratings(args.train), read_ratings(args.test)
    users, user_idx = np.unique(np.concatenate(
        [train_df.user, test_df.user]), return_inverse=True)
    items, item_idx = np.unique(np.concatenate(
        [train_df.item, test_df.item]), return_inverse=True)
    n = len(train_df)
    train_mat = torch.zeros(len(items), len(users))   # a row per item
    train_mat[item_idx[:n], user_idx[:n]] = torch.tensor(
        train_df.rating.to_numpy(), dtype=torch.float32)
    order = np.argsort(item_idx[n:], kind='stable')
    test = (torch.from_numpy(item_idx[n:][order]),
            torch.from_numpy(user_idx[n:][order]),
            torch.tensor(test_df.rating.to_numpy()[order],
                         dtype=torch.float32))
    data_seconds = time.perf_counter() - start
    log(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s): '
        f'{len(items)} items x {len(users)} users, {n} train, '
        f'{len(test_df)} test ratings read in {data_seconds:.1f} s')
    start = time.perf_counter()
    model = AutoRec(len(users), args.hiddens, args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr,
                                 weight_decay=args.wd)

    def batch_loss(rows):
        x = train_mat[rows]
        loss = masked_loss(model(x), x)
        return loss, loss.item() * len(x)
    history = fit(model, optimizer, len(train_mat), args.batch_size,
                  args.epochs, batch_loss,
                  lambda: dict(test_rmse=test_rmse(model, train_mat, test)))
    return dict(
        program='torch_autorec', num_users=len(users), num_items=len(items),
        num_train=n, num_test=len(test_df), data_seconds=data_seconds,
        train_test_seconds=time.perf_counter() - start,
        test_rmse=history[-1]['test_rmse'], epochs=len(history),
        history=history)


# --- FM ----------------------------------------------------------------------
def read_ctr(path):
    """A CTR file -> ``(labels float32, table of text fields)``."""
    table = pd.read_csv(path, sep='\t', header=None, dtype=str,
                        na_filter=False, quoting=csv.QUOTE_NONE)
    return table[0].to_numpy(np.float32), table.iloc[:, 1:]


def encode(train, test, min_threshold):
    """Offset indices of both tables (int64) and the slots of each
    field, learnt from ``train``."""
    xs, ys, dims = [], [], []
    for col in train.columns:
        counts = train[col].value_counts()
        kept = np.sort(counts.index[counts >= min_threshold].to_numpy())
        index = pd.Index(kept)
        for table, out in ((train, xs), (test, ys)):
            pos = index.get_indexer(table[col])
            out.append(np.where(pos >= 0, pos, len(kept)))
        dims.append(len(kept) + 1)
    offsets = np.concatenate([[0], np.cumsum(dims)[:-1]])
    return (np.stack(xs, 1) + offsets, np.stack(ys, 1) + offsets,
            int(sum(dims)))


class FM(nn.Module):
    def __init__(self, num_inputs, num_factors):
        super().__init__()
        self.embedding = nn.Embedding(num_inputs, num_factors)
        self.fc = nn.Embedding(num_inputs, 1)
        self.bias = nn.Parameter(torch.zeros(1))
        nn.init.xavier_uniform_(self.embedding.weight)
        nn.init.xavier_uniform_(self.fc.weight)

    def forward(self, x):
        e = self.embedding(x)                                  # (B, F, k)
        square_of_sum = e.sum(dim=1) ** 2
        sum_of_square = (e * e).sum(dim=1)
        pairs = 0.5 * (square_of_sum - sum_of_square).sum(dim=1)
        return self.bias + self.fc(x).sum(dim=(1, 2)) + pairs


def auc(labels, scores):
    """The ROC AUC by ranks (ties share their average rank)."""
    ranks = pd.Series(scores).rank(method='average').to_numpy()
    pos = labels == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2)
                 / (n_pos * n_neg))


def ctr_figures(model, x, y, batch_size=65536):
    """AUC and log loss of the test rows."""
    logits = torch.cat([model(x[i:i + batch_size])
                        for i in range(0, len(x), batch_size)])
    z = logits.double().numpy()
    labels = y.numpy()
    log_loss = float(np.mean(np.logaddexp(0, -z) * labels
                             + np.logaddexp(0, z) * (1 - labels)))
    return dict(auc=auc(labels, z), log_loss=log_loss)


def fm(args):
    start = time.perf_counter()
    y, train_table = read_ctr(args.train)
    test_y, test_table = read_ctr(args.test)
    x, test_x, num_inputs = encode(train_table, test_table,
                                   args.min_threshold)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    test_x, test_y = torch.from_numpy(test_x), torch.from_numpy(test_y)
    data_seconds = time.perf_counter() - start
    log(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s): '
        f'{len(y)} train, {len(test_y)} test rows, {x.shape[1]} fields, '
        f'{num_inputs} features, read in {data_seconds:.1f} s')
    start = time.perf_counter()
    model = FM(num_inputs, args.num_factors)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.BCEWithLogitsLoss(reduction='sum')

    def batch_loss(idx):
        loss = loss_fn(model(x[idx]), y[idx])
        return loss / len(idx), loss.item()
    history = fit(model, optimizer, len(x), args.batch_size, args.epochs,
                  batch_loss, lambda: ctr_figures(model, test_x, test_y))
    return dict(
        program='torch_fm', num_train=len(y), num_test=len(test_y),
        num_fields=int(x.shape[1]), num_features=num_inputs,
        data_seconds=data_seconds,
        train_test_seconds=time.perf_counter() - start,
        auc=history[-1]['auc'], log_loss=history[-1]['log_loss'],
        epochs=len(history), epoch_seconds=[h['seconds'] for h in history],
        history=history)


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    models = p.add_subparsers(dest='model', required=True)
    for name, settings in (
            ('autorec', dict(epochs=25, lr=0.002, batch_size=256)),
            ('fm', dict(epochs=3, lr=0.02, batch_size=2048))):
        m = models.add_parser(name)
        m.add_argument('--train', required=True)
        m.add_argument('--test', required=True)
        m.add_argument('--out', help='also write the JSON there')
        m.add_argument('--seed', type=int, default=0)
        for key, value in settings.items():
            m.add_argument('--' + key.replace('_', '-'), type=type(value),
                           default=value)
        if name == 'autorec':
            m.add_argument('--hiddens', type=int, default=500)
            m.add_argument('--dropout', type=float, default=0.05)
            m.add_argument('--wd', type=float, default=1e-5)
        else:
            m.add_argument('--num-factors', type=int, default=20)
            m.add_argument('--min-threshold', type=int, default=4)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    result = (autorec if args.model == 'autorec' else fm)(args)
    emit(dict(result, library=f'torch {torch.__version__}',
              threads=torch.get_num_threads(), config=vars(args)), args.out)


if __name__ == '__main__':
    main()
