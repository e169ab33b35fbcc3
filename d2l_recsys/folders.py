"""Output folders that keep what a user made: one writer at a time, and no
silent replacement.

``claim(folder, kind)`` is held for the whole life of a run, a search or an
export.  It takes an exclusive lock on ``folder/.lock`` (``fcntl.flock``:
the system drops it when its process ends, even by ``kill -9``) and writes
the holder's pid and command there, so that a second process is refused
with one line naming them; a lock file left by a process that is gone is
taken over, with a line saying so.  Before anything is written, a folder
that already holds work (a run, a search, an export, a report) is refused
unless the caller continues it (``resume``) or replaces it
(``overwrite``: its contents are removed, the lock file aside).  The
temporary files of a writer killed before its rename (``.tmp-*``) are not
work: they are removed once the lock is held.

``fresh_folder(prefix)`` makes a new folder ``prefix-YYYYmmdd-HHMMSS``
(``-2``, ``-3``, ... when that exists), created at once, so two runs
started in the same second never share one.
"""
import contextlib
import datetime
import fcntl
import os
import shlex
import shutil
import sys
import time

LOCK = '.lock'
# The prefix of a temporary file (``io.atomic_write``): never work, and
# removed once the folder is claimed.
TEMPORARY = '.tmp-'

# What marks a folder as holding work, by kind: (file, what it is).
MARKS = [('run.json', 'a run'), ('search.json', 'a search'),
         ('leaderboard.json', 'a search'), ('export.json', 'an export'),
         ('reproduction.json', 'a report')]


class FolderInUse(ValueError):
    """The folder is locked by a running process, or holds work that the
    caller would replace."""


def holds(folder):
    """What ``folder`` holds (``'a run'``, ...) and the file that says so,
    or None for a missing or empty folder (a lock file aside)."""
    if not os.path.isdir(folder):
        return None
    for name, what in MARKS:
        if os.path.exists(os.path.join(folder, name)):
            return what, name
    rest = [n for n in os.listdir(folder)
            if n != LOCK and not n.startswith(TEMPORARY)]
    return ('other files', rest[0]) if rest else None


def remove_if_unused(folder):
    """Remove ``folder`` when it holds nothing (a lock file and leftover
    temporary files aside): what a run that failed before writing leaves
    of a folder it made."""
    if folder and os.path.isdir(folder) and holds(folder) is None:
        shutil.rmtree(folder, ignore_errors=True)


def _remove_temporary(folder):
    """Remove what writers stopped before their rename left in ``folder``
    and below (``io.atomic_write``'s temporary files): the caller holds
    the folder's lock, so no live process is writing them."""
    for root, dirs, files in os.walk(folder):
        for name in files:
            if name.startswith(TEMPORARY):
                os.remove(os.path.join(root, name))
        for name in [d for d in dirs if d.startswith(TEMPORARY)]:
            shutil.rmtree(os.path.join(root, name))
            dirs.remove(name)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(path):
    """``(pid, command)`` written in a lock file, or (None, '')."""
    try:
        with open(path, encoding='utf-8') as f:
            pid, _, command = f.read().partition('\n')
        return int(pid), command.strip()
    except (OSError, ValueError):
        return None, ''


def _command():
    return shlex.join([os.path.basename(sys.argv[0] or 'python')] +
                      sys.argv[1:])


def sibling_lock(folder):
    """The lock file of a folder that is replaced whole (an export is
    renamed into place): ``.NAME.lock`` beside it."""
    folder = os.path.normpath(folder)
    return os.path.join(os.path.dirname(folder) or '.',
                        f'.{os.path.basename(folder)}{LOCK}')


@contextlib.contextmanager
def lock(folder, path=None):
    """Hold ``folder``'s lock, ``folder/.lock`` or the file ``path`` (its
    folder is created if needed).

    Raises:
        FolderInUse: another live process holds it.
    """
    path = path or os.path.join(folder, LOCK)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, command = _holder(path)
            # the holder writes its pid just after taking the lock: a
            # process that lost the race may look before it has
            for _ in range(100):
                if pid and _alive(pid):
                    break
                time.sleep(0.01)
                pid, command = _holder(path)
            who = f'pid {pid}' if pid else 'another process'
            raise FolderInUse(
                f'{folder}: in use by {who}'
                + (f' ({command})' if command else '')
                + '; wait for it to finish, or write elsewhere') from None
        pid, command = _holder(path)
        if pid and pid != os.getpid() and not _alive(pid):
            print(f'{folder}: taking over the lock left by pid {pid} '
                  f'({command or "command unknown"}), which is no longer '
                  'running', file=sys.stderr, flush=True)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f'{os.getpid()}\n{_command()}\n'.encode(), 0)
        held = True
        yield
    finally:
        if held:                # a clean end leaves no holder behind
            os.ftruncate(fd, 0)
        os.close(fd)            # drops the lock; the file stays


def _clear(folder):
    """Remove ``folder``'s contents but its lock file."""
    for name in os.listdir(folder):
        if name == LOCK:
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def check_free(folder, resume=False, overwrite=False, resume_flag=None):
    """Refuse a folder that holds work the caller would replace.

    Args:
        folder: the output folder.
        resume: the caller continues what is there.
        overwrite: the caller replaces it (checked here; ``claim`` clears).
        resume_flag: the option that continues such work (``--resume
            DIR``), named in the message; None where nothing continues.

    Raises:
        FolderInUse: the folder holds a run, search, export, report or
            other files, and neither ``resume`` nor ``overwrite`` is set.
    """
    held = holds(folder)
    if held is None or resume or overwrite:
        return
    what, name = held
    ways = [resume_flag] if resume_flag else []
    ways.append('--overwrite to replace it')
    raise FolderInUse(f'{folder}: already holds {what} ({name}); give '
                      + ' or '.join(ways) + ', or another folder')


@contextlib.contextmanager
def claim(folder, resume=False, overwrite=False, resume_flag=None,
          lock_file=None, clear=True):
    """Lock ``folder`` for a whole run, search or export and make sure
    nothing there is replaced by mistake (``check_free``); with
    ``overwrite`` (and ``clear``) the previous contents are removed once
    the lock is held.  ``lock_file``: see ``lock``."""
    if resume and overwrite:
        raise FolderInUse(f'{folder}: give --resume or --overwrite, not '
                          'both')
    made = not os.path.exists(folder)
    with lock(folder, lock_file):
        check_free(folder, resume, overwrite, resume_flag)
        if overwrite and clear and holds(folder):
            _clear(folder)
        _remove_temporary(folder)
        try:
            yield
        except BaseException:
            if made:                # failed before writing anything
                remove_if_unused(folder)
            raise


def fresh_folder(prefix):
    """A new, empty folder ``prefix-YYYYmmdd-HHMMSS`` (UTC), with ``-2``,
    ``-3``, ... appended when that name is taken; created here, so that
    two processes never get the same one."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y%m%d-%H%M%S')
    base = f'{prefix}-{stamp}'
    os.makedirs(os.path.dirname(base) or '.', exist_ok=True)
    for k in range(1, 10_000):
        path = base if k == 1 else f'{base}-{k}'
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue
    raise FolderInUse(f'{base}: 10,000 folders of that name exist')
