"""Launch a job on MXNet's parameter server (``kvstore='dist_sync'``).

::

    python -m d2l_recsys.launch -n 2 -- python train.py --kvstore dist_sync

starts, on this machine, the three roles of MXNet's ps-lite, each as a
process running the same COMMAND:

* one **scheduler**: it introduces the nodes to each other;
* ``-s`` **servers** (default 1): they hold the parameters, split by key, and
  sum the pushed gradients (or apply the optimizer, if the workers set one);
* ``-n`` **workers**: they run your training loop and push/pull through
  ``mx.kv.create('dist_sync')``.

A process does not need to know its role: ``import mxnet`` reads
``DMLC_ROLE`` and, in a scheduler or server, serves until the workers
finish and then exits, never returning to the script.  Every process gets
``DMLC_ROLE``, ``DMLC_PS_ROOT_URI``, ``DMLC_PS_ROOT_PORT``,
``DMLC_NUM_SERVER`` and ``DMLC_NUM_WORKER`` (what ps-lite needs), plus
``D2L_RECSYS_ROLE`` and ``D2L_RECSYS_RANK`` (the launcher's labels) and
``PYTHONUNBUFFERED=1`` (so that output is relayed as it is printed).  Local
processes also get ``DMLC_NODE_HOST=127.0.0.1`` so that nothing listens
beyond loopback.  Note that ps-lite numbers the workers in the order they
register, so ``kv.rank`` need not equal ``D2L_RECSYS_RANK``.

How many servers: one is enough on one machine.  Add servers when the
pushes and pulls of large embedding tables saturate a server's network
link (keys are spread over the servers); on a cluster, use as many servers
as worker hosts, so that each host carries an equal share.

Every output line of a child is relayed prefixed with its label
(``[worker 0] ``, ``[server 0] ``, ``[scheduler] ``).  When a child exits
with an error, the others are stopped (SIGTERM to the process group, then
SIGKILL) and the launcher exits with that child's code (128+N for a child
killed by signal N).  When all workers succeed, the scheduler and servers
are given ``LINGER`` seconds to exit by themselves.  SIGINT and SIGTERM stop
everything and exit 130 and 143.

With ``--hostfile FILE`` (one host per line, ``#`` comments) the processes
are started with ``ssh HOST 'cd CWD && env VARS COMMAND'``: scheduler on the
first host, servers and workers round-robin over the hosts, and
``DMLC_PS_ROOT_URI`` the first host's address (or ``--root-uri``).  The
hosts need password-less ssh, the same path to the same code and a POSIX
login shell; ``--port`` must be free on the first host; stopping the local
ssh client may leave the remote process running.  **Multi-host runs are
untested** (only the ssh command line is unit-tested).

This module uses the standard library only, so ``python
d2l_recsys/launch.py`` also works without importing the package (whose
``__init__`` imports MXNet).
"""
import argparse
import collections
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

GRACE = 3.0    # seconds between SIGTERM and SIGKILL when stopping children
LINGER = 20.0  # seconds scheduler and servers may take after the workers
POLL = 0.1     # seconds between checks of the children

Node = collections.namedtuple('Node', 'label role rank host argv env')
Node.__doc__ = """One process to start.

Args:
    label: prefix of its output lines, e.g. ``'worker 0'``.
    role: ``'scheduler'``, ``'server'`` or ``'worker'``.
    rank: index among the processes of its role.
    host: ssh host, or None for this machine.
    argv: the command line to run here (``ssh ...`` for a remote host).
    env: variables to add to this machine's environment for ``argv``.
"""


def free_port(host='127.0.0.1'):
    """Return a TCP port that is free now on ``host``.

    Args:
        host: address to bind.

    Returns:
        The port number the OS picked for port 0.
    """
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def read_hostfile(path):
    """Read a hostfile: one ssh host per line, ``#`` starts a comment.

    Args:
        path: the file.

    Returns:
        The list of hosts, in file order.

    Raises:
        OSError: the file cannot be read.
        ValueError: it names no host.
    """
    with open(path, encoding='utf-8') as f:
        hosts = [line.split('#', 1)[0].strip() for line in f]
    hosts = [h for h in hosts if h]
    if not hosts:
        raise ValueError(f'hostfile {path} names no host')
    return hosts


def ssh_command(host, command, env, cwd):
    """Build the ssh command line running ``command`` on ``host``.

    Args:
        host: ssh destination (``name`` or ``user@name``).
        command: the command, a list of arguments.
        env: variables to set for it.
        cwd: directory to run it in.

    Returns:
        The argv list ``['ssh', ..., host, "cd CWD && env K=V ... CMD"]``,
        every part quoted for the remote POSIX shell.
    """
    assignments = [shlex.quote(f'{k}={v}') for k, v in env.items()]
    remote = ' '.join(['cd', shlex.quote(cwd), '&&', 'env', *assignments,
                       *map(shlex.quote, command)])
    return ['ssh', '-o', 'BatchMode=yes', host, remote]


def plan(command, num_workers, num_servers=1, hosts=None,
         root_uri='127.0.0.1', port=9091, env=None, cwd=None):
    """List the processes of a job, without starting anything.

    Args:
        command: the command every process runs, a list of arguments.
        num_workers: number of workers.
        num_servers: number of servers.
        hosts: ssh hosts, or None to run everything on this machine.
        root_uri: address of the scheduler.
        port: port of the scheduler.
        env: extra variables for every process.
        cwd: directory of the remote processes (default: the current one).

    Returns:
        A list of :class:`Node`: the scheduler, the servers, the workers.
    """
    roles = ([('scheduler', 0)] + [('server', i) for i in range(num_servers)]
             + [('worker', i) for i in range(num_workers)])
    nodes = []
    for role, rank in roles:
        node_env = {'PYTHONUNBUFFERED': '1'}
        if not hosts:
            node_env['DMLC_NODE_HOST'] = '127.0.0.1'
        node_env.update(env or {})
        node_env.update(
            DMLC_ROLE=role, DMLC_PS_ROOT_URI=root_uri,
            DMLC_PS_ROOT_PORT=str(port), DMLC_NUM_SERVER=str(num_servers),
            DMLC_NUM_WORKER=str(num_workers), D2L_RECSYS_ROLE=role,
            D2L_RECSYS_RANK=str(rank))
        label = role if role == 'scheduler' else f'{role} {rank}'
        if hosts:
            host = hosts[rank % len(hosts)]
            argv = ssh_command(host, command, node_env, cwd or os.getcwd())
            nodes.append(Node(label, role, rank, host, argv, {}))
        else:
            nodes.append(Node(label, role, rank, None, list(command),
                              node_env))
    return nodes


def _relay(pipe, prefix, out, lock):
    """Copy the lines of ``pipe`` to ``out``, each after ``prefix``."""
    with pipe:
        for line in iter(pipe.readline, b''):
            text = line.decode(errors='replace').rstrip('\r\n')
            with lock:
                try:
                    out.write(f'{prefix}{text}\n')
                    out.flush()
                except (OSError, ValueError):  # closed: keep draining
                    pass


def _exit_code(returncode):
    """A shell-style code: 128+N for a process killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def _signal_groups(procs, sig):
    """Send ``sig`` to the process group of each of ``procs``."""
    for proc in procs:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _stop(procs):
    """End every process group of ``procs``: SIGTERM, then SIGKILL."""
    _signal_groups([p for p in procs if p.poll() is None], signal.SIGTERM)
    deadline = time.monotonic() + GRACE
    while (any(p.poll() is None for p in procs)
           and time.monotonic() < deadline):
        time.sleep(POLL)
    _signal_groups(procs, signal.SIGKILL)  # also leftovers of exited ones
    for proc in procs:
        proc.wait()


def _say(message):
    print(f'[launch] {message}', file=sys.stderr, flush=True)


def _watch(nodes, procs, stop, deadline):
    """Wait until the job ends; return its exit code."""
    workers_done = None
    while True:
        if stop:
            _say(f'got signal {stop[0]}; stopping all processes')
            return 128 + stop[0]
        for node, proc in zip(nodes, procs):
            if proc.poll():
                how = (f'was killed by signal {-proc.returncode}'
                       if proc.returncode < 0 else
                       f'exited with code {proc.returncode}')
                _say(f'{node.label} {how}; stopping the others')
                return _exit_code(proc.returncode)
        now = time.monotonic()
        if all(p.returncode == 0 for n, p in zip(nodes, procs)
               if n.role == 'worker'):
            if all(p.returncode is not None for p in procs):
                return 0
            workers_done = workers_done or now
            if now - workers_done > LINGER:
                _say(f'scheduler/servers still running {LINGER:.0f} s '
                     'after the workers finished; stopping them')
                return 0
        if deadline is not None and now > deadline:
            _say('timeout; stopping all processes')
            return 124
        time.sleep(POLL)


def launch(command, num_workers, num_servers=1, hostfile=None, env=None,
           port=None, timeout=None, root_uri=None):
    """Run ``command`` as scheduler, servers and workers; wait for the end.

    Args:
        command: the command every process runs, a list of arguments.
        num_workers: number of workers (at least 1).
        num_servers: number of servers (at least 1).
        hostfile: file of ssh hosts, or None to run on this machine.
        env: extra environment variables for every process.
        port: scheduler port; default: a free port of this machine.
        timeout: seconds after which everything is stopped (None: never).
        root_uri: scheduler address with a hostfile; default: the address
            of the first host.

    Returns:
        0 when every worker succeeded; otherwise the code of the first
        failed process (128+N if killed by signal N), 130/143 after
        SIGINT/SIGTERM, 124 after the timeout, 127 if a command could not
        be started.  No child process is left running.  (SIGINT and
        SIGTERM are caught only when called from the main thread.)

    Raises:
        ValueError: bad numbers, an empty command or hostfile, or an
            unresolvable first host.
        OSError: the hostfile cannot be read.
    """
    if num_workers < 1 or num_servers < 1:
        raise ValueError('need at least one worker and one server')
    if not command:
        raise ValueError('missing COMMAND')
    if port is not None and not 0 < port < 65536:
        raise ValueError(f'bad port {port}')
    hosts = read_hostfile(hostfile) if hostfile else None
    if hosts and not root_uri:
        name = hosts[0].rsplit('@', 1)[-1]
        try:
            root_uri = socket.gethostbyname(name)
        except OSError:
            raise ValueError(f'cannot resolve {name}; pass --root-uri')
    nodes = plan(command, num_workers, num_servers, hosts,
                 root_uri or '127.0.0.1', port or free_port(), env)

    stop, old = [], {}  # signals received, handlers to restore
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, lambda num, _: stop.append(num))
    procs, readers, lock = [], [], threading.Lock()
    try:
        for node in nodes:
            try:
                proc = subprocess.Popen(
                    node.argv, env={**os.environ, **node.env},
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True)
            except OSError as e:
                _say(f'cannot start {node.label}: {e}')
                return 127
            procs.append(proc)
            for pipe, out in ((proc.stdout, sys.stdout),
                              (proc.stderr, sys.stderr)):
                t = threading.Thread(target=_relay, daemon=True, args=(
                    pipe, f'[{node.label}] ', out, lock))
                t.start()
                readers.append(t)
        deadline = None if timeout is None else time.monotonic() + timeout
        return _watch(nodes, procs, stop, deadline)
    finally:
        _stop(procs)
        end = time.monotonic() + 2  # a pipe may outlive a process group
        for t in readers:
            t.join(timeout=max(0, end - time.monotonic()))
        for sig, handler in old.items():
            signal.signal(sig, handler)


class _ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors raise instead of exiting."""

    def error(self, message):
        raise ValueError(message)


def main(argv=None):
    """Command line: ``launch -n N [-s S] [--hostfile F] [--port P] -- CMD``.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code of :func:`launch`, or 2 after a bad argument (with a
        one-line message on stderr).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _ArgumentParser(
        prog='python -m d2l_recsys.launch',
        description='Run COMMAND as the scheduler, servers and workers of '
                    "MXNet's parameter server (kvstore dist_sync).")
    parser.add_argument('-n', '--num-workers', type=int, required=True,
                        help='number of workers')
    parser.add_argument('-s', '--num-servers', type=int, default=1,
                        help='number of servers (default: 1)')
    parser.add_argument('--hostfile', help='ssh hosts, one per line')
    parser.add_argument('--port', type=int,
                        help='scheduler port (default: a free one)')
    parser.add_argument('--root-uri', help='scheduler address with a '
                        'hostfile (default: the first host)')
    parser.add_argument('--timeout', type=float,
                        help='stop everything after this many seconds')
    parser.usage = '%(prog)s -n N [options] -- COMMAND ...'
    try:
        if '--' not in argv:
            if {'-h', '--help'} & set(argv):
                parser.parse_args(['--help'])       # prints, exits 0
            raise ValueError('missing COMMAND: use -- COMMAND ...')
        split = argv.index('--')
        args = parser.parse_args(argv[:split])
        return launch(argv[split + 1:], args.num_workers, args.num_servers,
                      hostfile=args.hostfile, port=args.port,
                      timeout=args.timeout, root_uri=args.root_uri)
    except (ValueError, OSError) as e:
        print(f'{parser.prog}: error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
