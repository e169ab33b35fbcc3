"""The peers' virtual environments and the processes of a benchmark.

``ensure_venv(name, work)`` makes ``work/venv-NAME`` with pip once (it is
kept, with a note of what was installed, and made again only when
``VENVS`` changes); ``stream`` runs a process, copying its output to a log
file and to stdout, and times it.  Used by ``bench_peers.py``; the peers'
packages are never dependencies of the project.
"""
import json
import os
import shlex
import subprocess
import sys
import time

# Each peer's virtual environment: what pip installs there.
VENVS = {
    'surprise': ['numpy<2', 'scikit-surprise'],
    # the CPU build on this machine's disk; another version is a CUDA one
    'torch': ['torch==2.13.0', 'numpy', 'pandas'],
}


def stream(args, log_path, prefix, env=None, append=False):
    """Run ``args``, copying its output to ``log_path`` (or appending to
    it) and, prefixed, to stdout.  Returns ``(exit code, wall seconds)``,
    the seconds from starting the process to its end."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    start = time.perf_counter()
    with open(log_path, 'a' if append else 'w') as log:
        p = subprocess.Popen(args, stdout=subprocess.PIPE, env=env,
                             stderr=subprocess.STDOUT, text=True)
        for line in p.stdout:
            log.write(line)
            print(f'  {prefix}| {line}', end='', flush=True)
        code = p.wait()
    return code, time.perf_counter() - start


def tail(path, lines=15):
    """The last lines of a log file, as one string."""
    with open(path) as f:
        return ''.join(f.readlines()[-lines:])


def ensure_venv(name, work):
    """The python of the peer venv ``name`` under ``work``, made (with pip)
    unless it is there with the same packages.

    Raises:
        SystemExit: venv or pip failed; with pip's last lines.
    """
    folder = os.path.join(work, f'venv-{name}')
    python = os.path.join(folder, 'bin', 'python')
    ready = os.path.join(folder, 'bench-ready.json')
    if os.path.exists(ready):
        with open(ready) as f:
            if json.load(f) == VENVS[name]:
                return python
    print(f'making {folder}: pip install {shlex.join(VENVS[name])}',
          flush=True)
    log = folder + '.log'
    steps = [[sys.executable, '-m', 'venv', '--clear', folder],
             [python, '-m', 'pip', 'install', '--disable-pip-version-check',
              *VENVS[name]]]
    for k, step in enumerate(steps):
        code, _ = stream(step, log, f'venv-{name}', append=k > 0)
        if code:
            raise SystemExit(f'{shlex.join(step)} failed ({code}); its last '
                             f'lines ({log}):\n{tail(log)}')
    with open(ready, 'w') as f:
        json.dump(VENVS[name], f)
    return python


def thread_env(threads):
    """The environment of the contestants: ``threads`` for every library's
    thread pools when given, else the libraries' own defaults."""
    env = dict(os.environ)
    if threads:
        for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS',
                    'OPENBLAS_NUM_THREADS', 'MXNET_CPU_WORKER_NTHREADS'):
            env[key] = str(threads)
    return env
