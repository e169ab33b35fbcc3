"""docs/benchmarks.md is what bench/docs.py makes of the committed
bench/results/*.json, and every result file says how it was made."""
import ast
import glob
import importlib.util
import json
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, 'bench')
RESULTS = sorted(glob.glob(os.path.join(BENCH, 'results', '*.json')))


def bench_module(name):
    """A module of bench/ (not a package), loaded from its file."""
    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)      # for the modules it imports itself
    spec = importlib.util.spec_from_file_location(
        f'bench_{name}', os.path.join(BENCH, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_is_rendered_from_the_committed_results():
    docs = bench_module('docs')
    with open(docs.PAGE) as f:
        page = f.read()
    assert docs.render(docs.load()) == page, \
        'docs/benchmarks.md differs from bench/results/: python bench/docs.py'


@pytest.mark.parametrize('path', RESULTS, ids=os.path.basename)
def test_every_result_carries_its_provenance(path):
    fields = bench_module('harness').FIELDS
    with open(path) as f:
        result = json.load(f)
    assert set(fields) <= set(result), set(fields) - set(result)
    assert re.fullmatch(r'\d{4}-\d\d-\d\d \d\d:\d\d UTC', result['date'])
    assert re.fullmatch(r'[0-9a-f]{40}', result['commit'])
    assert result['command'].startswith('python bench/bench_')
    assert result['machine']['cores'] >= 1
    assert {'cpu', 'memory_gb'} <= set(result['machine'])
    assert result['measurements'] and all(
        isinstance(m, dict) for m in result['measurements'])
    if result['rerun']:      # made by harness.write: everything recorded
        assert isinstance(result['dirty'], list)
        assert result['machine']['cpu'] and result['machine']['memory_gb']
    else:                    # published earlier: the commit that did it
        assert result['dirty'] is None and result['published']


@pytest.mark.parametrize('path', RESULTS, ids=os.path.basename)
def test_no_result_holds_a_path_of_the_machine(path):
    with open(path) as f:
        text = f.read()
    found = re.search(r'[" =](/work|/tmp|/home|/root|/Users)/\S*', text)
    assert not found, found.group(0)


def test_commands_and_figures_are_recorded_without_the_machines_paths(
        tmp_path, monkeypatch):
    """The data folder as ``$D2L_RECSYS_DATA`` when it is that variable's,
    relative paths as typed, the repository's files relative to it, any
    other absolute path typed relative to the repository."""
    harness = bench_module('harness')
    data = tmp_path / 'ml-100k'
    data.mkdir()
    monkeypatch.setenv('D2L_RECSYS_DATA', str(data))
    monkeypatch.chdir(harness.ROOT)
    argv = ['bench/bench_x.py', '--data-dir', str(data), '--out', 'runs/x',
            f'--json={harness.ROOT}/bench/results/x.json', '--peer',
            '/srv/peers/ml-1m']
    monkeypatch.setattr(sys, 'argv', argv)
    harness.given_words(argv[1:])
    other = os.path.relpath('/srv/peers/ml-1m', harness.ROOT)
    assert harness.command() == (
        'python bench/bench_x.py --data-dir $D2L_RECSYS_DATA --out runs/x '
        f'--json=bench/results/x.json --peer {other}')
    figures = harness._portable_all([dict(command=[
        sys.executable, os.path.join(harness.ROOT, 'scripts', 'train_mf.py'),
        '--data-dir', str(data / 'u.data'), '--out',
        os.path.join(harness.ROOT, 'runs', 'x', 'mf')],
        error=f'File "{harness.ROOT}/d2l_recsys/io.py", line 3')])
    assert figures == [dict(command=[
        'python', 'scripts/train_mf.py', '--data-dir',
        '$D2L_RECSYS_DATA/u.data', '--out', 'runs/x/mf'],
        error='File "d2l_recsys/io.py", line 3')]


def test_a_folder_typed_as_a_relative_path_stays_as_typed(
        tmp_path, monkeypatch):
    harness = bench_module('harness')
    (tmp_path / 'data' / 'ml-100k').mkdir(parents=True)
    monkeypatch.setenv('D2L_RECSYS_DATA', str(tmp_path / 'data' / 'ml-100k'))
    monkeypatch.chdir(tmp_path)
    harness.given_words(['--data-dir', 'data/ml-100k'])
    assert harness.portable(str(tmp_path / 'data' / 'ml-100k' / 'u.data')) \
        == 'data/ml-100k/u.data'
    assert harness.portable('/usr/lib/x') == '/usr/lib/x'   # never typed


def test_a_result_without_a_section_is_refused():
    docs = bench_module('docs')
    with pytest.raises(ValueError, match='unknown.json'):
        docs.render({'unknown.json': {}})


def test_the_page_speaks_to_users():
    with open(bench_module('docs').PAGE) as f:
        page = f.read().lower()
    for word in ('issue', 'target', 'asked for', 'this version', ' here',
                 'before this change'):
        assert word not in page, word


def imported_modules(path):
    """The top-level names a module imports."""
    with open(path) as f:
        tree = ast.parse(f.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split('.')[0])
    return found


@pytest.mark.parametrize('folder, shared', [('', 'harness'),
                                            ('peers', 'common')])
def test_bench_scripts_import_one_shared_module_of_bench(folder, shared):
    """A script of bench/ imports no other script of bench/ but the one
    harness; a peer program (in a venv of its own) only the peers'
    helper."""
    paths = glob.glob(os.path.join(BENCH, folder, '*.py'))
    names = {os.path.splitext(os.path.basename(p))[0] for p in paths}
    for path in paths:
        assert imported_modules(path) & names <= {shared}, path


def test_the_harness_runs_a_child_and_reads_its_result_and_peak(tmp_path):
    harness = bench_module('harness')
    child = tmp_path / 'child.py'
    child.write_text(f'import sys\nsys.path.insert(0, {BENCH!r})\n'
                     'import harness\nprint("working")\n'
                     'harness.report({"answer": 42})\n')
    log = tmp_path / 'child.log'
    out = harness.run([sys.executable, str(child)], str(log), peak=True)
    assert out['code'] == 0 and out['result'] == {'answer': 42}
    assert 0 < out['peak_gib'] < 4              # the child's own VmHWM
    assert log.read_text().startswith('working\n')
    late = harness.run([sys.executable, '-c', 'import time; time.sleep(60)'],
                       timeout=0.5)
    assert late['code'] == 124 and late['seconds'] < 30
    with pytest.raises(RuntimeError, match='three exited with 3'):
        harness.checked([sys.executable, '-c', 'raise SystemExit(3)'],
                        'three')
