"""Faults: runs, searches and exports killed at any step or write, writes
that fail, damaged files, and two processes on one folder.

Every faulty process is ``python tests/faults.py SPEC -- ARGS`` (see
``faults.py``): the ``d2l-recsys`` command run in-process after the fault
is installed.  A fault's kill is ``SIGKILL`` (exit code -9: nothing of the
process runs after it); what it leaves is then continued with ``--resume``
and compared with an uninterrupted run of the same options, made through the
same launcher (``none``).  Every process runs with one OpenMP thread, so
that all of them compute alike (and AutoRec's command does not restart
itself to set its environment).

The long kill chains (``@pytest.mark.slow``) run with ``-m slow``.
"""
import errno
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as onp
import pytest
from conftest import LineReader, alive, make_movielens

HERE = os.path.dirname(os.path.abspath(__file__))
FAULTS = os.path.join(HERE, 'faults.py')
ENV = dict(os.environ, OMP_NUM_THREADS='1',
           GLIBC_TUNABLES='glibc.malloc.hugetlb=1')
KILLED = -signal.SIGKILL
EPOCHS = 6
# results that differ between two runs of the same options
TIMING = ('seconds', 'phases', 'epoch_seconds')
# where a run was written and how it was started
WHERE = ('out', 'resume', 'overwrite')
# lines a resumed process may print on stderr besides an error
NOTICES = ('taking over the lock left by pid',
           'no checkpoint yet; the run starts from its first step')


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------
def launch(specs, args, timeout=300):
    """``python tests/faults.py SPECS -- ARGS``, finished."""
    return subprocess.run([sys.executable, FAULTS, *specs, '--',
                           *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def start(specs, args, **kwargs):
    """The same, started: a ``Popen`` with text pipes."""
    return subprocess.Popen([sys.executable, FAULTS, *specs, '--',
                             *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV,
                            **kwargs)


def start_paused(specs, args):
    """``start``, returned once the launcher says it waits at its pause:
    ``(process, LineReader of its stderr)``."""
    p = start(specs, args)
    reader = LineReader(p.stderr)
    assert reader.wait_for(lambda line: line.startswith('faults: wait'),
                           120), p.poll()
    return p, reader


def assert_killed(p):
    """``p`` was killed by its fault (and not by anything else)."""
    assert p.returncode == KILLED, (p.returncode, p.stderr[-3000:])
    assert 'faults: SIGKILL at ' in p.stderr, p.stderr[-3000:]


def error_lines(stderr, notices=NOTICES):
    """The lines of ``stderr`` but the launcher's and the known notices."""
    return [line for line in stderr.splitlines()
            if not line.startswith('faults: ')
            and not any(n in line for n in notices)]


def assert_one_error(code, stderr, *words, notices=NOTICES):
    """Exit code 2 and one line ``... error: ...`` holding ``words``; no
    traceback."""
    assert 'Traceback' not in stderr, stderr
    lines = error_lines(stderr, notices)
    assert code == 2, stderr
    assert len(lines) == 1 and ': error: ' in lines[0], stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def command(capsys, *argv):
    """``d2l-recsys ARGV`` in this process: ``(exit code, stdout,
    stderr)``; an exception (a traceback) fails the test."""
    from d2l_recsys.commands import main
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------
def read(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def temporary(folder):
    """The temporary files and folders (``.tmp-*``) under ``folder``."""
    return [os.path.join(root, n) for root, dirs, files in os.walk(folder)
            for n in dirs + files if n.startswith('.tmp-')]


def snapshot(folder):
    """``{relative path: bytes}`` of every file under ``folder``."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def checkpoint_epoch(folder):
    """The epoch of ``folder``'s last checkpoint, or None when it has none,
    after checking that each of its records (``state.json``,
    ``previous.json``) reads back and names files that exist."""
    from d2l_recsys.checkpoints import checkpoints
    try:
        found = checkpoints(folder)
    except FileNotFoundError:
        return None
    for name, meta in found:
        assert not isinstance(meta, Exception), meta
        for path in meta['files'].values():
            assert os.path.isfile(path), (name, path)
    return found[0][1]['epoch']


def results(folder):
    """``metrics.json`` without its timings and where the run was."""
    res = {k: v for k, v in read(os.path.join(folder, 'metrics.json'))
           .items() if k not in TIMING}
    res['config'] = {k: v for k, v in res['config'].items()
                     if k not in WHERE}
    return res


def assert_same_run(folder, reference):
    """``folder`` holds the run ``reference`` holds, and only it: the same
    history (floats equal), results, model (``model.params`` byte for
    byte, and it loads), ``model.json`` and configuration; its last
    checkpoint is of the last epoch; no temporary file is left."""
    from d2l_recsys.run_folder import load_model
    got, want = results(folder), results(reference)
    assert got['history'] == want['history']
    assert got == want
    for name in ('model.params', 'model.json'):
        with open(os.path.join(folder, name), 'rb') as a, \
                open(os.path.join(reference, name), 'rb') as b:
            assert a.read() == b.read(), name
    load_model(folder)
    stored = {k: v for k, v in read(os.path.join(folder, 'run.json'))[
        'config'].items() if k not in WHERE}
    assert stored == want['config']
    assert checkpoint_epoch(folder) == len(want['history'])
    assert temporary(folder) == []


# --------------------------------------------------------------------------
# Data and the uninterrupted runs
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def ml(tmp_path_factory):
    """203 ratings of 20 users and 30 items."""
    return make_movielens(str(tmp_path_factory.mktemp('faults') /
                              'ml-100k'), num_users=20, num_items=30)


@pytest.fixture(scope='module')
def options(ml, checker_dir):
    """Each model's command: MF and AutoRec on ``ml``, GMF under the NCF
    protocol on the checkerboard."""
    tail = ['--epochs', EPOCHS, '--devices', 'cpu', '--quiet']
    return {
        'mf': ['train', 'mf', '--data-dir', ml, '--batch-size', 32] + tail,
        'autorec': ['train', 'autorec', '--data-dir', ml, '--num-hiddens',
                    8, '--batch-size', 8] + tail,
        'gmf': ['train', 'gmf', '--protocol', 'ncf', '--data-dir',
                checker_dir, '--num-factors', 4, '--batch-size', 256,
                '--num-test-negatives', 20] + tail}


def epoch_steps(trace):
    """The optimizer steps of each epoch of a traced run (the steps before
    each checkpoint's parameters are written)."""
    steps, count = [], 0
    with open(trace, encoding='utf-8') as f:
        for line in f:
            if line.startswith('step '):
                count += 1
            elif line.startswith('write ') and '/checkpoint/net-' in line:
                steps.append(count)
                count = 0
    return steps


@pytest.fixture(scope='module')
def reference(options, tmp_path_factory):
    """``reference(model)``: ``(run folder, steps of each epoch)`` of the
    model's uninterrupted run (made once)."""
    made = {}

    def get(model):
        if model not in made:
            base = tmp_path_factory.mktemp(f'reference-{model}')
            trace, out = base / 'trace', str(base / 'run')
            p = launch([f'trace:{trace}'], options[model] + ['--out', out])
            assert p.returncode == 0, p.stderr
            steps = epoch_steps(trace)
            assert len(steps) == EPOCHS and min(steps) >= 3, steps
            made[model] = out, steps
        return made[model]
    return get


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
# 3. Damaged files
# --------------------------------------------------------------------------
DAMAGES = ('empty', 'truncated', 'junk', 'other')


def damage(path, how, other=None):
    """Replace the file ``path`` by nothing, its first half, 2 KB of
    random bytes, or the file ``other`` (another run's)."""
    with open(path, 'rb') as f:
        data = f.read()
    new = {'empty': b'', 'truncated': data[:len(data) // 2],
           'junk': onp.random.default_rng(0).bytes(2048)}
    if how == 'other':
        with open(other, 'rb') as f:
            new['other'] = f.read()
        assert new['other'] != data
    with open(path, 'wb') as f:
        f.write(new[how])


def stopped_run(options, steps, out, *extra):
    """An MF run killed in epoch 3: its last checkpoint is epoch 2's, the
    one before epoch 1's."""
    p = launch([f'kill:step:{steps[0] + steps[1] + 2}'],
               options['mf'] + list(extra) + ['--out', out])
    assert_killed(p)
    assert checkpoint_epoch(out) == 2
    return out


@pytest.fixture(scope='module')
def runs(options, reference, tmp_path_factory):
    """The folders the damaged files are taken from: two MF runs stopped in
    epoch 3 (the second of other options), the finished MF and GMF runs,
    and their exports."""
    from d2l_recsys.serving import load_predictor, write_export
    base = tmp_path_factory.mktemp('damaged')
    steps = reference('mf')[1]
    folders = dict(
        stopped=stopped_run(options, steps, str(base / 'stopped')),
        stopped_other=stopped_run(options, steps, str(base / 'other'),
                                  '--num-factors', 5, '--seed', 3),
        finished=reference('mf')[0], finished_other=reference('gmf')[0])
    for name, run in (('export', 'finished'),
                      ('export_other', 'finished_other')):
        folders[name] = str(base / name)
        write_export(load_predictor(folders[run]), folders[name])
    return folders


def copy(runs, name, tmp_path):
    """A copy of the folder ``runs[name]`` to damage."""
    return shutil.copytree(runs[name], str(tmp_path / name), symlinks=True)


def assert_close(got, want, where='results'):
    """Equal, floats to 1e-6 (a run resumed in this process, whose MXNet
    may use other threads than the uninterrupted run's)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for k in want:
            assert_close(got[k], want[k], f'{where}[{k!r}]')
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for k, (a, b) in enumerate(zip(got, want)):
            assert_close(a, b, f'{where}[{k}]')
    else:
        assert got == want, where


def test_truncated_checkpoint_resumes_from_the_one_before(
        runs, reference, tmp_path):
    """The last checkpoint's parameters cut to 1,000 bytes: ``--resume``
    says so on stderr, continues from the checkpoint before (epoch 1) and
    ends with the uninterrupted run.

    Mutation tried: Checkpoint.on_train_begin raising at the first damaged
    checkpoint instead of trying the one before: exit 2 (fails)."""
    out = copy(runs, 'stopped', tmp_path)
    params = os.path.join(out, 'checkpoint', 'net-e0002-b000000.params')
    assert os.path.getsize(params) > 1000
    with open(params, 'r+b') as f:
        f.truncate(1000)
    p = launch(['none'], ['train', 'mf', '--resume', out])
    assert p.returncode == 0, p.stderr
    assert 'Traceback' not in p.stderr
    lines = error_lines(p.stderr)
    assert len(lines) == 2, p.stderr
    assert lines[0].startswith(f'{params}: damaged'), lines
    assert lines[1] == ('resuming from the checkpoint before it instead: '
                        'epoch 1, batch 0'), lines
    assert_same_run(out, reference('mf')[0])


CHECKPOINT_FILES = ['net-e0002-b000000.params',
                    'trainer-e0002-b000000.states', 'state.json']


@pytest.mark.parametrize('how', DAMAGES)
@pytest.mark.parametrize('name', CHECKPOINT_FILES)
def test_damaged_checkpoint_falls_back(name, how, runs, capsys, tmp_path):
    """The last checkpoint's parameters, optimizer states or record empty,
    cut short, junk or another run's (another MF: 5 factors, seed 3): the
    resume names it, continues from the checkpoint before and ends as the
    uninterrupted run (here in this process: floats to 1e-6).

    Mutation tried: Checkpoint._restore without the check of the states
    (``fits_states``): another run's optimizer states load and the next
    step raises MXNetError with a traceback (fails); without the
    configuration check, another run's state.json resumes silently with
    its history (fails: no line on stderr)."""
    out = copy(runs, 'stopped', tmp_path)
    path = os.path.join(out, 'checkpoint', name)
    damage(path, how, os.path.join(runs['stopped_other'], 'checkpoint',
                                   name))
    code, _, err = command(capsys, 'train', 'mf', '--resume', out)
    assert code == 0, err
    lines = error_lines(err)
    assert len(lines) == 2 and lines[0].startswith(f'{path}: damaged'), err
    assert lines[1].endswith('instead: epoch 1, batch 0'), err
    assert_close(results(out), results(runs['finished']))


def test_no_usable_checkpoint_is_one_line(runs, capsys, tmp_path):
    """Both checkpoints damaged (state.json and previous.json junk): exit
    2 and one line saying none is usable and what to do.

    Mutation tried: on_train_begin returning when every checkpoint failed
    (starting over silently): exit 0 (fails)."""
    out = copy(runs, 'stopped', tmp_path)
    for name in ('state.json', 'previous.json'):
        damage(os.path.join(out, 'checkpoint', name), 'junk')
    code, _, err = command(capsys, 'train', 'mf', '--resume', out)
    assert_one_error(code, err, 'previous.json', 'no usable checkpoint',
                     '--overwrite')


@pytest.mark.parametrize('how', DAMAGES)
def test_damaged_run_json(how, runs, capsys, tmp_path):
    """run.json empty, cut short, junk or another run's: ``--resume`` of a
    stopped run and ``recommend`` of a finished one each exit 2 with one
    line naming it (another MF run's run.json: its checkpoints are another
    run's; a GMF run's: two runs' files).

    Mutation tried: open_run without the check of the entry against
    model.json: the GMF run.json in the MF folder gives "the MF model was
    built for ... is it the data ...", which names neither file (fails)."""
    stopped, finished = copy(runs, 'stopped', tmp_path), \
        copy(runs, 'finished', tmp_path)
    damage(os.path.join(stopped, 'run.json'), how,
           os.path.join(runs['stopped_other'], 'run.json'))
    damage(os.path.join(finished, 'run.json'), how,
           os.path.join(runs['finished_other'], 'run.json'))
    code, _, err = command(capsys, 'train', 'mf', '--resume', stopped)
    words = ('another run',) if how == 'other' else ('run.json', 'damaged')
    assert_one_error(code, err, stopped, *words)
    code, _, err = command(capsys, 'recommend', '--model-dir', finished,
                           '--user', 3)
    words = ('run.json is a gmf run and model.json a MF',) \
        if how == 'other' else ('run.json', 'damaged')
    assert_one_error(code, err, finished, *words)


@pytest.mark.parametrize('how', DAMAGES)
@pytest.mark.parametrize('name', ['model.params', 'model.json'])
def test_damaged_model(name, how, runs, capsys, tmp_path):
    """model.params or model.json empty, cut short, junk or the GMF run's:
    ``recommend`` and ``export`` exit 2 with one line naming the folder's
    file and what to do.

    Mutation tried: load_model letting MXNet's error through (no
    ``damaged``): the error line carries MXNet's multi-line traceback
    (fails)."""
    finished = copy(runs, 'finished', tmp_path)
    damage(os.path.join(finished, name), how,
           os.path.join(runs['finished_other'], name))
    for argv in (['recommend', '--model-dir', finished, '--user', 3],
                 ['export', '--model-dir', finished, '--out',
                  tmp_path / 'export']):
        code, _, err = command(capsys, *argv)
        assert_one_error(code, err, f'{finished}/model.', 'damaged',
                         'train the run again')
    assert not os.path.exists(tmp_path / 'export')


@pytest.mark.parametrize('how', DAMAGES)
def test_damaged_metrics_json_is_written_again(how, runs, capsys, tmp_path):
    """metrics.json is read by no command: with it empty, cut short, junk or
    the GMF run's, ``recommend`` answers, and ``--resume`` of the finished
    run writes it again, equal to the uninterrupted run's.

    Mutation tried: load_predictor reading the run's metrics.json
    (``read_json``): ``recommend`` exits 2 on the damaged file (fails)."""
    finished = copy(runs, 'finished', tmp_path)
    path = os.path.join(finished, 'metrics.json')
    damage(path, how, os.path.join(runs['finished_other'], 'metrics.json'))
    code, out, err = command(capsys, 'recommend', '--model-dir', finished,
                             '--user', 3, '-k', 2)
    assert code == 0 and out.startswith('top 2 for user 3'), err
    code, _, err = command(capsys, 'train', 'mf', '--resume', finished)
    assert code == 0, err
    assert_close(results(finished), results(runs['finished']))


EXPORT_FILES = ['export.json', 'model-symbol.json', 'model-0000.params',
                'interactions.npz', 'ids.json', 'titles.json']


@pytest.mark.parametrize('how', DAMAGES)
@pytest.mark.parametrize('name', EXPORT_FILES)
def test_damaged_export(name, how, runs, capsys, tmp_path):
    """An export's file empty, cut short, junk or the GMF export's:
    ``recommend`` from it exits 2 with one line naming the export (its
    file, or the export when its files do not fit together) and saying to
    export again.

    Mutation tried: read_export catching (ValueError, OSError, KeyError,
    EOFError) only: a cut-short interactions.npz raises BadZipFile with a
    traceback (fails); without the check of the symbol's nodes, the GMF
    export's model-symbol.json is served silently (fails)."""
    export = copy(runs, 'export', tmp_path)
    damage(os.path.join(export, name), how,
           os.path.join(runs['export_other'], name))
    code, _, err = command(capsys, 'recommend', '--model-dir', export,
                           '--user', 3)
    assert_one_error(code, err, export, 'export the run again')


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


# --------------------------------------------------------------------------
# 4. Cross-validation folds
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
# 5. Searches
# --------------------------------------------------------------------------
TRIALS = 6


@pytest.fixture(scope='module')
def search_args(ml):
    """A search of 6 MF trials, two at a time, 20 epochs each."""
    return ['tune', '--model', 'mf', '--trials', TRIALS, '--jobs', 2,
            '--max-epochs', 20, '--patience', 20, '--data-dir', ml,
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


# --------------------------------------------------------------------------
# 6. Exports
# --------------------------------------------------------------------------
def exporting(run, out, *extra):
    return ['export', '--model-dir', run, '--out', out, *extra]


def served_model(out):
    from d2l_recsys.serving import load_predictor
    return load_predictor(str(out)).model


def test_export_killed_before_and_after_its_rename(runs, tmp_path):
    """An export killed while it writes its files or just before its
    folder is renamed into place leaves no export; just after, the whole
    export.  Replacing it (--overwrite, by the GMF run's) killed while the
    new files are written or just before the exchange leaves the old one
    byte for byte; just after, the new one whole.  A second export without
    --overwrite is refused in one line; the next export removes the
    leftovers of the killed ones.  (6 kills.)

    Mutation tried: _write building the export in ``out`` itself instead of
    a temporary folder: the kill while its files are written leaves a
    folder without export.json (fails)."""
    import re
    out = tmp_path / 'export'
    mf, gmf = runs['finished'], runs['finished_other']
    into = re.escape(str(out)) + '$'
    for spec in ('kill:write:1:tmp:/export\\.json',
                 f'kill:rename:1:before:{into}'):
        p = launch([spec], exporting(mf, out))
        assert_killed(p)
        assert not out.exists()
    p = launch([f'kill:rename:1:after:{into}'], exporting(mf, out))
    assert_killed(p)
    assert served_model(out) == 'MF'
    first = snapshot(out)
    p = launch(['none'], exporting(mf, out))
    assert_one_error(p.returncode, p.stderr, 'already holds an export',
                     '--overwrite')
    assert snapshot(out) == first
    exchange = 'd2l_recsys.serving.export._exchange'
    for spec in ('kill:write:2:before', f'kill:call:{exchange}:1:before'):
        p = launch([spec], exporting(gmf, out, '--overwrite'))
        assert_killed(p)
        assert snapshot(out) == first
    p = launch([f'kill:call:{exchange}:1:after'],
               exporting(gmf, out, '--overwrite'))
    assert_killed(p)
    assert served_model(out) == 'GMF'
    assert glob.glob(str(tmp_path / '.tmp-export-*'))
    p = launch(['none'], exporting(mf, out, '--overwrite'))
    assert p.returncode == 0, p.stderr
    assert served_model(out) == 'MF'
    assert snapshot(out) == first
    assert glob.glob(str(tmp_path / '.tmp-export-*')) == []


# --------------------------------------------------------------------------
# 7. Two processes, one folder
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


def test_training_into_a_finished_run(runs, options, capsys, tmp_path):
    """Training into a finished run's folder: exit 2, one line saying what
    it holds and the two ways on, every file byte for byte as before; with
    --overwrite (2 epochs) the folder holds the new run only.

    Mutation tried: claim clearing the folder before check_free (as if
    --overwrite were always given): the first run's files are gone
    (fails)."""
    out = copy(runs, 'finished', tmp_path)
    before = snapshot(out)
    code, _, err = command(capsys, *options['mf'], '--out', out)
    assert_one_error(code, err, out, 'already holds a run (run.json)',
                     f'--resume {out}', '--overwrite')
    assert snapshot(out) == before
    code, _, err = command(capsys, *options['mf'], '--epochs', 2, '--out',
                           out, '--overwrite')
    assert code == 0, err
    assert [h['epoch'] for h in read(os.path.join(out, 'metrics.json'))[
        'history']] == [1, 2]
    assert checkpoint_epoch(out) == 2
    assert not glob.glob(os.path.join(out, 'checkpoint', '*-e0006-*'))
