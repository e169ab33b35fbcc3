"""Trust in what the service loads and serves.

* A run's ``checkpoint/`` holds the trainer's optimizer states as a pickle
  (``trainer.save_states``), and unpickling runs code: resuming a run
  folder runs its author's code.  Loading a predictor, exporting, serving
  and the batch jobs never read those states, nor unpickle anything.
* An export folder holds no pickle: every file is JSON, an MXNet symbol,
  MXNet's NDArray format or a numpy archive of plain arrays.
* The service reads everything at start: removing or replacing its folder
  while it runs changes none of its answers.
* ``GET /health`` names the run it serves.

The runs are tiny (2 epochs) on the synthetic fixtures of ``conftest``.

Mutations tried: the run folder's predictor restoring the checkpoint's
trainer states (``Trainer.load_states``) fails
``test_serving_never_reads_trainer_states`` (``pickle.loads called``), and
so does reading them with ``_pickle.loads`` behind the patched module (the
marker file appears).  An export that also writes ``run.pkl``, stores an
object array in ``interactions.npz`` or writes ``titles.json`` as a
protocol 0 pickle fails ``test_an_export_holds_no_pickle``.  An app that
loads the folder again for each ``/recommend`` fails every case of
``test_the_service_keeps_the_model_it_loaded``; a predictor that reads an
export's ``titles.json`` when it recommends fails its export cases (but
the replacement trained on the same data: same titles).  A config hash
without the entry fails ``test_health_names_the_run`` and
``test_service.py::test_service``; one of ``run.json``'s bytes for run
folders fails ``test_health_names_the_run`` (a run and its export then
differ).
"""
import contextlib
import hashlib
import io
import json
import os
import pickle
import pickletools
import shutil
import struct
import zipfile

import mxnet as mx
import numpy as onp
import pytest

from d2l_recsys.run_folder import read_run
from d2l_recsys.runs import run_autorec, run_mf, run_ranking
from d2l_recsys.serving import (load_predictor, predict_file,
                                write_all_recommendations, write_export)

MODELS = ('mf', 'autorec_item', 'neumf')


@pytest.fixture(scope='module')
def runs(ml_dir, checker_dir, tmp_path_factory):
    """A run folder per kind of scorer (numpy product, AutoRec's cached
    reconstruction, the network on pairs), with their checkpoints."""
    base = tmp_path_factory.mktemp('trust-runs')
    out = {m: str(base / m) for m in MODELS}
    quiet = dict(epochs=2, devices='cpu', verbose=False)
    run_mf(data_dir=ml_dir, num_factors=5, split='random', out=out['mf'],
           **quiet)
    run_autorec(data_dir=ml_dir, num_hiddens=8, variant='item',
                out=out['autorec_item'], **quiet)
    run_ranking(data_dir=checker_dir, model='neumf', num_test_negatives=20,
                out=out['neumf'], **quiet)
    return out


@pytest.fixture
def client_of():
    """``client_of(app)``: a started FastAPI test client, closed (and the
    app shut down) at the end of the test."""
    for module in ('fastapi', 'fastapi_offline', 'httpx'):
        pytest.importorskip(module, reason='the serve extra is not installed')
    from fastapi.testclient import TestClient
    opened = []

    def start(app):
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return client
    yield start
    for client in reversed(opened):
        client.__exit__(None, None, None)


def create_app(*args, **kwargs):
    from d2l_recsys.serving.app import create_app as create
    return create(*args, **kwargs)


# --------------------------------------------------------------------------
# What a pickle looks like
# --------------------------------------------------------------------------
class _Global(Exception):
    """Raised by ``_NoGlobals`` where an unpickler would import a name."""


class _NoGlobals(pickle.Unpickler):
    """An unpickler that builds nothing but plain data: any reference to a
    class or function (the way a pickle runs code) raises ``_Global``."""

    def find_class(self, module, name):
        raise _Global(f'{module}.{name}')


def pickle_evidence(data):
    """Why ``data`` (bytes) is a pickle, or None when it is not one.

    Three tests: the protocol 2+ header (``\\x80`` and the protocol byte);
    ``pickletools.genops`` reading the whole of ``data`` as opcodes that
    end in STOP (any protocol: 0 and 1 have no header; nothing is
    executed); and ``pickle.loads`` with every global refused (it reads a
    pickle followed by other bytes too).
    """
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return f'protocol {data[1]} header'
    try:
        ops = list(pickletools.genops(io.BytesIO(data)))
    except Exception:       # an unknown opcode or a truncated argument
        ops = []
    if ops and ops[-1][0].name == 'STOP' and ops[-1][2] == len(data) - 1:
        return f'{len(ops)} pickle opcodes, the last a STOP'
    try:
        _NoGlobals(io.BytesIO(data)).load()
    except _Global as e:
        return f'an unpickler asked for {e}'
    except Exception:
        return None
    return 'pickle.loads reads it'


class _WritesMarker:
    """Pickled, it is a file that creates ``path`` when unpickled: what a
    stranger's ``trainer-*.states`` could do instead."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


@pytest.mark.parametrize('protocol', range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_evidence_finds_every_protocol(protocol, tmp_path):
    for obj in ({'a': [1, 2.5, 'x']}, onp.arange(3), None,
                _WritesMarker(str(tmp_path / 'never'))):
        data = pickle.dumps(obj, protocol=protocol)
        assert pickle_evidence(data), obj
        assert pickle_evidence(data + b'\n{"more": 1}\n'), obj
    assert not (tmp_path / 'never').exists()
    npz, npy = io.BytesIO(), io.BytesIO()
    onp.savez(npz, a=onp.arange(5), b=onp.ones((2, 3), onp.float32))
    onp.save(npy, onp.arange(5))
    mx.npx.save(str(tmp_path / 'x.params'), {'w': mx.np.ones((2, 3))})
    for data in (b'{"a": 1}\n', b'[1, 2]', b'', npz.getvalue(),
                 npy.getvalue(), (tmp_path / 'x.params').read_bytes()):
        assert pickle_evidence(data) is None, data[:20]


# --------------------------------------------------------------------------
# Serving never reads trainer states
# --------------------------------------------------------------------------
def refuse_unpickling(monkeypatch):
    """From now until ``monkeypatch`` undoes it, every way into the
    unpickler (``pickle.load``, ``loads``, ``Unpickler``: Gluon's
    ``load_states`` and numpy's ``allow_pickle`` go through them) raises;
    returns the list of the calls made."""
    calls = []

    def refuse(name):
        def call(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f'pickle.{name} called while serving')
        return call
    for name in ('load', 'loads', 'Unpickler'):
        monkeypatch.setattr(pickle, name, refuse(name))
    return calls


def poison_checkpoint(folder, marker):
    """Replace every file of ``folder/checkpoint/`` but ``state.json``
    (trainer states, parameters) by a pickle that creates ``marker`` when
    unpickled; returns the files replaced."""
    ckpt = os.path.join(folder, 'checkpoint')
    names = sorted(n for n in os.listdir(ckpt) if n != 'state.json')
    for name in names:
        with open(os.path.join(ckpt, name), 'wb') as f:
            pickle.dump(_WritesMarker(marker), f)
    return names


@pytest.mark.parametrize('model', MODELS)
def test_serving_never_reads_trainer_states(runs, model, tmp_path,
                                            client_of, monkeypatch):
    folder = str(tmp_path / 'run')
    shutil.copytree(runs[model], folder)
    marker = tmp_path / 'unpickled'
    poisoned = poison_checkpoint(folder, str(marker))
    assert any(n.startswith('trainer-') and n.endswith('.states')
               for n in poisoned), poisoned
    # The trap is armed: resuming (Gluon's load_states) runs such a file.
    armed = tmp_path / 'armed'
    with open(tmp_path / 'other.states', 'wb') as f:
        pickle.dump(_WritesMarker(str(armed)), f)
    net = mx.gluon.nn.Dense(1, in_units=2)
    net.initialize()
    trainer = mx.gluon.Trainer(net.collect_params(), 'adam')
    with contextlib.suppress(Exception):
        trainer.load_states(str(tmp_path / 'other.states'))
    assert armed.exists()

    clean = load_predictor(runs[model])
    with monkeypatch.context() as m:
        calls = refuse_unpickling(m)
        pred = load_predictor(folder)
        write_export(pred, str(tmp_path / 'export'))
        served = {'run': client_of(create_app(model_dir=folder)),
                  'export': client_of(create_app(
                      model_dir=str(tmp_path / 'export')))}
        user = int(clean.user_ids[clean.known_users][0])
        pairs = [[int(u), int(i)] for u in clean.user_ids[:5]
                 for i in clean.item_ids]
        for kind, client in served.items():
            assert client.get('/health').json()['run']['kind'] == kind
            recs = client.post('/recommend', json={'user': user, 'k': 5})
            assert recs.status_code == 200, recs.text
            assert [r['item'] for r in recs.json()['items']] == \
                [r['item'] for r in clean.recommend(user, 5)]
            got = client.post('/predict', json={'pairs': pairs}).json()
            want = clean.predict(*zip(*pairs))[0]
            assert [None if w != w else float(w) for w in want] == \
                got['predictions']
        pairs_csv = tmp_path / 'pairs.csv'
        pairs_csv.write_text('user,item\n' + ''.join(
            f'{u},{i}\n' for u, i in pairs))
        for source in (folder, str(tmp_path / 'export')):
            p = load_predictor(source)
            write_all_recommendations(p, str(tmp_path / 'all.csv'), 3,
                                      quiet=True)
            predict_file(p, str(pairs_csv), str(tmp_path / 'scored.csv'))
    assert calls == [] and not marker.exists()


# --------------------------------------------------------------------------
# An export holds no pickle
# --------------------------------------------------------------------------
MXNET_NDARRAY_LIST = 0x112       # the first 8 bytes of an NDArray file


def file_kind(path):
    """What an export's file is, from its content: ``'json'``,
    ``'symbol'`` (MXNet's graph JSON), ``'ndarray'`` (MXNet's binary
    NDArray list) or ``'npz'`` (a zip of ``.npy`` arrays); AssertionError
    for anything else."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] == struct.pack('<Q', MXNET_NDARRAY_LIST):
        arrays = mx.npx.load(path)
        assert arrays and all(isinstance(a, mx.np.ndarray)
                              for a in arrays.values()), path
        return 'ndarray'
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                member = z.read(name)
                assert name.endswith('.npy') and \
                    member.startswith(b'\x93NUMPY'), (path, name)
        # an object array's .npy is a pickle after its header: numpy
        # refuses to read one without allow_pickle
        with onp.load(path, allow_pickle=False) as arrays:
            for name in arrays.files:
                assert arrays[name].dtype != object, (path, name)
        return 'npz'
    doc = json.loads(data.decode('utf-8'))
    if isinstance(doc, dict) and {'nodes', 'arg_nodes', 'heads'} <= set(doc):
        return 'symbol'
    return 'json'


EXPORT_FILES = {'export.json': 'json', 'ids.json': 'json',
                'titles.json': 'json', 'model-symbol.json': 'symbol',
                'model-0000.params': 'ndarray', 'interactions.npz': 'npz'}


@pytest.mark.parametrize('model', MODELS)
def test_an_export_holds_no_pickle(runs, model, tmp_path):
    out = tmp_path / 'export'
    write_export(load_predictor(runs[model]), str(out))
    found = {}
    for root, dirs, files in os.walk(out):
        assert not dirs, dirs
        for name in files:
            path = os.path.join(root, name)
            with open(path, 'rb') as f:
                evidence = pickle_evidence(f.read())
            assert evidence is None, f'{name}: {evidence}'
            found[name] = file_kind(path)
    assert found == EXPORT_FILES


# --------------------------------------------------------------------------
# The served folder removed or replaced while the service runs
# --------------------------------------------------------------------------
def requests_of(pred):
    """Every request worth asking: each known user's top 5, an unknown
    user's cold start, and every (user, item) pair with unknown ids."""
    users = [int(u) for u in pred.user_ids[pred.known_users]]
    items = [int(i) for i in pred.item_ids]
    recommend = [{'user': u, 'k': 5} for u in users] + \
        [{'user': 10 ** 6, 'k': 5, 'cold_start': 'popular'}]
    pairs = [[u, i] for u in users + [10 ** 6] for i in items + [10 ** 6]]
    return recommend, pairs


def answers(client, recommend, pairs):
    out = [client.post('/recommend', json=body) for body in recommend]
    out.append(client.post('/predict', json={'pairs': pairs}))
    assert all(r.status_code == 200 for r in out), \
        [r.text for r in out if r.status_code != 200][:1]
    return [r.json() for r in out]


@pytest.mark.parametrize('kind', ['run', 'export'])
@pytest.mark.parametrize('change', ['remove', 'replace'])
@pytest.mark.parametrize('model, other', [('autorec_item', 'neumf'),
                                          ('mf', 'autorec_item'),
                                          ('neumf', 'mf')])
def test_the_service_keeps_the_model_it_loaded(runs, tmp_path, client_of,
                                               kind, change, model, other):
    """Two apps load the folder; the second answers nothing before the
    folder and the run's data are gone (or hold another run's files: its
    model, ids, titles and ratings), then answers exactly as the first did
    before."""
    def data_of(name):
        return read_run(runs[name])['config']['data_dir']
    data, folder = str(tmp_path / 'data'), str(tmp_path / 'served')
    shutil.copytree(data_of(model), data)
    if kind == 'run':
        shutil.copytree(runs[model], folder)
        replacement = runs[other]
    else:
        write_export(load_predictor(runs[model]), folder)
        replacement = str(tmp_path / 'other-export')
        write_export(load_predictor(runs[other]), replacement)
    load = dict(model_dir=folder, data_dir=data if kind == 'run' else None)
    before = client_of(create_app(**load))
    recommend, pairs = requests_of(before.app.state.predictor)
    want = answers(before, recommend, pairs)
    health = before.get('/health').json()
    assert health['run']['folder'] == folder and \
        health['run']['kind'] == kind

    served = client_of(create_app(**load))
    assert served.get('/health').json() == health
    shutil.rmtree(folder)
    shutil.rmtree(data)
    if change == 'replace':
        shutil.copytree(replacement, folder)
        shutil.copytree(data_of(other), data)
        fresh = client_of(create_app(**load))
        assert fresh.get('/health').json()['run']['entry'] != \
            health['run']['entry']
        assert answers(fresh, recommend[:1], pairs)[0] != want[0]
    assert answers(served, recommend, pairs) == want
    assert served.get('/health').json() == health


# --------------------------------------------------------------------------
# /health names the run
# --------------------------------------------------------------------------
def expected_hash(folder):
    """The config hash written out from ``run.json``: SHA-256 of the
    canonical JSON of its entry and configuration, ``out`` and ``resume``
    cleared, 16 hex digits."""
    stored = read_run(folder)
    text = json.dumps(dict(entry=stored['entry'], config=dict(
        stored['config'], out=None, resume=None)), sort_keys=True,
        separators=(',', ':'))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_health_names_the_run(runs, tmp_path, client_of):
    hashes = set()
    for model in MODELS:
        stored = read_run(runs[model])
        export = str(tmp_path / model)
        write_export(load_predictor(runs[model]), export)
        for kind, folder in (('run', runs[model]), ('export', export)):
            health = client_of(create_app(model_dir=folder)).get(
                '/health').json()
            assert health['run'] == {
                'folder': os.path.abspath(folder), 'kind': kind,
                'entry': stored['entry'],
                'config_hash': expected_hash(runs[model])}, (model, kind)
        hashes.add(health['run']['config_hash'])
    assert len(hashes) == len(MODELS)
    # a predictor handed over in code has no folder
    pred = load_predictor(runs['mf'])
    pred.source = None
    run = client_of(create_app(pred)).get('/health').json()['run']
    assert run == {'folder': None, 'kind': None, 'entry': 'mf',
                   'config_hash': expected_hash(runs['mf'])}
