"""What both peer programs share: progress to stderr and the result as JSON.

Standard library only, since each peer runs in a virtual environment of its
own without ``d2l_recsys`` (which has ``io.write_json`` for the same job);
a peer's folder is on its ``sys.path``, so ``import output`` finds this.
"""
import json
import os
import sys
import tempfile


def log(text):
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def emit(result, path=None):
    """``result`` as JSON: to ``path`` atomically (a temporary file and a
    rename), or to stdout when ``path`` is None."""
    if not path:
        print(json.dumps(result, indent=2))
        return
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix='.tmp-')
    with os.fdopen(fd, 'w') as f:
        json.dump(result, f, indent=2)
    os.replace(tmp, path)
