#!/usr/bin/env python
"""The book's AutoRec written plainly in PyTorch: the peer of the
project's AutoRec in ``bench/bench_peers.py``.

It runs in a virtual environment of its own (the bench makes it, with
``torch``), so it imports nothing of ``d2l_recsys``; it is what a
practitioner would write from the book's AutoRec chapter:

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
  25 epochs, a new shuffle every epoch (the last batch of an epoch is
  smaller; MXNet's loader rolls it over into the next epoch instead);
* after every epoch, under ``torch.no_grad`` and ``eval()``, the RMSE of
  the predictions at every held-out rating, unclipped, from the training
  rows, as ``d2l_recsys.evaluation.evaluate_autorec``.

Users and items are numbered over both files together, as the project's
``read_train_test`` does, so a held-out rating of a user or item absent
from the training file is scored too (from an all-zero row or column).

    python torch_autorec.py --train train.tsv --test test.tsv --out a.json

Files: tab-separated ``user item rating timestamp`` (ML-100K's ``u.data``)
or, for ``.csv``, comma-separated with a header line.  Writes JSON to
``--out`` (or prints it); progress goes to stderr.
"""
import argparse
import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from output import emit, log


def read_ratings(path):
    """A ratings file as a DataFrame ``user, item, rating``."""
    csv = path.endswith('.csv')
    return pd.read_csv(path, sep=',' if csv else '\t',
                       header=0 if csv else None, usecols=[0, 1, 2],
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


@torch.no_grad()
def test_rmse(model, train_mat, test, batch_size=1024):
    """RMSE at the held-out ratings ``test = (rows, cols, ratings)``, rows
    sorted, predicted from the training rows ``batch_size`` at a time."""
    model.eval()
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


def train(model, train_mat, test, epochs, lr, wd, batch_size):
    """Train, evaluating after every epoch; the per-epoch history with the
    seconds elapsed since training began."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    history, start = [], time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        order, total = torch.randperm(len(train_mat)), 0.0
        for i in range(0, len(order), batch_size):
            x = train_mat[order[i:i + batch_size]]
            loss = masked_loss(model(x), x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
        rmse = test_rmse(model, train_mat, test)
        history.append(dict(epoch=epoch, train_loss=total / len(train_mat),
                            test_rmse=rmse,
                            seconds=time.perf_counter() - start))
        log(f'epoch {epoch:3d}/{epochs}  train loss '
            f"{history[-1]['train_loss']:.4f}  test RMSE {rmse:.4f}  "
            f"({history[-1]['seconds']:.2f} s)")
    return history


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--train', required=True)
    p.add_argument('--test', required=True)
    p.add_argument('--epochs', type=int, default=25)
    p.add_argument('--hiddens', type=int, default=500)
    p.add_argument('--dropout', type=float, default=0.05)
    p.add_argument('--lr', type=float, default=0.002)
    p.add_argument('--wd', type=float, default=1e-5)
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='the JSON file (default: stdout)')
    args = p.parse_args()
    torch.manual_seed(args.seed)
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
    history = train(model, train_mat, test, args.epochs, args.lr, args.wd,
                    args.batch_size)
    seconds = time.perf_counter() - start
    result = dict(
        program='torch_autorec', library=f'torch {torch.__version__}',
        threads=torch.get_num_threads(), num_users=len(users),
        num_items=len(items), num_train=n, num_test=len(test_df),
        data_seconds=data_seconds, train_test_seconds=seconds,
        test_rmse=history[-1]['test_rmse'], epochs=len(history),
        history=history, config=vars(args))
    emit(result, args.out)


if __name__ == '__main__':
    main()
