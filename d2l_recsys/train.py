"""The one training loop, ``train_loop``, and the book's two training
functions built on it.

``train_loop`` runs epochs of ``split_and_load`` + ``autograd`` +
``trainer.step`` and asks an evaluator for metrics after each epoch;
everything else a run needs around the loop (progress lines, validation
bookkeeping, early stopping, checkpoints, signals) is a ``Callback``.
This module imports no model and writes no file.
"""
import math
import queue
import sys
import threading
import time
from dataclasses import dataclass, field

import mxnet as mx
from mxnet import autograd, gluon

from .devices import split_shards, try_all_gpus
from .progress import Progress as Bar


@dataclass
class LoopState:
    """What callbacks see and may change.

    Attributes:
        net, trainer, devices: the objects being trained.
        num_epochs: the last epoch to run.
        history: one dict per finished epoch.
        epoch: the last finished epoch (0 before training).
        batch: batches done in the current epoch.
        losses: per-shard loss sums of the current epoch (MXNet arrays, read
            once at its end), with ``count`` examples.
        stop: set by a callback to end training after this epoch.
        interrupted: set (to a reason) to end training after this step,
            leaving the current epoch unfinished.
        num_workers: workers of a parameter-server job; each step is
            normalised by ``batch * num_workers`` (the global batch).
        batches_per_epoch: ``len(train_iter)`` when it has one.
    """
    net: object
    trainer: object
    devices: list
    num_epochs: int
    history: list = field(default_factory=list)
    epoch: int = 0
    batch: int = 0
    losses: list = field(default_factory=list)
    count: int = 0
    stop: bool = False
    interrupted: object = None
    num_workers: int = 1
    batches_per_epoch: object = None

    def epoch_loss_sum(self):
        """The current epoch's loss sum so far, a float (one host sync)."""
        return sum(float(l) for l in self.losses)


class Callback:
    """Hooks around ``train_loop``; override the ones you need."""

    def on_train_begin(self, state: 'LoopState') -> None:
        """Before the first epoch (a resumed run may change ``state``)."""

    def on_epoch_begin(self, state: 'LoopState') -> None:
        """Before each epoch; ``state.epoch`` is the last finished one."""

    def on_batch_end(self, state: 'LoopState') -> None:
        """After each trainer step."""

    def on_epoch_end(self, state: 'LoopState', entry: dict) -> None:
        """After each epoch, with its history entry."""

    def on_train_end(self, state: 'LoopState') -> None:
        """After the last epoch, or after an interruption."""


LABELS = {'test_rmse': 'test RMSE', 'valid_rmse': 'valid RMSE'}


def format_entry(entry, num_epochs):
    """One progress line for a history entry: the epoch, the train loss,
    every float metric, and the seconds it took."""
    shown = ''.join(f'  {LABELS.get(k, k)} {v:.4f}' for k, v in entry.items()
                    if isinstance(v, float) and k not in
                    ('train_loss', 'seconds'))
    return (f"epoch {entry['epoch']:3d}/{num_epochs}  train loss "
            f"{entry['train_loss']:.4f}{shown}  ({entry['seconds']:.2f} s)")


class EpochLog(Callback):
    """Print one line per epoch (``format_entry``) to ``stream``; when
    stderr is a terminal, also a bar over the epoch's batches with their
    rate and ETA (``progress.Progress``)."""

    def __init__(self, stream=None):
        self.stream, self._bar = stream, None

    def on_epoch_begin(self, state):
        size = state.batches_per_epoch
        if size and sys.stderr.isatty():
            self._bar = Bar(size, 'batches', f'epoch {state.epoch + 1}')
            self._bar.update(state.batch)

    def on_batch_end(self, state):
        if self._bar is not None:
            self._bar.update(1)

    def on_epoch_end(self, state, entry):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        print(format_entry(entry, state.num_epochs),
              file=self.stream or sys.stdout, flush=True)


def step_seed(seed, epoch, batch):
    """The MXNet seed of one training step: a fixed function of the run's
    seed and the step, so that a resumed run draws the same dropout masks
    as one that was never interrupted."""
    return (seed * 1_000_003 + epoch * 100_003 + batch) % (2 ** 31)


def draws_random(net):
    """Whether training ``net`` draws from MXNet's generator: it holds a
    ``Dropout`` block with a positive rate.  Reseeding costs about as much
    as a small MF step (docs/benchmarks.md, "Figures measured once, without
    a result file"), so ``train_loop`` reseeds only the networks that draw."""
    if isinstance(net, gluon.nn.Dropout):
        return net._rate > 0
    return any(draws_random(child) for child in net._children.values())


PREFETCH_MIN_EXAMPLES = 1 << 14
"""Batches of at least this many examples are made one to two batches
ahead, by a thread (``_batches``)."""


class _Ahead:
    """Iterate ``it`` in a thread of its own, up to ``depth`` items ahead
    of the consumer, in MXNet's array modes of the thread that made it.
    Iterating yields the items in order and raises what ``it`` raised;
    ``close`` stops the thread."""

    def __init__(self, it, depth=2):
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        modes = mx.util.is_np_shape(), mx.util.is_np_array()
        self._thread = threading.Thread(target=self._run, args=(it, modes),
                                        daemon=True)
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, it, modes):
        try:
            with mx.util.np_shape(modes[0]), mx.util.np_array(modes[1]):
                for item in it:
                    if not self._put(('item', item)):
                        return
            self._put(('end', None))
        except BaseException as e:      # raised again in the consumer
            self._put(('error', e))

    def __iter__(self):
        while True:
            kind, item = self._queue.get()
            if kind == 'end':
                return
            if kind == 'error':
                raise item
            yield item

    def close(self):
        self._stop.set()
        self._thread.join()


def _batches(train_iter):
    """The batches of one pass over ``train_iter``.  When they are large
    (``PREFETCH_MIN_EXAMPLES``), the next ones are made by a thread while
    the current step computes: at ML-20M's shape NeuMF's iterator builds
    100M examples an epoch, seconds of numpy work that then overlap with
    MXNet's.  The batches, their order and any random draw of the
    iterator are the same either way."""
    it = iter(train_iter)
    first = next(it, _END)
    if first is _END:
        return
    yield first
    arrays = first if isinstance(first, (list, tuple)) else (first,)
    if arrays[0].shape[0] < PREFETCH_MIN_EXAMPLES:
        yield from it
        return
    ahead = _Ahead(it)
    try:
        yield from ahead
    finally:
        ahead.close()


_END = object()


def _train_epoch(state, train_iter, shard_loss, callbacks, seed):
    """One pass over ``train_iter``: each batch split over the devices,
    ``shard_loss(shard)`` recorded and back-propagated per device, one
    trainer step per batch.  The first ``state.batch`` batches were done
    before a resume and are skipped.  Returns the mean per-example loss."""
    batches = _batches(train_iter)
    try:
        return _steps(state, batches, shard_loss, callbacks, seed)
    finally:
        batches.close()


def _steps(state, batches, shard_loss, callbacks, seed):
    """``_train_epoch``'s steps over ``batches``."""
    epoch, skip, previous = state.epoch + 1, state.batch, None
    for index, batch in enumerate(batches):
        if index < skip:
            continue
        if seed is not None:
            mx.random.seed(step_seed(seed, epoch, index))
        batch = batch if isinstance(batch, (list, tuple)) else (batch,)
        with autograd.record():
            losses = [shard_loss(s) for s in split_shards(batch,
                                                          state.devices)]
        for l in losses:
            l.backward()
        state.trainer.step(batch[0].shape[0] * state.num_workers)
        state.losses.extend(l.sum() for l in losses)
        # MXNet runs asynchronously: without a wait Python can queue many
        # steps, each holding its temporaries (at ML-20M AutoRec's are
        # ~1 GB a step).  Waiting for the previous step's loss keeps at
        # most two steps in flight and still overlaps Python with compute.
        if previous is not None:
            previous.wait_to_read()
        previous = state.losses[-1]
        state.count += batch[0].shape[0]
        state.batch = index + 1
        for cb in callbacks:
            cb.on_batch_end(state)
        if state.interrupted:
            return None
    train_loss = state.epoch_loss_sum() / max(state.count, 1)
    if not math.isfinite(train_loss):
        raise FloatingPointError(
            f'training diverged: the train loss is {train_loss} in epoch '
            f'{state.epoch + 1}; try a smaller learning rate')
    return train_loss


def train_loop(net, train_iter, shard_loss, trainer, num_epochs, devices,
               evaluate=None, eval_step=1, callbacks=(), seed=None,
               num_workers=1):
    """Train ``net`` for up to ``num_epochs`` epochs.

    Args:
        net: the network (already initialised on ``devices``).
        train_iter: an iterable of batches (a tuple of arrays, or one array),
            iterated once per epoch.
        shard_loss: ``shard -> per-example losses`` for one device's part of
            a batch; called under ``autograd.record()``.
        trainer: a ``gluon.Trainer`` over ``net``'s parameters; it steps
            once per batch with the batch size.
        num_epochs: the last epoch to train.
        devices: contexts each batch is split over (``split_and_load``).
        evaluate: ``net -> dict`` of metrics, called every ``eval_step``
            epochs and after the last one; merged into that epoch's entry.
        eval_step: evaluate every this many epochs.
        callbacks: ``Callback`` objects, called in order.
        seed: if given and ``net`` has dropout (``draws_random``), MXNet's
            generator is reseeded before each step from ``(seed, epoch,
            batch)``, which makes a resumed run identical to an
            uninterrupted one; None leaves it alone.
        num_workers: workers of a parameter-server job (see
            ``distributed``): the trainer steps with the global batch size.

    Returns:
        The history: one dict per epoch, ``{epoch, train_loss, **metrics,
        seconds}`` (``train_loss`` is the mean per-example loss).

    Raises:
        FloatingPointError: the train loss stopped being finite.
    """
    state = LoopState(net, trainer, devices, num_epochs,
                      num_workers=num_workers)
    if seed is not None and not draws_random(net):
        seed = None             # nothing to make repeatable
    try:
        state.batches_per_epoch = len(train_iter)
    except TypeError:       # an iterable without a length
        state.batches_per_epoch = None
    for cb in callbacks:
        cb.on_train_begin(state)
    while state.epoch < num_epochs and not (state.stop or state.interrupted):
        for cb in callbacks:
            cb.on_epoch_begin(state)
        start = time.perf_counter()
        train_loss = _train_epoch(state, train_iter, shard_loss, callbacks,
                                  seed)
        if state.interrupted:
            break
        epoch = state.epoch + 1
        state.batch, state.losses, state.count = 0, [], 0
        entry = dict(epoch=epoch, train_loss=train_loss)
        if evaluate and (epoch % eval_step == 0 or epoch == num_epochs):
            entry.update(evaluate(net))
        entry['seconds'] = time.perf_counter() - start
        state.history.append(entry)
        state.epoch = epoch
        for cb in callbacks:
            cb.on_epoch_end(state, entry)
    for cb in callbacks:
        cb.on_train_end(state)
    return state.history


def _with_progress(callbacks, verbose):
    return list(callbacks) + ([EpochLog()] if verbose else [])


def train_recsys_rating(net, train_iter, test_iter, loss, trainer, num_epochs,
                        devices=None, evaluator=None, verbose=True,
                        callbacks=(), seed=None, num_workers=1,
                        inter_mat=None):
    """Train a rating model and return its history (d2l's name and
    arguments).

    Args:
        net: the model.
        train_iter: batches ``(features..., label)``, or a single array that
            is both input and label (AutoRec).
        test_iter: what ``evaluator`` scores (None: no test data; the
            history then holds no ``test_rmse``).
        loss: a Gluon loss ``(prediction, label) -> per-example loss``.
        trainer: a ``gluon.Trainer``.
        num_epochs: number of epochs.
        devices: contexts (default: all GPUs, else the CPU).
        evaluator: ``(net, test_iter, devices) -> RMSE``, e.g.
            ``evaluate_rmse`` or ``evaluate_autorec``; required.  With
            ``inter_mat`` it is called as the AutoRec chapter's,
            ``evaluator(net, test_iter, inter_mat, devices)``.
        verbose: print a line per epoch.
        callbacks: more ``Callback`` objects for ``train_loop``.
        seed: reseed MXNet per step from it (see ``train_loop``).
        num_workers: workers of a parameter-server job (see ``train_loop``).
        inter_mat: the held-out rating matrix, as the book's AutoRec
            chapter passes it.

    Returns:
        A list of ``{epoch, train_loss, test_rmse, seconds}``, where
        ``train_loss`` is the mean per-example loss over the epoch (the book
        accumulates a running sum into its meter and prints 0.000).
    """
    devices = devices or try_all_gpus()
    if evaluator is None:
        raise ValueError('train_recsys_rating needs an evaluator, e.g. '
                         'evaluate_rmse or evaluate_autorec')

    def shard_loss(s):   # (features..., label), or (rows,) for AutoRec
        return loss(net(*(s[:-1] or s)), s[-1])

    def evaluate(net):
        if test_iter is None:
            return {}
        extra = () if inter_mat is None else (inter_mat,)
        return {'test_rmse': float(evaluator(net, test_iter, *extra,
                                             devices))}
    return train_loop(net, train_iter, shard_loss, trainer, num_epochs,
                      devices, evaluate,
                      callbacks=_with_progress(callbacks, verbose),
                      seed=seed, num_workers=num_workers)


def ranking_shard_loss(net, loss):
    """The per-device loss of a ranking model.  A batch is the net's
    inputs then one last part: ``(users, items, labels)`` for a pointwise
    loss, ``(users, positive items, negative items)`` for a pairwise one
    (``loss.pairwise``), and a sequence model's inputs carry the sequences
    before the items (Caser: ``(users, seqs, positives, negatives)``)."""
    if getattr(loss, 'pairwise', False):
        return lambda s: loss(net(*s[:-1]), net(*s[:-2], s[-1]))
    return lambda s: loss(net(*s[:-1]), s[-1])


def train_ranking(net, train_iter, *args, **kwargs):
    """Train a ranking model and return its history.

    Two argument lists are accepted.  This project's, in the style of
    ``train_recsys_rating``: ``train_ranking(net, train_iter, loss,
    trainer, num_epochs, devices=None, evaluator=None, eval_step=1,
    verbose=True, callbacks=(), seed=None, num_workers=1)`` (see
    ``fit_ranking``); and the book's, as the NeuMF chapter prints it:
    ``train_ranking(net, train_iter, test_iter, loss, trainer,
    test_seq_iter, num_users, num_items, num_epochs, devices, evaluator,
    candidates, eval_step=1)``, where ``evaluator`` is the book's
    ``evaluate_ranking(net, test_iter, test_seq_iter, candidates,
    num_users, num_items, devices) -> (hit_rate, auc)``; its history then
    holds ``hit_rate`` and ``auc``.  The third argument tells them apart:
    a loss here, the test data in the book.
    """
    if 'loss' in kwargs or (args and isinstance(args[0], gluon.loss.Loss)):
        return fit_ranking(net, train_iter, *args, **kwargs)
    return _book_train_ranking(net, train_iter, *args, **kwargs)


def _book_train_ranking(net, train_iter, test_iter, loss, trainer,
                        test_seq_iter, num_users, num_items, num_epochs,
                        devices, evaluator, candidates, eval_step=1):
    """The book's ``train_ranking`` argument list on ``fit_ranking``."""
    def evaluate(net, devices):
        hit_rate, auc = evaluator(net, test_iter, test_seq_iter, candidates,
                                  num_users, num_items, devices)
        return {'hit_rate': float(hit_rate), 'auc': float(auc)}
    return fit_ranking(net, train_iter, loss, trainer, num_epochs, devices,
                       evaluate, eval_step)


def fit_ranking(net, train_iter, loss, trainer, num_epochs, devices=None,
                evaluator=None, eval_step=1, verbose=True, callbacks=(),
                seed=None, num_workers=1):
    """Train a ranking model and return its history, in the style of
    ``train_recsys_rating``.

    Args:
        net: the model, ``net(users, items) -> scores``.
        train_iter: batches ``(users, items, labels)`` for a pointwise loss,
            ``(users, positive items, negative items)`` for a pairwise one.
        loss: a loss of ``d2l_recsys.losses`` (its ``pairwise`` attribute
            says which batches it takes).
        trainer: a ``gluon.Trainer``.
        num_epochs: number of epochs.
        devices: contexts (default: all GPUs, else the CPU).
        evaluator: ``(net, devices) -> dict`` of metrics, or None.
        eval_step: evaluate every this many epochs and after the last.
        verbose: print a line per epoch.
        callbacks: more ``Callback`` objects for ``train_loop``.
        seed: reseed MXNet per step from it (see ``train_loop``).
        num_workers: workers of a parameter-server job (see ``train_loop``).

    Returns:
        A list of ``{epoch, train_loss, **metrics, seconds}``.
    """
    devices = devices or try_all_gpus()
    evaluate = (lambda n: evaluator(n, devices)) if evaluator else None
    return train_loop(net, train_iter, ranking_shard_loss(net, loss),
                      trainer, num_epochs, devices, evaluate, eval_step,
                      _with_progress(callbacks, verbose), seed, num_workers)
