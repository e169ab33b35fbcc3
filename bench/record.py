"""Benchmark results as JSON: one run's figures with how, when, from which
commit and on what machine they were made.

Every script in ``bench/`` takes ``--json FILE`` (``add_option``) and, when
it is given, writes ``{benchmark, command, date, commit, dirty, rerun,
machine, measurements}`` there atomically (``write``): ``date``, ``commit``
and ``dirty`` as the benchmark started, ``machine`` with the load average
then.  The repository keeps them as ``bench/results/NAME.json``;
``bench/docs.py`` renders ``docs/benchmarks.md`` from them.

No absolute path of the machine is written (``portable``): a folder given as
a relative path is recorded as typed, the folder of ``$D2L_RECSYS_DATA`` as
that literal, the repository's files relative to it, the home folder as
``~``, the temporary folder as ``$TMPDIR``, the running Python as
``python``, and any other absolute path typed on the command line relative
to the repository.
"""
import datetime
import os
import re
import shlex
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What ``add_option`` found when the benchmark started.
START = {}
# The environment variable that names the MovieLens data folder.
DATA_ENV = 'D2L_RECSYS_DATA'
# {absolute path: as recorded} of the folders typed as relative paths.
GIVEN = {}

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
    state = provenance.git_state()      # every tracked file, bench/ too
    START.update(
        date=datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'), load=round(os.getloadavg()[0], 1),
        commit=state['commit'], dirty=state['dirty'])
    given_words(sys.argv[1:])


def memory_gb():
    """The machine's memory (MemTotal), in GiB."""
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                return round(int(line.split()[1]) / 2 ** 20, 1)
    return None


def given_words(words):
    """``given`` for each word of a command line (``--option=value`` too)."""
    for word in words:
        given(word.split('=', 1)[-1] if word.startswith('--') else word)


def given(word):
    """Note a command-line word that names a folder or file: a relative
    path is then recorded as typed, an absolute one that no place of
    ``portable`` holds as relative to the repository (where the commands
    are typed)."""
    if not word or word.startswith(('-', '~', '$')):
        return
    if not os.path.isabs(word):
        if os.sep in word or os.path.exists(word):
            GIVEN[os.path.abspath(word)] = word
    elif portable(word) == word:
        GIVEN[word] = os.path.relpath(word, ROOT)


def _places():
    """``(absolute path, as recorded)`` of the places ``portable`` knows,
    longest first (the most specific wins)."""
    places = {}
    for path, shown in ((tempfile.gettempdir(), '$TMPDIR'),
                        (os.path.expanduser('~'), '~'), (ROOT, '.'),
                        (os.environ.get(DATA_ENV), '$' + DATA_ENV)):
        if path and os.path.isabs(os.path.expanduser(path)):
            path = os.path.expanduser(path)
            for form in (os.path.abspath(path), os.path.realpath(path)):
                if form != os.sep:
                    places[form] = shown
    places.update(GIVEN)                # as typed, over the rules above
    places[sys.executable] = 'python'
    return sorted(places.items(), key=lambda p: -len(p[0]))


def portable(text):
    """``text`` with every absolute path of a known place written without
    the machine's folders: the folder of ``$D2L_RECSYS_DATA`` as that
    literal, a path typed as relative as typed, the repository's files
    relative to it (``.`` for itself), the home folder as ``~``, the
    temporary folder as ``$TMPDIR``, the running Python as ``python``."""
    for path, shown in _places():
        def repl(m, shown=shown):
            more = m.group(1) == '/'            # the path goes on
            if shown == '.':
                return '' if more else '.'
            return shown + ('/' if more else '')
        # a whole path, or the start of one; never the middle of a word
        text = re.sub(r'(?<![\w.$~/-])' + re.escape(path) +
                      r'(/(?=[^/\s])|(?![\w.-]))', repl, text)
    return text


def _quote(word):
    """``shlex.quote``, but ``$VAR``, ``~`` and ``--option=`` stay
    unquoted so that the shell still expands them."""
    if word.startswith('--') and '=' in word:
        key, value = word.split('=', 1)
        return shlex.quote(key) + '=' + _quote(value)
    m = re.match(r'(\$[A-Z_][A-Z0-9_]*|~)(?=/|$)', word)
    if m:
        rest = word[m.end():]
        return m.group(0) + (shlex.quote(rest) if rest else '')
    return shlex.quote(word)


def command():
    """The command line that ran, as it would be typed in the repository
    (its paths made ``portable``)."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    return ' '.join(_quote(portable(w))
                    for w in ['python', script] + sys.argv[1:])


def _portable_all(value):
    """``value`` (JSON-like) with ``portable`` applied to every string."""
    if isinstance(value, str):
        return portable(value)
    if isinstance(value, dict):
        return {k: _portable_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_portable_all(v) for v in value]
    return value


def write(path, benchmark, measurements):
    """Write ``measurements`` (a list of dicts of figures) to ``path``
    with the provenance of this run; nothing when ``path`` is None."""
    if not path:
        return
    from d2l_recsys import provenance
    from d2l_recsys.files import write_json
    write_json(path, dict(
        benchmark=benchmark, command=command(), date=START['date'],
        commit=START['commit'], dirty=START['dirty'], rerun=True,
        machine=dict(provenance.machine(), memory_gb=memory_gb(),
                     load_at_start=START['load']),
        measurements=_portable_all(measurements)))
    print(f'results written to {path}', flush=True)
