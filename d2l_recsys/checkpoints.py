"""Checkpoints: everything a run needs to continue exactly where it
stopped, written so that a crash at any moment leaves one whole.

A checkpoint keeps the one before it (``previous.json``), and
``checkpoints`` offers both, newest first; a record that cannot be read
back is a ``files.DamagedFile``.
"""
import json
import os
import pickle

from .files import DamagedFile, atomic_write, damaged, read_json, write_json

CHECKPOINT = 'checkpoint'


def save_trainer_states(trainer, path):
    """``trainer.save_states(path)``, the same file, streamed.

    Gluon pickles the optimizer states into one bytes object before writing
    it, which holds them twice over in memory (2.2 GB more for AutoRec at
    ML-20M's shape); ``pickle.dump`` to the file writes them one array at a
    time.  ``trainer.load_states`` reads the file as before.  A trainer
    whose kvstore runs the optimizer saves through Gluon.
    """
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    if trainer._update_on_kvstore:
        trainer.save_states(path)
        return
    updater = trainer._updaters[0]
    with open(path, 'wb') as f:
        pickle.dump((updater.states, updater.optimizer), f)


def save_checkpoint(directory, net, trainer, meta, best_net_params=None):
    """Write a checkpoint into ``directory/checkpoint/``.

    The parameter and optimizer files carry a step tag; ``state.json``,
    written last, names them, so a crash at any moment leaves the previous
    checkpoint whole.  The checkpoint before is kept too: its
    ``state.json`` becomes ``previous.json``, and its files stay.  Older
    files are removed afterwards.

    Args:
        directory: the run folder.
        net: the network.
        trainer: its ``gluon.Trainer`` (optimizer states, step counts).
        meta: a JSON-ready dict (epoch, history, iterator states, ...).
        best_net_params: a function writing the best parameters so far to a
            path (early stopping), or None.
    """
    folder = os.path.join(directory, CHECKPOINT)
    tag = f"e{meta['epoch']:04d}-b{meta['batch']:06d}"
    files = dict(params=f'net-{tag}.params', states=f'trainer-{tag}.states')
    atomic_write(os.path.join(folder, files['params']), net.save_parameters)
    atomic_write(os.path.join(folder, files['states']),
                 lambda path: save_trainer_states(trainer, path))
    if best_net_params is not None:
        files['best'] = f'best-{tag}.params'
        atomic_write(os.path.join(folder, files['best']), best_net_params)
    state = os.path.join(folder, 'state.json')
    keep = set(files.values()) | {'state.json', 'previous.json'}
    try:
        with open(state, encoding='utf-8') as f:
            last = json.load(f)
        keep |= set(last['files'].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        last = None     # no readable checkpoint before: nothing to keep
    if last is not None:    # (a failing write stops the run, as any other)
        write_json(os.path.join(folder, 'previous.json'), last)
    write_json(state, dict(meta, files=files))
    for name in os.listdir(folder):
        if name not in keep and not name.startswith('.tmp-'):
            os.remove(os.path.join(folder, name))


def _checkpoint_folder(directory):
    return directory if os.path.basename(os.path.normpath(directory)) == \
        CHECKPOINT else os.path.join(directory, CHECKPOINT)


def _read_meta(folder, name):
    """A checkpoint's record (``state.json`` or ``previous.json``), its
    ``files`` as full paths."""
    path = os.path.join(folder, name)
    meta = read_json(path, 'the checkpoint cannot be used')
    try:
        meta['files'] = {k: os.path.join(folder, v)
                         for k, v in meta['files'].items()}
        meta['epoch'], meta['batch']
    except (KeyError, TypeError, AttributeError) as e:
        raise damaged(path, f'no {e}', 'the checkpoint cannot be used') \
            from None
    return meta


def checkpoints(directory):
    """The run folder's checkpoints, newest first: ``[(name, meta or the
    DamagedFile that reading it raised)]`` for ``state.json`` and, when
    present, ``previous.json``.

    Raises:
        FileNotFoundError: there is no checkpoint there.
    """
    folder = _checkpoint_folder(directory)
    if not os.path.isfile(os.path.join(folder, 'state.json')):
        raise FileNotFoundError(f'{directory}: no checkpoint to resume from '
                                f"(expected {os.path.join(folder, 'state.json')})")
    found = []
    for name in ('state.json', 'previous.json'):
        if os.path.isfile(os.path.join(folder, name)):
            try:
                found.append((name, _read_meta(folder, name)))
            except DamagedFile as e:
                found.append((name, e))
    return found
