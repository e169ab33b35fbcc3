"""The registry is the one place a model is known: a model registered from
outside the package trains, re-evaluates, recommends, exports and serves
through the generic paths."""
import pytest

from d2l_recsys import registry
from d2l_recsys.runs import reevaluate, run
from d2l_recsys.serving import load_predictor, write_export

import toymodel


@pytest.fixture
def toy():
    entry = registry.register(toymodel.entry())
    yield entry
    registry.unregister(entry.name)


def test_a_registered_model_goes_through_every_generic_path(toy, checker_dir,
                                                            tmp_path):
    out = str(tmp_path / 'run')
    res = run('biases', data_dir=checker_dir, epochs=2, lr=0.05,
              num_test_negatives=20, top_k=5, devices='cpu', verbose=False,
              out=out)
    assert [h['epoch'] for h in res['history']] == [1, 2]
    assert res['history'][-1]['train_loss'] < res['history'][0]['train_loss']
    assert reevaluate(out)['hit_rate@5'] == pytest.approx(res['hit_rate@5'],
                                                          abs=1e-6)
    p = load_predictor(out)
    assert isinstance(p.net, toymodel.Biases) and p.entry is toy
    recs = p.recommend(1, 5)
    assert len(recs) == 5 and recs[0]['score'] >= recs[-1]['score']
    write_export(p, str(tmp_path / 'export'))
    exported = load_predictor(str(tmp_path / 'export'))
    assert [r['item'] for r in exported.recommend(1, 5)] == \
        [r['item'] for r in recs]
    from fastapi.testclient import TestClient
    from d2l_recsys.serving.app import create_app
    with TestClient(create_app(exported)) as client:
        answer = client.post('/recommend', json={'user': 1, 'k': 5}).json()
    assert [r['item'] for r in answer['items']] == [r['item'] for r in recs]


def test_names_are_unique_within_a_kind(toy):
    with pytest.raises(ValueError, match='taken'):
        registry.register(toymodel.entry())
    with pytest.raises(ValueError, match="model='nope': expected one of"):
        registry.get('nope')
    # 'mf' is the rating model, and the ranking dot-product MF's alias
    assert registry.get('mf').kind == 'rating'
    assert registry.get('mf', 'ranking').name == 'dmf'
