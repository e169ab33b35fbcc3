"""Training on MXNet's parameter server: which kvstore, which worker, which
share of the data.

Under a ``dist_*`` kvstore (a job started by ``python -m d2l_recsys.launch``)
every worker trains on its own shard of each epoch's mini-batches and
``gluon.Trainer`` pushes gradients to and pulls them from the servers.
Semantics: N workers with batch B behave like one worker with batch N·B.
Each worker calls ``trainer.step(N·B)``, so the servers' sum of the N
workers' gradients is divided by N·B, the mean over the global batch; keep
the learning rate of a single worker with batch N·B.  The optimizer runs on
the servers (``update_on_kvstore=True``, MXNet's default for ``dist_*``):
workers push gradients and pull weights.  Letting every worker run the
optimizer on pulled gradient sums instead (``update_on_kvstore=False``)
made the workers' parameters drift apart in about one run of three here,
with or without a wait after each step; the server-side optimizer gave
identical workers in every run.  Because the servers' optimizer is fixed
when training starts, every step must have the same batch size:
``data.ShardOrder`` guarantees it.  Every worker evaluates (their
parameters are the same, and waiting for the slowest costs nothing more);
rank 0 alone writes the run folder.
"""
import os
import shutil
import tempfile
from dataclasses import dataclass

import mxnet as mx

from .config import KVSTORES
from .files import write_text


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
    def shard(self):
        """``(rank, num_workers)`` for the data layer's sharded orders in a
        parameter-server job, None otherwise."""
        return (self.rank, self.num_workers) if self.is_dist else None

    @property
    def is_chief(self):
        """Rank 0: the worker that evaluates and writes the outputs."""
        return self.rank == 0

    def trainer_options(self):
        """Keyword arguments for ``gluon.Trainer``."""
        if not self.is_dist:
            return dict(kvstore=self.kvstore)
        return dict(kvstore=self.kvstore, update_on_kvstore=True)

    def gather(self, value):
        """Every worker's ``value`` (a float), in rank order.

        The servers run the optimizer on whatever is pushed, so the values
        travel through small files in a folder of the job (named after its
        port) between two barriers.  Workers on other hosts do not share
        that folder: their entries are None (multi-host is untested).
        """
        if not self.is_dist:
            return [float(value)]
        folder = os.path.join(tempfile.gettempdir(), 'd2l_recsys-job-' +
                              os.environ.get('DMLC_PS_ROOT_PORT', '0'))
        os.makedirs(folder, exist_ok=True)
        mine = os.path.join(folder, f'worker-{self.rank}')
        write_text(mine, repr(float(value)))
        self.kvstore._barrier()
        found = []
        for rank in range(self.num_workers):
            try:
                with open(os.path.join(folder, f'worker-{rank}')) as f:
                    found.append(float(f.read()))
            except OSError:
                found.append(None)
        self.kvstore._barrier()            # everyone has read every file
        os.remove(mine)
        self.kvstore._barrier()            # everyone has removed their own
        if self.is_chief:
            shutil.rmtree(folder, ignore_errors=True)
        return found

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
