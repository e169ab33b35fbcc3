"""Shared fixtures: small synthetic data in MovieLens formats (the real data
may not be redistributed) and the real folder when D2L_RECSYS_DATA names it.
"""
import os
import subprocess
import sys
import queue
import threading
import time

import numpy as onp
import pytest

import d2l_recsys  # noqa: F401  (sets MXNet's numpy mode)


def block_ratings(num_users=40, num_items=60, density=0.35, seed=0):
    """Ratings with a known structure: users and items come in two groups;
    a user rates items of its own group 5 or 4 and the others 1 or 2.
    Every user and item has at least one rating; timestamps repeat so that
    ties occur.  Returns an int array of rows (user, item, rating, time)."""
    rng = onp.random.default_rng(seed)
    mask = rng.random((num_users, num_items)) < density
    mask[onp.arange(num_users), onp.arange(num_users) % num_items] = True
    mask[onp.arange(num_items) % num_users, onp.arange(num_items)] = True
    users, items = onp.nonzero(mask)
    same = (users % 2) == (items % 2)
    ratings = onp.where(same, rng.choice([4, 5], len(users)),
                        rng.choice([1, 2], len(users)))
    times = 880000000 + rng.integers(0, 50, len(users)) * 1000
    rows = onp.stack([users + 1, items + 1, ratings, times], axis=1)
    return rows[rng.permutation(len(rows))]


def write_u_data(path, rows, sep='\t'):
    with open(path, 'w') as f:
        for r in rows:
            f.write(sep.join(str(int(v)) for v in r) + '\n')


def write_u_user(folder, num_users):
    """u.user: id|age|gender|occupation|zip, varied by id."""
    with open(os.path.join(folder, 'u.user'), 'w', encoding='latin-1') as f:
        for u in range(1, num_users + 1):
            f.write(f"{u}|{15 + 3 * u % 50}|{'MF'[u % 2]}|"
                    f"{['student', 'writer', 'other'][u % 3]}|"
                    f"{['0', '5', 'T'][u % 3]}{1000 + u}\n")


def make_movielens(folder, **kwargs):
    """A folder like ml-100k/: u.data, u.item (latin-1 titles, 19 genre
    flags) and u.user."""
    os.makedirs(folder, exist_ok=True)
    rows = block_ratings(**kwargs)
    write_u_data(os.path.join(folder, 'u.data'), rows)
    num_items = int(rows[:, 1].max())
    with open(os.path.join(folder, 'u.item'), 'w', encoding='latin-1') as f:
        for i in range(1, num_items + 1):
            genres = '|'.join('1' if (i + g) % 5 == 0 else '0'
                              for g in range(19))
            f.write(f'{i}|Film {i} (Café) (1995)|01-Jan-199{i % 3}||'
                    f'http://x|{genres}\n')
    write_u_user(folder, int(rows[:, 0].max()))
    return folder


@pytest.fixture(scope='session')
def ml_dir(tmp_path_factory):
    return make_movielens(str(tmp_path_factory.mktemp('data') / 'ml-100k'))


@pytest.fixture
def offline(monkeypatch):
    """No data folder named anywhere and d2l's downloader without network."""
    from d2l import mxnet as d2l
    from d2l_recsys.data import ENV_VAR
    monkeypatch.delenv(ENV_VAR, raising=False)

    def no_network(*args, **kwargs):
        raise ConnectionError('no network')
    monkeypatch.setattr(d2l, 'download', no_network)


def alive(pid):
    """Whether process ``pid`` runs (a zombie or a vanished one does not).
    Import it in a test module with ``from conftest import alive``."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


@pytest.fixture
def d2l_local(ml_dir, monkeypatch):
    """d2l's module with its downloader pointed at the synthetic folder."""
    from d2l import mxnet as d2l
    monkeypatch.setattr(d2l, 'download_extract',
                        lambda name, folder=None: ml_dir)
    return d2l


@pytest.fixture(scope='session')
def real_data_dir():
    path = os.environ.get('D2L_RECSYS_DATA')
    if not path:
        pytest.skip('real MovieLens 100K not given: set D2L_RECSYS_DATA to '
                    'the ml-100k folder to run this test')
    return path


def checkerboard_rows(num_users=40, num_items=60, groups=2, density=0.5,
                      seed=0):
    """Implicit data whose right ranking is known: users of group g
    (u % groups) interact only with items of group g, each with probability
    ``density`` (at least 4 per user).  Timestamps are distinct, so the
    latest interaction (the held-out one) is well defined."""
    rng = onp.random.default_rng(seed)

    def pick(u):
        own = onp.arange(u % groups, num_items, groups)
        picked = own[rng.random(len(own)) < density]
        return picked if len(picked) >= 4 else \
            rng.choice(own, 4, replace=False)
    return user_item_rows((pick(u) for u in range(num_users)), rng)


def user_item_rows(picks, rng):
    """Implicit rows ``(user, item, 5, time)`` from each user's 0-based
    items (``picks``, in user order: a generator may draw from ``rng`` as
    it goes), with distinct timestamps per user, shuffled by ``rng``."""
    rows = []
    for u, picked in enumerate(picks):
        times = 880000000 + rng.permutation(len(picked)) * 1000 + u
        rows += [(u + 1, i + 1, 5, t) for i, t in zip(picked, times)]
    rows = onp.array(rows)
    return rows[rng.permutation(len(rows))]


def add_fold_files(folder):
    """Official-style fold files beside ``folder``'s u.data: u{k}.test is
    the k-th fifth of the ratings, u{k}.base the rest (so u1.base holds
    u2..u5's test ratings, as ML-100K's does).  Returns ``folder``."""
    rows = onp.loadtxt(os.path.join(folder, 'u.data'), dtype=onp.int64)
    for k, part in enumerate(onp.array_split(onp.arange(len(rows)), 5)):
        test = onp.zeros(len(rows), dtype=bool)
        test[part] = True
        write_u_data(os.path.join(folder, f'u{k + 1}.base'), rows[~test])
        write_u_data(os.path.join(folder, f'u{k + 1}.test'), rows[test])
    return folder


@pytest.fixture(scope='session')
def fold_dir(tmp_path_factory):
    """A small release with u1..u5 fold files (``add_fold_files``)."""
    return add_fold_files(make_movielens(
        str(tmp_path_factory.mktemp('folds') / 'ml-100k'), num_users=30,
        num_items=60, density=0.3))


@pytest.fixture(scope='session')
def checker_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('checker') / 'ml-100k'
    folder.mkdir()
    write_u_data(folder / 'u.data', checkerboard_rows())
    with open(folder / 'u.item', 'w', encoding='latin-1') as f:
        for i in range(1, 61):
            f.write(f'{i}|Movie {i} (1990)|01-Jan-1990||http://x|0\n')
    return str(folder)


class LineReader:
    """The lines of a child's text pipe, read by a daemon thread, so that a
    test waits for the next one with a deadline instead of hanging on a
    child that prints nothing and never exits."""

    def __init__(self, pipe):
        self._lines = queue.Queue()
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe):
        for line in pipe:
            self._lines.put(line)
        self._lines.put('')             # end of file

    def readline(self, deadline):
        """The next line ('' at end of file), or None once
        ``time.monotonic()`` passes ``deadline``."""
        try:
            return self._lines.get(
                timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def wait_for(self, predicate, seconds):
        """The first line for which ``predicate`` holds, or None at end of
        file or after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            line = self.readline(deadline)
            if not line or predicate(line):
                return line or None

    def rest(self, seconds):
        """Every remaining line until end of file; AssertionError if it
        has not come within ``seconds``."""
        deadline, lines = time.monotonic() + seconds, []
        while True:
            line = self.readline(deadline)
            assert line is not None, f'no end of output in {seconds} s'
            if not line:
                return ''.join(lines)
            lines.append(line)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(name, *args, cwd=None, timeout=600):
    """Run ``scripts/NAME`` with ``args`` (any values, as text) in a fresh
    interpreter and return the finished process (its output captured).
    Import it with ``from conftest import run_script``."""
    return subprocess.run([sys.executable, os.path.join(ROOT, 'scripts',
                                                        name),
                           *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout)


@pytest.fixture(scope='session')
def serving_runs(ml_dir, checker_dir, tmp_path_factory):
    """A run folder per served model (tests/serving_helpers.py ``MODELS``),
    2 epochs each: the ``runs`` of tests/test_predictor.py and
    tests/test_service.py, made once for both."""
    from serving_helpers import train_runs
    return train_runs(ml_dir, checker_dir, tmp_path_factory.mktemp('runs'))


# --------------------------------------------------------------------------
# The fault tests' data and uninterrupted runs (tests/test_faults_*.py, their
# helpers in tests/fault_helpers.py): made once for all their files
# --------------------------------------------------------------------------
@pytest.fixture(scope='session')
def fault_ml(tmp_path_factory):
    """203 ratings of 20 users and 30 items."""
    return make_movielens(str(tmp_path_factory.mktemp('faults') /
                              'ml-100k'), num_users=20, num_items=30)


@pytest.fixture(scope='session')
def fault_options(fault_ml, checker_dir):
    """Each model's command: MF and AutoRec on ``fault_ml``, GMF under the
    NCF protocol on the checkerboard."""
    from fault_helpers import EPOCHS
    ml = fault_ml
    tail = ['--epochs', EPOCHS, '--devices', 'cpu', '--quiet']
    return {
        'mf': ['train', 'mf', '--data-dir', ml, '--batch-size', 32] + tail,
        'autorec': ['train', 'autorec', '--data-dir', ml, '--num-hiddens',
                    8, '--batch-size', 8] + tail,
        'gmf': ['train', 'gmf', '--protocol', 'ncf', '--data-dir',
                checker_dir, '--num-factors', 4, '--batch-size', 256,
                '--num-test-negatives', 20] + tail}


@pytest.fixture(scope='session')
def fault_reference(fault_options, tmp_path_factory):
    """``fault_reference(model)``: ``(run folder, steps of each epoch)`` of
    the model's uninterrupted run (made once, through the fault launcher
    with no fault)."""
    from fault_helpers import EPOCHS, epoch_steps, launch
    made = {}

    def get(model):
        if model not in made:
            base = tmp_path_factory.mktemp(f'reference-{model}')
            trace, out = base / 'trace', str(base / 'run')
            p = launch([f'trace:{trace}'],
                       fault_options[model] + ['--out', out])
            assert p.returncode == 0, p.stderr
            steps = epoch_steps(trace)
            assert len(steps) == EPOCHS and min(steps) >= 3, steps
            made[model] = out, steps
        return made[model]
    return get
