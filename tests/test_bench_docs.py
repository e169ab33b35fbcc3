"""docs/benchmarks.md is what bench/docs.py makes of the committed
bench/results/*.json, and every result file says how it was made."""
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
    fields = bench_module('record').FIELDS
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
    if result['rerun']:      # made by record.write: everything recorded
        assert isinstance(result['dirty'], list)
        assert result['machine']['cpu'] and result['machine']['memory_gb']
    else:                    # published earlier: the commit that did it
        assert result['dirty'] is None and result['published']


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
