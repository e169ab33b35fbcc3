"""How a published number was made: by which command, when, from which
commit, on what.

``context(command)`` describes one run of the report; ``stamp(seconds,
context)`` is what each row records about its own part of it;
``check_one_commit`` refuses to put rows of different commits into one
report unless the caller asks for the mixture.
"""
import datetime
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The folders whose uncommitted changes can change a number.
CODE = ('d2l_recsys', 'scripts')


def _git(*args):
    try:
        p = subprocess.run(['git', '-C', ROOT, *args], capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def git_state():
    """The commit of the code that runs and its uncommitted changes.

    Returns:
        ``{commit, dirty}``: the full hash (None outside a git checkout)
        and the paths under ``d2l_recsys/`` and ``scripts/`` that differ
        from it (modified or untracked), sorted.
    """
    commit = (_git('rev-parse', 'HEAD') or '').strip() or None
    status = _git('status', '--porcelain', '--', *CODE) if commit else None
    dirty = sorted(line[3:] for line in (status or '').splitlines()
                   if not line[3:].endswith('.pyc'))
    return dict(commit=commit, dirty=dirty)


def machine():
    """What ran the report.

    Returns:
        ``{cpu, cores, mxnet, python, gpus}``: the CPU model, its cores, the
        MXNet and Python versions and the number of GPUs MXNet sees.
    """
    import mxnet as mx
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            names = [l.split(':', 1)[1].strip() for l in f
                     if l.startswith('model name')]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return dict(cpu=cpu, cores=os.cpu_count(), mxnet=mx.__version__,
                python=platform.python_version(),
                gpus=mx.context.num_gpus())


def context(command=None):
    """One run of the report: ``{command, started, commit, dirty,
    machine}`` (``started``: UTC, to the minute)."""
    started = datetime.datetime.now(datetime.timezone.utc)
    return dict(command=command,
                started=started.strftime('%Y-%m-%d %H:%M UTC'),
                **git_state(), machine=machine())


def stamp(seconds, ctx):
    """The provenance of one row made in the run ``ctx``: the context plus
    ``date`` and ``seconds`` (the row's own runs, all its seeds)."""
    return dict(ctx, date=datetime.date.today().isoformat(),
                seconds=float(seconds))


def short(commit):
    """A commit as people write it: 7 hex digits, or ``'unrecorded'``."""
    return commit[:7] if commit else 'unrecorded'


def commit_text(made):
    """``'abc1234'``, ``'abc1234 + uncommitted changes (a.py)'`` or
    ``'unrecorded'`` for a row's provenance (None: made before rows
    recorded it)."""
    if not made:
        return 'unrecorded'
    text = short(made.get('commit'))
    if made.get('dirty'):
        text += f" + uncommitted changes ({', '.join(made['dirty'])})"
    return text


def check_one_commit(kept, state, allow_mixed):
    """Refuse to keep rows made at another commit (or with other
    uncommitted changes) unless ``allow_mixed``.

    Args:
        kept: ``{row name: row}`` of the rows taken from an earlier report.
        state: ``git_state()`` (or ``context()``) of this run.
        allow_mixed: keep them anyway (the report then shows each row's
            commit).

    Raises:
        ValueError: a kept row comes from elsewhere and ``allow_mixed`` is
            false; the message names the rows and their commits.
    """
    here = (state['commit'], state['dirty'])
    other = {name: commit_text(row.get('made'))
             for name, row in kept.items()
             if not row.get('made') or
             (row['made'].get('commit'), row['made'].get('dirty')) != here}
    if other and not allow_mixed:
        listed = '; '.join(f'{n}: {c}' for n, c in other.items())
        raise ValueError(
            f'rows kept from the earlier report were made at another '
            f'commit than this run ({commit_text(state)}): {listed}. Rerun '
            f'them, or pass allow_mixed=True (--allow-mixed-commits) to '
            f'publish the mixture with each row\'s commit')
