"""Every registered model, and a toy of each kind registered from outside
the package, through every generic path: train one epoch on tiny data,
score the saved run again (the same metric), recommend, export (the
symbol loads in plain MXNet) and answer ``/recommend`` from the service.
A model the registry gains is checked here with no change to this file
but, when its data is of a new shape, one more fixture."""
import json
import os

import mxnet as mx
import numpy as onp
import pytest

from d2l_recsys import registry
from d2l_recsys.runs import reevaluate, run
from d2l_recsys.serving import load_predictor, write_export

import toy_rating
import toymodel
from conftest import write_u_data

TOYS = (toy_rating.entry(), toymodel.entry())
# What a run of each kind needs on the tiny data: one epoch, small cut-offs
# where the protocol's defaults ask for more candidates than it holds.
TINY = dict(epochs=1, devices='cpu', batch_size=64, top_k=5,
            num_test_negatives=20)


@pytest.fixture(scope='module')
def tiny_dir(tmp_path_factory):
    """A MovieLens-format folder: u.data with distinct times per user,
    u.item with release dates and genres, u.user with demographics."""
    folder = tmp_path_factory.mktemp('conformance') / 'ml-100k'
    folder.mkdir()
    rng = onp.random.default_rng(0)
    rows = []
    for u in range(1, 41):
        items = rng.choice(80, size=12, replace=False) + 1
        for t, i in enumerate(items):
            rows.append((u, i, 1 + (u + i) % 5, 880000000 + 60 * t))
    write_u_data(folder / 'u.data', rows)
    with open(folder / 'u.item', 'w', encoding='latin-1') as f:
        for i in range(1, 81):
            genres = '|'.join('1' if (i + g) % 7 == 0 else '0'
                              for g in range(19))
            f.write(f'{i}|Movie {i} (199{i % 10})|01-Jan-199{i % 10}||'
                    f'http://x|{genres}\n')
    with open(folder / 'u.user', 'w', encoding='latin-1') as f:
        for u in range(1, 41):
            f.write(f"{u}|{18 + u}|{'MF'[u % 2]}|"
                    f"{['student', 'writer', 'other'][u % 3]}|{10000 + u}\n")
    return str(folder)


@pytest.fixture(params=sorted(registry.names()) +
                [t.name for t in TOYS])
def entry(request):
    toy = next((t for t in TOYS if t.name == request.param), None)
    if toy is None:
        yield registry.get(request.param)
        return
    registry.register(toy)
    yield toy
    registry.unregister(toy.name)


def _options(entry):
    fields = entry.config.__dataclass_fields__
    return {k: v for k, v in TINY.items() if k in fields}


def _metric(results, entry):
    key = entry.task.main_metric(entry.config(**_options(entry)))
    return key, results[key]


def test_every_model_goes_through_every_generic_path(entry, tiny_dir,
                                                     tmp_path):
    out = str(tmp_path / 'run')
    res = run(entry.name, verbose=False, out=out, data_dir=tiny_dir,
              **_options(entry))
    assert res['history'][-1]['epoch'] in (0, 1)
    key, value = _metric(res, entry)
    assert onp.isfinite(value)
    again = reevaluate(out)
    again = again[key] if isinstance(again, dict) else again
    assert again == pytest.approx(value, abs=1e-6)

    p = load_predictor(out)
    assert p.entry is entry
    user = int(p.user_ids[onp.flatnonzero(p.known_users)[0]])
    recs = p.recommend(user, 5)
    assert len(recs) == 5
    assert all(a['score'] >= b['score'] for a, b in zip(recs, recs[1:]))

    folder = str(tmp_path / 'export')
    write_export(p, folder)
    with open(os.path.join(folder, 'export.json')) as f:
        info = json.load(f)
    net = mx.gluon.SymbolBlock.imports(
        os.path.join(folder, 'model-symbol.json'), info['inputs'],
        os.path.join(folder, 'model-0000.params'))
    example = entry.task.example(p.net)
    wanted = [example[int(n[4:] or 0)] for n in info['inputs']]
    assert net(*wanted).shape[0] == 1
    exported = load_predictor(folder)
    assert [r['item'] for r in exported.recommend(user, 5)] == \
        [r['item'] for r in recs]

    from fastapi.testclient import TestClient
    from d2l_recsys.serving.app import create_app
    with TestClient(create_app(exported)) as client:
        answer = client.post('/recommend', json={'user': user, 'k': 5})
    assert answer.status_code == 200
    assert [r['item'] for r in answer.json()['items']] == \
        [r['item'] for r in recs]


def test_every_registered_model_has_a_task_and_a_search_space():
    for name in registry.names():
        entry = registry.get(name)
        assert entry.task.kind == entry.kind
        # (a model fitted by counting has nothing to search)
        assert entry.space or entry.from_counts, f'{name}: no search space'
