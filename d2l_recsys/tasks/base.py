"""What a kind of model needs, in one object: a *task*.

A registry entry names its task; the generic paths ask the task and never
the model's name or a family string:

* a run (``runs.task_run``) asks ``load`` for the data and ``setup`` for
  its batches, loss, evaluators, monitored metric and what the results
  record;
* the predictor asks ``scorer`` how to score users, ``sizes`` which
  block sizes fit the data and ``example`` for an input to trace for
  export;
* the commands ask ``environment`` (what a process wants before MXNet
  loads), ``summary`` (the closing line) and ``objective`` (what a search
  ranks trials by).

A model shaped like an existing one reuses that task: its entry is one
line.  A new kind of model is one ``Task`` subclass.
"""
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass
class Setup:
    """A task's part of one run (built by ``Task.setup``).

    Attributes:
        train_iter: the training batches (None when not training).
        loss: the training loss (a Gluon loss).
        shard_loss: ``net -> (shard -> per-example losses)``.
        test: ``(net, devices) -> {metric: value}`` in the history's keys,
            or None (no test part).
        valid: the same for the validation part (keys ``valid_...``).
        shape: the positional sizes ``entry.build(cfg, *shape)`` takes.
        facts: what the results record of the data (sizes...).
        reported: keys of the final epoch copied into the results.
        title, plotted: the curves' title and plotted metrics.
        extra: ``(net, devices) -> dict`` added to the results.
        prepare: ``(net, devices, verbose) -> dict`` run after the
            initialisation (start at the mean, pretrained weights...).
        counted: ``(net, devices) -> history`` for a block fitted by
            counting instead of gradient steps (ItemPop), else None.
        optimizer: the optimizer's name.
        init: the initialiser of parameters without one of their own.
    """
    train_iter: object
    loss: object
    shard_loss: Callable
    test: Optional[Callable]
    valid: Optional[Callable]
    shape: tuple
    facts: dict
    reported: tuple
    title: str
    plotted: tuple
    extra: Callable = lambda net, devices: {}
    prepare: Callable = lambda net, devices, verbose: {}
    counted: Optional[Callable] = None
    optimizer: str = 'adam'
    init: object = None


def pairs_loss(net, loss):
    """Per-device loss of ``(inputs..., label)`` batches, or of a single
    array that is input and label (AutoRec's rows)."""
    return lambda s: loss(net(*(s[:-1] or s)), s[-1])


class Task:
    """The base of every task.

    Attributes:
        kind: the name space a model name is looked up in (``rating``,
            ``ranking``...): two tasks of one kind share a name space and a
            command (``train_neumf.py --model`` chooses among ranking
            models).
        script: the training script of the kind's models (``None``: each
            model's own ``train_<name>.py``).
    """
    kind = 'task'
    script = None

    def load(self, cfg, frame=None):
        """The run's data, materialized from its configuration."""
        from ..data.spec import materialize
        return materialize(cfg.data_spec(), frame)

    def setup(self, entry, cfg, data, shard=None, training=True,
              pretrained=None):
        """The ``Setup`` of a run of ``entry`` on ``data`` (``pretrained``:
        the trained blocks it starts from, ``run_folder.open_pretrained``,
        or None)."""
        raise NotImplementedError

    def main_metric(self, cfg):
        """The test metric a cross-validation averages and a command
        prints first."""
        raise NotImplementedError

    def monitor(self, cfg):
        """``(validation metric, 'min' or 'max')``: what early stopping
        and searches follow."""
        raise NotImplementedError

    def objective(self, options):
        """``(metric, lower is better)`` of a search with these fixed
        options (defaults fill the rest)."""
        raise NotImplementedError

    def reevaluated(self, metrics):
        """What ``reevaluate`` returns of a test evaluation's dict."""
        return metrics

    def summary(self, results):
        """The closing line of a run."""
        raise NotImplementedError

    def sizes(self, options, num_users, num_items):
        """The block config's sizes a model has on data of that shape (to
        check a saved model against its data)."""
        return {'num_users': num_users, 'num_items': num_items}

    def scorer(self, net, train, run, cache_bytes, state):
        """How the predictor scores users (see ``scorers``); ``state`` is
        ``serving_state``'s arrays."""
        raise NotImplementedError

    def serving_state(self, cfg, data):
        """Arrays the scorer needs besides the network and the training
        interactions, made from the run's data (an export stores them)."""
        return {}

    def example(self, net):
        """One input of the network, to trace it for export."""
        from mxnet import np
        return (np.zeros(1, dtype='int32'), np.zeros(1, dtype='int32'))

    def inputs_meaning(self, net):
        """What each input of the exported symbol holds, by its name."""
        return {'data0': 'user indices (0-based, ids.json user_ids)',
                'data1': 'item indices (0-based, ids.json item_ids)'}

    def environment(self):
        """Environment variables the training process wants set before
        MXNet loads (the command restarts itself with them)."""
        return {}
