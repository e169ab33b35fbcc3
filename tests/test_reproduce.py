import ast
import inspect
import json
import os
import subprocess
import sys

import pytest

from d2l_recsys.reproduction import _status
from conftest import block_ratings, make_movielens, write_u_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATUSES = {'match', 'better', 'worse', 'no reference'}


@pytest.mark.parametrize('row, mean, std, expected', [
    (dict(published=0.9), 0.91, 0.006, 'match'),        # within 2 std
    (dict(published=0.9, tolerance=0.01), 0.909, 0.0, 'match'),
    (dict(published=0.9, lower_is_better=True), 0.95, 0.01, 'worse'),
    (dict(published=0.9, lower_is_better=True), 0.85, 0.01, 'better'),
    (dict(published=0.6), 0.65, 0.01, 'better'),         # HR: higher wins
    (dict(published=None), 0.5, 0.1, 'no reference'),
])
def test_status_rules(row, mean, std, expected):
    assert _status(row, mean, std) == expected


def test_statuses_are_all_listed():
    """``STATUSES`` is every string ``_status`` can return, and the rules
    above reach each of them."""
    returns = [n.value for r in ast.walk(ast.parse(inspect.getsource(
        _status))) if isinstance(r, ast.Return) for n in ast.walk(r)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert set(returns) == STATUSES
    rules = test_status_rules.pytestmark[0].args[1]
    assert {case[-1] for case in rules} == STATUSES


def test_reproduce_quick_writes_report(tmp_path):
    data = make_movielens(str(tmp_path / 'ml-100k'), num_users=50,
                          num_items=200, density=0.2)
    ml1m = tmp_path / 'ml-1m'       # ML-1M's format: '::', sparse movie ids
    ml1m.mkdir()
    rows = block_ratings(num_users=50, num_items=200, density=0.2, seed=1)
    rows[:, 1] = rows[:, 1] * 3 + 7
    write_u_data(ml1m / 'ratings.dat', rows, sep='::')
    out = tmp_path / 'results'
    p = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts',
                                                     'reproduce.py'),
                        '--data-dir', data, '--seeds', '2', '--quick',
                        '--ml1m-dir', str(ml1m), '--out', str(out)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    report = json.loads((out / 'reproduction.json').read_text())
    names = [r['name'] for r in report['rows']]
    assert any(n.startswith('MF, book settings') for n in names)
    assert any(n.startswith('ItemPop, NCF') for n in names)
    assert any(n.startswith('ML-1M: NeuMF') for n in names)
    for row in report['rows']:
        main = row['metrics'][row['metric']]
        assert len(main['values']) == 2
        assert row['status'] in STATUSES
        assert row['status'] == _status(row, main['mean'], main['std'])
    md = (out / 'REPRODUCTION.md').read_text()
    assert 'QUICK MODE' in md and '| MF, book settings' in md
    assert (out / 'reproduction.html').is_file()


def test_reproduce_rejects_bad_seeds(tmp_path):
    p = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts',
                                                     'reproduce.py'),
                        '--seeds', '0', '--out', str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and '--seeds' in p.stderr


def test_tuned_section_from_a_leaderboard(ml_dir, tmp_path):
    """A leaderboard written by tune() becomes a tuned row: the chosen
    configuration over the five folds, with the command that reproduces it,
    in the report and in a README between its markers."""
    from d2l_recsys.reproduction import (README_BEGIN, README_END,
                                         TUNED_BEGIN, TUNED_END,
                                         update_readme, tuned_rows)
    from d2l_recsys.tuning import tune
    tune('mf', trials=2, out=str(tmp_path / 'tuning' / 'mf_u1'),
         fixed=dict(data_dir=ml_dir, epochs=2, early_stop=1),
         space=dict(lr=['log', 1e-3, 1e-2]), verbose=False)
    rows = tuned_rows(str(tmp_path / 'tuning'), ml_dir, seeds=2)
    assert [(r['model'], r['split'], r['n']) for r in rows] == \
        [('mf', 'u1-u5', 5)]
    assert rows[0]['mean'] == pytest.approx(sum(rows[0]['values']) / 5)
    assert '--folds 5' in rows[0]['command'] and '--validation' in \
        rows[0]['command']
    readme = tmp_path / 'README.md'
    readme.write_text(f'a\n{README_BEGIN}\nSTALE-TABLE\n{README_END}\nb\n'
                      f'{TUNED_BEGIN}\n{TUNED_END}\nc\n')
    update_readme(str(readme), dict(rows=[], tuned=rows))
    text = readme.read_text()
    assert '| mf | — | u1-u5 | RMSE |' in text and 'STALE-TABLE' not in text
    assert text.startswith('a\n') and text.endswith('c\n')


def test_tuned_ranking_rows_rerun_by_name(checker_dir, tmp_path):
    """A ranking leaderboard gives an HR@10 and an NDCG@10 row over the
    seeds; with ``rows_matching`` only the matching leaderboards run and
    the earlier report's other rows are kept as they were."""
    from d2l_recsys.reproduction import tuned_rows
    from d2l_recsys.tuning import tune
    tune('gmf', trials=1, out=str(tmp_path / 'tuning' / 'gmf_ncf'),
         fixed=dict(data_dir=checker_dir, epochs=2, early_stop=1,
                    num_test_negatives=20),
         space=dict(lr=['log', 1e-3, 1e-2]), verbose=False)
    earlier = [dict(name='mf_u1', model='mf', metric='RMSE', mean=0.93),
               dict(name='gmf_ncf', model='gmf', metric='HR@10', mean=0.1)]
    rows = tuned_rows(str(tmp_path / 'tuning'), checker_dir, seeds=2,
                      rows_matching='gmf', previous=earlier)
    assert rows[0] is earlier[0]                 # kept, not rerun
    assert [(r['name'], r['metric'], r['n']) for r in rows[1:]] == \
        [('gmf_ncf', 'HR@10', 2), ('gmf_ncf', 'NDCG@10', 2)]
    for r in rows[1:]:
        assert 0 <= min(r['values']) and max(r['values']) <= 1
        assert '--model gmf' in r['command'] and \
            '--num-test-negatives 20' in r['command']
    assert rows[2]['mean'] <= rows[1]['mean']    # NDCG@10 <= HR@10


@pytest.mark.parametrize('row, text', [
    (dict(name='mf_u1', metric='RMSE', mean=0.9202), '≤ 0.910: missed by 0.0102'),
    (dict(name='autorec_u1', metric='RMSE', mean=0.8991), '≤ 0.900: met'),
    (dict(name='neumf_pretrained', metric='NDCG@10', mean=0.37),
     '≥ 0.400: missed by 0.0300'),
    (dict(name='neumf_pretrained', metric='HR@10', mean=0.70), '≥ 0.680: met'),
    (dict(name='gmf_ncf', metric='HR@10', mean=0.65), ''),   # no target
])
def test_tuned_target_text(row, text):
    from d2l_recsys.reproduction import target_text
    assert target_text(row) == text
