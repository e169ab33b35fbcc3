"""Faults in runs: a training killed at its optimizer steps and at every
kind of write, each kill followed by ``--resume`` (a short chain here, the
28-kill chains of MF, AutoRec and GMF with ``-m slow``); writes that fail
(ENOSPC, EIO); a cross-validation killed in its second fold; and two
trainings started at once into one folder.  Each ends as the uninterrupted
run.  How the processes are launched: tests/fault_helpers.py.
"""
import errno
import os
import time

import pytest
from fault_helpers import (EPOCHS, KILLED, assert_killed, assert_one_error,
                           assert_same_run, checkpoint_epoch, epoch_steps,
                           launch, options, reference,  # noqa: F401
                           results, start, start_paused, temporary)


# --------------------------------------------------------------------------
# 1. Kills at steps and writes, each followed by --resume
# --------------------------------------------------------------------------
def kill_points(steps):
    """The faults of a chain, one process each, and the epoch of the last
    checkpoint once it is killed (None: no checkpoint yet).  The first
    process starts the run; each of the others resumes what the one before
    left (so its counts start at that checkpoint)."""
    last = len(steps)
    return [
        ('kill:step:2', None),                  # epoch 1: no checkpoint yet
        (f'kill:step:{steps[0]}', None),        # epoch 1's last step
        ('kill:write:1:before:/net-', None),    # epoch 1's checkpoint:
        ('kill:write:1:tmp:/net-', None),       # its parameters,
        ('kill:write:1:after:/net-', None),
        ('kill:write:1:tmp:/trainer-', None),   # its optimizer states,
        ('kill:write:1:after:/trainer-', None),
        ('kill:write:1:before:state\\.json', None),     # its record
        ('kill:write:1:tmp:state\\.json', None),
        ('kill:write:1:after:state\\.json', 1),
        ('kill:step:2', 1),                     # in epoch 2
        (f'kill:step:{steps[1]}', 1),           # epoch 2's last step
        ('kill:write:1:before:previous\\.json', 1),     # epoch 2's keeps
        ('kill:write:1:tmp:previous\\.json', 1),        # epoch 1's
        ('kill:write:1:after:previous\\.json', 1),
        ('kill:write:1:tmp:state\\.json', 1),
        ('kill:write:1:after:state\\.json', 2),
        ('kill:write:2:tmp:/trainer-', 3),      # epoch 4's checkpoint
        (f'kill:step:{steps[3] + 2}', 4),       # in epoch 5
        ('kill:write:1:tmp:run\\.json', last),  # the run's outputs
        ('kill:write:1:before:model\\.params', last),
        ('kill:write:1:tmp:model\\.params', last),
        ('kill:write:1:after:model\\.params', last),
        ('kill:write:1:tmp:model\\.json', last),
        ('kill:write:1:tmp:curves\\.html', last),
        ('kill:write:1:after:curves\\.html', last),
        ('kill:write:1:tmp:metrics\\.json', last),
        ('kill:write:1:after:metrics\\.json', last),
    ]


def run_chain(points, first, resume, out):
    """Run a chain of kills: ``first`` starts the run, ``resume`` continues
    it; after each kill the folder's checkpoints read back, name files that
    exist and are of the expected epoch, and the next process takes the
    dead one's lock over (naming its pid) and says whether it starts over.
    Returns the number of kills."""
    before = None
    for k, (spec, epoch) in enumerate(points):
        p = start([spec], first + ['--out', out] if k == 0 else resume)
        _, stderr = p.communicate(timeout=300)
        assert p.returncode == KILLED and 'faults: SIGKILL at ' in stderr, \
            (k, spec, p.returncode, stderr[-3000:])
        assert 'Traceback' not in stderr, (k, spec, stderr)
        if before is not None:
            dead, had = before
            assert f'taking over the lock left by pid {dead}' in stderr, \
                (k, spec, stderr)
            assert ('no checkpoint yet' in stderr) == (had is None), \
                (k, spec, stderr)
        assert checkpoint_epoch(out) == epoch, (k, spec)
        before = p.pid, epoch
    return len(points), before


def finish_chain(resume, before):
    """The last ``--resume``, without fault: exit 0."""
    p = launch(['none'], resume)
    assert p.returncode == 0, p.stderr
    assert f'taking over the lock left by pid {before[0]}' in p.stderr
    assert 'Traceback' not in p.stderr
    return p


@pytest.mark.slow
@pytest.mark.parametrize('model', ['mf', 'autorec', 'gmf'])
def test_kills_at_every_step_and_write_then_resume(model, options,
                                                   reference, tmp_path):
    """28 kills per model (MF, AutoRec, GMF under the NCF protocol), each
    followed by ``--resume``: 5 right after optimizer steps (in epoch 1
    before any checkpoint, at its last step, in epoch 2, at its last step,
    in epoch 5 after a redone epoch 4), 14 in checkpoint writes (epoch 1's
    parameters, optimizer states and state.json, each before it writes, as
    a whole temporary file and renamed; epoch 2's previous.json and
    state.json; epoch 4's optimizer states) and 9 in the outputs (run.json,
    model.params, model.json, curves.html, metrics.json).  Every process
    exits -9, its successor takes the dead lock over, and the last
    ``--resume`` ends with the uninterrupted run's history (floats equal),
    results and model bytes.

    Mutation tried: save_checkpoint writing state.json before the
    parameter and optimizer files -- the kill at the parameters' temporary
    file leaves a state.json naming a file that does not exist (fails)."""
    ref, steps = reference(model)
    out = str(tmp_path / 'run')
    points = kill_points(steps)
    kills, before = run_chain(points, options[model], [*options[model][:2],
                              '--resume', out], out)
    assert kills == len(points) == 28
    finish_chain(['train', model, '--resume', out], before)
    assert_same_run(out, ref)


# A short chain, in the default suite.
SHORT = [('kill:step:2', None), ('kill:write:1:tmp:/net-', None),
         ('kill:write:1:after:state\\.json', 1),
         ('kill:write:1:tmp:previous\\.json', 1),
         ('kill:write:1:after:state\\.json', 2), ('kill:step:3', 2),
         ('kill:write:1:tmp:metrics\\.json', EPOCHS)]


def test_short_kill_chain_mf(options, reference, tmp_path):
    """MF killed 7 times (in epoch 1 before any checkpoint, in its
    parameters' temporary file, after its state.json, in epoch 2's
    previous.json and after its state.json, in epoch 3, in metrics.json),
    each followed by ``--resume``: the uninterrupted run.  (The full
    chains: ``-m slow``.)

    Mutation tried: Checkpoint._restore not putting the iterator back
    (``set_iterator_state`` skipped): epoch 2's history differs (fails)."""
    ref, _ = reference('mf')
    out = str(tmp_path / 'run')
    kills, before = run_chain(SHORT, options['mf'],
                              ['train', 'mf', '--resume', out], out)
    assert kills == 7
    finish_chain(['train', 'mf', '--resume', out], before)
    assert_same_run(out, ref)


# --------------------------------------------------------------------------
# 2. Writes that fail
# --------------------------------------------------------------------------
# Each kind of write of a run, in the order a run makes them: the pattern
# of its path and the errors it is made to fail with, one process each.
FAILING = [(pattern, code) for pattern in (
    '/checkpoint/net-', '/checkpoint/trainer-', '/checkpoint/state\\.json',
    '/checkpoint/previous\\.json', '/run\\.json', '/model\\.params',
    '/model\\.json', '/curves\\.html', '/metrics\\.json')
    for code in ('ENOSPC', 'EIO')]


def test_failing_writes_stop_the_run_in_one_line_and_resume(
        options, reference, tmp_path):
    """18 failing writes, ENOSPC then EIO at each kind of write of a run
    (checkpoint parameters, optimizer states, state.json, previous.json;
    run.json, model.params, model.json, curves.html, metrics.json at its
    end), one process each, each resuming the one before: each stops the
    run with exit 2 and one line naming the file and the error, no
    traceback, no temporary file left and the checkpoints whole; then
    ``--resume`` without fault gives the uninterrupted run.

    Mutation tried: save_checkpoint writing previous.json inside its
    ``try: ... except (OSError, ...): pass`` (as it was): the failing
    previous.json is swallowed and that run goes on to exit 0 (fails)."""
    ref, _ = reference('mf')
    out = str(tmp_path / 'run')
    resume = ['train', 'mf', '--resume', out]
    for k, (pattern, code) in enumerate(FAILING):
        p = launch([f'fail:{pattern}:1:{code}'],
                   options['mf'] + ['--out', out] if k == 0 else resume)
        assert f'faults: {code} at ' in p.stderr, (pattern, p.stderr)
        assert_one_error(p.returncode, p.stderr, os.strerror(
            getattr(errno, code)), pattern.replace('\\', '').lstrip('/'))
        assert temporary(out) == [], pattern
        checkpoint_epoch(out)
    assert len(FAILING) == 18
    p = launch(['none'], resume)
    assert p.returncode == 0, p.stderr
    assert_same_run(out, ref)


def test_failing_first_write_leaves_a_reusable_folder(options, reference,
                                                      tmp_path):
    """run.json, the first write of a run, failing (before any training,
    nothing to resume): with ENOSPC in a folder the run made, the folder is
    removed; with EIO in an empty folder the user made, it stays empty (a
    lock file aside).  Both exit 2 with one line; the same command then
    makes the whole run there, without --overwrite.

    Mutation tried: claim removing after a failure a folder it did not
    make (``made`` always true): the user's empty folder is gone (fails).
    (Without both removals of a made folder, claim's and
    commands/train.py's ``remove_if_unused``, the ENOSPC folder stays.)"""
    ref, _ = reference('mf')
    new = str(tmp_path / 'new')
    p = launch(['fail:/run\\.json:1:ENOSPC'], options['mf'] + ['--out', new])
    assert_one_error(p.returncode, p.stderr, 'No space left on device',
                     'run.json')
    assert not os.path.exists(new)
    made = tmp_path / 'made'
    made.mkdir()
    p = launch(['fail:/run\\.json:1:EIO'], options['mf'] + ['--out', made])
    assert_one_error(p.returncode, p.stderr, 'Input/output error',
                     'run.json')
    assert set(os.listdir(made)) <= {'.lock'}
    p = launch(['none'], options['mf'] + ['--out', made])
    assert p.returncode == 0, p.stderr
    assert_same_run(str(made), ref)


# --------------------------------------------------------------------------
# 3. Cross-validation folds
# --------------------------------------------------------------------------
def steps_in(trace):
    with open(trace, encoding='utf-8') as f:
        return sum(line.startswith('step ') for line in f)


def test_folds_killed_in_fold_2_resume(fold_dir, tmp_path):
    """``train mf --folds 5`` killed in the middle of fold 2 (epoch 2 of 3,
    after its first checkpoint): ``--resume`` trains only what was left
    (fold 2 from its checkpoint, folds 3-5; fold 1 not again) and the five
    folds' results, and each fold's run, equal an uninterrupted run's.

    Mutation tried: cross_validate writing run.json only after the last
    fold (as it was): the folder cannot be resumed, "not a run folder (no
    run.json)" (fails)."""
    args = ['train', 'mf', '--data-dir', fold_dir, '--folds', 5,
            '--epochs', 3, '--batch-size', 64, '--devices', 'cpu', '--quiet']
    ref, out = str(tmp_path / 'reference'), str(tmp_path / 'cv')
    p = launch([f'trace:{tmp_path / "trace"}'], args + ['--out', ref])
    assert p.returncode == 0, p.stderr
    steps = epoch_steps(tmp_path / 'trace')
    assert len(steps) == 15
    fold_1 = sum(steps[:3])
    p = launch([f'kill:step:{fold_1 + steps[3] + 2}'], args + ['--out', out])
    assert_killed(p)
    assert checkpoint_epoch(os.path.join(out, 'fold-1')) == 3
    assert checkpoint_epoch(os.path.join(out, 'fold-2')) == 1
    assert not os.path.exists(os.path.join(out, 'fold-3'))
    p = launch([f'trace:{tmp_path / "resumed"}'],
               ['train', 'mf', '--resume', out])
    assert p.returncode == 0, p.stderr
    assert steps_in(tmp_path / 'resumed') == sum(steps) - fold_1 - steps[3]
    assert results(out) == results(ref)
    assert len(results(out)['folds']) == 5
    for k in range(1, 6):
        assert_same_run(os.path.join(out, f'fold-{k}'),
                        os.path.join(ref, f'fold-{k}'))


# --------------------------------------------------------------------------
# 4. Two processes, one folder
# --------------------------------------------------------------------------
def test_two_trainings_started_at_once(options, reference, tmp_path):
    """Two trainings started at once into one folder, each made to wait at
    its first step: one exits 2 with one line naming the other's pid while
    the other waits; let go, the other ends with the uninterrupted run.

    Mutation tried: folders.lock without its flock (every process takes
    the lock): the second is not refused as in use by the first (it
    finds the first's run.json instead) (fails)."""
    out, go = tmp_path / 'run', tmp_path / 'go'
    both = [start([f'wait:step:1:{go}'], options['mf'] + ['--out', out])
            for _ in range(2)]
    deadline = time.monotonic() + 120
    while all(p.poll() is None for p in both):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    loser = next(p for p in both if p.poll() is not None)
    winner = next(p for p in both if p is not loser)
    _, err = loser.communicate()
    assert_one_error(loser.returncode, err, f'in use by pid {winner.pid}')
    time.sleep(0.5)
    assert winner.poll() is None
    go.touch()
    _, err = winner.communicate(timeout=120)
    assert winner.returncode == 0, err
    assert_same_run(str(out), reference('mf')[0])


def test_refused_training_names_a_holder_that_just_locked(options,
                                                          tmp_path):
    """The race of two trainings started at once, made certain: the first
    holds the lock but has not written its pid yet (it waits at that
    ``os.pwrite``) when the second tries the lock; the second still names
    the first's pid in its one line (the holder writes it a moment later).

    Mutation tried: folders.lock reading the holder once (as it was): "in
    use by another process", no pid (fails; the test above saw this
    1 time in 16 before the fix)."""
    out = tmp_path / 'run'
    go_first, go_second = tmp_path / 'go-first', tmp_path / 'go-second'
    first, reader = start_paused(
        [f'wait:call:os.pwrite:1:{go_first}'],
        options['mf'] + ['--out', out])
    assert (out / '.lock').read_text() == ''
    second, waiting = start_paused(
        [f'wait:call:fcntl.flock:1:{go_second}'],
        options['mf'] + ['--out', out])
    go_second.touch()
    time.sleep(0.3)         # the second has found the lock taken
    go_first.touch()
    assert second.wait(timeout=120) == 2
    assert_one_error(2, waiting.rest(10), f'in use by pid {first.pid}')
    reader.rest(120)
    assert first.wait(timeout=120) == 0


def test_refused_training_leaves_the_running_ones_folder(options, reference,
                                                         tmp_path):
    """A training refused because another took the folder after it looked
    (the folder did not exist yet: it would count it as one it made), at a
    moment when the folder holds nothing but the other's lock (that one
    waits before writing run.json): the refused one exits 2 with one line
    naming the other's pid and leaves the folder as it is -- the same lock
    file, with the other's pid -- and the other ends with the uninterrupted
    run.

    Mutation tried: commands/train.py without its ``except FolderInUse``
    (the refused process removing "the unused folder it made"): the
    running one's lock file is removed (fails)."""
    out = tmp_path / 'run'
    go_first, go_second = tmp_path / 'go-first', tmp_path / 'go-second'
    second, waiting = start_paused(
        [f'wait:call:d2l_recsys.runs.run:1:{go_second}'],
        options['mf'] + ['--out', out])
    assert not out.exists()
    first, reader = start_paused(
        [f'wait:write:1:{go_first}:run\\.json'],
        options['mf'] + ['--out', out])
    lock = out / '.lock'
    inode = os.stat(lock).st_ino
    go_second.touch()
    assert second.wait(timeout=120) == 2
    assert_one_error(2, waiting.rest(10), f'in use by pid {first.pid}')
    assert os.stat(lock).st_ino == inode
    assert lock.read_text().startswith(f'{first.pid}\n')
    go_first.touch()
    reader.rest(120)
    assert first.wait(timeout=120) == 0
    assert_same_run(str(out), reference('mf')[0])
