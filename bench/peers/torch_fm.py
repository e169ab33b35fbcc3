#!/usr/bin/env python
"""A factorization machine written plainly in PyTorch: the peer of the
project's FM in ``bench/bench_ctr.py``.

It runs in a virtual environment of its own (the bench makes it, with
``torch``), so it imports nothing of ``d2l_recsys``; it is what a
practitioner would write from the book's FM chapter:

* the CTR files (the click label, then tab-separated categorical fields)
  read with pandas and encoded as the book's ``CTRDataset`` encodes them:
  in each field the values seen at least ``--min-threshold`` times in
  ``train.csv`` get the indices ``0 .. n - 1`` (in sorted order), every
  other value the field's default ``n``; the test file takes the training
  file's indices; field ``f``'s indices are shifted by the slots of the
  fields before it, so one table serves all fields;
* the model: ``bias + sum_f w[x_f] + 1/2 sum_l ((sum_f v[x_f, l])^2 -
  sum_f v[x_f, l]^2)`` with ``nn.Embedding`` tables ``w`` (one number per
  feature) and ``v`` (``k`` per feature), Xavier-uniform (what the
  project's ``init.Xavier()`` draws), a zero bias; a logit, trained with
  ``BCEWithLogitsLoss``;
* Adam (lr 0.02), 2,048 rows a batch, a new shuffle every epoch (the last
  batch of an epoch is smaller);
* after every epoch, under ``torch.no_grad``, the AUC and the log loss of
  the test file (ties in the AUC count one half);
* its peak resident memory, as the bench reads its own (``peak_gib``).

    python torch_fm.py --train train.csv --test test.csv --out fm.json

Writes JSON to ``--out`` (or prints it); progress goes to stderr.
"""
import argparse
import csv
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

try:                # the peers' shared helpers (bench/peers/)
    from common import emit, log
except ImportError:  # their earlier name
    from output import emit, log


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


@torch.no_grad()
def evaluate(model, x, y, batch_size=65536):
    """AUC and log loss of the test rows."""
    logits = torch.cat([model(x[i:i + batch_size])
                        for i in range(0, len(x), batch_size)])
    z = logits.double().numpy()
    labels = y.numpy()
    log_loss = float(np.mean(np.logaddexp(0, -z) * labels
                             + np.logaddexp(0, z) * (1 - labels)))
    return auc(labels, z), log_loss


def train(model, data, epochs, lr, batch_size):
    """Train, evaluating after every epoch; the per-epoch history with the
    seconds of each epoch (its training and its evaluation)."""
    x, y, test_x, test_y = data
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss(reduction='sum')
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order, total = torch.randperm(len(x)), 0.0
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            optimizer.zero_grad()
            (loss / len(idx)).backward()
            optimizer.step()
            total += loss.item()
        model.eval()
        test_auc, log_loss = evaluate(model, test_x, test_y)
        history.append(dict(epoch=epoch, train_loss=total / len(x),
                            auc=test_auc, log_loss=log_loss,
                            seconds=time.perf_counter() - start))
        log(f'epoch {epoch:3d}/{epochs}  train loss '
            f"{history[-1]['train_loss']:.4f}  test AUC {test_auc:.4f}  "
            f"log loss {log_loss:.4f}  ({history[-1]['seconds']:.2f} s)")
    return history


def peak_gib():
    """This process's peak resident memory (``VmHWM`` of /proc: since it
    started, not its parent's before it), in GiB; None elsewhere."""
    try:
        with open('/proc/self/status') as f:
            return next(int(line.split()[1]) / 2 ** 20 for line in f
                        if line.startswith('VmHWM:'))
    except (OSError, StopIteration):
        return None


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('--train', required=True)
    p.add_argument('--test', required=True)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--num-factors', type=int, default=20)
    p.add_argument('--lr', type=float, default=0.02)
    p.add_argument('--batch-size', type=int, default=2048)
    p.add_argument('--min-threshold', type=int, default=4)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', help='the JSON file (default: stdout)')
    args = p.parse_args()
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    y, train_table = read_ctr(args.train)
    test_y, test_table = read_ctr(args.test)
    x, test_x, num_inputs = encode(train_table, test_table,
                                   args.min_threshold)
    data = (torch.from_numpy(x), torch.from_numpy(y),
            torch.from_numpy(test_x), torch.from_numpy(test_y))
    data_seconds = time.perf_counter() - start
    log(f'torch {torch.__version__}, {torch.get_num_threads()} thread(s): '
        f'{len(y)} train, {len(test_y)} test rows, {x.shape[1]} fields, '
        f'{num_inputs} features, read in {data_seconds:.1f} s')
    start = time.perf_counter()
    model = FM(num_inputs, args.num_factors)
    history = train(model, data, args.epochs, args.lr, args.batch_size)
    seconds = time.perf_counter() - start
    emit(dict(
        program='torch_fm', library=f'torch {torch.__version__}',
        threads=torch.get_num_threads(), num_train=len(y),
        num_test=len(test_y), num_fields=int(x.shape[1]),
        num_features=num_inputs, data_seconds=data_seconds,
        train_test_seconds=seconds, peak_gib=peak_gib(),
        auc=history[-1]['auc'],
        log_loss=history[-1]['log_loss'], epochs=len(history),
        epoch_seconds=[h['seconds'] for h in history], history=history,
        config=vars(args)), args.out)


if __name__ == '__main__':
    main()
