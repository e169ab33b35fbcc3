"""The searches behind the report's tuned rows: a search never reads its
test data (nested per fold or not), a lone training file, a leaderboard of
another space, the nested rows scoring each fold with its own choice, the
fold search script, and tuned ranking and pretrained NeuMF rows.  The
report's rows: tests/test_reproduce.py."""
import json
import os

import numpy as onp
import pytest

from d2l_recsys import registry
from conftest import run_script


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
