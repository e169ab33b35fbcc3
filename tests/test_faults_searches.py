"""Faults in searches: a search (6 MF trials, two at a time) whose whole
process group is killed while its trials run, then resumed; a damaged
leaderboard (as the report reads it) or trial record (as ``tune --resume``
reads it), refused in one line.  How the processes are launched:
tests/fault_helpers.py.
"""
import glob
import os
import shutil
import signal
import time

import pytest
from conftest import alive
from fault_helpers import (DAMAGES, KILLED, assert_one_error, command,
                           damage, launch, read, snapshot, start, temporary)

TRIALS = 6


@pytest.fixture(scope='module')
def search_args(fault_ml):
    """A search of 6 MF trials, two at a time, 20 epochs each."""
    return ['tune', '--model', 'mf', '--trials', TRIALS, '--jobs', 2,
            '--max-epochs', 20, '--patience', 20, '--data-dir', fault_ml,
            '--seed', 0, '--quiet']


@pytest.fixture(scope='module')
def search(search_args, tmp_path_factory):
    """The uninterrupted search's folder."""
    out = str(tmp_path_factory.mktemp('search') / 'search')
    p = launch(['none'], search_args + ['--out', out])
    assert p.returncode == 0, p.stderr
    return out


def group(pgid):
    """The live processes of the process group ``pgid``."""
    found = []
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        pid = int(stat.split('/')[2])
        if int(fields[2]) == pgid and alive(pid):
            found.append(pid)
    return found


def trials_of(board):
    """A leaderboard's trials by number, without their durations."""
    return {t['trial']: {k: v for k, v in t.items() if k != 'seconds'}
            for t in board['trials']}


def test_search_killed_while_trials_run(search, search_args, tmp_path):
    """A search (6 trials, 2 at a time) whose whole process group is killed
    once its first trial is recorded: the records left are whole and
    ``tune --resume`` runs only the others -- the trial that was running
    is run again, the recorded ones are not (their files unchanged) --
    and every trial is recorded once with the uninterrupted search's
    values, best configuration and test result.

    Mutation tried: _tune running every trial again on a resume (``todo``
    all of them): the records written before the kill change (fails)."""
    out = tmp_path / 'search'
    p = start(['none'], search_args + ['--out', out],
              start_new_session=True)
    deadline = time.monotonic() + 180
    while not glob.glob(str(out / 'trials' / 'trial-*.json')):
        assert p.poll() is None and time.monotonic() < deadline, \
            p.communicate()
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate(timeout=60)
    assert p.returncode == KILLED
    deadline = time.monotonic() + 30
    while group(p.pid):
        assert time.monotonic() < deadline, group(p.pid)
        time.sleep(0.05)
    recorded = snapshot(out / 'trials')
    assert 1 <= len(recorded) < TRIALS, sorted(recorded)
    for name in recorded:
        assert read(out / 'trials' / name)['trial'] == int(name[6:9])
    assert not (out / 'leaderboard.json').exists()
    r = launch(['none'], search_args + ['--out', out, '--resume'])
    assert r.returncode == 0, r.stderr
    after = snapshot(out / 'trials')
    assert sorted(after) == [f'trial-{k:03d}.json' for k in range(TRIALS)]
    assert {k: after[k] for k in recorded} == recorded
    board, whole = (read(os.path.join(folder, 'leaderboard.json'))
                    for folder in (out, search))
    assert len(board['trials']) == TRIALS
    assert trials_of(board) == trials_of(whole)
    assert board['best']['config'] == whole['best']['config']
    assert board['test']['test_rmse'] == whole['test']['test_rmse']
    assert temporary(out) == []


@pytest.mark.parametrize('how', DAMAGES)
def test_damaged_leaderboard(how, search, tmp_path):
    """A leaderboard read by the report (``boards.read_boards``) empty, cut
    short, junk or a trial's record: ValueError (``DamagedFile``) whose one
    line names it and says to run the search again; undamaged, it reads.

    Mutation tried: read_boards without ``_read_board``'s check: a
    trial's record raises KeyError 'model' (fails)."""
    from d2l_recsys.files import DamagedFile
    from d2l_recsys.experiments.boards import read_boards
    tuning = tmp_path / 'tuning'
    shutil.copytree(search, tuning / 'mf_seq')
    assert read_boards(str(tuning))['mf_seq']['model'] == 'mf'
    path = str(tuning / 'mf_seq' / 'leaderboard.json')
    damage(path, how, str(tuning / 'mf_seq' / 'trials' / 'trial-000.json'))
    with pytest.raises(DamagedFile) as err:
        read_boards(str(tuning))
    message = str(err.value)
    assert '\n' not in message and message.startswith(f'{path}: damaged')
    assert 'run its search again' in message


@pytest.mark.parametrize('how', DAMAGES)
def test_damaged_trial_record(how, search, search_args, capsys, tmp_path):
    """A trial's record empty, cut short, junk or another trial's: ``tune
    --resume`` exits 2 with one line naming it and saying to delete it.

    Mutation tried: _tune reading the records with read_json alone:
    another trial's record is taken for trial 0's and the search ends with
    exit 0 (fails)."""
    out = tmp_path / 'search'
    shutil.copytree(search, out)
    path = str(out / 'trials' / 'trial-000.json')
    damage(path, how, str(out / 'trials' / 'trial-001.json'))
    code, _, err = command(capsys, *search_args, '--out', out, '--resume')
    assert_one_error(code, err, path, 'delete it and resume')
