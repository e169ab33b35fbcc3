"""Training on MXNet's parameter server: which kvstore, which worker, which
share of the data.

Under a ``dist_*`` kvstore (a job started by ``python -m d2l_recsys.launch``)
every worker trains on its own shard of each epoch's mini-batches and
``gluon.Trainer`` pushes gradients to and pulls them from the servers.
Semantics: N workers with batch B behave like one worker with batch N·B.
Each worker calls ``trainer.step(N·B)``, so the servers' sum of the N
workers' gradients is divided by N·B, the mean over the global batch; keep
the learning rate of a single worker with batch N·B.  Under ``dist_sync``
and ``dist_device_sync`` the optimizer runs on every worker over the summed
gradients (``update_on_kvstore=False``: all workers hold the same
parameters); ``dist_async`` runs it on the servers, as MXNet requires.
"""
import os
from dataclasses import dataclass

import mxnet as mx
import numpy as onp
from mxnet import np

from .config import KVSTORES
_THROUGHPUT_KEY = 1 << 30      # an int key no Trainer uses


@dataclass
class Cluster:
    """The kvstore of a run and this process's place in the job.

    Attributes:
        kvstore: the ``KVStore`` of a distributed job, or the name of a
            local one (``'local'``, ``'device'``) for ``gluon.Trainer``.
        kind: the kvstore's name.
        rank, num_workers, num_servers: this worker and the job's size.
    """
    kvstore: object
    kind: str
    rank: int = 0
    num_workers: int = 1
    num_servers: int = 0

    @property
    def is_dist(self):
        return self.kind.startswith('dist')

    @property
    def is_chief(self):
        """Rank 0: the worker that evaluates and writes the outputs."""
        return self.rank == 0

    def trainer_options(self):
        """Keyword arguments for ``gluon.Trainer``."""
        if not self.is_dist:
            return dict(kvstore=self.kvstore)
        return dict(kvstore=self.kvstore,
                    update_on_kvstore=self.kind == 'dist_async')

    def gather(self, value):
        """Every worker's ``value`` (a float), in rank order, on every
        worker (one push and pull of a vector); ``[value]`` when not
        distributed or under ``dist_async``, whose servers would treat the
        push as a gradient."""
        if not self.is_dist or self.kind == 'dist_async':
            return [float(value)]
        mine = mx.nd.zeros((self.num_workers,))
        mine[self.rank] = value
        self.kvstore.init(_THROUGHPUT_KEY, mx.nd.zeros((self.num_workers,)))
        self.kvstore.push(_THROUGHPUT_KEY, mine)
        out = mx.nd.zeros((self.num_workers,))
        self.kvstore.pull(_THROUGHPUT_KEY, out=out)
        return out.asnumpy().tolist()

    def describe(self):
        """The facts ``metrics.json`` records."""
        return dict(kvstore=self.kind, num_workers=self.num_workers,
                    num_servers=self.num_servers)


def connect(kind='device'):
    """Create the kvstore of a run.

    Args:
        kind: one of ``KVSTORES``.  ``device`` is Gluon's default (today's
            behaviour); ``dist_*`` need the ``DMLC_*`` variables that
            ``python -m d2l_recsys.launch`` sets.

    Returns:
        A ``Cluster``.

    Raises:
        ValueError: an unknown kind, or a ``dist_*`` kind outside a job.
    """
    if kind not in KVSTORES:
        raise ValueError(f"kvstore={kind!r}: expected one of "
                         f"{', '.join(KVSTORES)}")
    if not kind.startswith('dist'):
        return Cluster(kind, kind)
    if os.environ.get('DMLC_ROLE') != 'worker':
        raise ValueError(f'kvstore={kind}: this process is not a worker of '
                         'a parameter-server job; start it with python -m '
                         'd2l_recsys.launch -n WORKERS -- COMMAND')
    kv = mx.kv.create(kind)
    return Cluster(kv, kind, kv.rank, kv.num_workers,
                   int(os.environ.get('DMLC_NUM_SERVER', '1')))


class ShardIter:
    """One worker's share of each epoch's mini-batches.

    Every epoch, all workers draw the same permutation of the N examples
    from the shared seed; its first ``steps * num_workers * batch_size``
    positions are cut into ``num_workers`` contiguous parts and worker
    ``rank`` iterates its part in batches of ``batch_size``.  The parts are
    disjoint, together they cover the epoch, and every worker does the same
    number of steps (a ``dist_sync`` push waits for all workers).  The fewer
    than ``num_workers * batch_size`` examples left over change every epoch.

    Args:
        *arrays: aligned arrays (numpy), as for ``ArrayIter``.
        batch_size: examples per worker and step.
        rank, num_workers: this worker and the job's size.
        seed: the shared seed.
    """

    def __init__(self, *arrays, batch_size, rank, num_workers, seed=0):
        if not arrays or any(len(a) != len(arrays[0]) for a in arrays):
            raise ValueError('ShardIter needs arrays of equal length')
        self.arrays = [np.array(a, dtype=onp.asarray(a).dtype)
                       for a in arrays]
        self.num_examples = len(arrays[0])
        self.batch_size, self.rank = batch_size, rank
        self.num_workers = num_workers
        self.steps = self.num_examples // (batch_size * num_workers)
        if self.steps == 0:
            raise ValueError(f'{self.num_examples} examples are fewer than '
                             f'one batch of {batch_size} per worker for '
                             f'{num_workers} workers')
        self._rng = onp.random.default_rng([seed, 4])

    def __len__(self):
        return self.steps

    def __iter__(self):
        order = self._rng.permutation(self.num_examples)
        share = self.steps * self.batch_size
        mine = order[self.rank * share:(self.rank + 1) * share]
        index = np.array(mine, dtype=onp.int64)
        arrays = [np.take(a, index, axis=0) for a in self.arrays]
        for start in range(0, share, self.batch_size):
            batch = tuple(a[start:start + self.batch_size] for a in arrays)
            yield batch if len(batch) > 1 else batch[0]
