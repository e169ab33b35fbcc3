"""Serving: predictor, scripts, export and the HTTP service, on tiny runs
trained on the synthetic fixtures."""
import contextlib
import glob
import hashlib
import io
import json
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as onp
import pytest
from conftest import LineReader, alive
from mxnet import np

import d2l_recsys
from d2l_recsys import data as D
from d2l_recsys.runs import run, run_autorec, run_mf, run_ranking
from d2l_recsys.run_folder import load_model, read_run
from d2l_recsys.serving import load_predictor, top_k_rows, write_export

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ['mf', 'autorec_item', 'autorec_user', 'gmf', 'neumf', 'itempop',
          'caser']


@pytest.fixture(scope='module')
def runs(ml_dir, checker_dir, tmp_path_factory):
    """A run folder per model, 2 epochs each."""
    base = tmp_path_factory.mktemp('runs')
    out = {m: str(base / m) for m in MODELS}
    quiet = dict(epochs=2, devices='cpu', verbose=False)
    run_mf(data_dir=ml_dir, num_factors=5, split='random',
           out=out['mf'], **quiet)
    for variant in ('item', 'user'):
        run_autorec(data_dir=ml_dir, num_hiddens=8, variant=variant,
                    out=out[f'autorec_{variant}'], **quiet)
    for model in ('gmf', 'neumf', 'itempop'):
        run_ranking(data_dir=checker_dir, model=model, num_test_negatives=20,
                    out=out[model], **quiet)
    run('caser', data_dir=ml_dir, top_k=5, out=out['caser'], **quiet)
    return out


def rated(folder, user):
    """Every item ``user`` rated in a fixture folder's u.data."""
    rows = onp.loadtxt(os.path.join(folder, 'u.data'), dtype=int)
    return set(rows[rows[:, 0] == user, 1].tolist())


def script(name, *args):
    """Run ``scripts/name`` in this process: ``(exit code, stdout,
    stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = [name, *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            module = runpy.run_path(os.path.join(ROOT, 'scripts', name))
            code = module['main']()
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


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


# --------------------------------------------------------------------------
# The HTTP service
# --------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def post(url, body):
    """``(status, JSON answer)`` of a POST with a raw body (no proxy)."""
    req = urllib.request.Request(url, data=body.encode(), method='POST',
                                 headers={'Content-Type': 'application/json'})
    try:
        with DIRECT.open(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def children(pid):
    """Pids whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            fields = open(stat).read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.split('/')[2]))
    return out


def wait_gone(pids, seconds):
    """The pids still running after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while [p for p in pids if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def test_service(runs, tmp_path):
    for module in ('fastapi', 'uvicorn'):
        pytest.importorskip(module, reason='the serve extra is not installed')
    port = free_port()
    url = f'http://127.0.0.1:{port}'
    log = open(tmp_path / 'serve.log', 'w')
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, 'scripts', 'serve.py'),
         '--model-dir', runs['mf'], '--port', str(port), '--workers', '2'],
        stdout=subprocess.PIPE, stderr=log, text=True)
    workers = []
    try:
        line = LineReader(proc.stdout).wait_for(
            lambda line: line.startswith('serving'), 90)
        assert line == f'serving {url}\n', \
            (tmp_path / 'serve.log').read_text()
        workers = children(proc.pid)
        status, body = post(url + '/recommend', '{"user": 3, "k": 10}')
        assert status == 200 and len(body['items']) == 10
        assert not {r['item'] for r in body['items']} & \
            set(load_predictor(runs['mf']).train.row(2)[0] + 1)
        assert body['items'][0]['title'].startswith('Film')
        bad = ['{"user": 3, "k": ', '{"k": 3}', '{"user": 999}',
               '{"user": 3, "k": 0}', '{"user": 3, "k": 100000}',
               '{"user": "x"}', '{"pairs": [[1]]}', '{"user": 1e400}',
               '{"user": 100000000000000000000000}', '{"user": NaN}']
        for body in bad:
            status, answer = post(url + '/recommend', body)
            assert 400 <= status < 500 and answer['detail'], body
        assert post(url + '/recommend', '{"user": 999}')[0] == 404
        status, body = post(url + '/recommend',
                            '{"user": 999, "cold_start": "popular"}')
        assert status == 200 and body['cold_start']
        pred = load_predictor(runs['mf'])
        users = [3, 999, 1, 7, 40, 3]
        items = [5, 1, 2, 60, 7, 999]
        status, body = post(url + '/predict', json.dumps(
            {'pairs': [list(p) for p in zip(users, items)]}))
        want, unknown = pred.predict(users, items)
        assert status == 200 and body['unknown'] == unknown >= 2
        got = onp.array([onp.nan if p is None else p
                         for p in body['predictions']])
        assert onp.isnan(got[[1, 5]]).all()
        onp.testing.assert_allclose(got, want, rtol=1e-6)   # NaNs aligned
        with DIRECT.open(url + '/health', timeout=10) as r:
            health = json.loads(r.read())
        assert health.pop('pid') in workers
        stored = read_run(runs['mf'])
        definition = json.dumps(dict(entry=stored['entry'], config=dict(
            stored['config'], out=None, resume=None)), sort_keys=True,
            separators=(',', ':'))
        assert health == {'status': 'ok', 'model': 'MF',
                          'users': int(pred.known_users.sum()),
                          'items': pred.num_items,
                          'version': d2l_recsys.__version__,
                          'run': {'folder': os.path.abspath(runs['mf']),
                                  'kind': 'run', 'entry': 'mf',
                                  'config_hash': hashlib.sha256(
                                      definition.encode()).hexdigest()[:16]}}
        assert post(url + '/recommend', '{"user": 5, "k": 3}')[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        # the workers are joined before the exit; multiprocessing's resource
        # tracker leaves when it sees its parent gone, a moment later
        assert len(workers) >= 2 and not wait_gone(workers, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for w in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w, signal.SIGKILL)
        log.close()


@pytest.fixture
def client(runs):
    """A test client of the service over the MF run."""
    for module in ('fastapi', 'fastapi_offline', 'httpx'):
        pytest.importorskip(module, reason='the serve extra is not installed')
    from fastapi.testclient import TestClient

    from d2l_recsys.serving.app import create_app
    with TestClient(create_app(load_predictor(runs['mf']))) as c:
        yield c


@pytest.mark.parametrize('page, assets', [
    ('/docs', {'swagger-ui-bundle.js': 'javascript',
               'swagger-ui.css': 'text/css', 'favicon.png': 'image/png'}),
    ('/redoc', {'redoc.standalone.js': 'javascript',
                'favicon.png': 'image/png'})])
def test_docs_pages_need_no_network(client, page, assets):
    html = client.get(page)
    assert html.status_code == 200 and 'text/html' in \
        html.headers['content-type']
    assert 'http' not in html.text           # no CDN, no web fonts
    urls = re.findall(r'(?:src|href|spec-url)="([^"]*)"', html.text)
    urls += re.findall(r"url: '([^']*)'", html.text)
    assert urls and all(u.startswith('/') and not u.startswith('//')
                        for u in urls), urls
    assert '/openapi.json' in urls
    assert sorted(u.rsplit('/', 1)[1] for u in urls
                  if u != '/openapi.json') == sorted(assets)
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, url
        name = url.rsplit('/', 1)[1]
        if name in assets:
            assert assets[name] in r.headers['content-type'], url
            assert len(r.content) > 1000, url
    script = [u for u in urls if u.endswith('.js')][0]
    assert ('SwaggerUIBundle' if page == '/docs' else 'Redoc') in \
        client.get(script).text


def test_openapi_documents_models_and_errors(client):
    spec = client.get('/openapi.json').json()
    assert spec['info']['version'] == d2l_recsys.__version__
    paths = spec['paths']
    assert set(paths) == {'/health', '/recommend', '/predict'}

    def ref(response):
        return response['content']['application/json']['schema']['$ref'] \
            .rsplit('/', 1)[1]
    wanted = {('/health', 'get'): {'200': 'Health'},
              ('/recommend', 'post'): {'200': 'Recommendations',
                                       '400': 'Error', '404': 'Error',
                                       '422': 'InvalidRequest'},
              ('/predict', 'post'): {'200': 'Predictions', '400': 'Error',
                                     '422': 'InvalidRequest'}}
    for (path, method), responses in wanted.items():
        got = paths[path][method]['responses']
        assert {code: ref(r) for code, r in got.items()} == responses
    schemas = spec['components']['schemas']
    assert schemas['Error']['properties'] == {
        'detail': {'title': 'Detail', 'type': 'string'}}
    assert set(schemas['Health']['properties']) == {
        'status', 'pid', 'model', 'users', 'items', 'version', 'run'}
    assert schemas['Health']['properties']['run']['$ref'] \
        .endswith('/ServedRun')
    assert set(schemas['ServedRun']['properties']) == {
        'folder', 'kind', 'entry', 'config_hash'}
    assert all(p['description'] for p in
               schemas['ServedRun']['properties'].values())
    user = schemas['RecommendRequest']['properties']['user']['anyOf']
    assert {s['type'] for s in user} == {'integer', 'string'}
    assert [s['maxLength'] for s in user if s['type'] == 'string'] == [200]
    # the documented 422 body is the one the service sends
    answer = client.post('/recommend', json={'user': []}).json()
    assert set(answer) == {'detail'} and \
        set(answer['detail'][0]) == set(schemas['FieldError']['properties'])


class StringIds:
    """A stand-in predictor whose ids are strings, as users' own data may
    have them: the service must pass them through untouched."""
    model, num_items = 'Stub', 20
    user_ids = onp.array(['alice', 'bob'])
    known_users = onp.array([True, True])

    def knows_user(self, user):
        return user in self.user_ids

    def user_index(self, user):
        if not self.knows_user(user):
            raise ValueError(f'unknown user {user}')
        return list(self.user_ids).index(user)

    def recommend(self, user, k=10, cold_start=None):
        items = ['m9', 'm1', 'm5'] if self.knows_user(user) else ['m1']
        return [dict(rank=r + 1, item=i, title=f'Film {i}', score=3.0 - r)
                for r, i in enumerate(items[:k])]

    def predict(self, users, items):
        out = onp.array([len(u + i) if u in self.user_ids else onp.nan
                         for u, i in zip(users, items)], dtype=float)
        return out, int(onp.isnan(out).sum())


def test_ids_may_be_strings():
    for module in ('fastapi', 'fastapi_offline', 'httpx'):
        pytest.importorskip(module, reason='the serve extra is not installed')
    from fastapi.testclient import TestClient

    from d2l_recsys.serving.app import create_app
    with TestClient(create_app(StringIds())) as c:
        r = c.post('/recommend', json={'user': 'bob', 'k': 2})
        assert r.status_code == 200 and r.json() == {
            'user': 'bob', 'cold_start': False,
            'items': [{'item': 'm9', 'title': 'Film m9', 'score': 3.0},
                      {'item': 'm1', 'title': 'Film m1', 'score': 2.0}]}
        assert c.post('/recommend', json={'user': 'eve'}).status_code == 404
        r = c.post('/recommend', json={'user': 'eve',
                                       'cold_start': 'popular'})
        assert r.json()['user'] == 'eve' and r.json()['cold_start']
        r = c.post('/predict', json={'pairs': [['alice', 'm12'],
                                               ['eve', 'm1']]})
        assert r.json() == {'predictions': [8.0, None], 'unknown': 1}
        for bad in ('', 'x' * 201, 1.5, True, None):
            assert c.post('/recommend', json={'user': bad}).status_code \
                == 422, bad
        assert c.post('/recommend', json={'user': 'x' * 200}) \
            .status_code == 404


# --------------------------------------------------------------------------
# A sequence-aware model: recommendations after the caller's recent items
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def caser(runs, tmp_path_factory):
    """``(predictor, export folder, recent)`` of the Caser run, its weights
    drawn large (two epochs on tiny data leave them near their
    Normal(0.01) start, where the sequence barely moves a score) and
    exported; ``recent``: six known item ids, oldest first."""
    import mxnet as mx
    pred = load_predictor(runs['caser'])
    mx.random.seed(1)
    pred.net.initialize(mx.init.Normal(0.3), force_reinit=True)
    folder = str(tmp_path_factory.mktemp('caser') / 'export')
    pred.save(folder)
    known = pred.item_ids[pred.known_items]
    return pred, folder, [int(i) for i in known[[1, 7, 2, 30, 11, 4]]]


def test_recent_items_replace_the_users_latest(caser):
    pred, _, recent = caser
    assert pred.scorer.sequence_length == 5
    u = pred.user_index(3)
    latest = [int(i) for i in pred.item_ids[pred.state['latest'][u]]]
    assert pred.recommend(3, 8, recent=latest) == pred.recommend(3, 8)
    recs = pred.recommend(3, 8, recent=recent, exclude='train')
    assert [r['item'] for r in recs] != \
        [r['item'] for r in pred.recommend(3, 8, exclude='train')]
    # the network's own scores, the latest five given items its sequence
    seq = onp.searchsorted(pred.item_ids, recent[1:])
    items = onp.searchsorted(pred.item_ids, [r['item'] for r in recs])
    want = pred.net(np.array([u] * 8, dtype='int32'),
                    np.array(onp.tile(seq, (8, 1)), dtype='int32'),
                    np.array(items, dtype='int32')).asnumpy()
    onp.testing.assert_allclose([r['score'] for r in recs], want,
                                rtol=1e-5, atol=1e-5)
    # 'rated' leaves the given items out too; 'train' only training items
    everything = pred.num_items
    rated = {r['item'] for r in pred.recommend(3, everything, recent=recent)}
    assert rated and not rated & set(recent)
    trained = set(pred.item_ids[pred.train.row(u)[0]].tolist())
    shown = {r['item'] for r in pred.recommend(3, everything, recent=recent,
                                               exclude='train')}
    assert set(recent) - trained and set(recent) - trained <= shown
    # a cold start ignores them
    assert pred.recommend(999, 3, 'popular', recent=recent) == \
        pred.recommend(999, 3, 'popular')


def test_recent_items_refused_with_a_reason(caser, runs):
    pred, _, recent = caser
    with pytest.raises(ValueError, match=r'unknown items in recent: 9999, '
                       r'x \(not in the training data of this Caser'):
        pred.recommend(3, 5, recent=recent[:5] + [9999, 'x'])
    with pytest.raises(ValueError, match='reads the latest 5 items, got 4'):
        pred.recommend(3, 5, recent=recent[:4])
    with pytest.raises(ValueError, match='a list of item ids'):
        pred.recommend(3, 5, recent='1,2,3,4,5')
    with pytest.raises(ValueError, match='the MF model reads no sequence'):
        load_predictor(runs['mf']).recommend(3, 5, recent=recent)


def test_recommend_command_takes_recent_items(caser, tmp_path):
    pred, folder, recent = caser
    code, out, err = script('recommend.py', '--model-dir', folder, '--user',
                            3, '-k', 4, '--recent',
                            ','.join(map(str, recent)))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == ('top 4 for user 3 after items '
                        f"{', '.join(map(str, recent))}:")
    shown = [int(line.split('(item ')[1].split(',')[0]) for line in lines[1:]]
    assert shown == [r['item'] for r in pred.recommend(3, 4, recent=recent)]
    code, out, err = script('recommend.py', '--model-dir', folder, '--user',
                            3, '--recent', '9999,' + ','.join(
                                map(str, recent)))
    assert code == 2 and not out
    assert 'unknown items in recent: 9999 (' in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = script('recommend.py', '--model-dir', folder,
                          '--all-users', '--out', tmp_path / 'x.csv',
                          '--recent', '1,2,3,4,5')
    assert code == 2 and '--recent goes with --user' in err


def test_service_recommends_after_recent_items(caser, runs):
    for module in ('fastapi', 'fastapi_offline', 'httpx'):
        pytest.importorskip(module, reason='the serve extra is not installed')
    from fastapi.testclient import TestClient

    from d2l_recsys.serving.app import create_app
    pred, folder, recent = caser
    with TestClient(create_app(load_predictor(folder))) as c:
        r = c.post('/recommend', json={'user': 3, 'k': 4, 'recent': recent})
        assert r.status_code == 200, r.text
        want = pred.recommend(3, 4, recent=recent)
        assert [i['item'] for i in r.json()['items']] == \
            [w['item'] for w in want]
        r = c.post('/recommend', json={'user': 3, 'recent': [9999] + recent})
        assert r.status_code == 400 and \
            'unknown items in recent: 9999' in r.json()['detail']
        r = c.post('/recommend', json={'user': 3, 'recent': recent[:2]})
        assert r.status_code == 400 and 'got 2' in r.json()['detail']
        for bad in ([], '1,2,3,4,5', [1.5] * 5):
            assert c.post('/recommend', json={
                'user': 3, 'recent': bad}).status_code == 422, bad
        assert c.post('/recommend', json={'user': 3}).json() == \
            {'user': 3, 'cold_start': False, 'items': [
                {k: w[k] for k in ('item', 'title', 'score')}
                for w in pred.recommend(3, 10)]}
    with TestClient(create_app(load_predictor(runs['mf']))) as c:
        r = c.post('/recommend', json={'user': 3, 'recent': recent})
        assert r.status_code == 400 and 'reads no sequence' in \
            r.json()['detail']
