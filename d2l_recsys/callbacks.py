"""Callbacks of the training loop beyond progress lines: early stopping on
a validation metric, checkpoints that resume exactly, and stopping cleanly
on SIGINT / SIGTERM."""
import math
import os
import shlex
import signal
import sys

import numpy as onp

from .checkpoints import checkpoints, save_checkpoint
from .files import DamagedFile, damaged
from .train import Callback


class TrainingInterrupted(Exception):
    """Training stopped on a signal after writing a checkpoint.

    Attributes:
        signum: the signal.
        exit_code: the conventional exit status, 128 + signum (130 for
            SIGINT, 143 for SIGTERM).
        resume_command: the command that continues the run, or None.
    """

    def __init__(self, signum, resume_command=None):
        self.signum, self.resume_command = signum, resume_command
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f'stopped by {name}; a checkpoint was written' +
                         (f'; resume with: {resume_command}'
                          if resume_command else ''))


class Validation(Callback):
    """Add validation metrics to each epoch's history entry.

    Args:
        evaluate: ``net -> dict`` of metrics on the validation data (keys
            such as ``valid_rmse``).
    """

    def __init__(self, evaluate):
        self.evaluate = evaluate

    def on_epoch_end(self, state, entry):
        entry.update(self.evaluate(state.net))


class LearningRateDecay(Callback):
    """Train epoch ``e`` (from 1) at ``lr * factor ** (e - 1)``.  Set from
    the epoch number, so a resumed run continues the same schedule."""

    def __init__(self, lr, factor):
        self.lr, self.factor = lr, factor

    def on_epoch_begin(self, state):
        state.trainer.set_learning_rate(self.lr * self.factor ** state.epoch)


# --------------------------------------------------------------------------
# Early stopping
# --------------------------------------------------------------------------
class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs and
    put back the parameters of the best epoch.

    Args:
        monitor: the history key to watch, e.g. ``'valid_rmse'``.
        patience: epochs without improvement before stopping.
        mode: ``'min'`` (RMSE) or ``'max'`` (HR@10).

    Attributes:
        best, best_epoch: the best value and its epoch.
    """

    def __init__(self, monitor, patience, mode='min'):
        if mode not in ('min', 'max'):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.mode = monitor, patience, mode
        self.best, self.best_epoch, self.wait = None, 0, 0
        self._params = None     # name -> numpy array of the best epoch

    def _better(self, value):
        if self.best is None:
            return True
        return value < self.best if self.mode == 'min' else value > self.best

    def on_epoch_end(self, state, entry):
        value = entry.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if self._better(value):
            self.best, self.best_epoch, self.wait = value, entry['epoch'], 0
            self._params = {name: p.data().asnumpy() for name, p in
                            state.net.collect_params().items()}
        else:
            self.wait += 1
            if self.wait >= self.patience:
                state.stop = True

    def on_train_end(self, state):
        if self._params is not None and not state.interrupted:
            restore(state.net, self._params)

    def state_dict(self):
        """What a checkpoint keeps (the parameters go to their own file)."""
        return dict(best=self.best, best_epoch=self.best_epoch,
                    wait=self.wait)

    def write_best(self, net):
        """A function writing the best parameters to a path, or None."""
        if self._params is None:
            return None

        def write(path):
            current = {n: p.data().asnumpy()
                       for n, p in net.collect_params().items()}
            restore(net, self._params)
            net.save_parameters(path)
            restore(net, current)
        return write

    def load(self, meta, net, path):
        """Continue from a checkpoint's ``state_dict`` and best file."""
        self.best, self.best_epoch, self.wait = \
            meta['best'], meta['best_epoch'], meta['wait']
        if path:
            current = {n: p.data().asnumpy()
                       for n, p in net.collect_params().items()}
            net.load_parameters(path, ctx=_contexts(net))
            self._params = {n: p.data().asnumpy()
                            for n, p in net.collect_params().items()}
            restore(net, current)


def _contexts(net):
    return next(iter(net.collect_params().values())).list_ctx()


def restore(net, values):
    """Set every parameter of ``net`` (on all its contexts) from a dict of
    numpy arrays keyed by parameter name."""
    for name, p in net.collect_params().items():
        p.set_data(values[name])


# --------------------------------------------------------------------------
# Iterator positions
# --------------------------------------------------------------------------
def iterator_state(it):
    """The position of an iterator between epochs, JSON-ready: the state of
    every numpy ``Generator`` it (or an iterator inside it) holds, and the
    rolled-over samples of ``ArrayIter``."""
    out = {}
    for key, value in vars(it).items():
        if isinstance(value, onp.random.Generator):
            out[key] = {'generator': value.bit_generator.state}
        elif key == '_carry':
            out[key] = {'array': onp.asarray(value).tolist()}
        elif hasattr(value, '__iter__') and hasattr(value, '__dict__') \
                and not isinstance(value, type):
            inner = iterator_state(value)
            if inner:
                out[key] = {'iterator': inner}
    return out


def set_iterator_state(it, saved):
    """Undo ``iterator_state``: put an iterator back at a saved position."""
    for key, value in saved.items():
        if 'generator' in value:
            getattr(it, key).bit_generator.state = value['generator']
        elif 'array' in value:
            setattr(it, key, onp.asarray(value['array'], dtype=onp.int64))
        else:
            set_iterator_state(getattr(it, key), value['iterator'])


# --------------------------------------------------------------------------
# Checkpoints and signals
# --------------------------------------------------------------------------
class Checkpoint(Callback):
    """Write a checkpoint every ``every`` epochs, after the last epoch, and
    when a signal stops training; continue from one with ``resume=True``.

    A checkpoint holds the parameters, the trainer's optimizer states, the
    history, the step reached (epoch and batch within it), the loss summed
    so far in that epoch, the iterator's position at the start of that
    epoch (random generators, rolled-over samples) and the early-stopping
    state.  With the loop's per-step reseeding of MXNet
    (``train_loop(seed=...)``) a resumed run repeats the uninterrupted one
    exactly.

    Args:
        directory: the run folder (``directory/checkpoint/``).
        train_iter: the training iterator.
        every: epochs between checkpoints.
        resume: continue from the folder's checkpoint at the start.
        early_stopping: the run's ``EarlyStopping``, whose state is kept.
        config: a JSON-ready dict stored with the checkpoint; a resume
            refuses a checkpoint that recorded another one (the
            checkpoint of another run).
    """

    def __init__(self, directory, train_iter, every=1, resume=False,
                 early_stopping=None, config=None):
        self.directory, self.train_iter, self.every = directory, train_iter, \
            every
        self.resume, self.early_stopping = resume, early_stopping
        self.config = config
        self._epoch_start = None

    def on_train_begin(self, state):
        """With ``resume``: continue from the last checkpoint, or from the
        one before when the last is damaged (saying so)."""
        if not self.resume:
            return
        try:
            found = checkpoints(self.directory)
        except FileNotFoundError:
            # stopped before its first checkpoint: the run starts over,
            # which (seeded) repeats what it had done
            print(f'{self.directory}: no checkpoint yet; the run starts '
                  'from its first step', file=sys.stderr, flush=True)
            return
        problems = []
        for name, meta in found:
            if isinstance(meta, DamagedFile):
                problems.append(str(meta))
                continue
            try:
                self._restore(state, meta, name)
            except DamagedFile as e:
                problems.append(str(e))
                continue
            if problems:
                print(f'{problems[0]}\nresuming from the checkpoint before '
                      f"it instead: epoch {meta['epoch']}, batch "
                      f"{meta['batch']}", file=sys.stderr, flush=True)
            return
        raise DamagedFile(problems[-1].replace(
            'the checkpoint cannot be used', 'no usable checkpoint is left; '
            'train the run again (--overwrite)'))

    def _restore(self, state, meta, name='state.json'):
        """Load one checkpoint (its record ``name``) into ``state``.

        Raises:
            DamagedFile: a file of it cannot be read back, or it is the
                checkpoint of another run (another configuration, or
                optimizer states that do not fit the parameters).
        """
        files = meta['files']
        fix = 'the checkpoint cannot be used'
        record = os.path.join(os.path.dirname(files['params']), name)
        stored = meta.get('config')
        if self.config is not None and stored is not None and \
                stored != self.config:
            stored = stored if isinstance(stored, dict) else {}
            changed = sorted(k for k in set(stored) | set(self.config)
                             if stored.get(k) != self.config.get(k))
            raise damaged(record, 'the checkpoint of another run (its '
                          f'{", ".join(changed)} differ from run.json)', fix)

        def load_states(path):
            optimizer = type(state.trainer._optimizer)
            state.trainer.load_states(path)
            fits_states(state.trainer, optimizer)
        for key, load in (
                ('params', lambda p: state.net.load_parameters(
                    p, ctx=_contexts(state.net))),
                ('states', load_states)):
            try:
                load(files[key])
            except Exception as e:      # MXNet's errors, unpickling, ...
                raise damaged(files[key], e, fix) from None
        try:
            history, epoch, batch = meta['history'], meta['epoch'], \
                meta['batch']
            loss_sum, count = meta['loss_sum'], meta['count']
            set_iterator_state(self.train_iter, meta['iterator'])
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise damaged(os.path.join(os.path.dirname(files['params']),
                                       'state.json'), e, fix) from None
        if self.early_stopping is not None and meta.get('early_stopping'):
            try:
                self.early_stopping.load(meta['early_stopping'], state.net,
                                         files.get('best'))
            except Exception as e:
                raise damaged(files.get('best'), e, fix) from None
        state.history = history
        state.epoch, state.batch = epoch, batch
        state.losses, state.count = [loss_sum], count

    def on_epoch_begin(self, state):
        # (after a resume in the middle of an epoch, the iterator was put
        # back at that epoch's start: the same thing)
        self._epoch_start = iterator_state(self.train_iter)

    def on_epoch_end(self, state, entry):
        if state.epoch % self.every == 0 or state.epoch >= state.num_epochs \
                or state.stop:
            self.write(state)
        self._epoch_start = None

    def write(self, state):
        """Write the checkpoint of the step ``state`` has reached."""
        es = self.early_stopping
        meta = dict(epoch=state.epoch, batch=state.batch,
                    loss_sum=state.epoch_loss_sum(), count=state.count,
                    history=state.history,
                    iterator=self._epoch_start if state.batch else
                    iterator_state(self.train_iter),
                    early_stopping=es.state_dict() if es else None,
                    config=self.config)
        save_checkpoint(self.directory, state.net, state.trainer, meta,
                        es.write_best(state.net) if es else None)


def _arrays(state):
    """The arrays of one optimizer state (an array, None, or nested
    tuples of them)."""
    if state is None:
        return []
    if isinstance(state, (tuple, list)):
        return [a for part in state for a in _arrays(part)]
    return [state]


def fits_states(trainer, optimizer):
    """Check optimizer states just loaded into ``trainer``: of its
    optimizer class ``optimizer``, one per parameter, of its shape.  (A
    file of another run loads without complaint and fails at the next
    step with an MXNet traceback.)

    Raises:
        ValueError: saying what does not fit.
    """
    params = trainer._params
    for updater in getattr(trainer, '_updaters', None) or []:
        if not isinstance(updater.optimizer, optimizer):
            found = type(updater.optimizer).__name__
            raise ValueError(f'the states of a {found} optimizer, not '
                             f'{optimizer.__name__}')
        for index, value in updater.states.items():
            if not isinstance(index, int) or not 0 <= index < len(params):
                raise ValueError(f'a state for parameter {index!r}; the '
                                 f'trainer has {len(params)}')
            shape = params[index].shape
            for array in _arrays(value):
                if getattr(array, 'shape', None) != shape:
                    raise ValueError(
                        f'a state of shape {getattr(array, "shape", None)} '
                        f'for {params[index].name} of shape {shape}')


class StopOnSignal(Callback):
    """On SIGINT or SIGTERM: finish the current step, write a checkpoint,
    and raise ``TrainingInterrupted`` (exit code 130 / 143).

    Args:
        checkpoint: the run's ``Checkpoint``.
        resume_command: the command line that continues the run (printed).
    """

    def __init__(self, checkpoint, resume_command=None):
        self.checkpoint, self.resume_command = checkpoint, resume_command
        self._old = {}

    def on_train_begin(self, state):
        def handler(signum, frame):
            if state.interrupted:   # a second signal: stop at once
                raise KeyboardInterrupt
            state.interrupted = signum
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, handler)

    def on_train_end(self, state):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
        if state.interrupted:
            self.checkpoint.write(state)
            raise TrainingInterrupted(state.interrupted, self.resume_command)


def resume_command(out, argv=None):
    """The command that continues the run in ``out``, as this process was
    started (``python SCRIPT``, ``python -m MODULE`` or the ``d2l-recsys``
    command, with its subcommand and model): ``... --resume OUT``."""
    words = list(argv or sys.orig_argv)[1:]
    if words and words[0] == '-m':
        head, words = ['python', '-m', words[1]], words[2:]
    elif words and os.path.basename(words[0]) == 'd2l-recsys':
        head, words = ['d2l-recsys'], words[1:]
    else:
        head, words = ['python'] + words[:1], words[1:]
    while words and not words[0].startswith('-'):
        head, words = head + words[:1], words[1:]
    return shlex.join(head + ['--resume', out])
