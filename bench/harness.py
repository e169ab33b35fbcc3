"""The one harness of ``bench/``: what every benchmark script imports, and
the only module of ``bench/`` that any script imports.

* Provenance: ``add_option`` gives a parser ``--json FILE`` and notes the
  date, the commit, the uncommitted changes and the machine's load as the
  benchmark starts; ``write`` writes ``{benchmark, command, date, commit,
  dirty, rerun, machine, measurements}`` there atomically.  The
  repository keeps them as ``bench/results/NAME.json``; ``bench/docs.py``
  renders ``docs/benchmarks.md`` from them.  No absolute path of the
  machine is written (``portable``): a folder typed as a relative path is
  recorded as typed, the folder of ``$D2L_RECSYS_DATA`` as that literal,
  the repository's files relative to it, the home folder as ``~``, the
  temporary folder as ``$TMPDIR``, the running Python as ``python``, any
  other absolute path typed on the command line relative to the
  repository.
* Processes: ``run`` runs a command, copies its output to a log (and, with
  a prefix, to stdout), times it, records its peak memory (``peak=True``,
  Python programs) and reads the result a child ``report`` s;
  ``ensure_venv`` makes a peer's virtual environment once; ``thread_env``
  sets every library's threads.
* Memory: ``peak_gib`` (a process's own high-water mark, ``VmHWM``: a
  child's ``ru_maxrss`` carries its parent's peak from before its exec),
  ``rss_gib`` and ``RssWatch`` (the peak of one phase of a process).
* Timers: ``best_seconds``, ``timed`` (wall and CPU seconds),
  ``interleaved`` (variants taking turns so that all see the same load)
  and ``update_ms`` (an optimizer's update of every weight alone).
* Data of a shape (``d2l_recsys.data.synthetic.SHAPES``): ``shape_data``
  (synthetic files, made once), ``skewed_pairs`` (interactions with
  MovieLens-like skew, in memory).
* The book's code offline: ``point_d2l_at``, ``no_plot``.
"""
import collections
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)
PEERS = os.path.join(ROOT, 'bench', 'peers')
# The environment variable that names the MovieLens data folder.
DATA_ENV = 'D2L_RECSYS_DATA'
# What every result file carries (tests/test_bench_docs.py checks them).
FIELDS = ('benchmark', 'command', 'date', 'commit', 'dirty', 'rerun',
          'machine', 'measurements')
# What ``add_option`` found when the benchmark started.
START = {}
# {absolute path: as recorded} of the folders typed as relative paths.
GIVEN = {}


# --- provenance --------------------------------------------------------------
def add_option(parser):
    """Add ``--json FILE`` to a benchmark's parser, and note the time, the
    machine's load and the state of the tree as the benchmark starts."""
    parser.add_argument('--json', metavar='FILE',
                        help='also write the results there as JSON, with '
                        'their provenance (the repository keeps them in '
                        'bench/results/)')
    from d2l_recsys import provenance   # imports MXNet
    state = provenance.git_state()      # every tracked file, bench/ too
    START.update(
        date=datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'), load=load_average(),
        commit=state['commit'], dirty=state['dirty'])
    given_words(sys.argv[1:])


def load_average():
    """The machine's load average over the last minute, to tenths."""
    return round(os.getloadavg()[0], 1)


def memory_gb():
    """The machine's memory (MemTotal), in GiB."""
    with open('/proc/meminfo') as f:
        return next((round(int(line.split()[1]) / 2 ** 20, 1) for line in f
                     if line.startswith('MemTotal:')), None)


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
    """``text`` without the machine's folders (the module's docstring)."""
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


# --- processes ---------------------------------------------------------------
MARK = 'BENCH-RESULT '      # the line of a child's stdout that ``run`` reads
# Runs a Python program (argv[2:]) and writes its VmHWM (kB) to argv[1] as
# it exits; ``sys.orig_argv`` keeps the wrapper for a program that
# restarts itself.
_WRAP = """\
import atexit, os, runpy, sys
out = sys.argv.pop(1)
def peak():
    with open('/proc/self/status') as f:
        kb = next(line.split()[1] for line in f if line.startswith('VmHWM:'))
    with open(out, 'w') as f:
        f.write(kb)
atexit.register(peak)
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def report(result):
    """In a child: print ``result`` as the line ``run`` reads."""
    print(MARK + json.dumps(result), flush=True)


def python(script, *args, executable=None):
    """The command running ``script`` (a path relative to the repository,
    e.g. ``scripts/train_mf.py``) with ``args``."""
    return [executable or sys.executable, os.path.join(ROOT, script),
            *map(str, args)]


def run(args, log=None, echo=None, env=None, timeout=None, peak=False,
        append=False):
    """Run ``args`` (stdout and stderr together), copying its output to the
    file ``log`` (appended to with ``append``) and, prefixed with ``echo``,
    to stdout.  With ``peak``, ``args`` is ``[python, program, ...]`` and
    the program's peak memory is recorded as it exits.

    Returns:
        ``dict(code, seconds, peak_gib, result, tail)``: the exit code
        (124 after ``timeout`` seconds), the wall seconds from start to
        end, the peak (None without ``peak``), the last result the child
        ``report`` ed (None if none) and its last 15 lines of output.
    """
    if log:
        os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = os.path.join(tmp, 'peak')
        if peak:
            args = [args[0], '-c', _WRAP, peak_file, *args[1:]]
        last, result = collections.deque(maxlen=15), None
        start = time.perf_counter()
        with open(log, 'a' if append else 'w') if log else \
                open(os.devnull, 'w') as out:
            p = subprocess.Popen(args, stdout=subprocess.PIPE, env=env,
                                 stderr=subprocess.STDOUT, text=True,
                                 stdin=subprocess.DEVNULL, errors='replace')
            stopped = []
            timer = threading.Timer(timeout, lambda: (
                stopped.append(True), p.kill())) if timeout else None
            if timer:
                timer.start()
            for line in p.stdout:
                out.write(line)
                last.append(line)
                if line.startswith(MARK):
                    result = json.loads(line[len(MARK):])
                elif echo:
                    print(f'  {echo}| {line}', end='', flush=True)
            code = p.wait()
            if timer:
                timer.cancel()
            code = 124 if stopped else code
        seconds = time.perf_counter() - start
        gib = None
        if peak and os.path.exists(peak_file):
            with open(peak_file) as f:
                gib = int(f.read()) / 2 ** 20
    return dict(code=code, seconds=seconds, peak_gib=gib, result=result,
                tail=''.join(last))


def checked(args, name, **kwargs):
    """``run``, and the child's result with ``wall_seconds`` (and, with
    ``peak``, ``peak_gib``) added.

    Raises:
        RuntimeError: the child failed or reported nothing; with the end
            of its output.
    """
    out = run(args, **kwargs)
    if out['code'] or out['result'] is None:
        raise RuntimeError(f"{name} exited with {out['code']}"
                           f"{'' if out['code'] else ', reporting nothing'}"
                           f": {out['tail'].strip()[-800:]}")
    peak = {} if out['peak_gib'] is None else dict(peak_gib=out['peak_gib'])
    return dict(out['result'], wall_seconds=out['seconds'], **peak)


def thread_env(threads):
    """The environment of a contestant: ``threads`` for every library's
    thread pools when given, else the libraries' own defaults."""
    env = dict(os.environ)
    if threads:
        for key in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS',
                    'OPENBLAS_NUM_THREADS', 'MXNET_CPU_WORKER_NTHREADS'):
            env[key] = str(threads)
    return env


# Each peer's virtual environment: what pip installs there.  The peers'
# packages are never dependencies of the project.
VENVS = {
    'surprise': ['numpy<2', 'scikit-surprise'],
    # the CPU build on this machine's disk; another version is a CUDA one
    'torch': ['torch==2.13.0', 'numpy', 'pandas'],
}


def ensure_venv(name, work):
    """The python of the peer venv ``name`` under ``work``, made (with pip)
    unless it is there with the same packages (``VENVS``).

    Raises:
        SystemExit: venv or pip failed; with pip's last lines.
    """
    folder = os.path.join(work, f'venv-{name}')
    executable = os.path.join(folder, 'bin', 'python')
    ready = os.path.join(folder, 'bench-ready.json')
    if os.path.exists(ready):
        with open(ready) as f:
            if json.load(f) == VENVS[name]:
                return executable
    print(f'making {folder}: pip install {shlex.join(VENVS[name])}',
          flush=True)
    steps = [[sys.executable, '-m', 'venv', '--clear', folder],
             [executable, '-m', 'pip', 'install',
              '--disable-pip-version-check', *VENVS[name]]]
    for k, step in enumerate(steps):
        out = run(step, folder + '.log', f'venv-{name}', append=k > 0)
        if out['code']:
            raise SystemExit(f"{shlex.join(step)} failed ({out['code']}); "
                             f"its last lines ({folder}.log):\n{out['tail']}")
    with open(ready, 'w') as f:
        json.dump(VENVS[name], f)
    return executable


# --- memory ------------------------------------------------------------------
def peak_gib(pid='self'):
    """A live process's peak resident memory (``VmHWM``: since it started,
    not its parent's before), in GiB; None where /proc has none."""
    try:
        with open(f'/proc/{pid}/status') as f:
            return next(int(line.split()[1]) / 2 ** 20 for line in f
                        if line.startswith('VmHWM:'))
    except (OSError, StopIteration):
        return None


def rss_gib():
    """This process's resident memory now, in GiB."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 30


class RssWatch:
    """The highest resident memory seen while the block runs (sampled every
    20 ms by a thread), for the peak of one phase of the process."""

    def __enter__(self):
        self.peak, self._stop = rss_gib(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_gib())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_gib())


# --- timers ------------------------------------------------------------------
def best_seconds(fn, repeats):
    """The shortest of ``repeats`` timed calls of ``fn`` (after one
    uncounted call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def timed(fn, *args, **kwargs):
    """``(fn's result, wall seconds, CPU seconds of every thread)``."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start, time.process_time() - cpu


def interleaved(runs, rounds, steps=1, warmup=1):
    """``{name: ms a step}``: each of ``runs`` (``name -> a callable taking
    the step's number``, which may return an array to wait for) runs
    ``steps`` steps a round, in turn, for ``rounds`` rounds, each step's
    work queued while the one before runs; the median round after the
    first ``warmup`` ones, over ``steps``."""
    import mxnet as mx
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, step in runs.items():
            start, previous = time.perf_counter(), None
            for k in range(steps):
                out = step(k)
                if previous is not None:     # the step before, as fit
                    previous.wait_to_read()
                previous = out
            mx.nd.waitall()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t[warmup:]) / steps
            for name, t in times.items()}


def update_ms(net, trainer, batch_size, repeats):
    """Median milliseconds of ``trainer``'s update of every parameter of
    ``net`` alone, with fresh (zero) gradients: no step that keeps this
    optimizer can be faster."""
    import mxnet as mx
    from mxnet import autograd
    params = list(net.collect_params().values())
    times = []
    for _ in range(repeats):
        with autograd.record():
            zero = sum((p.data() * 0).sum() for p in params)
        zero.backward()
        mx.nd.waitall()
        start = time.perf_counter()
        trainer.step(batch_size)
        mx.nd.waitall()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


# --- data of a shape ---------------------------------------------------------
def shape_data(shape, work):
    """Synthetic MovieLens files of ``shape`` (seed 0), generated once into
    ``work/data/SHAPE``; returns the folder."""
    from d2l_recsys.data.synthetic import generate
    path = os.path.join(work, 'data', shape)
    if not os.path.exists(os.path.join(path, 'synthetic.json')):
        start = time.perf_counter()
        generate(shape, path, seed=0)
        print(f'{shape}: generated in {time.perf_counter() - start:.0f} s',
              flush=True)
    return path


def skewed_pairs(num_users, num_items, num_ratings, seed=0):
    """Distinct (user, item) pairs with MovieLens-like skew: item
    popularity ~ 1 / (rank + 10), user activity log-normal, at least 20 per
    user.  Returns ``(users, items)`` int64, about ``num_ratings`` pairs,
    sorted by user."""
    import numpy as onp
    rng = onp.random.default_rng(seed)
    item_p = 1 / (onp.arange(num_items) + 10.0)
    item_p = rng.permutation(item_p / item_p.sum())
    activity = rng.lognormal(0, 1.2, num_users)
    n = int(num_ratings * 1.1)
    users = rng.choice(num_users, n, p=activity / activity.sum())
    items = rng.choice(num_items, n, p=item_p)
    floor = onp.repeat(onp.arange(num_users), 20)        # 20 per user
    keys = onp.unique(onp.r_[users * num_items + items,
                             floor * num_items +
                             rng.integers(0, num_items, len(floor))])
    keep = onp.sort(rng.choice(len(keys), min(num_ratings, len(keys)),
                               replace=False))
    keys = keys[keep]
    return keys // num_items, keys % num_items


# --- the book's code, offline ------------------------------------------------
class _NoPlot:
    """Stands in for ``d2l.Animator``: with d2l's pinned matplotlib and
    today's IPython, pyplot fails to create a figure outside a notebook.
    Skipping the plot only makes the book faster, so the speed-ups
    measured against it are conservative."""
    __init__ = add = (lambda self, *args, **kwargs: None)


def no_plot():
    """d2l (``d2l.mxnet``) with its plots skipped (``_NoPlot``)."""
    from d2l import mxnet as d2l
    d2l.Animator = _NoPlot
    return d2l


def point_d2l_at(data_dir):
    """d2l reading the MovieLens folder ``data_dir`` instead of
    downloading (offline), its plots skipped; returns ``d2l``."""
    import d2l_recsys as rs
    d2l = no_plot()
    folder = os.path.dirname(rs.resolve_ratings_file(data_dir))
    d2l.download_extract = lambda name, folder_=None: folder
    return d2l
