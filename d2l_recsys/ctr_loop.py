"""Click-through-rate training and evaluation: the book's ``train_ch13``
call for ``FM``, ``DeepFM`` and ``LR``, on the shared loop
(``train.train_loop``).

Batches are ``(x, y)``: ``x`` the ``(B, num_fields)`` feature indices,
``y`` the 0/1 clicks, shape ``(B,)`` or ``(B, 1)`` (the book's
``CTRDataset`` under a Gluon ``DataLoader`` gives ``(B, 1)``).  Each batch
is split over the devices by ``devices.split_shards`` (uneven parts
allowed).

What the book reports, and what is reported here instead: d2l's
``train_ch13`` prints a train and a test "accuracy" computed by
``d2l.accuracy``, which on a ``(B, 1)`` output takes no argmax and counts
the outputs exactly equal to their label -- sigmoids saturated to 0.0 or
1.0 in float32 (``metrics.book_ctr_accuracy``).  Its figures for FM (0.28)
and DeepFM (0.51) measure how many logits the double sigmoid (see
``models.fm``) pushed past about +17 or -88, not how many clicks were
predicted.  Here each epoch is scored on the test data by ``evaluate_ctr``:
the AUC, the log loss and the accuracy at a 0.5 threshold.
"""
import warnings

from mxnet import gluon

from .ctr_evaluation import (_xy, evaluate_ctr,  # noqa: F401
                             predict_ctr, returns_probabilities)
from .devices import try_all_gpus
from .train import _with_progress, train_loop


def check_loss(net, loss, outputs='auto'):
    """Warn or refuse when ``loss`` and ``net``'s outputs disagree about
    the sigmoid (only ``gluon.loss.SigmoidBinaryCrossEntropyLoss`` is
    checked).

    * Probabilities into ``from_sigmoid=False`` (the book's FM and DeepFM
      with the book's loss): a ``UserWarning`` that the sigmoid is applied
      twice; training goes on, as in the book.
    * Logits into ``from_sigmoid=True`` (a net that says it returns logits,
      through its config or ``outputs``): ``ValueError``; the loss would
      take logs of negative numbers.
    """
    if not isinstance(loss, gluon.loss.SigmoidBinaryCrossEntropyLoss):
        return
    from_sigmoid = bool(getattr(loss, '_from_sigmoid', False))
    probabilities = returns_probabilities(net, outputs)
    if probabilities and not from_sigmoid:
        warnings.warn(
            f'{type(net).__name__} returns probabilities (sigmoid=True) and '
            'SigmoidBinaryCrossEntropyLoss() applies a sigmoid again: the '
            "book's behaviour, which trains poorly.  Use sigmoid=False (the "
            'default, logits) with this loss, or '
            'SigmoidBinaryCrossEntropyLoss(from_sigmoid=True).',
            UserWarning, stacklevel=3)
    known = outputs != 'auto' or hasattr(net, 'config')
    if from_sigmoid and not probabilities and known:
        raise ValueError(
            f'loss: SigmoidBinaryCrossEntropyLoss(from_sigmoid=True) expects '
            f'probabilities, but {type(net).__name__} returns logits; use '
            'from_sigmoid=False, or build the net with sigmoid=True')


def train_ch13(net, train_iter, test_iter, loss, trainer, num_epochs,
               devices=None, verbose=True, callbacks=(), seed=None,
               num_workers=1, eval_step=1, outputs='auto'):
    """Train a CTR model with the book's argument list and return its
    history.

    ``train_ch13(net, train_iter, test_iter, loss, trainer, num_epochs,
    devices)`` is the call the FM and DeepFM chapters print; it runs
    ``train.train_loop``, so batches are split over all ``devices``, and each
    epoch's line shows the train loss and the test AUC, log loss and
    accuracy at 0.5 (``evaluate_ctr``) instead of the book's accuracy (see
    the module's docstring).  d2l's ``split_f`` argument is not taken:
    batches are always ``(x, y)``.

    Args:
        net: an ``FM``, ``DeepFM`` or ``LR`` (or any block ``net(x)``),
            initialised on ``devices``.
        train_iter: batches ``(x, y)``, e.g. a ``gluon.data.DataLoader``
            over the book's ``CTRDataset``.
        test_iter: batches ``(x, y)`` to evaluate after each epoch, or None.
        loss: a Gluon loss ``(output, label) -> per-example loss``; the
            book's ``SigmoidBinaryCrossEntropyLoss()`` with the default
            logit blocks.  A sigmoid net with that loss trains as in the
            book, with a warning (``check_loss``).  Labels are flattened to
            ``(B,)``; Gluon losses reshape them to the output's shape.
        trainer: a ``gluon.Trainer`` over ``net``'s parameters.
        num_epochs: number of epochs.
        devices: contexts (default: all GPUs, else the CPU).
        verbose: print a line per epoch.
        callbacks: more ``train.Callback`` objects for ``train_loop``.
        seed: reseed MXNet's generator before each step (DeepFM's dropout)
            from it (see ``train_loop``).
        num_workers: workers of a parameter-server job (see ``train_loop``).
        eval_step: evaluate every this many epochs and after the last.
        outputs: what ``net`` returns (see ``evaluate_ctr``).

    Returns:
        A list of ``{epoch, train_loss, auc, log_loss, accuracy@0.5,
        seconds}`` (no metrics without ``test_iter``); ``train_loss`` is
        the mean per-example loss of the epoch.
    """
    devices = devices or try_all_gpus()
    check_loss(net, loss, outputs)

    def shard_loss(shard):
        x, y = _xy(shard, 'train_ch13')
        return loss(net(x), y.reshape(-1))

    def evaluate(net):
        return evaluate_ctr(net, test_iter, devices, outputs)
    return train_loop(net, train_iter, shard_loss, trainer, num_epochs,
                      devices, evaluate if test_iter is not None else None,
                      eval_step, _with_progress(callbacks, verbose), seed,
                      num_workers)
