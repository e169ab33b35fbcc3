"""The parameter-server launcher: a real dist_sync job on loopback, failures,
signals, bad arguments and the ssh command line (multi-host is untested).

Child scripts write their pid into ``tmp_path/pids`` before anything else, so
that each test can check that no process is left, and kill leftovers if the
launcher itself failed.
"""
import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import alive

from d2l_recsys import launch as L

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PID_PREAMBLE = """\
import os, sys, time
PIDS = {pids!r}
ROLE, RANK = os.environ['D2L_RECSYS_ROLE'], os.environ['D2L_RECSYS_RANK']
def note_pid(pid, name=ROLE + RANK):
    with open(os.path.join(PIDS, name + '.tmp'), 'w') as f:
        f.write(str(pid))
    os.replace(os.path.join(PIDS, name + '.tmp'), os.path.join(PIDS, name))
note_pid(os.getpid())
"""


def pids(folder):
    return {name: int(open(os.path.join(folder, name)).read())
            for name in os.listdir(folder) if not name.endswith('.tmp')}


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.05)


@pytest.fixture
def job(tmp_path):
    """Write a child script; afterwards check (and ensure) no pid lives."""
    folder = tmp_path / 'pids'
    folder.mkdir()

    def write(body):
        script = tmp_path / 'child.py'
        script.write_text(PID_PREAMBLE.format(pids=str(folder))
                          + textwrap.dedent(body))
        return [sys.executable, str(script)]

    write.pids = lambda: pids(folder)
    yield write
    left = {n: p for n, p in pids(folder).items() if alive(p)}
    for pid in left.values():
        os.kill(pid, signal.SIGKILL)
    assert not left, f'processes left behind: {left}'


def assert_all_gone(found, expected):
    assert set(found) >= expected
    wait_for(lambda: not any(alive(p) for p in found.values()), 2)


def test_dist_sync_push_pull_on_loopback(job, capsys):
    command = job("""
        import mxnet as mx   # scheduler and server stay in here, then exit
        kv = mx.kv.create('dist_sync')
        kv.init(3, mx.nd.ones((2, 3)))
        kv.push(3, mx.nd.ones((2, 3)) * (kv.rank + 1))
        out = mx.nd.zeros((2, 3))
        kv.pull(3, out=out)
        print('rank', kv.rank, 'of', kv.num_workers,
              'out', out.asnumpy().ravel().tolist())
    """)
    start = time.monotonic()
    code = L.launch(command, num_workers=2, num_servers=1,
                    env={'PS_VERBOSE': '0'}, timeout=60)
    out, err = capsys.readouterr()
    assert code == 0, out + err
    # scheduler and server exited by themselves, not stopped after LINGER
    assert time.monotonic() - start < L.LINGER
    assert 'still running' not in err
    lines = [ln for ln in out.splitlines() if ' out ' in ln]
    assert len(lines) == 2, out
    ranks = set()
    for worker, line in zip((0, 1), sorted(lines)):
        # the launcher's label; ps-lite's kv.rank is in order of registration
        assert line.startswith(f'[worker {worker}] rank ')
        ranks.add(line.split()[3])
        assert line.endswith("of 2 out [3.0, 3.0, 3.0, 3.0, 3.0, 3.0]")
    assert ranks == {'0', '1'}
    assert_all_gone(job.pids(), {'scheduler0', 'server0', 'worker0',
                                 'worker1'})


def test_failing_worker_stops_the_others(job, capsys):
    command = job("""
        import subprocess
        if ROLE + RANK == 'worker0':   # a grandchild, same process group
            note_pid(subprocess.Popen(['sleep', '60']).pid, 'grandchild')
        if ROLE + RANK == 'worker1':
            deadline = time.time() + 10
            while len(os.listdir(PIDS)) < 5 and time.time() < deadline:
                time.sleep(0.05)
            print('failing now', flush=True)
            sys.exit(3)
        time.sleep(60)
    """)
    start = time.monotonic()
    code = L.launch(command, num_workers=2, timeout=60)
    captured = capsys.readouterr()
    assert code == 3
    assert time.monotonic() - start < 30
    assert '[worker 1] failing now' in captured.out.splitlines()
    assert 'worker 1 exited with code 3' in captured.err
    assert_all_gone(job.pids(), {'scheduler0', 'server0', 'worker0',
                                 'worker1', 'grandchild'})


def test_killed_worker_stops_the_job(job, capsys):
    command = job("""
        import mxnet as mx
        kv = mx.kv.create('dist_sync')   # every node has registered
        note_pid(os.getpid(), 'ready' + RANK)
        time.sleep(60)
    """)
    result = []
    runner = threading.Thread(target=lambda: result.append(
        L.launch(command, num_workers=2, env={'PS_VERBOSE': '0'},
                 timeout=60)))
    runner.start()
    wait_for(lambda: 'ready1' in job.pids(), 40)
    start = time.monotonic()
    os.kill(job.pids()['ready1'], signal.SIGKILL)
    runner.join(30)
    assert not runner.is_alive()
    assert time.monotonic() - start < 30
    assert result == [128 + signal.SIGKILL]
    assert 'worker 1 was killed by signal 9' in capsys.readouterr().err
    assert_all_gone(job.pids(), {'scheduler0', 'server0', 'worker0',
                                 'worker1'})


@pytest.mark.parametrize('sig, code', [(signal.SIGINT, 130),
                                       (signal.SIGTERM, 143)])
def test_signal_to_launcher_stops_everything(job, sig, code):
    command = job('time.sleep(60)\n')
    launcher = subprocess.Popen(
        [sys.executable, '-m', 'd2l_recsys.launch', '-n', '2', '--',
         *command], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        wait_for(lambda: len(job.pids()) == 4, 30)
        launcher.send_signal(sig)
        out, err = launcher.communicate(timeout=15)
    finally:
        launcher.kill()
        launcher.wait()
    assert launcher.returncode == code, err
    assert f'got signal {int(sig)}' in err
    assert_all_gone(job.pids(), {'scheduler0', 'server0', 'worker0',
                                 'worker1'})


@pytest.mark.parametrize('argv, message', [
    (['-n', '0', '--', 'true'], 'at least one worker'),
    (['-n', '2', '-s', '0', '--', 'true'], 'at least one worker'),
    (['-n', '2', 'true'], 'missing COMMAND'),
    (['-n', '2', '--'], 'missing COMMAND'),
    (['-n', 'x', '--', 'true'], 'invalid int value'),
    (['--', 'true'], 'required: -n'),
    (['-n', '1', '--hostfile', '/nonexistent/hosts', '--', 'true'],
     'No such file'),
])
def test_bad_arguments(argv, message, capsys):
    assert L.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ''
    assert captured.err.count('\n') == 1
    assert captured.err.startswith('python -m d2l_recsys.launch: error: ')
    assert message in captured.err


def test_bad_arguments_command_line(tmp_path):
    empty = tmp_path / 'hosts'
    empty.write_text('# nothing\n\n')
    run = subprocess.run(
        [sys.executable, '-m', 'd2l_recsys.launch', '-n', '1', '--hostfile',
         str(empty), '--', 'true'], cwd=ROOT, capture_output=True,
        text=True, timeout=30)
    assert run.returncode == 2
    assert run.stdout == ''
    assert run.stderr.splitlines() == [
        f'python -m d2l_recsys.launch: error: hostfile {empty} names no host']


def test_hostfile_plan_and_ssh_command(tmp_path):
    hostfile = tmp_path / 'hosts'
    hostfile.write_text('# cluster\nnode-a  # first\n\nalice@node-b\n')
    hosts = L.read_hostfile(str(hostfile))
    assert hosts == ['node-a', 'alice@node-b']
    command = ['python', 'train.py', '--name', "it's a $HOME; test"]
    nodes = L.plan(command, num_workers=3, num_servers=2, hosts=hosts,
                   root_uri='10.0.0.1', port=9000, env={'X': 'a b'},
                   cwd='/work dir/x')
    assert [(n.label, n.host) for n in nodes] == [
        ('scheduler', 'node-a'), ('server 0', 'node-a'),
        ('server 1', 'alice@node-b'), ('worker 0', 'node-a'),
        ('worker 1', 'alice@node-b'), ('worker 2', 'node-a')]
    worker1 = nodes[4]
    assert worker1.argv[:-1] == ['ssh', '-o', 'BatchMode=yes', 'alice@node-b']
    assert worker1.env == {}
    remote = worker1.argv[-1]
    assert remote.startswith("cd '/work dir/x' && env ")
    words = shlex.split(remote)
    assert words[words.index('env') + 1:] == [
        'PYTHONUNBUFFERED=1', 'X=a b', 'DMLC_ROLE=worker',
        'DMLC_PS_ROOT_URI=10.0.0.1', 'DMLC_PS_ROOT_PORT=9000',
        'DMLC_NUM_SERVER=2', 'DMLC_NUM_WORKER=3', 'D2L_RECSYS_ROLE=worker',
        'D2L_RECSYS_RANK=1', *command]


def test_ssh_command_survives_a_real_shell(tmp_path):
    """What sshd does with the remote string: hand it to ``sh -c``."""
    cwd = tmp_path / "dir with 'quotes' and spaces"
    cwd.mkdir()
    probe = ('import os, sys, json; print(json.dumps([os.getcwd(), '
             'os.environ["X"], os.environ["DMLC_ROLE"], sys.argv[1:]]))')
    args = ['a b', "it's", '$HOME', '"q"', '&& echo no', '*']
    argv = L.ssh_command('host', [sys.executable, '-c', probe, *args],
                         {'X': "x 'y' $z", 'DMLC_ROLE': 'server'}, str(cwd))
    run = subprocess.run(['sh', '-c', argv[-1]], capture_output=True,
                         text=True, timeout=30)
    assert json.loads(run.stdout) == [str(cwd), "x 'y' $z", 'server', args]


def test_local_plan_environment():
    nodes = L.plan(['cmd'], num_workers=2, num_servers=1, port=1234,
                   env={'PS_VERBOSE': '0', 'DMLC_ROLE': 'ignored'})
    assert [n.label for n in nodes] == ['scheduler', 'server 0', 'worker 0',
                                        'worker 1']
    worker = nodes[3]
    assert worker.argv == ['cmd'] and worker.host is None
    assert worker.env == {
        'PYTHONUNBUFFERED': '1', 'DMLC_NODE_HOST': '127.0.0.1',
        'PS_VERBOSE': '0', 'DMLC_ROLE': 'worker',
        'DMLC_PS_ROOT_URI': '127.0.0.1', 'DMLC_PS_ROOT_PORT': '1234',
        'DMLC_NUM_SERVER': '1', 'DMLC_NUM_WORKER': '2',
        'D2L_RECSYS_ROLE': 'worker', 'D2L_RECSYS_RANK': '1'}
