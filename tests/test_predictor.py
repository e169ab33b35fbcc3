"""Serving without the service: recommendations and batch predictions
from saved runs of every model (the predictor and the recommend and
predict scripts), its exports (loaded by MXNet alone, needing no
MovieLens) and a serving process that loads no training module."""
import json
import os
import subprocess
import sys

import numpy as onp
import pytest
from mxnet import np
from serving_helpers import MODELS, ROOT, script

from d2l_recsys import data as D
from d2l_recsys.run_folder import load_model, read_run
from d2l_recsys.serving import load_predictor, top_k_rows, write_export


@pytest.fixture(scope='module')
def runs(serving_runs):
    """A run folder per model, 2 epochs each (conftest's
    ``serving_runs``)."""
    return serving_runs


def rated(folder, user):
    """Every item ``user`` rated in a fixture folder's u.data."""
    rows = onp.loadtxt(os.path.join(folder, 'u.data'), dtype=int)
    return set(rows[rows[:, 0] == user, 1].tolist())


# --------------------------------------------------------------------------
# Recommendations
# --------------------------------------------------------------------------
@pytest.mark.parametrize('model', MODELS)
def test_recommend_every_model(runs, ml_dir, checker_dir, model):
    code, out, err = script('recommend.py', '--model-dir', runs[model],
                            '--user', 3, '-k', 5)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == 'top 5 for user 3:' and len(lines) == 6
    folder = checker_dir if model in ('gmf', 'neumf', 'itempop') else ml_dir
    shown = [int(line.split('(item ')[1].split(',')[0]) for line in lines[1:]]
    titles = [line.split('. ', 1)[1].split('  (item')[0] for line in lines[1:]]
    assert len(set(shown)) == 5 and not set(shown) & rated(folder, 3)
    assert all(t.startswith(('Film', 'Movie')) for t in titles)
    assert all(line.startswith(f'{r:3d}. ')
               for r, line in enumerate(lines[1:], 1))


def test_scores_match_the_saved_networks(runs, ml_dir):
    """The predictor's fast paths (numpy products for MF/GMF, cached and
    uncached AutoRec reconstructions) give the networks' own outputs."""
    for model in ('mf', 'gmf', 'neumf', 'itempop'):
        pred = load_predictor(runs[model])
        net = load_model(runs[model])[0]
        net.hybridize()
        u = onp.repeat(onp.arange(pred.num_users), pred.num_items)
        i = onp.tile(onp.arange(pred.num_items), pred.num_users)
        want = net(np.array(u, dtype='int32'),
                   np.array(i, dtype='int32')).asnumpy()
        ok = pred.known_users[u] & pred.known_items[i]
        got, unknown = pred.predict(pred.user_ids[u], pred.item_ids[i])
        assert unknown == (~ok).sum() and onp.isnan(got[~ok]).all()
        onp.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=1e-6)
    for variant in ('item', 'user'):
        run = runs[f'autorec_{variant}']
        opts = read_run(run)['config']
        train, _, num_users, num_items = D.rating_split(
            ml_dir, split=opts['split'], test_ratio=opts['test_ratio'],
            seed=opts['seed'])
        mat = D.interaction_matrix(train, num_users, num_items,
                                   transpose=variant == 'user')
        full = load_model(run)[0](np.array(mat)).asnumpy()
        full = full.T if variant == 'item' else full      # users x items
        for cache in (1 << 30, 0):
            pred = load_predictor(run, cache_bytes=cache)
            u, i = onp.nonzero(onp.ones((num_users, num_items), bool))
            got, _ = pred.predict(pred.user_ids[u], pred.item_ids[i])
            ok = ~onp.isnan(got)
            onp.testing.assert_allclose(got[ok], full[u[ok], i[ok]],
                                        rtol=1e-5, atol=1e-6)
            onp.testing.assert_allclose(pred.scorer.rows([2, 0]),
                                        full[[2, 0]], rtol=1e-5, atol=1e-6)


def test_exclusion_and_unknown_items(runs):
    pred = load_predictor(runs['neumf'])
    users = onp.arange(pred.num_users)
    for exclude, banned in (('train', [pred.train]),
                            ('rated', [pred.train, pred.heldout])):
        items, scores = pred.top_items(users, 10, exclude)
        for u in users:
            for part in banned:
                assert not set(items[u]) & set(part.row(u)[0].tolist())
            assert pred.known_items[items[u][onp.isfinite(scores[u])]].all()
    # the held-out item comes back when only training items are left out
    items = pred.top_items(users, pred.num_items, 'train')[0]
    assert any(set(pred.heldout.row(u)[0]) & set(items[u]) for u in users)


def test_unknown_user_exit_2_one_line(runs):
    p = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts',
                                                     'recommend.py'),
                        '--model-dir', runs['mf'], '--user', '999'],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and 'unknown user 999' in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not p.stdout


def test_cold_start_popular(runs):
    code, out, err = script('recommend.py', '--model-dir', runs['gmf'],
                            '--user', 999, '-k', 4, '--cold-start', 'popular')
    assert code == 0, err
    lines = out.strip().splitlines()
    assert 'cold start' in lines[0] and lines[1] == 'top 4 for user 999:'
    pred = load_predictor(runs['gmf'])
    recs = pred.recommend(999, 4, cold_start='popular')
    assert not pred.knows_user(999)
    assert [r['score'] for r in recs] == \
        sorted(pred.popularity.astype(float), reverse=True)[:4]
    with pytest.raises(ValueError, match='unknown user 999'):
        pred.recommend(999, 4)
    with pytest.raises(ValueError, match='catalogue'):
        pred.recommend(3, pred.num_items + 1)


@pytest.mark.parametrize('shape, k, levels', [
    ((50, 30), 7, 4),           # k close to the width: a plain sort
    ((40, 3001), 5, 60),        # block maxima, many ties at the cut
    ((40, 3001), 5, None),      # block maxima, continuous scores
])
def test_top_k_rows_is_a_stable_sort(shape, k, levels):
    rng = onp.random.default_rng(0)
    scores = (rng.integers(0, levels, shape) if levels else
              rng.standard_normal(shape)).astype(onp.float32)
    scores[rng.random(shape) < 0.3] = -onp.inf
    scores[0, 3:] = -onp.inf                        # fewer than k left
    items, values = top_k_rows(scores.copy(), k)
    want = onp.argsort(-scores, axis=1, kind='stable')[:, :k]
    assert (items == want).all()
    assert (values == onp.take_along_axis(scores, want, 1)).all()


def test_all_users_csv(runs, tmp_path):
    out = tmp_path / 'recs.csv'
    code, stdout, err = script('recommend.py', '--model-dir', runs['mf'],
                               '--all-users', '-k', 3, '--out', out)
    assert code == 0, err
    assert 'top-3:' in err and 'users/s' in err      # not a terminal: lines
    lines = out.read_text(encoding='utf-8').splitlines()
    assert lines[0] == 'user,rank,item,score,title'
    pred = load_predictor(runs['mf'])
    assert len(lines) == 1 + 3 * pred.num_users
    first = [line.split(',') for line in lines[1:4]]
    recs = pred.recommend(int(first[0][0]), 3)
    assert [int(f[2]) for f in first] == [r['item'] for r in recs]
    assert first[0][4] == recs[0]['title']
    code, _, err = script('recommend.py', '--model-dir', runs['mf'],
                          '--all-users', '--out', out, '--quiet')
    assert code == 0 and err == ''


# --------------------------------------------------------------------------
# Batch predictions
# --------------------------------------------------------------------------
def test_predict_script(runs, tmp_path):
    pairs = tmp_path / 'pairs.csv'
    pairs.write_text('user,item,note\n3,5,a\n999,1,b\n1,2,c\n\n7,8,d\n')
    out = tmp_path / 'out.csv'
    code, stdout, err = script('predict.py', '--model-dir', runs['mf'],
                               '--pairs', pairs, '--out', out)
    assert code == 0, err
    assert '4 pairs scored, 1 with an unknown' in stdout
    rows = [line.split(',') for line in out.read_text().splitlines()]
    assert rows[0] == ['user', 'item', 'note', 'prediction']
    assert [r[2] for r in rows[1:]] == ['a', 'b', 'c', 'd']
    want, unknown = load_predictor(runs['mf']).predict([3, 999, 1, 7],
                                                       [5, 1, 2, 8])
    assert unknown == 1 and rows[2][3] == ''
    got = [float(r[3]) for r in rows[1:] if r[3]]
    onp.testing.assert_allclose(got, want[~onp.isnan(want)], rtol=1e-5)


@pytest.mark.parametrize('text, needle', [
    ('user,movie\n1,2\n', 'line 1'),
    ('user,item\n1,2\n3,x\n', 'line 3'),
    ('user,item\n1,2.5\n', 'line 2'),
    ('', 'line 1'),
])
def test_predict_bad_file_one_line_exit_2(runs, tmp_path, text, needle):
    pairs = tmp_path / 'pairs.csv'
    pairs.write_text(text)
    code, _, err = script('predict.py', '--model-dir', runs['mf'],
                          '--pairs', pairs, '--out', tmp_path / 'o.csv')
    assert code == 2 and needle in err and str(pairs) in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / 'o.csv').exists()


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------
STANDALONE = r'''
import json, sys
import mxnet as mx
import numpy as onp
mx.npx.set_np()
out = {}
for name, folder in json.loads(sys.argv[1]).items():
    info = json.load(open(folder + '/export.json'))
    net = mx.gluon.SymbolBlock.imports(folder + '/model-symbol.json',
                                       info['inputs'],
                                       folder + '/model-0000.params')
    inputs = [mx.np.array(x, dtype=x.dtype) for x in
              onp.load(folder + '-inputs.npz').values()]
    out[name] = net(*inputs).asnumpy().tolist()
assert not any(m == 'd2l_recsys' or m.startswith('d2l_recsys.')
               for m in sys.modules)
print(json.dumps(out))
'''


def test_export_loads_with_mxnet_alone(runs, tmp_path):
    folders, want = {}, {}
    for model in ('mf', 'autorec_item', 'neumf'):
        folder = str(tmp_path / model)
        pred = load_predictor(runs[model])
        write_export(pred, folder)
        net = load_model(runs[model])[0]
        if model == 'autorec_item':
            inputs = [pred.train.transpose().dense_rows(
                onp.arange(pred.num_items))]
        else:
            inputs = [onp.repeat(onp.arange(pred.num_users),
                                 pred.num_items).astype(onp.int32),
                      onp.tile(onp.arange(pred.num_items),
                               pred.num_users).astype(onp.int32)]
        onp.savez(folder + '-inputs.npz', *inputs)
        want[model] = net(*[np.array(x, dtype=x.dtype)
                            for x in inputs]).asnumpy()
        folders[model] = folder
    p = subprocess.run([sys.executable, '-c', STANDALONE,
                        json.dumps(folders)], capture_output=True, text=True,
                       timeout=120, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    for model in folders:
        onp.testing.assert_allclose(onp.array(got[model]), want[model],
                                    rtol=1e-5, atol=1e-5)


def test_predictor_from_export_needs_no_movielens(runs, tmp_path,
                                                  monkeypatch):
    before = {m: load_predictor(runs[m]) for m in MODELS}
    for m in MODELS:
        write_export(before[m], str(tmp_path / m))

    def no_data(*args, **kwargs):
        raise AssertionError('an export must not read MovieLens')
    # every materialized spec reads its ratings through _train_test
    monkeypatch.setattr('d2l_recsys.data.spec._train_test', no_data)
    for m in MODELS:
        a, b = before[m], load_predictor(str(tmp_path / m))
        users = onp.r_[a.user_ids, 999]
        assert [a.recommend(u, 5, 'popular') for u in users] == \
            [b.recommend(u, 5, 'popular') for u in users]
        u = onp.repeat(a.user_ids, a.num_items)
        i = onp.tile(a.item_ids, a.num_users)
        onp.testing.assert_array_equal(a.predict(u, i)[0],
                                       b.predict(u, i)[0])
    # an export replaces an older one only when asked; other folders are
    # refused either way
    with pytest.raises(ValueError, match='already holds an export'):
        write_export(before['mf'], str(tmp_path / 'gmf'))
    assert load_predictor(str(tmp_path / 'gmf')).model == 'GMF'
    write_export(before['mf'], str(tmp_path / 'gmf'), overwrite=True)
    assert load_predictor(str(tmp_path / 'gmf')).model == 'MF'
    (tmp_path / 'other').mkdir()
    (tmp_path / 'other' / 'notes.txt').write_text('mine')
    for overwrite in (False, True):
        with pytest.raises(ValueError, match='not an export folder|'
                                             'already holds other files'):
            write_export(before['mf'], str(tmp_path / 'other'), overwrite)
    assert (tmp_path / 'other' / 'notes.txt').read_text() == 'mine'


def test_serving_never_imports_training(runs):
    """A process that serves a saved run (the app, the predictor, its
    scores) loads no training module: not the loop, runs, callbacks,
    tuning or the report."""
    code = ("import sys\n"
            "from d2l_recsys.serving import load_predictor\n"
            "from d2l_recsys.serving.app import create_app\n"
            f"p = load_predictor({runs['neumf']!r})\n"
            "create_app(p); p.recommend(int(p.user_ids[0]), 3)\n"
            "print(' '.join(sorted(m for m in sys.modules\n"
            "                      if m.startswith('d2l_recsys.'))))\n")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    loaded = r.stdout.split()
    assert 'd2l_recsys.serving.app' in loaded
    training = ('train', 'runs', 'callbacks', 'tuning', 'reproduction',
                'tuned', 'report', 'commands')
    assert not [m for m in loaded if m.split('.')[1] in training], loaded
