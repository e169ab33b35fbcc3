"""Output folders: one writer at a time, no silent replacement, new default
folders that never collide (``d2l_recsys.folders``), through the library and
the commands that write (train, tune, export, predict, reproduce)."""
import multiprocessing
import os
import subprocess
import sys

import pytest

from conftest import ROOT, run_script
from d2l_recsys.folders import (FolderInUse, claim, fresh_folder, holds,
                                lock, sibling_lock)


def _hold(folder, ready, done):
    """Child process: hold ``folder``'s lock until told to let go."""
    with lock(folder):
        ready.set()
        done.wait(30)


def test_a_held_lock_names_its_holder(tmp_path):
    """Mutation tried: taking no flock on the lock file lets the second
    claim through."""
    ctx = multiprocessing.get_context('fork')
    ready, done = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold, args=(str(tmp_path), ready, done))
    child.start()
    try:
        assert ready.wait(30)
        with pytest.raises(FolderInUse, match=f'in use by pid {child.pid}'):
            with lock(str(tmp_path)):
                pass
    finally:
        done.set()
        child.join(30)
    with lock(str(tmp_path)):       # free again once the holder ended
        pass


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, capfd):
    """A process killed while holding the lock leaves its pid in the file;
    the next claim takes it over and says so."""
    p = subprocess.Popen([sys.executable, '-c', (
        'import os, signal, sys; sys.path.insert(0, sys.argv[1]); '
        'from d2l_recsys.folders import lock\n'
        'with lock(sys.argv[2]):\n'
        '    os.kill(os.getpid(), signal.SIGKILL)'), ROOT, str(tmp_path)])
    assert p.wait(60) == -9
    with open(tmp_path / '.lock') as f:
        dead = int(f.readline())
    with lock(str(tmp_path)):
        pass
    err = capfd.readouterr().err
    assert f'taking over the lock left by pid {dead}' in err
    with lock(str(tmp_path)):       # a clean end leaves no holder behind
        pass
    assert 'taking over' not in capfd.readouterr().err


def test_claim_refuses_a_folder_that_holds_work(tmp_path):
    run = tmp_path / 'run'
    run.mkdir()
    (run / 'run.json').write_text('{}')
    with pytest.raises(FolderInUse, match=r'already holds a run \(run.json\)'
                                          '; give --resume .* or '
                                          '--overwrite'):
        with claim(str(run), resume_flag='--resume run to continue it'):
            pass
    with claim(str(run), resume=True):
        pass
    assert (run / 'run.json').exists()
    with claim(str(run), overwrite=True):
        assert holds(str(run)) is None      # cleared, the lock aside
    with pytest.raises(FolderInUse, match='not both'):
        with claim(str(run), resume=True, overwrite=True):
            pass


def test_a_failed_start_leaves_no_folder_behind(tmp_path):
    with pytest.raises(RuntimeError):
        with claim(str(tmp_path / 'new')):
            raise RuntimeError('bad data')
    assert not (tmp_path / 'new').exists()


def test_fresh_folders_never_collide(tmp_path):
    prefix = str(tmp_path / 'runs' / 'mf')
    made = [fresh_folder(prefix) for _ in range(3)]
    assert len(set(made)) == 3 and all(os.path.isdir(m) for m in made)


def test_train_refuses_a_finished_run_and_overwrites_when_asked(ml_dir,
                                                               tmp_path):
    """Mutation tried: dropping the claim from ``runs.api.run`` lets the
    second training replace the first run's files with exit 0."""
    out = tmp_path / 'same'
    first = run_script('train_mf.py', '--data-dir', ml_dir, '--epochs', '3',
                       '--out', out)
    assert first.returncode == 0, first.stderr
    before = {p: (out / p).read_bytes() for p in
              ('run.json', 'metrics.json', 'model.params', 'curves.html')}
    again = run_script('train_mf.py', '--data-dir', ml_dir, '--epochs', '2',
                       '--out', out)
    assert again.returncode == 2
    assert again.stderr.count('\n') == 1 and 'already holds a run' in \
        again.stderr and f'--resume {out}' in again.stderr and \
        '--overwrite' in again.stderr
    assert {p: (out / p).read_bytes() for p in before} == before
    replaced = run_script('train_mf.py', '--data-dir', ml_dir, '--epochs',
                          '2', '--out', out, '--overwrite')
    assert replaced.returncode == 0, replaced.stderr
    assert (out / 'model.params').read_bytes() != before['model.params']


def test_default_run_folders_are_new(ml_dir, tmp_path):
    for _ in range(2):
        p = run_script('train_mf.py', '--data-dir', ml_dir, '--epochs', '1',
                       cwd=tmp_path)
        assert p.returncode == 0, p.stderr
    assert len(os.listdir(tmp_path / 'runs')) == 2


def test_export_predict_and_report_refuse_to_replace(ml_dir, tmp_path):
    run = tmp_path / 'run'
    assert run_script('train_mf.py', '--data-dir', ml_dir, '--epochs', '1',
                      '--out', run).returncode == 0
    export = tmp_path / 'export'
    for expected in (0, 2):
        p = run_script('export.py', '--model-dir', run, '--out', export)
        assert p.returncode == expected, p.stderr
    assert 'already holds an export' in p.stderr and '--overwrite' in \
        p.stderr
    assert run_script('export.py', '--model-dir', run, '--out', export,
                      '--overwrite').returncode == 0
    assert not os.path.exists(os.path.join(export, '.lock'))
    assert os.path.exists(sibling_lock(str(export)))
    pairs = tmp_path / 'pairs.csv'
    pairs.write_text('user,item\n1,1\n')
    scored = tmp_path / 'scored.csv'
    scored.write_text('mine\n')
    p = run_script('predict.py', '--model-dir', run, '--pairs', pairs,
                   '--out', scored)
    assert p.returncode == 2 and 'exists; give --overwrite' in p.stderr
    assert scored.read_text() == 'mine\n'
    assert run_script('predict.py', '--model-dir', run, '--pairs', pairs,
                      '--out', scored, '--overwrite').returncode == 0
    report = tmp_path / 'results'
    report.mkdir()
    (report / 'reproduction.json').write_text('{"rows": []}')
    p = run_script('reproduce.py', '--data-dir', ml_dir, '--quick',
                   '--seeds', '1', '--out', report)
    assert p.returncode == 2 and 'already holds a report' in p.stderr
    assert (report / 'reproduction.json').read_text() == '{"rows": []}'
