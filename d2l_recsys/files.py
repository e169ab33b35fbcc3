"""Files: atomic writes and JSON records that say when they are damaged.

Every output goes through ``atomic_write``: a crash or a kill leaves the old
file or the new one, never half of one.  Every file read back that is
empty, truncated or not what it should be raises ``DamagedFile``, a
``ValueError`` whose one line names the file and what to do.  Nothing here
knows a model or a run.
"""
import json
import os
import tempfile


class DamagedFile(ValueError):
    """A file the package wrote cannot be read back as what it should be."""


def damaged(path, error, fix):
    """``DamagedFile`` naming ``path``, the first line of ``error`` and
    ``fix`` (what to do)."""
    lines = [l.strip() for l in str(error).splitlines() if l.strip()]
    # MXNet's messages start with a traceback header; keep the reason
    reason = next((l for l in lines if 'Check failed' in l or
                   l.startswith(('MXNetError', 'ValueError'))), None) or \
        (lines[0] if lines else type(error).__name__)
    return DamagedFile(f'{path}: damaged or not what it should be '
                       f'({reason[:160]}); {fix}')


def atomic_write(path, write):
    """Write a file through a temporary file and a rename.

    Args:
        path: the destination; its folder is created if needed.
        write: a function called with the temporary path that writes the
            whole content there.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-',
                               suffix=os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes files private
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    def write(tmp):
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text)
    atomic_write(path, write)


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2) + '\n')


def read_json(path, fix='restore it, or remove it and make it again'):
    """Read a JSON file.

    Raises:
        FileNotFoundError: it is missing (the error names it).
        DamagedFile: it is empty, cut short or not JSON text; the message
            names it and says ``fix``.
    """
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise damaged(path, f'not valid JSON: {e}', fix) from None
