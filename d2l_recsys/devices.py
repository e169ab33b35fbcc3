"""Devices: which contexts to train on and how a batch is split over them."""
import mxnet as mx
from mxnet import gluon


def try_all_gpus():
    """All GPUs, or the CPU when there is none.

    Returns:
        A list of contexts; ``[cpu()]`` on a machine without GPUs, where
        ``d2l.try_all_gpus()`` returns ``[]``, which nothing can train on.
    """
    gpus = [mx.gpu(i) for i in range(mx.context.num_gpus())]
    return gpus or [mx.cpu()]


def parse_devices(spec='auto'):
    """Turn a ``--devices`` value into contexts.

    Args:
        spec: ``'auto'`` (all GPUs, else the CPU), ``'cpu'``, ``'cpu:K'``
            (K CPU contexts, to exercise the multi-device path without
            GPUs), ``'gpu'`` (all GPUs) or ``'gpu:0,1'``.

    Returns:
        A list of MXNet contexts.

    Raises:
        ValueError: an unknown form, or GPUs that MXNet does not see.
    """
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
    """Split every array of a batch over the devices (``split_and_load``).

    Args:
        batch: a tuple of arrays with the same first dimension.
        devices: contexts; a batch smaller than their number uses the first
            ``len(batch)`` of them.

    Returns:
        A list with one tuple of arrays per device used (sizes may differ by
        one).
    """
    n = batch[0].shape[0]
    devs = devices[:max(1, min(len(devices), n))]
    parts = [gluon.utils.split_and_load(a, devs, even_split=False)
             for a in batch]
    return list(zip(*parts))
