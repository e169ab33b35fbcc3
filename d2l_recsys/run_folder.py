"""A run folder: its definition (``run.json``: registry entry and
configuration), its trained network with what rebuilds it (``model.json``
and ``model.params``), and ``open_run``, the one way to rebuild all of a
saved run.  Checkpoints are ``checkpoints``'s; the files underneath are
written by ``files``.
"""
import os

from typing import Any, Optional

import mxnet as mx
import pandas as pd

from . import registry
from .models.contract import RecommenderBlock
from .files import DamagedFile, damaged, read_json, write_json, atomic_write

RUN_FILE = 'run.json'


def write_run(directory: str, entry: str, config: dict) -> None:
    """Store a run's definition, once: its registry entry and its
    configuration (data source, split, model and training options)."""
    write_json(os.path.join(directory, RUN_FILE),
               dict(entry=entry, config=config))


def read_run(directory: str) -> dict:
    """``{entry, config}`` of a run folder (``write_run``).

    Raises:
        FileNotFoundError: the folder has no run definition.
    """
    path = os.path.join(directory, RUN_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{directory}: not a run folder (no '
                                f'{RUN_FILE})')
    fix = 'the run cannot be resumed or re-scored; train it again'
    stored = read_json(path, fix)
    if not isinstance(stored, dict) or not {'entry', 'config'} <= set(
            stored):
        raise damaged(path, 'no entry and config', fix)
    return stored


def open_run(directory: str, data_dir: Optional[str] = None,
             frame: Optional[pd.DataFrame] = None
             ) -> tuple[registry.Entry, Any, Any, RecommenderBlock]:
    """Everything a saved run is, rebuilt the one way (re-evaluation and
    the predictor both use it): ``(entry, config, data, net)`` -- its
    registry entry, its configuration object, its data materialized from
    the stored spec (``data.spec``; the data folder replaced by
    ``data_dir`` if given, a folder that moved; ``frame`` for a run trained
    on a DataFrame) and its trained network on the CPU.

    Raises:
        ValueError: a cross-validation folder (its folds are runs), or
            ``data_dir`` for a run that reads no MovieLens folder.
    """
    stored = read_run(directory)
    entry = registry.get(stored['entry'])
    options = dict(stored['config'], out=None, resume=None)
    if data_dir:
        other = options.get('ratings') or options.get('train_file') or \
            options.get('frame_name')
        if other:
            raise ValueError(f'--data-dir {data_dir}: {directory} reads '
                             f'{other}, not a MovieLens folder')
        options['data_dir'] = data_dir
    if options.get('folds') and options.get('fold') is None:
        raise ValueError(f'{directory}: a cross-validation folder; use one '
                         'of its fold-K folders')
    cfg = entry.config(**options)
    net = load_model(directory)[0]
    if not isinstance(net, entry.block):
        raise DamagedFile(f'{directory}: {RUN_FILE} is a {entry.name} run '
                          f'and model.json a {type(net).__name__}: files of '
                          'two runs; train the run again')
    return entry, cfg, entry.task.load(cfg, frame), net


def save_model(net: RecommenderBlock, directory: str) -> None:
    """Save a network with what rebuilds it: ``model.params`` and
    ``model.json`` (its class and constructor arguments) in ``directory``.

    Args:
        net: a model of ``d2l_recsys.models`` (it has a ``config`` dict).
        directory: the run folder.
    """
    atomic_write(os.path.join(directory, 'model.params'), net.save_parameters)
    write_json(os.path.join(directory, 'model.json'),
               dict(model=type(net).__name__, config=net.config))


def load_model(directory: str, ctx: Any = None
               ) -> tuple[RecommenderBlock, dict]:
    """Rebuild a model saved by ``save_model``.

    Args:
        directory: the run folder.
        ctx: the context to load the parameters on (default CPU).

    Returns:
        ``(net, info)``: the network and the content of ``model.json``.
    """
    fix = 'train the run again (or --resume it from its checkpoint)'
    path = os.path.join(directory, 'model.json')
    info = read_json(path, fix)
    try:
        block = registry.block_class(info.get('model'))
        net = block(**info['config'])
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise damaged(path, e, fix) from None
    path = os.path.join(directory, 'model.params')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{directory}: no model.params; {fix}')
    try:
        net.load_parameters(path, ctx=ctx or mx.cpu())
    except Exception as e:        # MXNet raises MXNetError and others
        raise damaged(path, e, fix) from None
    return net, info


def open_pretrained(entry: registry.Entry, cfg: Any
                    ) -> Optional[list[RecommenderBlock]]:
    """The trained blocks of the run folders ``cfg.pretrained_runs()`` names
    (a NeuMF's GMF and MLP), or None when it names none.

    Raises:
        ValueError: ``entry`` cannot start from trained blocks, or a folder
            holds a run made on other data: another source or split, so its
            network may have trained on this run's test ratings.
    """
    folders = cfg.pretrained_runs()
    if not folders:
        return None
    if entry.pretrain is None:
        raise ValueError(f'{entry.name} cannot start from pretrained runs '
                         f'({", ".join(folders)})')
    spec = cfg.data_spec()
    nets = []
    for folder in folders:
        stored = read_run(folder)
        theirs = registry.get(stored['entry']).config(
            **dict(stored['config'], out=None, resume=None)).data_spec()
        if theirs.split_key() != spec.split_key():
            raise ValueError(
                f'{folder}: a run on {theirs.describe()} (seed '
                f'{theirs.seed}), this run is on {spec.describe()} (seed '
                f'{spec.seed}); a network trained on other data may have '
                "seen this run's test ratings: pretrain on the same data, "
                'split and seed')
        nets.append(load_model(folder)[0])
    return nets
