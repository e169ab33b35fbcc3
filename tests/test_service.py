"""The HTTP service (scripts/serve.py and the FastAPI app): requests,
errors, workers and their exit, the offline docs pages and the OpenAPI
document, string ids; and a sequence-aware model (Caser) recommending
after the caller's recent items, through the predictor, the recommend
script and the service."""
import contextlib
import glob
import hashlib
import json
import os
import re
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
from serving_helpers import ROOT, script

import d2l_recsys
from d2l_recsys.run_folder import read_run
from d2l_recsys.serving import load_predictor


@pytest.fixture(scope='module')
def runs(serving_runs):
    """A run folder per model, 2 epochs each (conftest's
    ``serving_runs``)."""
    return serving_runs


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
