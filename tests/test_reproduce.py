import ast
import inspect
import json
import os

import numpy as onp
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


def _pairs(path):
    rows = onp.loadtxt(path, dtype=onp.int64, ndmin=2)
    return set(map(tuple, rows[:, :2].tolist()))


def _searched_pairs(fixed):
    """The (user, item) pairs, in the file's ids, that a search with these
    fixed options fitted on and validated on."""
    from dataclasses import fields
    from d2l_recsys.data.spec import DataSpec, materialize
    names = {f.name for f in fields(DataSpec)}
    data = materialize(DataSpec(**{k: v for k, v in fixed.items()
                                   if k in names and k != 'validation'},
                                validation=True))
    read = set()
    for part in (data.train, data.valid):
        cols = part.iloc[:, :2].to_numpy().astype(onp.int64) - 1
        read |= set(zip(data.user_ids[cols[:, 0]].tolist(),
                        data.item_ids[cols[:, 1]].tolist()))
    return read


# Small spaces, declared for the tests in place of the real ones (a
# leaderboard is reported only against its model's declared space).
SMALL = dict(mf=dict(lr=['log', 1e-3, 3e-2]),
             gmf=dict(num_factors=[4], lr=['log', 1e-3, 1e-2]),
             mlp=dict(mlp_factors=[4], nums_hiddens=[(8, 4)],
                      lr=['log', 1e-3, 1e-2]))


@pytest.fixture(autouse=True)
def small_spaces(monkeypatch):
    for model, options in SMALL.items():
        monkeypatch.setitem(registry.get(model).space, 'options', options)


@pytest.fixture(scope='module')
def nested(fold_dir, tmp_path_factory):
    """A nested MF search: one per fold, two trials each."""
    from d2l_recsys.tuning import tune_folds
    tuning = tmp_path_factory.mktemp('tuning')
    boards = tune_folds('mf', 5, str(tuning / 'mf_folds'),
                        dict(data_dir=fold_dir, epochs=2, early_stop=1),
                        trials=2, space=SMALL['mf'], verbose=False)
    return str(tuning), boards


def test_nested_search_never_reads_its_folds_test_ratings(fold_dir, nested):
    """Fold k's search read u{k}.base alone (fit + validation carved from
    it), which shares no rating with u{k}.test; the single search on u1.base
    that the nesting replaces would have read fold 2's test ratings."""
    _, boards = nested
    for k, board in enumerate(boards, 1):
        fixed = board['fixed']
        assert (fixed['folds'], fixed['fold']) == (5, k - 1)
        read = _searched_pairs(dict(fixed, with_test=False))
        base = _pairs(os.path.join(fold_dir, f'u{k}.base'))
        assert read == base
        assert read.isdisjoint(_pairs(os.path.join(fold_dir, f'u{k}.test')))
    assert not base.isdisjoint(_pairs(os.path.join(fold_dir, 'u1.test')))


def _garbage_fold(fold_dir, folder, k=1):
    """A copy of ``fold_dir`` whose u{k}.test is not a ratings file."""
    import shutil
    shutil.copytree(fold_dir, folder)
    with open(os.path.join(folder, f'u{k}.test'), 'wb') as f:
        f.write(b'\x00\x01 not ratings at all\n')
    return str(folder)


@pytest.mark.parametrize('model', ['mf', 'gmf'])
def test_a_search_never_opens_its_test_data(fold_dir, tmp_path, model):
    """Every trial of a search runs on the training data alone: with fold
    1's test file replaced by junk, the trials complete, are recorded and
    score exactly as with the real file (the id maps too come from the
    training file), and no trial record holds a test metric; only the
    final scoring of the best configuration reads the junk, and fails with
    the one-line error naming it.  Mutation tried: trials run with the
    test part (``with_test`` left True) -- the junk search then fails in
    its first trial and the test fails."""
    from d2l_recsys.files import read_json
    from d2l_recsys.tuning import tune
    fixed = dict(folds=5, fold=0, epochs=2, early_stop=1)
    if model == 'gmf':
        fixed.update(protocol='ncf', num_test_negatives=5)
    good = tune(model, trials=2, out=str(tmp_path / 'good'),
                fixed=dict(fixed, data_dir=fold_dir), verbose=False)
    junk = _garbage_fold(fold_dir, tmp_path / 'junk')
    with pytest.raises(ValueError, match=r'u1\.test, line 1'):
        tune(model, trials=2, out=str(tmp_path / 'bad'),
             fixed=dict(fixed, data_dir=junk), verbose=False)
    board = read_json(str(tmp_path / 'bad' / 'leaderboard.json'))
    assert board['test'] is None and good['test'] is not None
    assert [(t['config'], t['value']) for t in board['trials']] == \
        [(t['config'], t['value']) for t in good['trials']]
    for name in os.listdir(tmp_path / 'bad' / 'trials'):
        trial = read_json(str(tmp_path / 'bad' / 'trials' / name))
        assert not any('test' in key for key in trial), trial
        assert trial['metric'].startswith('valid_')


def test_a_search_of_a_lone_training_file(fold_dir, tmp_path):
    """``tune --train-file u1.base`` without a test file: the search runs
    on validation carved from it and nothing is scored."""
    p = run_script('tune.py', '--model', 'mf', '--train-file',
                   os.path.join(fold_dir, 'u1.base'), '--trials', '2',
                   '--max-epochs', '2', '--out', str(tmp_path / 'x'))
    assert p.returncode == 0, p.stderr
    assert 'test: none given' in p.stdout
    board = json.loads((tmp_path / 'x' / 'leaderboard.json').read_text())
    assert board['test'] is None and len(board['trials']) == 2
    assert board['space_hash'] and board['space_source']


def test_a_leaderboard_of_another_space_is_refused(fold_dir, tmp_path,
                                                   monkeypatch):
    """Reporting from (or resuming) a search whose space is not the
    model's declared one is refused, naming the file."""
    from d2l_recsys.experiments.tuned_rows import tuned_rows
    from d2l_recsys.tuning import tune
    fixed = dict(data_dir=fold_dir, epochs=1, early_stop=1,
                 split='seq-aware')
    tune('mf', trials=1, out=str(tmp_path / 'mf_seq'), fixed=fixed,
         verbose=False)
    monkeypatch.setitem(registry.get('mf').space, 'options',
                        dict(lr=['log', 1e-4, 1e-3]))
    with pytest.raises(ValueError, match='mf_seq.*not the declared space'):
        tuned_rows(str(tmp_path), fold_dir, seeds=1, verbose=False)
    with pytest.raises(ValueError, match='other space'):
        tune('mf', trials=2, out=str(tmp_path / 'mf_seq'), fixed=fixed,
             verbose=False, resume=True)


def test_nested_rows_score_each_fold_with_its_own_choice(fold_dir, nested,
                                                         tmp_path):
    """The u1-u5 tuned row runs fold k with fold k's leaderboard and scores
    it on u{k}.test; a leaderboard searched on another fold is refused."""
    import shutil
    from d2l_recsys.experiments.report import (
        README_BEGIN, README_END, TUNED_BEGIN, TUNED_END, tuned_table,
        update_readme, write_markdown)
    from d2l_recsys.experiments.tuned_rows import tuned_rows
    tuning, boards = nested
    rows = tuned_rows(tuning, fold_dir, seeds=2, verbose=False)
    assert [(r['name'], r['split'], r['n']) for r in rows] == \
        [('mf_folds', 'u1-u5', 5)]
    row = rows[0]
    for k, (fold, board) in enumerate(zip(row['folds'], boards), 1):
        assert fold['config'] == board['best']['config']
        assert f'--folds 5 --fold {k - 1}' in fold['command']
        assert fold['test_rmse'] == pytest.approx(
            board['test']['test_rmse'], rel=1e-5)   # the same run
    assert row['values'] == [f['test_rmse'] for f in row['folds']]
    assert row['made']['seconds'] > 0 and row['search']['trials'] == [2] * 5
    assert 'nested' in row['selection'] and 'u{k}.base' in row['selection']
    table = tuned_table(rows)
    assert 'target' not in table.lower() and '5 × 2 trials (' in table
    report = dict(quick=True, seeds=2, date='2026-01-01', seconds=60,
                  machine=None, commit=row['made']['commit'],
                  dirty=row['made']['dirty'], rows=[], tuned=rows,
                  command='python scripts/reproduce.py')
    write_markdown(report, str(tmp_path / 'R.md'))
    md = (tmp_path / 'R.md').read_text()
    assert 'fold 5: validation RMSE' in md and 'missed by' not in md
    readme = tmp_path / 'README.md'
    readme.write_text(f'a\n{README_BEGIN}\nSTALE-TABLE\n{README_END}\nb\n'
                      f'{TUNED_BEGIN}\n{TUNED_END}\nc\n')
    update_readme(str(readme), dict(rows=[], tuned=rows))
    text = readme.read_text()
    assert '| mf | — | u1-u5 | RMSE |' in text and 'STALE-TABLE' not in text
    assert text.startswith('a\n') and text.endswith('c\n')
    readme.write_text(f'a\n{README_BEGIN}\n{README_END}\nb\n')  # no tuned
    update_readme(str(readme), dict(rows=[], tuned=rows))
    assert readme.read_text().endswith('b\n')
    update_readme(str(readme), report)      # one run: its date and commit
    assert (f"Every row: one run started 2026-01-01 from commit "
            f"{row['made']['commit'][:7]}") in readme.read_text()
    swapped = tmp_path / 'swapped'
    shutil.copytree(tuning, swapped)
    shutil.copy(os.path.join(tuning, 'mf_folds', 'fold-1', 'leaderboard.json'),
                swapped / 'mf_folds' / 'fold-2' / 'leaderboard.json')
    with pytest.raises(ValueError, match='fold 2: its leaderboard searched '
                                         r'fold 0 \(0-based\); expected 1'):
        tuned_rows(str(swapped), fold_dir, verbose=False)


def test_fold_search_script(fold_dir, tmp_path):
    p = run_script('tune.py', '--model', 'autorec', '--folds', '5', '--trials',
                   '1', '--max-epochs', '1', '--patience', '1', '--data-dir',
                   fold_dir, '--out', str(tmp_path), '--quiet')
    assert p.returncode == 0, p.stderr
    for k in range(1, 6):
        board = json.loads((tmp_path / f'fold-{k}' / 'leaderboard.json')
                           .read_text())
        # fold k is the run options folds=5, fold=k, as everywhere
        assert (board['fixed']['folds'], board['fixed']['fold']) == \
            (5, k - 1)
        assert f'fold {k}: best of 1 trials' in p.stdout
    for model, folds, error in (('gmf', '5', 'for rating models'),
                                ('mf', '1', 'folds=1: expected an integer '
                                            '>= 2')):
        bad = run_script('tune.py', '--model', model, '--folds', folds,
                         '--data-dir', fold_dir, '--out', str(tmp_path / 'x'))
        assert bad.returncode == 2 and error in bad.stderr, bad.stderr


def test_tuned_ranking_rows_rerun_by_name(checker_dir, tmp_path):
    """A ranking leaderboard gives an HR@10 and an NDCG@10 row over the
    seeds; with ``rows_matching`` only the matching leaderboards run and
    the earlier report's other rows are kept as they were."""
    from d2l_recsys.experiments.tuned_rows import tuned_rows
    from d2l_recsys.tuning import tune
    tune('gmf', trials=1, out=str(tmp_path / 'tuning' / 'gmf_ncf'),
         fixed=dict(data_dir=checker_dir, epochs=2, early_stop=1,
                    num_test_negatives=20), verbose=False)
    earlier = [dict(name='mf_folds', model='mf', metric='RMSE', mean=0.93),
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
        assert 'HR@10' in r['selection'] and r['made']['seconds'] > 0
    assert rows[2]['mean'] <= rows[1]['mean']    # NDCG@10 <= HR@10


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


def test_tuned_pretrained_neumf_row_chooses_alpha_on_validation(
        checker_dir, tmp_path):
    """The pretrained NeuMF row starts from the tuned GMF and MLP of each
    seed and records the weight validation chose for each."""
    from d2l_recsys.tasks.ranking import ALPHA_GRID
    from d2l_recsys.experiments.tuned_rows import tuned_rows
    from d2l_recsys.tuning import tune
    for model in ('gmf', 'mlp'):
        tune(model, trials=1, out=str(tmp_path / 'tuning' / f'{model}_ncf'),
             fixed=dict(data_dir=checker_dir, epochs=2, early_stop=1,
                        validation=True, num_test_negatives=20),
             verbose=False)
    rows = tuned_rows(str(tmp_path / 'tuning'), checker_dir, seeds=2,
                      quick=True, rows_matching='neumf', verbose=False)
    assert [(r['name'], r['metric']) for r in rows] == \
        [('neumf_pretrained', 'HR@10'), ('neumf_pretrained', 'NDCG@10')]
    alphas = rows[0]['alphas']
    assert len(alphas) == 2 and set(alphas) <= set(ALPHA_GRID)
    assert rows[0]['config']['alpha'] == 'auto'
    assert '--alpha auto' in rows[0]['command']
    assert 'the weights chosen: ' + ', '.join(f'{a:g}' for a in alphas) \
        in rows[0]['selection']


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
