"""Devices, the shared rating-training loop, evaluators and checkpoints."""
import json
import math
import os
import tempfile
import time

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon, np

from . import metrics


# --------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------
def try_all_gpus():
    """All GPUs, or ``[cpu()]`` when there is none (``d2l.try_all_gpus()``
    returns ``[]`` on a CPU-only machine, which nothing can train on)."""
    gpus = [mx.gpu(i) for i in range(mx.context.num_gpus())]
    return gpus or [mx.cpu()]


def parse_devices(spec='auto'):
    """``'auto'`` (all GPUs, else the CPU), ``'cpu'``, ``'cpu:K'`` (K CPU
    contexts, to exercise the multi-device path without GPUs), ``'gpu'`` (all
    GPUs) or ``'gpu:0,1'`` -> list of contexts."""
    spec = (spec or 'auto').strip().lower()
    if spec == 'auto':
        return try_all_gpus()
    kind, _, rest = spec.partition(':')
    if kind == 'cpu':
        if not rest:
            return [mx.cpu()]
        if rest.isdigit() and int(rest) >= 1:
            return [mx.cpu(i) for i in range(int(rest))]
    elif kind == 'gpu' and all(p.isdigit() for p in rest.split(',') if rest):
        available = mx.context.num_gpus()
        ids = [int(p) for p in rest.split(',')] if rest else \
            list(range(available))
        if not ids or max(ids) >= available:
            raise ValueError(f'--devices {spec}: MXNet sees {available} '
                             f'GPU(s), cannot use {rest or "any"}')
        return [mx.gpu(i) for i in ids]
    raise ValueError(f"--devices {spec!r}: expected auto, cpu, cpu:K, gpu or "
                     "gpu:0,1")


def split_shards(batch, devices):
    """Split every array of a batch over the devices (uneven sizes allowed);
    returns per-device tuples of arrays."""
    n = batch[0].shape[0]
    devs = devices[:max(1, min(len(devices), n))]
    parts = [gluon.utils.split_and_load(a, devs, even_split=False)
             for a in batch]
    return list(zip(*parts))


# --------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------
def _train_epoch(train_iter, devices, trainer, shard_loss, epoch):
    """One pass over ``train_iter``: each batch split over the devices,
    ``shard_loss(shard)`` recorded and back-propagated per device, one
    trainer step per batch.  Returns the mean per-example loss."""
    sums, count = [], 0
    for batch in train_iter:
        batch = batch if isinstance(batch, (list, tuple)) else (batch,)
        with autograd.record():
            losses = [shard_loss(s) for s in split_shards(batch, devices)]
        for l in losses:
            l.backward()
        trainer.step(batch[0].shape[0])
        sums.extend(l.sum() for l in losses)
        count += batch[0].shape[0]
    train_loss = sum(float(s) for s in sums) / max(count, 1)
    if not math.isfinite(train_loss):
        raise FloatingPointError(
            f'training diverged: the train loss is {train_loss} in epoch '
            f'{epoch}; try a smaller learning rate')
    return train_loss


def train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                        devices=None, evaluator=None, verbose=True):
    """Train a rating model and return its history.

    Each batch from ``train_iter`` is a tuple ``(features..., label)`` or a
    single array that is both input and label (AutoRec).  It is split over
    ``devices`` with ``split_and_load``; the trainer sums the gradients of
    all devices.  After each epoch ``evaluator(net, test_iter, devices)``
    gives the test RMSE.

    Returns a list of ``{epoch, train_loss, test_rmse, seconds}``, where
    ``train_loss`` is the mean per-example loss over the epoch (the book
    accumulates a running sum into its meter and prints 0.000).  A loss that
    stops being finite raises ``FloatingPointError``.
    """
    devices = devices or try_all_gpus()
    if evaluator is None:
        raise ValueError('train_recsys_rating needs an evaluator, e.g. '
                         'evaluate_rmse or evaluate_autorec')

    def shard_loss(s):   # (features..., label), or (rows,) for AutoRec
        return loss(net(*(s[:-1] or s)), s[-1])
    history = []
    for epoch in range(1, num_epochs + 1):
        start = time.perf_counter()
        train_loss = _train_epoch(train_iter, devices, trainer, shard_loss,
                                  epoch)
        test_rmse = evaluator(net, test_iter, devices)
        seconds = time.perf_counter() - start
        history.append(dict(epoch=epoch, train_loss=train_loss,
                            test_rmse=test_rmse, seconds=seconds))
        if verbose:
            print(f'epoch {epoch:3d}/{num_epochs}  train loss '
                  f'{train_loss:.4f}  test RMSE {test_rmse:.4f}  '
                  f'({seconds:.2f} s)', flush=True)
    return history


def train_ranking(net, train_iter, loss, trainer, num_epochs, devices=None,
                  evaluator=None, eval_step=1, verbose=True):
    """Train a ranking model and return its history, in the style of
    ``train_recsys_rating``.

    Batches are ``(users, items, labels)`` for a pointwise loss or
    ``(users, positive items, negative items)`` for a pairwise one
    (``loss.pairwise``), split over ``devices``.  Every ``eval_step`` epochs
    (and after the last) ``evaluator(net, devices)`` returns a dict of
    metrics, merged into that epoch's history entry
    ``{epoch, train_loss, seconds, **metrics}``.
    """
    devices = devices or try_all_gpus()
    if getattr(loss, 'pairwise', False):
        def shard_loss(s):   # (users, positive items, negative items)
            return loss(net(s[0], s[1]), net(s[0], s[2]))
    else:
        def shard_loss(s):   # (users, items, labels)
            return loss(net(s[0], s[1]), s[2])
    history = []
    for epoch in range(1, num_epochs + 1):
        start = time.perf_counter()
        train_loss = _train_epoch(train_iter, devices, trainer, shard_loss,
                                  epoch)
        entry = dict(epoch=epoch, train_loss=train_loss)
        if evaluator and (epoch % eval_step == 0 or epoch == num_epochs):
            entry.update(evaluator(net, devices))
        entry['seconds'] = time.perf_counter() - start
        history.append(entry)
        if verbose:
            shown = ''.join(f'  {k} {v:.4f}' for k, v in entry.items()
                            if isinstance(v, float) and k not in
                            ('train_loss', 'seconds'))
            print(f'epoch {epoch:3d}/{num_epochs}  train loss '
                  f'{train_loss:.4f}{shown}  ({entry["seconds"]:.2f} s)',
                  flush=True)
    return history


# --------------------------------------------------------------------------
# Evaluators: (net, test_iter, devices) -> test RMSE
# --------------------------------------------------------------------------
def predict_ratings(net, test_iter, devices):
    """Run ``net(users, items)`` over ``(users, items, ratings)`` batches;
    returns (true ratings, predictions) as numpy arrays and the per-shard
    pairs (for the book's running figure)."""
    shards = []
    for batch in test_iter:
        for users, items, ratings in split_shards(batch, devices):
            shards.append((ratings.asnumpy(), net(users, items).asnumpy()))
    truth = onp.concatenate([t for t, _ in shards])
    preds = onp.concatenate([p for _, p in shards])
    return truth, preds, shards


def evaluate_rmse(net, test_iter, devices):
    """Exact RMSE over every test rating (MF and other ``net(u, i)``)."""
    truth, preds, _ = predict_ratings(net, test_iter, devices)
    return metrics.rmse(truth, preds)


def evaluate_autorec(net, test_iter, devices):
    """Exact RMSE of an AutoRec over the held-out ratings.

    ``test_iter`` yields ``(observed rows, held-out rows)`` batches: the
    model reconstructs each row from its training ratings and is scored at
    the held-out entries, as in the book."""
    sq_err, count = 0.0, 0
    for batch in test_iter:
        for rows, held_out in split_shards(batch, devices):
            pred = net.predict(rows, held_out).asnumpy()
            truth = held_out.asnumpy()
            mask = truth != 0
            sq_err += float(((pred[mask] - truth[mask]) ** 2).sum())
            count += int(mask.sum())
    return math.sqrt(sq_err / count) if count else float('nan')


# --------------------------------------------------------------------------
# Files: atomic writes and checkpoints that carry their config
# --------------------------------------------------------------------------
def atomic_write(path, write):
    """Call ``write(tmp_path)`` then rename into ``path``: a crash leaves
    either the old file or the new one, never half of one."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-',
                               suffix=os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes files private
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, obj):
    def write(tmp):
        with open(tmp, 'w') as f:
            json.dump(obj, f, indent=2)
            f.write('\n')
    atomic_write(path, write)


def save_model(net, directory, **extra):
    """Write ``model.params`` and ``model.json`` (class, constructor config
    and any ``extra`` facts such as the data split) into ``directory``."""
    atomic_write(os.path.join(directory, 'model.params'), net.save_parameters)
    write_json(os.path.join(directory, 'model.json'),
               dict(model=type(net).__name__, config=net.config, **extra))


def load_model(directory, ctx=None):
    """Rebuild a model saved by ``save_model``; returns ``(net, info)``."""
    from .models import MODELS
    with open(os.path.join(directory, 'model.json')) as f:
        info = json.load(f)
    if info.get('model') not in MODELS:
        raise ValueError(f"{directory}/model.json: unknown model "
                         f"{info.get('model')!r}; known: {sorted(MODELS)}")
    net = MODELS[info['model']](**info['config'])
    net.load_parameters(os.path.join(directory, 'model.params'),
                        ctx=ctx or mx.cpu())
    return net, info
