"""Files: atomic writes, JSON, and saved models that carry their config.

Every output goes through ``atomic_write``: a crash or a kill leaves the old
file or the new one, never half of one.  Every file read back (JSON
records, model and checkpoint parameters, trainer states) that is empty,
truncated, not what it should be or another model's raises
``DamagedFile``, a ``ValueError`` whose one line names the file and what
to do.  A checkpoint keeps the one before it (``previous.json``), and
``checkpoints`` offers both, newest first.
"""
import json
import os
import pickle
import tempfile

import mxnet as mx

from . import registry
from .data.spec import materialize

RUN_FILE = 'run.json'


class DamagedFile(ValueError):
    """A file the package wrote cannot be read back as what it should be."""


def damaged(path, error, fix):
    """``DamagedFile`` naming ``path``, the first line of ``error`` and
    ``fix`` (what to do)."""
    lines = [l.strip() for l in str(error).splitlines() if l.strip()]
    # MXNet's messages start with a traceback header; keep the reason
    reason = next((l for l in lines if 'Check failed' in l or
                   l.startswith(('MXNetError', 'ValueError'))), None) or \
        (lines[0] if lines else type(error).__name__)
    return DamagedFile(f'{path}: damaged or not what it should be '
                       f'({reason[:160]}); {fix}')


def atomic_write(path, write):
    """Write a file through a temporary file and a rename.

    Args:
        path: the destination; its folder is created if needed.
        write: a function called with the temporary path that writes the
            whole content there.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-',
                               suffix=os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes files private
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    def write(tmp):
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
    atomic_write(path, write)


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2) + '\n')


def read_json(path, fix='restore it, or remove it and make it again'):
    """Read a JSON file.

    Raises:
        FileNotFoundError: it is missing (the error names it).
        DamagedFile: it is empty, cut short or not JSON text; the message
            names it and says ``fix``.
    """
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise damaged(path, f'not valid JSON: {e}', fix) from None


def write_run(directory, entry, config):
    """Store a run's definition, once: its registry entry and its
    configuration (data source, split, model and training options)."""
    write_json(os.path.join(directory, RUN_FILE),
               dict(entry=entry, config=config))


def read_run(directory):
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


def open_run(directory, data_dir=None, frame=None):
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


def save_model(net, directory):
    """Save a network with what rebuilds it: ``model.params`` and
    ``model.json`` (its class and constructor arguments) in ``directory``.

    Args:
        net: a model of ``d2l_recsys.models`` (it has a ``config`` dict).
        directory: the run folder.
    """
    atomic_write(os.path.join(directory, 'model.params'), net.save_parameters)
    write_json(os.path.join(directory, 'model.json'),
               dict(model=type(net).__name__, config=net.config))


def load_model(directory, ctx=None):
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


# --------------------------------------------------------------------------
# Checkpoints: everything a run needs to continue exactly where it stopped
# --------------------------------------------------------------------------
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
