"""Scoring click-through-rate models (``FM``, ``DeepFM``, ``LR``): the
AUC, the log loss and the accuracy at a 0.5 threshold of a block's
outputs over batches ``(x, y)`` (see ``ctr_loop`` for what the book
reports instead).  Nothing here trains."""
import math

import numpy as onp

from . import metrics
from .devices import split_shards

OUTPUTS = ('auto', 'logits', 'probabilities')


def returns_probabilities(net, outputs='auto'):
    """Whether ``net``'s outputs are probabilities: ``outputs`` if it is
    ``'logits'`` or ``'probabilities'``; for ``'auto'``, the net's
    ``config['sigmoid']`` (the blocks of ``models.fm``), logits for a net
    without one."""
    if outputs not in OUTPUTS:
        raise ValueError(f'outputs must be one of {OUTPUTS}, got '
                         f'{outputs!r}')
    if outputs != 'auto':
        return outputs == 'probabilities'
    return bool(getattr(net, 'config', {}).get('sigmoid', False))


def _xy(batch, who):
    """A batch (or one device's part of it) as ``(x, y)``."""
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        size = len(batch) if isinstance(batch, (list, tuple)) else 1
        raise ValueError(f'{who}: batches must be (x, y), features and '
                         f'labels; got {size} array(s)')
    return batch


def predict_ctr(net, data_iter, devices=None):
    """Run ``net`` over every batch of ``data_iter``.

    Args:
        net: a block mapping ``(B, num_fields)`` features to one output per
            example.
        data_iter: batches ``(x, y)``.
        devices: contexts to split each batch over (default: those holding
            ``net``'s parameters, as d2l's evaluators do).

    Returns:
        ``(labels, outputs)``: flat float64 numpy arrays, in data order.
    """
    if devices is None:
        devices = next(iter(net.collect_params().values())).list_ctx()
    labels, outputs = [], []
    for batch in data_iter:
        for x, y in split_shards(_xy(batch, 'predict_ctr'), devices):
            outputs.append(net(x).asnumpy().astype(onp.float64).ravel())
            labels.append(y.asnumpy().astype(onp.float64).ravel())
    if not labels:
        raise ValueError('predict_ctr: data_iter gave no batches')
    return onp.concatenate(labels), onp.concatenate(outputs)


def _sigmoid(z):
    """A logistic sigmoid in float64 that neither overflows nor divides
    by zero: ``exp(-log(1 + exp(-z)))``."""
    return onp.exp(-onp.logaddexp(0.0, -z))


def evaluate_ctr(net, data_iter, devices=None, outputs='auto'):
    """AUC, log loss and accuracy at 0.5 of a CTR model on ``data_iter``.

    Args:
        net, data_iter, devices: as ``predict_ctr``.
        outputs: what ``net`` returns: ``'auto'`` (probabilities when its
            ``config['sigmoid']`` is true, as the book's blocks, else
            logits), ``'logits'`` or ``'probabilities'``.

    Returns:
        ``{'auc', 'log_loss', 'accuracy@0.5'}`` as floats.  The AUC ranks
        the raw outputs (logits keep apart scores that a float32 sigmoid
        would tie at 0 or 1); it is NaN when the labels hold one class
        only.  The log loss clips probabilities to ``[1e-15, 1 - 1e-15]``
        (``metrics.log_loss``).  A probability above 0.5 predicts a click.
    """
    probabilities = returns_probabilities(net, outputs)
    labels, out = predict_ctr(net, data_iter, devices)
    prob = out if probabilities else _sigmoid(out)
    if labels.min() == labels.max():
        auc = math.nan           # one class: every ordering is as good
    else:
        auc = metrics.roc_auc(labels, out)
    return {'auc': auc, 'log_loss': metrics.log_loss(labels, prob),
            'accuracy@0.5': metrics.threshold_accuracy(labels, prob)}
