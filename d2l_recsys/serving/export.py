"""Export folders: a trained network as an MXNet symbol and parameters, with
everything needed to serve it and nothing that needs MovieLens.

``write_export(predictor, out)`` writes:

* ``model-symbol.json``, ``model-0000.params`` -- ``HybridBlock.export`` of
  the network.  MF, GMF, MLP and NeuMF take ``(data0, data1)`` = (user
  indices, item indices), 0-based, and return one score per pair; AutoRec
  is exported as its dense hybrid forward: ``data`` = rows of the training
  rating matrix (items x users for the item-based model) -> their
  reconstructions; ItemPop takes only ``data1`` (items).  Any MXNet 1.9
  process loads it without this package::

      import mxnet as mx
      mx.npx.set_np()   # saved in numpy shape semantics
      net = mx.gluon.SymbolBlock.imports('model-symbol.json',
                                         ['data0', 'data1'],
                                         'model-0000.params')

* ``ids.json`` -- ``user_ids`` and ``item_ids``: the original id (integer
  or string) of each 0-based index.
* ``titles.json`` -- the title of each item index.
* ``interactions.npz`` -- the training interactions (CSR arrays
  ``train_indptr``, ``train_indices``, ``train_values``: users x items, with
  ratings), the held-out ones (``heldout_*``), ``popularity`` (training
  interactions per item) and the arrays the model's task scores with
  (``state_*``, e.g. every user's latest items for Caser).
* ``export.json``, written last -- the registry entry, the model class,
  its constructor arguments, the run's configuration, the symbol's input
  names and the parameter names in the order of ``net.collect_params()``.

The folder is built next to ``out`` and renamed into place (exchanged
with the previous export in one step on Linux), so a crash leaves the
previous export or the new one, never a mix.
"""
import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
import zipfile

import mxnet as mx
import numpy as onp
from mxnet import npx

from .. import registry
from ..data.interactions import Interactions
from ..folders import claim, sibling_lock
from ..files import damaged, read_json, write_json
from ..scorers import copy_block, ensure_np_mode

# What to do about a damaged export file.
_AGAIN = 'export the run again (d2l-recsys export ... --overwrite)'

FORMAT = 'd2l_recsys-export/2'
EXPORT_FILE = 'export.json'
SYMBOL_FILE = 'model-symbol.json'
PARAMS_FILE = 'model-0000.params'
# What export.json must hold (besides its format).
_INFO = ('entry', 'model', 'config', 'params_file', 'params', 'num_users',
         'num_items')
def _trace(net, entry):
    """Run the hybridized network once so that it has a graph to export,
    on its task's example input."""
    ensure_np_mode()
    net.hybridize()
    net(*entry.task.example(net))


def _symbol_inputs(path, param_names):
    """The data inputs of an exported symbol, in graph order."""
    with open(path, encoding='utf-8') as f:
        nodes = json.load(f)['nodes']
    return [n['name'] for n in nodes
            if n['op'] == 'null' and n['name'] not in param_names]


def _check_target(out):
    if os.path.exists(out) and not (
            os.path.isdir(out) and (not os.listdir(out) or os.path.isfile(
                os.path.join(out, EXPORT_FILE)))):
        raise ValueError(f'{out}: exists and is not an export folder; '
                         'refusing to replace it')


def _exchange(a, b):
    """Swap the folders ``a`` and ``b`` in one step (Linux's ``renameat2``
    with ``RENAME_EXCHANGE``).  Returns False where the system or the file
    system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                          ctypes.c_char_p, ctypes.c_uint]
    at_cwd, exchange = -100, 2          # AT_FDCWD, RENAME_EXCHANGE
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b),
                 exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), b)


def _move_into_place(tmp, out):
    """Rename the finished folder ``tmp`` to ``out``, replacing an older
    export there in one step where the system can (``_exchange``: a crash
    at any moment leaves the old export or the new one in ``out``); else
    in two renames, between which ``out`` is missing."""
    if os.path.isdir(out) and os.listdir(out):
        if _exchange(tmp, out):
            shutil.rmtree(tmp)          # the old export, now
            return
        old = tmp + '.old'
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)


def write_export(predictor, out, overwrite=False):
    """Write the export folder ``out`` of a predictor (module docstring),
    holding its lock (``.NAME.lock`` beside it) while it writes.

    Args:
        predictor: a ``Predictor`` (e.g. ``load_predictor(run_folder)``).
        out: the folder to write; any other non-empty folder is refused.
        overwrite: replace an export that ``out`` holds (refused without).

    Returns:
        The content of ``export.json``.
    """
    with claim(out, overwrite=overwrite, lock_file=sibling_lock(out),
               clear=False):
        _check_target(out)
        return _write(predictor, out)


def _remove_stale(parent, suffix):
    """Remove the folders that exports of the same ``out`` (``suffix``)
    stopped before their end left beside it: the caller holds ``out``'s
    lock, so no live export is writing them."""
    stale = re.compile(r'\.tmp-export-[a-z0-9_]{8}' + re.escape(suffix) +
                       r'(\.old)?')
    for name in os.listdir(parent):
        if stale.fullmatch(name):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _write(predictor, out):
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    suffix = '.' + os.path.basename(os.path.abspath(out))
    _remove_stale(parent, suffix)
    tmp = tempfile.mkdtemp(dir=parent, prefix='.tmp-export-', suffix=suffix)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)       # mkdtemp makes folders private
    try:
        net = copy_block(predictor.net)
        _trace(net, predictor.entry)
        net.export(os.path.join(tmp, 'model'), epoch=0)
        params = [p.name for p in net.collect_params().values()]
        inputs = _symbol_inputs(os.path.join(tmp, SYMBOL_FILE), set(params))
        meaning = predictor.entry.task.inputs_meaning(net)
        write_json(os.path.join(tmp, 'ids.json'),
                   dict(user_ids=predictor.user_ids.tolist(),
                        item_ids=predictor.item_ids.tolist()))
        write_json(os.path.join(tmp, 'titles.json'), predictor.titles)
        onp.savez(os.path.join(tmp, 'interactions.npz'),
                  popularity=predictor.popularity,
                  **predictor.train.arrays('train'),
                  **predictor.heldout.arrays('heldout'),
                  **{f'state_{k}': v for k, v in predictor.state.items()})
        info = dict(format=FORMAT, entry=predictor.entry.name,
                    model=predictor.model, config=net.config,
                    run=predictor.run,
                    num_users=predictor.num_users,
                    num_items=predictor.num_items,
                    symbol=SYMBOL_FILE, params_file=PARAMS_FILE,
                    inputs=inputs,
                    inputs_meaning={k: meaning[k] for k in inputs},
                    params=params)
        write_json(os.path.join(tmp, EXPORT_FILE), info)
        _move_into_place(tmp, out)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return info


def _load_net(folder, info):
    """The Gluon block of ``info['model']`` with the exported weights."""
    try:
        block = registry.block_class(info.get('model'))
    except ValueError as e:
        raise ValueError(f'{folder}/{EXPORT_FILE}: {e}') from None
    ensure_np_mode()
    net = block(**info['config'])
    net.initialize(ctx=mx.cpu())
    path = os.path.join(folder, info['params_file'])
    try:
        saved = {k.split(':', 1)[-1]: v for k, v in npx.load(path).items()}
    except Exception as e:          # MXNet's error for a damaged file
        raise damaged(path, e, _AGAIN) from None
    mine = list(net.collect_params().values())
    if len(mine) != len(info['params']):
        raise damaged(os.path.join(folder, EXPORT_FILE),
                      f"{len(info['params'])} parameters listed, a "
                      f"{info['model']} has {len(mine)}", _AGAIN)
    for param, name in zip(mine, info['params']):
        if name not in saved or saved[name].shape != param.shape:
            raise damaged(path, f'parameter {name} missing or not of shape '
                          f'{param.shape}', _AGAIN)
        param.set_data(saved[name])
    return net


def read_export(folder):
    """Read an export folder back.

    Args:
        folder: written by ``write_export``.

    Returns:
        The keyword arguments of ``Predictor`` (``net``, ``entry``, ``run``,
        ids, interactions, titles).

    Raises:
        ValueError: not an export of this format, or inconsistent files.
    """
    path = os.path.join(folder, EXPORT_FILE)
    info = read_json(path, _AGAIN)
    if not isinstance(info, dict) or info.get('format') != FORMAT:
        found = info.get('format') if isinstance(info, dict) else None
        raise ValueError(f'{path}: format {found!r}, expected {FORMAT!r}')
    missing = [k for k in _INFO if k not in info]
    if missing:
        raise damaged(path, f"no {', '.join(missing)}", _AGAIN)
    symbol = os.path.join(folder, info.get('symbol') or SYMBOL_FILE)
    graph = read_json(symbol, _AGAIN)          # what MXNet would load
    if not isinstance(graph, dict) or not isinstance(graph.get('nodes'),
                                                     list):
        raise damaged(symbol, 'no nodes: not an MXNet symbol', _AGAIN)
    # the graph of the exported network: its inputs and parameters
    names = {n.get('name') for n in graph['nodes'] if isinstance(n, dict)
             and n.get('op') == 'null'}
    absent = [n for n in info['params'] + info.get('inputs', [])
              if n not in names]
    if absent:
        raise damaged(symbol, f'no node {absent[0]}: not the graph of '
                      f"the exported {info['model']}", _AGAIN)
    ids = read_json(os.path.join(folder, 'ids.json'), _AGAIN)
    path = os.path.join(folder, 'interactions.npz')
    try:
        with onp.load(path, allow_pickle=False) as arrays:
            train = Interactions.from_arrays(arrays, 'train')
            heldout = Interactions.from_arrays(arrays, 'heldout')
            state = {k[len('state_'):]: arrays[k] for k in arrays.files
                     if k.startswith('state_')}
    except (ValueError, OSError, KeyError, EOFError,
            zipfile.BadZipFile) as e:
        raise damaged(path, e, _AGAIN) from None
    try:
        entry = registry.get(info.get('entry'))
    except ValueError as e:
        raise ValueError(f'{folder}/{EXPORT_FILE}: {e}') from None
    path = os.path.join(folder, 'titles.json')
    titles = read_json(path, _AGAIN)
    if not isinstance(titles, list) or len(titles) != info['num_items']:
        raise damaged(path, f"not a title for each of {info['num_items']} "
                      'items', _AGAIN)
    if not isinstance(ids, dict) or not {'user_ids', 'item_ids'} <= set(ids):
        raise damaged(os.path.join(folder, 'ids.json'), 'no user_ids and '
                      'item_ids', _AGAIN)
    return dict(net=_load_net(folder, info), entry=entry,
                run=info.get('run') or {}, user_ids=ids['user_ids'],
                item_ids=ids['item_ids'], train=train, heldout=heldout,
                titles=titles, state=state)
