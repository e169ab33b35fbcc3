"""Random search: chosen on validation only, resumable, a leaderboard and a
command that reproduces the best run."""
import json
import os

import numpy as onp
import pytest
from conftest import block_ratings, run_script, write_u_data

from d2l_recsys.registry import command_line
from d2l_recsys.tuning import sample, tune

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_sample_respects_the_space():
    space = dict(lr=['log', 1e-4, 1e-2], k=['int', 2, 4], b=[16, 32],
                 h=[(8, 4), (16, 8)])
    rng = onp.random.default_rng(0)
    draws = [sample(space, rng) for _ in range(200)]
    assert all(1e-4 <= d['lr'] <= 1e-2 for d in draws)
    assert {d['k'] for d in draws} == {2, 3, 4}
    assert {d['b'] for d in draws} == {16, 32}
    assert all(d['h'] in ([8, 4], [16, 8]) for d in draws)
    again = sample(space, onp.random.default_rng(0))
    assert again == draws[0]


@pytest.fixture
def flipped(tmp_path):
    """A train/test pair whose test ratings contradict the training ones:
    the same block structure, each test rating mirrored (6 - r).  A model
    that learns the training data then scores worse on the test than one
    that learns nothing, so validation and test choose differently."""
    rows = block_ratings(num_users=40, num_items=60, density=0.4, seed=3)
    test = onp.arange(len(rows)) % 5 == 0
    mirrored = rows[test].copy()
    mirrored[:, 2] = 6 - mirrored[:, 2]
    write_u_data(tmp_path / 'u1.base', rows[~test])
    write_u_data(tmp_path / 'u1.test', mirrored)
    return str(tmp_path / 'u1.base'), str(tmp_path / 'u1.test')


def test_tune_chooses_on_validation_not_test(flipped, tmp_path):
    """On data where the test set's best number of epochs is not the
    validation data's (5 epochs learn less of the training structure that
    the test contradicts), the search picks validation's, and the test is
    scored once, by that choice.  Mutation tried: ranking trials by their
    test RMSE (objective 'test_rmse', trials run with their test part)
    picks 5 epochs and fails."""
    from d2l_recsys.runs import run_mf
    train, test = flipped
    common = dict(train_file=train, test_file=test, lr=0.05, devices='cpu',
                  validation=True, early_stop=40)
    test_rmse = {e: run_mf(epochs=e, verbose=False, **common)['test_rmse']
                 for e in (5, 40)}
    assert test_rmse[5] < test_rmse[40]             # the test prefers 5
    board = tune('mf', trials=4, out=str(tmp_path / 'search'),
                 fixed=common, space=dict(epochs=[5, 40]), verbose=False)
    tried = {t['config']['epochs']: t['value'] for t in board['trials']}
    assert set(tried) == {5, 40}
    assert tried[40] < tried[5]                     # validation: 40
    assert board['best']['config']['epochs'] == 40
    assert board['test']['config']['epochs'] == 40
    assert board['test']['test_rmse'] == pytest.approx(test_rmse[40])


def test_tune_mf_resumes(ml_dir, tmp_path):
    fixed = dict(data_dir=ml_dir, epochs=4, early_stop=2, devices='cpu')
    space = dict(lr=['log', 1e-3, 5e-2], num_factors=[2, 4])
    board = tune('mf', trials=3, jobs=2, out=str(tmp_path), fixed=fixed,
                 space=space, verbose=False)
    assert board['metric'] == 'valid_rmse' and len(board['trials']) == 3
    saved = json.loads((tmp_path / 'leaderboard.json').read_text())
    assert len(saved['trials']) == 3
    assert (tmp_path / 'leaderboard.html').exists()
    assert '--validation' in board['command']
    stamps = {p: os.path.getmtime(tmp_path / 'trials' / p)
              for p in os.listdir(tmp_path / 'trials')}
    with pytest.raises(ValueError, match='already holds a search.*--resume'):
        tune('mf', trials=4, out=str(tmp_path), fixed=fixed, space=space,
             verbose=False)
    again = tune('mf', trials=4, jobs=1, out=str(tmp_path), fixed=fixed,
                 space=space, verbose=False, resume=True)  # one more trial
    assert len(again['trials']) == 4
    for p, t in stamps.items():
        assert os.path.getmtime(tmp_path / 'trials' / p) == t


def test_tune_script_ranking_model(checker_dir, tmp_path):
    p = run_script('tune.py', '--model', 'dmf', '--trials', '2',
                   '--max-epochs', '3', '--patience', '1',
                   '--num-test-negatives', '20', '--data-dir', checker_dir,
                   '--out', str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert p.stdout.count('trial ') >= 2 and 'reproduce: python' in p.stdout
    board = json.loads((tmp_path / 'leaderboard.json').read_text())
    assert board['metric'] == 'valid_hit_rate@10'
    assert board['best']['value'] == max(t['value'] for t in board['trials'])


def test_command_line_reproduces_options():
    cmd = command_line('neumf', dict(model='neumf', lr=0.001,
                                     nums_hiddens=[8, 4], validation=True,
                                     pretrain_gmf=None, verbose=False))
    assert cmd == ('python scripts/train_neumf.py --model neumf --lr 0.001 '
                   '--nums-hiddens 8,4 --validation')


def test_command_line_writes_a_chosen_off_switch():
    """sparse_grad=False was chosen, not left to the size rule: the command
    says --no-sparse-grad, an option the script has."""
    assert command_line('mf', dict(sparse_grad=False, wd=1e-4)) == \
        'python scripts/train_mf.py --no-sparse-grad --wd 0.0001'
    assert command_line('mf', dict(sparse_grad=True)) == \
        'python scripts/train_mf.py --sparse-grad'
    p = run_script('train_mf.py', '--help')
    assert p.returncode == 0 and '--no-sparse-grad' in p.stdout, p.stderr


def test_tune_script_book_protocol_ranks_by_its_own_cutoff(checker_dir,
                                                          tmp_path):
    p = run_script('tune.py', '--model', 'gmf', '--protocol', 'book',
                   '--trials', '2', '--max-epochs', '2', '--patience', '1',
                   '--data-dir', checker_dir, '--out', str(tmp_path),
                   '--quiet')
    assert p.returncode == 0, p.stderr
    board = json.loads((tmp_path / 'leaderboard.json').read_text())
    assert board['metric'] == 'valid_hit_rate@50'     # the book's Hit@50
    assert all(isinstance(t['value'], float) for t in board['trials'])
    assert 'hit_rate@50' in board['test']


def test_a_diverging_trial_is_recorded_as_failed(ml_dir, tmp_path):
    """A learning rate of 1e9 makes MF's loss overflow: that trial is kept
    as failed, ranked last, the search completes, and resuming it runs no
    trial again (the failed one included)."""
    fixed = dict(data_dir=ml_dir, epochs=2, early_stop=1, devices='cpu')
    space = dict(lr=[0.01, 1e9])
    board = tune('mf', trials=4, jobs=1, out=str(tmp_path), fixed=fixed,
                 space=space, verbose=False)
    failed = [t for t in board['trials'] if 'failed' in t]
    assert failed and all(t['config']['lr'] == 1e9 for t in failed)
    assert 'diverged' in failed[0]['failed'] and failed[0]['value'] is None
    assert board['trials'][-len(failed):] == failed     # ranked last
    assert board['best']['config']['lr'] == 0.01
    assert 'test_rmse' in board['test']
    stamps = {p: os.path.getmtime(tmp_path / 'trials' / p)
              for p in os.listdir(tmp_path / 'trials')}
    again = tune('mf', trials=4, jobs=1, out=str(tmp_path), fixed=fixed,
                 space=space, verbose=False, resume=True)
    assert [t['trial'] for t in again['trials']] == \
        [t['trial'] for t in board['trials']]
    for p, t in stamps.items():
        assert os.path.getmtime(tmp_path / 'trials' / p) == t


def test_a_search_folder_is_not_reused_for_other_data(ml_dir, checker_dir,
                                                     tmp_path):
    fixed = dict(data_dir=ml_dir, epochs=1, early_stop=1, devices='cpu')
    space = dict(lr=[0.01])
    tune('mf', trials=1, out=str(tmp_path), fixed=fixed, space=space,
         verbose=False)
    with pytest.raises(ValueError, match='other fixed than this one'):
        tune('mf', trials=1, out=str(tmp_path), space=space, verbose=False,
             fixed=dict(fixed, data_dir=checker_dir), resume=True)


def test_tune_searches_fm_on_ctr_files(tmp_path, capsys):
    """``d2l-recsys tune --model fm --ctr-dir DIR``: trials see validation
    carved from train.csv, the best is scored once on test.csv."""
    from d2l_recsys.commands.tune import main
    from d2l_recsys.data.synthetic_ctr import make_ctr
    ctr = str(tmp_path / 'ctr')
    make_ctr(ctr, num_rows=1500, num_test=300, seed=0)
    out = str(tmp_path / 'search')
    assert main(['--model', 'fm', '--ctr-dir', ctr, '--out', out,
                 '--trials', '2', '--max-epochs', '2', '--quiet']) == 0
    board = json.load(open(os.path.join(out, 'leaderboard.json')))
    assert board['metric'] == 'valid_auc' and len(board['trials']) == 2
    assert board['test']['num_test'] == 300
    assert board['made']['command'].startswith('d2l-recsys tune --model fm ')
    assert '--ctr-dir' in board['command']
    shown = capsys.readouterr().out
    assert "test (scored once): " in shown and 'auc 0.' in shown
