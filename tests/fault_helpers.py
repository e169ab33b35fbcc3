"""Helpers of the fault tests (tests/test_faults_runs.py, test_faults_damage.py
and test_faults_searches.py): how a faulty process is launched, what its
errors look like, and checks of the folders it leaves.  Their shared data
and uninterrupted runs are conftest's session fixtures ``fault_ml``,
``fault_options`` and ``fault_reference``.

Every faulty process is ``python tests/faults.py SPEC -- ARGS`` (see
``faults.py``): the ``d2l-recsys`` command run in-process after the fault
is installed.  A fault's kill is ``SIGKILL`` (exit code -9: nothing of the
process runs after it); what it leaves is then continued with ``--resume``
and compared with an uninterrupted run of the same options, made through the
same launcher (``none``).  Every process runs with one OpenMP thread, so
that all of them compute alike (and AutoRec's command does not restart
itself to set its environment).
"""
import json
import os

import pytest
import signal
import subprocess
import sys

import numpy as onp
from conftest import LineReader

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


@pytest.fixture(scope='module')
def options(fault_options):
    """Each model's command (conftest's ``fault_options``)."""
    return fault_options


# The fixtures the kill and damage tests share (imported by name there).
@pytest.fixture(scope='module')
def reference(fault_reference):
    """``reference(model)``: ``(run folder, steps of each epoch)`` of the
    model's uninterrupted run, made once in the session (conftest's
    ``fault_reference``)."""
    return fault_reference
