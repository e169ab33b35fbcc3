"""The scripts' contract: options, outputs, exit codes."""
import json
import os
import subprocess
import sys

import pytest
from conftest import run_script

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('name, extra', [
    ('train_autorec.py', ['--num-hiddens', 10, '--variant', 'user']),
    ('train_mf.py', ['--num-factors', 5, '--split', 'random']),
])
def test_script_writes_outputs(ml_dir, tmp_path, name, extra):
    out = tmp_path / 'out'
    p = run_script(name, '--data-dir', ml_dir, '--epochs', 2, '--devices',
                   'cpu:2', '--out', out, *extra)
    assert p.returncode == 0, p.stderr
    assert 'epoch   2/2' in p.stdout and 'test RMSE' in p.stdout
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['devices'] == ['cpu(0)', 'cpu(1)']
    assert len(metrics['history']) == 2
    assert {'epoch', 'train_loss', 'test_rmse'} <= set(metrics['history'][0])
    for f in ('curves.html', 'model.params', 'model.json'):
        assert (out / f).is_file()


def test_train_and_test_files(ml_dir, tmp_path):
    lines = open(os.path.join(ml_dir, 'u.data')).read().splitlines()
    (tmp_path / 'a.base').write_text('\n'.join(lines[:-60]) + '\n')
    (tmp_path / 'a.test').write_text('\n'.join(lines[-60:]) + '\n')
    p = run_script('train_mf.py', '--train-file', tmp_path / 'a.base',
                   '--test-file', tmp_path / 'a.test', '--epochs', 1, '--out',
                   tmp_path / 'o', '--quiet')
    assert p.returncode == 0, p.stderr
    metrics = json.loads((tmp_path / 'o' / 'metrics.json').read_text())
    assert metrics['num_test'] == 60


@pytest.mark.parametrize('args, needle', [
    (['--epochs', '-3'], '--epochs'),
    (['--lr', 'fast'], '--lr'),
    (['--devices', 'tpu'], '--devices'),
    (['--data-dir', '/no/such/folder'], '/no/such/folder'),
])
def test_bad_values_one_line_exit_2(ml_dir, tmp_path, args, needle):
    full = ['--data-dir', ml_dir, '--out', tmp_path / 'o'] + args
    p = run_script('train_autorec.py', *full)
    assert p.returncode == 2
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0], p.stderr
    assert 'Traceback' not in p.stderr


def test_malformed_file_exit_2(tmp_path):
    (tmp_path / 'u.data').write_text('1\t2\t3\t4\n1\t2\tthree\t4\n')
    p = run_script('train_mf.py', '--data-dir', tmp_path, '--out',
                   tmp_path / 'o')
    assert p.returncode == 2
    assert 'line 2' in p.stderr and 'Traceback' not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_train_neumf_and_recommend(checker_dir, tmp_path):
    out = tmp_path / 'gmf'
    p = run_script('train_neumf.py', '--data-dir', checker_dir, '--model',
                   'gmf', '--epochs', 2, '--num-test-negatives', 20,
                   '--devices', 'cpu:2', '--out', out)
    assert p.returncode == 0, p.stderr
    assert 'HR@10' in p.stdout and 'Recall@10' in p.stdout
    metrics = json.loads((out / 'metrics.json').read_text())
    for key in ('hit_rate@10', 'ndcg@10', 'auc', 'full_ranking', 'history',
                'seconds', 'config', 'devices'):
        assert key in metrics
    assert metrics['devices'] == ['cpu(0)', 'cpu(1)']
    p = run_script('recommend.py', '--model-dir', out, '--user', 3, '-k', 5)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 6 and 'Movie' in lines[1]
    # user 3 (group 0) has rated only even item ids; none is recommended
    rated = {int(l.split('\t')[1]) for l in
             open(os.path.join(checker_dir, 'u.data')) if l.startswith('3\t')}
    shown = {int(l.split('(item ')[1].split(',')[0]) for l in lines[1:]}
    assert not rated & shown
    p = run_script('recommend.py', '--model-dir', out, '--user', 999)
    assert p.returncode == 2 and 'unknown user 999' in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize('args, needle', [
    (['--nums-hiddens', '10,x'], '--nums-hiddens'),
    (['--protocol', 'other'], '--protocol'),
    (['--pretrain-gmf', '/tmp'], 'together'),
])
def test_train_neumf_bad_values(checker_dir, tmp_path, args, needle):
    p = run_script('train_neumf.py', '--data-dir', checker_dir, '--out',
                   tmp_path / 'o', *args)
    assert p.returncode == 2
    assert needle in p.stderr and len(p.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(not sys.platform.startswith('linux'),
                    reason='the huge-page restart is Linux only')
def test_train_autorec_restarts_once_with_huge_pages(tmp_path):
    """Without GLIBC_TUNABLES the script starts itself again, once, with
    glibc's hugetlb tunable (its child sees it); a value the user set is
    kept as it is."""
    probe = tmp_path / 'probe.py'     # the script, reporting its environment
    source = open(os.path.join(ROOT, 'scripts', 'train_autorec.py')).read()
    probe.write_text(source.replace(
        'from d2l_recsys.commands.train import train  # noqa: E402',
        'print("TUNABLES=" + repr(os.environ.get("GLIBC_TUNABLES")))\n'
        'raise SystemExit(0)', 1))
    env = {k: v for k, v in os.environ.items() if k != 'GLIBC_TUNABLES'}
    p = subprocess.run([sys.executable, str(probe)], env=env, text=True,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["TUNABLES='glibc.malloc.hugetlb=1'"]
    p = subprocess.run([sys.executable, str(probe)], text=True,
                       capture_output=True, timeout=120,
                       env=dict(env, GLIBC_TUNABLES=''))
    assert p.stdout.splitlines() == ["TUNABLES=''"]
