"""The reproduction report's rows: the status rules, the declared rows
(where their settings come from, a row as one declaration), scoring a
saved run again, the quick report and its provenance (date, commit,
machine), rows of another commit, and the CTR rows.  The searches behind
the tuned rows: tests/test_reproduce_searches.py."""
import ast
import inspect
import json
import os

import pytest

from d2l_recsys import registry
from d2l_recsys.experiments.report import STATUS_WORDS, status
from d2l_recsys.experiments.rows import ROWS, TUNED, Metric, Row
from conftest import run_script, block_ratings, make_movielens, write_u_data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATUSES = set(STATUS_WORDS)


def _m(mean, std):
    return dict(mean=mean, std=std)


@pytest.mark.parametrize('row, metrics, expected', [
    (dict(published={'RMSE': 0.9}), {'RMSE': _m(0.91, 0.006)}, 'match'),
    (dict(published={'RMSE': 0.9}, tolerance=0.01),
     {'RMSE': _m(0.909, 0.0)}, 'match'),
    (dict(published={'RMSE': 0.9}, lower_is_better=True),
     {'RMSE': _m(0.95, 0.01)}, 'worse'),
    (dict(published={'RMSE': 0.9}, lower_is_better=True),
     {'RMSE': _m(0.85, 0.01)}, 'better'),
    (dict(published={'HR@10': 0.6}), {'HR@10': _m(0.65, 0.01)}, 'better'),
    (dict(published=None), {'HR@10': _m(0.5, 0.1)}, 'no reference'),
    # every published metric counts: HR@10 matches, NDCG@10 is beaten
    # (MLP's 0.6199 / 0.3577 against the seed project's 0.6013 / 0.3294)
    (dict(published={'HR@10': 0.6013, 'NDCG@10': 0.3294}, tolerance=0.02),
     {'HR@10': _m(0.6199, 0.0106), 'NDCG@10': _m(0.3577, 0.0088)},
     'better'),
    (dict(published={'HR@10': 0.6, 'NDCG@10': 0.3}, tolerance=0.02),
     {'HR@10': _m(0.7, 0.01), 'NDCG@10': _m(0.2, 0.01)}, 'mixed'),
    (dict(published={'HR@10': 0.6, 'NDCG@10': 0.3}, tolerance=0.02),
     {'HR@10': _m(0.61, 0.01), 'NDCG@10': _m(0.25, 0.01)}, 'worse'),
])
def test_status_rules(row, metrics, expected):
    """A row's status weighs each published metric.  Mutation tried:
    judging the headline metric alone makes the MLP case 'match'."""
    assert status(row, metrics) == expected


def test_statuses_are_all_defined():
    """``STATUS_WORDS`` defines every string ``status`` can return, and
    the rules above reach each of them."""
    returns = [n.value for r in ast.walk(ast.parse(inspect.getsource(
        status))) if isinstance(r, ast.Return) for n in ast.walk(r)
        if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert set(returns) <= STATUSES
    rules = test_status_rules.pytestmark[0].args[1]
    assert {case[-1] for case in rules} == STATUSES


def test_every_row_declares_where_its_settings_come_from():
    """The book's printed settings or a paper's, named; nothing set by
    hand: a row's options are only what makes it the configuration it
    names (split, variant, protocol, the book's exact model), never a
    hyperparameter of its own."""
    hyper = {'lr', 'wd', 'epochs', 'batch_size', 'num_factors',
             'mlp_factors', 'nums_hiddens', 'num_hiddens', 'dropout',
             'num_negatives'}
    for row in ROWS:
        assert row.settings[0] in ('book', 'paper'), row.name
        assert len(row.settings[1]) > 20
        # (the ML-1M NeuMF row names its 64 predictive factors: they are
        # the configuration it names)
        assert not hyper & set(row.options) or 'factors' in row.name, \
            row.name
        assert row.metric in [m.name for m in row.metrics], row.name
        assert set(row.published or {}) <= {m.name for m in row.metrics}
        registry.get(row.model)
        for model in row.needs.values():
            registry.get(model)
    assert len({row.name for row in ROWS}) == len(ROWS)


def test_rows_are_data_and_the_runner_knows_none_by_name():
    """What differs between rows lives in their declarations: no module of
    the package but ``rows`` names a declared row, and the package does
    not import the searches (``tuning``): both stand on ``search_space``
    and ``runs``."""
    folder = os.path.join(ROOT, 'd2l_recsys', 'experiments')
    names = {r.name for r in ROWS} | {t.name for t in TUNED}
    for file in sorted(os.listdir(folder)):
        if not file.endswith('.py') or file == 'rows.py':
            continue
        tree = ast.parse(open(os.path.join(folder, file)).read())
        strings = {n.value for n in ast.walk(tree)
                   if isinstance(n, ast.Constant) and isinstance(n.value,
                                                                 str)}
        assert not strings & names, (file, strings & names)
        imported = {n.module for n in ast.walk(tree)
                    if isinstance(n, ast.ImportFrom) and n.module}
        assert not {'tuning', 'd2l_recsys.tuning'} & imported, file


def test_a_row_is_one_declaration(checker_dir, tmp_path):
    """Adding a row to the report is adding a declaration: rows declared
    here run on small data and are rendered into REPRODUCTION.md -- one
    compared with a published number, one that starts from the runs of
    two models made first with its options and seed (a pretrained
    NeuMF), one whose saved model is scored again another way
    (``reevaluate`` with the book's item range)."""
    from d2l_recsys.experiments.reproduce import reproduce
    settings = ('paper', 'the NCF evaluation protocol, declared by a test')
    ncf = dict(protocol='ncf', num_test_negatives=20)
    hr = (Metric('HR@10', 'hit_rate@10'),
          Metric('full-ranking HR@10', ('full_ranking', 'hit_rate@10')))
    declared = [
        Row('ItemPop on small data (a test row)', 'itempop', settings,
            'HR@10', hr, options=ncf, published={'HR@10': 0.5},
            source='a number the test made up', tolerance=1.0),
        Row('NeuMF from its own GMF and MLP (a test row)', 'neumf',
            settings, 'HR@10', hr, options=ncf,
            needs=dict(pretrain_gmf='gmf', pretrain_mlp='mlp')),
        Row('NeuMF, book protocol, scored again (a test row)', 'neumf',
            ('book', "the book's NeuMF section, declared by a test"), 'AUC',
            (Metric('AUC', 'auc'), Metric("AUC, book's item range", 'auc',
                                          dict(book_item_range=True))),
            options=dict(protocol='book'), seeds=1),
    ]
    out = tmp_path / 'out'
    report = reproduce(checker_dir, seeds=2, out=str(out), quick=True,
                       verbose=False, rows=declared)
    rows = report['rows']
    assert [r['name'] for r in rows] == [r.name for r in declared]
    assert rows[0]['status'] == 'match' and rows[1]['status'] == \
        'no reference'
    assert [len(r['metrics'][r['metric']]['values']) for r in rows] == \
        [2, 2, 1]
    assert set(rows[0]['metrics']) == {'HR@10', 'full-ranking HR@10'}
    # started from the pretrained GMF and MLP: SGD unless told otherwise
    assert rows[1]['config']['optimizer'] == 'sgd'
    assert 'pretrain_gmf' not in rows[1]['config']
    assert set(rows[2]['metrics']) == {'AUC', "AUC, book's item range"}
    md = (out / 'REPRODUCTION.md').read_text()
    for r in rows:
        m = r['metrics'][r['metric']]
        assert f"| {r['name']} | {r['settings']} | {r['metric']} |" in md
        assert f"{m['mean']:.4f} ± {m['std']:.4f}" in md
    assert "| | | AUC, book's item range |" in md
    assert 'a number the test made up' in md


def test_reevaluate_scores_a_saved_run_another_way(checker_dir, tmp_path):
    """``reevaluate(folder, book_item_range=True, ties=...)`` scores the
    saved model on its own data as the book's evaluation does (the same
    numbers as an evaluator built with those options); options it cannot
    change, or that the run's model has not, are refused."""
    from mxnet import cpu
    from d2l_recsys.ranking import ranking_protocol
    from d2l_recsys.run_folder import load_model
    from d2l_recsys.runs import reevaluate, run
    folder = str(tmp_path / 'neumf')
    res = run('neumf', data_dir=checker_dir, protocol='book', epochs=2,
              output_activation='sigmoid', dense_init='normal', out=folder,
              verbose=False)
    again = reevaluate(folder)
    assert (again['hit_rate@50'], again['auc']) == \
        (res['hit_rate@50'], res['auc'])
    net = load_model(folder)[0]
    auc = {}
    for ties in ('pessimistic', 'index'):
        ours = reevaluate(folder, book_item_range=True, ties=ties)
        theirs = ranking_protocol(data_dir=checker_dir, protocol='book',
                                  top_k=50, book_item_range=True,
                                  ties=ties)['evaluator'](net, [cpu()])
        assert (ours['hit_rate@50'], ours['auc']) == \
            (theirs['hit_rate@50'], theirs['auc']), ties
        auc[ties] = ours['auc']
    # the saturated sigmoid ties: the two rules differ, and so do the ranges
    assert auc['pessimistic'] < auc['index'] and auc['index'] != res['auc']
    for bad, message in ((dict(epochs=3), 'not an option of scoring'),
                         (dict(ties='random'), "ties='random'"),
                         (dict(book_item_range='yes'), 'True or False'),
                         (dict(top_k=0), 'top_k')):
        with pytest.raises(ValueError, match=message):
            reevaluate(folder, **bad)
    mf = str(tmp_path / 'mf')
    run('mf', data_dir=checker_dir, epochs=1, out=mf, verbose=False)
    with pytest.raises(ValueError, match='a mf run is not scored with '
                                         'book_item_range, ties'):
        reevaluate(mf, book_item_range=True, ties='index')


def test_reproduce_quick_writes_report(tmp_path):
    data = make_movielens(str(tmp_path / 'ml-100k'), num_users=50,
                          num_items=200, density=0.2)
    ml1m = tmp_path / 'ml-1m'       # ML-1M's format: '::', sparse movie ids
    ml1m.mkdir()
    rows = block_ratings(num_users=50, num_items=200, density=0.2, seed=1)
    rows[:, 1] = rows[:, 1] * 3 + 7
    write_u_data(ml1m / 'ratings.dat', rows, sep='::')
    out = tmp_path / 'results'
    p = run_script('reproduce.py', '--data-dir', data, '--seeds', '2',
                   '--quick', '--ml1m-dir', str(ml1m), '--out', str(out))
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
        assert row['status'] == status(row, row['metrics'])
        assert row['settings'] in ('book', 'paper') and row['config']
    md = (out / 'REPRODUCTION.md').read_text()
    assert 'QUICK MODE' in md and '| MF, book settings' in md
    assert (out / 'reproduction.html').is_file()
    # how every number was made: date, commit, machine, its own seconds
    for row in report['rows']:
        made = row['made']
        assert made['date'] == report['date']
        assert made['commit'] == report['commit'] and \
            len(made['commit']) == 40
        assert made['dirty'] == report['dirty']
        assert made['machine'] == report['machine'] and made['seconds'] > 0
        assert made['started'] == report['started'] and \
            made['command'] == report['command']
    assert report['command'].startswith('python scripts/reproduce.py')
    assert report['commit'][:7] in md and 'made (run, commit)' not in md
    assert 'one run' in md and report['started'] in md
    assert 'target' not in md.lower() and 'missed by' not in md


def test_git_state_names_changed_paths():
    """Changed files anywhere in the checkout, relative to it (the rules
    are tested in tests/test_provenance.py)."""
    from d2l_recsys.provenance import git_state
    state = git_state()
    assert len(state['commit']) == 40
    assert state['dirty'] == sorted(state['dirty'])
    assert not any(os.path.isabs(p) or p.startswith('..')
                   for p in state['dirty']), state['dirty']


def test_reproduce_rejects_bad_seeds(tmp_path):
    p = run_script('reproduce.py', '--seeds', '0', '--out', str(tmp_path))
    assert p.returncode == 2 and '--seeds' in p.stderr


RERUN = 'MF, book settings'


def _earlier_report(out, made):
    """A report whose rows (every book row but MF's book settings) were
    made as ``made`` says."""
    names = [r.name for r in ROWS if r.data == 'ml-100k']
    rows = [dict(name=n, metric='RMSE', published=None, source='s',
                 metrics={'RMSE': dict(mean=1.0, std=0.0, values=[1.0])},
                 status='no reference', made=made)
            for n in names if not n.startswith(RERUN)]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'reproduction.json'), 'w') as f:
        json.dump(dict(rows=rows, tuned=[]), f)


def test_rows_of_another_commit_are_kept_only_when_asked(ml_dir, tmp_path):
    """Rerunning one row keeps the others only if they come from the same
    commit; --allow-mixed-commits keeps them and the report shows each
    row's date and commit."""
    from d2l_recsys.provenance import git_state, machine
    from d2l_recsys.experiments.reproduce import reproduce
    state = git_state()
    other = dict(date='2026-11-25', commit='d' * 40, dirty=[],
                 machine=machine(), seconds=5.0)
    out = str(tmp_path / 'mixed')
    _earlier_report(out, other)
    with pytest.raises(ValueError, match='another commit.*ddddddd.*'
                                         'allow-mixed-commits'):
        reproduce(ml_dir, seeds=1, out=out, quick=True, verbose=False,
                  rows_matching=RERUN)
    p = run_script('reproduce.py', '--data-dir', ml_dir, '--seeds', '1',
                   '--quick', '--rows', RERUN, '--out', out)
    assert p.returncode == 2 and 'ddddddd' in p.stderr
    report = reproduce(ml_dir, seeds=1, out=out, quick=True, verbose=False,
                       rows_matching=RERUN, allow_mixed=True)
    made = {r['name'].split(',')[0]: r['made'] for r in report['rows']}
    assert made['MF']['commit'] == state['commit']
    assert made['AutoRec user-based']['commit'] == 'd' * 40
    md = open(os.path.join(out, 'REPRODUCTION.md')).read()
    assert 'made (run, commit)' in md and 'come from these runs' in md
    assert '2026-11-25, ddddddd' in md
    assert f"{made['MF']['started']}, {state['commit'][:7]}" in md
    same = str(tmp_path / 'same')
    _earlier_report(same, dict(other, commit=state['commit'],
                               dirty=state['dirty']))
    report = reproduce(ml_dir, seeds=1, out=same, quick=True, verbose=False,
                       rows_matching=RERUN)
    md = open(os.path.join(same, 'REPRODUCTION.md')).read()
    assert 'come from these runs' in md     # two runs of one commit
    assert f"2026-11-25, {state['commit'][:7]}" in md


def test_ctr_rows_run_on_the_ctr_files_and_print_the_books_loss(
        ml_dir, tmp_path):
    """With --ctr-dir the book's FM and DeepFM settings run on the CTR
    files (here a generated copy in their format): each row's last
    training loss beside the book's printed one."""
    from d2l_recsys.data.synthetic_ctr import make_ctr
    from d2l_recsys.experiments.reproduce import reproduce
    ctr = str(tmp_path / 'ctr')
    make_ctr(ctr, num_rows=1500, num_test=300, seed=0)   # 34 fields
    declared = [r for r in ROWS if r.data == 'ctr']
    report = reproduce(ml_dir, seeds=1, quick=True, verbose=False,
                       ctr_dir=ctr, out=str(tmp_path / 'out'),
                       rows=declared)
    rows = {r['name']: r for r in report['rows']}
    assert len(rows) == len(declared) == 4
    book = rows["FM, book settings, the book's CTR data, the book's blocks "
                '(a second sigmoid in the loss)']
    assert book['published'] == {'train loss': 0.504}
    assert book['config']['book_sigmoid'] is True
    assert book['config']['num_factors'] == 20
    assert 'ctr_dir' not in book['config']
    for row in rows.values():
        assert set(row['metrics']) == {'train loss', 'AUC', 'log loss'}
        assert 0 < row['metrics']['train loss']['mean'] < 5
    md = open(tmp_path / 'out' / 'REPRODUCTION.md').read()
    assert "the book's CTR data" in md and '0.504' in md
