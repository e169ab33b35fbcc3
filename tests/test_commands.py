"""The ``d2l-recsys`` command: every subcommand is listed and reachable,
training any registered model by name, from any working directory."""
import json
import os
import subprocess
import sys

from d2l_recsys.commands import COMMANDS


def command(*args, cwd=None):
    return subprocess.run([sys.executable, '-m', 'd2l_recsys', *args],
                          capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def test_help_lists_every_command_and_each_has_its_own():
    r = command('--help')
    assert r.returncode == 0
    for name in COMMANDS:
        assert f'  {name} ' in r.stdout
    for name in COMMANDS:
        sub = command(name, '--help')
        assert sub.returncode == 0, (name, sub.stderr)
        assert f'd2l-recsys {name}' in sub.stdout, name


def test_unknown_command_and_model_are_one_line_errors():
    r = command('fit')
    assert r.returncode == 2 and "unknown command 'fit'" in r.stderr
    r = command('train', 'svd')
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "d2l-recsys train: error: model='svd': expected one of mf, "
        'autorec, neumf, gmf, mlp, itempop, dmf, caser, fm, deepfm, lr']


def test_train_a_ranking_model_by_name_from_elsewhere(checker_dir, tmp_path):
    out = tmp_path / 'run'
    r = command('train', 'gmf', '--data-dir', checker_dir, '--epochs', '1',
                '--num-test-negatives', '20', '--devices', 'cpu', '--quiet',
                '--out', str(out), cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('HR@10 ')
    stored = json.loads((out / 'run.json').read_text())
    assert stored['entry'] == 'gmf' and stored['config']['epochs'] == 1
    r = command('recommend', '--model-dir', str(out), '--user', '3', '-k',
                '2', cwd=str(tmp_path))
    assert r.returncode == 0 and r.stdout.startswith('top 2 for user 3:')
    assert not os.path.exists(tmp_path / 'runs')
