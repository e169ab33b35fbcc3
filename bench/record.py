"""Benchmark results as JSON: one run's figures with how, when, from which
commit and on what machine they were made.

Every script in ``bench/`` takes ``--json FILE`` (``add_option``) and, when
it is given, writes ``{benchmark, command, date, commit, dirty, rerun,
machine, measurements}`` there atomically (``write``): ``date``, ``commit``
and ``dirty`` as the benchmark started, ``machine`` with the load average
then.  The repository keeps them as ``bench/results/NAME.json``;
``bench/docs.py`` renders ``docs/benchmarks.md`` from them.
"""
import datetime
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What ``add_option`` found when the benchmark started.
START = {}

# What every result file carries (tests/test_bench_docs.py checks them).
FIELDS = ('benchmark', 'command', 'date', 'commit', 'dirty', 'rerun',
          'machine', 'measurements')


def add_option(parser):
    """Add ``--json FILE`` to a benchmark's parser, and note the time, the
    machine's load and the state of the tree as the benchmark starts."""
    parser.add_argument('--json', metavar='FILE',
                        help='also write the results there as JSON, with '
                        'their provenance (the repository keeps them in '
                        'bench/results/)')
    sys.path.insert(0, ROOT)
    from d2l_recsys import provenance   # imports MXNet
    state = provenance.git_state()
    START.update(
        date=datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'), load=round(os.getloadavg()[0], 1),
        commit=state['commit'], dirty=sorted(state['dirty'] + bench_dirty()))


def memory_gb():
    """The machine's memory (MemTotal), in GiB."""
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                return round(int(line.split()[1]) / 2 ** 20, 1)
    return None


def bench_dirty():
    """Uncommitted changes to the benchmark scripts themselves."""
    p = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain', '--',
                        'bench/*.py'], capture_output=True, text=True)
    return [line[3:] for line in p.stdout.splitlines()]


def command():
    """The command line that ran, as it would be typed in the repository."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    return shlex.join(['python', script] + sys.argv[1:])


def write(path, benchmark, measurements):
    """Write ``measurements`` (a list of dicts of figures) to ``path``
    with the provenance of this run; nothing when ``path`` is None."""
    if not path:
        return
    from d2l_recsys import provenance
    from d2l_recsys.io import write_json
    write_json(path, dict(
        benchmark=benchmark, command=command(), date=START['date'],
        commit=START['commit'], dirty=START['dirty'], rerun=True,
        machine=dict(provenance.machine(), memory_gb=memory_gb(),
                     load_at_start=START['load']),
        measurements=measurements))
    print(f'results written to {path}', flush=True)
