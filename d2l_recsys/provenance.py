"""How a published number was made: by which command, when, from which
commit, on what.

``context(command)`` describes one run of the report; ``stamp(seconds,
context)`` is what each row records about its own part of it;
``check_one_commit`` refuses to put rows of different commits into one
report unless the caller asks for the mixture.

Every time recorded here is UTC: ``started`` as ISO 8601 with a ``Z``
(``2026-12-03T19:59:27Z``), ``date`` as the UTC day (``2026-12-03``).
"""
import datetime
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Folders whose new, untracked files can change a number: code that a run
# imports or runs.  Changes to tracked files count wherever they are.
CODE = ('d2l_recsys', 'scripts', 'bench')


def _git(*args):
    try:
        p = subprocess.run(['git', '-C', ROOT, *args], capture_output=True,
                           text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def _paths(status):
    """The paths of ``git status --porcelain -z`` output: both names of a
    rename or copy."""
    entries, paths = (status or '').split('\0'), []
    k = 0
    while k < len(entries):
        entry = entries[k]
        k += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in 'RC':            # the original name follows
            paths.append(entries[k])
            k += 1
    return paths


def _inside(path, folders):
    return any(path == f or path.startswith(f + '/') for f in folders)


def git_state(outputs=()):
    """The commit of the code that runs and how the working tree differs
    from it.

    Args:
        outputs: files or folders this run writes (absolute, or relative to
            the current directory).  Their changes are left out of
            ``dirty``: they are what the run makes, not what it runs, and a
            second run would otherwise differ from the first only by the
            first one's results.

    Returns:
        ``{commit, dirty}``: the full hash (None outside a git checkout)
        and, sorted and relative to the repository, every tracked file that
        differs from that commit, anywhere in the repository (modified,
        staged, deleted or renamed), plus the untracked files under
        ``d2l_recsys/``, ``scripts/`` and ``bench/``.  Files that
        ``.gitignore`` names never count.
    """
    commit = (_git('rev-parse', 'HEAD') or '').strip() or None
    if not commit:
        return dict(commit=None, dirty=[])
    tracked = _git('status', '--porcelain', '-z', '--untracked-files=no')
    new = _git('status', '--porcelain', '-z', '--untracked-files=all',
               '--', *CODE)
    new = [e for e in (new or '').split('\0') if e.startswith('?? ')]
    skip = [os.path.relpath(os.path.abspath(p), ROOT).replace(os.sep, '/')
            for p in outputs if p]
    skip = [p for p in skip if p != '..' and not p.startswith('../')]
    dirty = {p for p in _paths(tracked) + _paths('\0'.join(new))
             if not p.endswith('.pyc') and not _inside(p, skip)}
    return dict(commit=commit, dirty=sorted(dirty))


def today():
    """The UTC day, ``YYYY-MM-DD``."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


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


def context(command=None, outputs=()):
    """One run of the report: ``{command, started, commit, dirty,
    machine}``; ``started`` is UTC in ISO 8601 with a ``Z``, to the second
    (``2026-12-03T19:59:27Z``), and ``outputs`` the files or folders the
    run writes (see ``git_state``)."""
    started = datetime.datetime.now(datetime.timezone.utc)
    return dict(command=command,
                started=started.strftime('%Y-%m-%dT%H:%M:%SZ'),
                **git_state(outputs), machine=machine())


def stamp(seconds, ctx):
    """The provenance of one row made in the run ``ctx``: the context plus
    ``date`` (the UTC day the row was done, ``YYYY-MM-DD``) and
    ``seconds`` (the row's own runs, all its seeds)."""
    return dict(ctx, date=today(), seconds=float(seconds))


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
