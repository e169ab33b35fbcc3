"""Training on MXNet's parameter server: shards, the kvstore option, and
whole jobs (2 workers + 1 server on loopback) against one worker."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as onp
import pytest
from conftest import LineReader

from d2l_recsys import launch as L
from d2l_recsys.distributed import connect
from d2l_recsys.data import ArrayIter, NegativeSamplingIter, ShardOrder
from d2l_recsys.runs import run_mf, run_ranking

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MF = os.path.join(ROOT, 'scripts', 'train_mf.py')
NEUMF = os.path.join(ROOT, 'scripts', 'train_neumf.py')


def test_shards_are_disjoint_cover_the_epoch_and_reshuffle():
    n, batch, workers = 103, 5, 3
    iters = [ArrayIter(onp.arange(n), order=ShardOrder(n, batch, r, workers,
                                                       seed=7))
             for r in range(workers)]
    epochs = [[onp.concatenate([b.asnumpy() for b in it]) for it in iters]
              for _ in range(2)]
    for parts in epochs:
        assert {len(p) for p in parts} == {n // (batch * workers) * batch}
        seen = onp.concatenate(parts)
        assert len(set(seen.tolist())) == len(seen)           # disjoint
        assert n - len(seen) < batch * workers                # covering
    assert not all((a == b).all() for a, b in zip(*epochs))   # reshuffled
    assert all(len(it) == n // (batch * workers) for it in iters)


def test_kvstore_values_are_checked(monkeypatch):
    with pytest.raises(ValueError, match='kvstore'):
        connect('dist_nonsense')
    monkeypatch.delenv('DMLC_ROLE', raising=False)
    with pytest.raises(ValueError, match='d2l_recsys.launch'):
        connect('dist_sync')
    assert connect('device').num_workers == 1


def test_wrong_kvstore_is_a_one_line_error(tmp_path):
    p = subprocess.run([sys.executable, MF, '--kvstore', 'dist_nope',
                        '--out', str(tmp_path)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and '--kvstore' in p.stderr


def test_two_workers_match_one_worker_with_the_global_batch(ml_dir,
                                                            tmp_path):
    out = tmp_path / 'dist'
    code = L.launch([sys.executable, MF, '--kvstore', 'dist_sync',
                     '--data-dir', ml_dir, '--devices', 'cpu', '--epochs', '6',
                     '--batch-size', '16', '--lr', '0.02', '--quiet',
                     '--out', str(out)], num_workers=2, num_servers=1,
                    timeout=240)
    assert code == 0
    saved = json.loads((out / 'metrics.json').read_text())
    assert (saved['kvstore'], saved['num_workers'], saved['num_servers']) \
        == ('dist_sync', 2, 1)
    assert len(saved['examples_per_second']) == 2
    assert all(v > 0 for v in saved['examples_per_second'])
    one = run_mf(data_dir=ml_dir, devices='cpu', epochs=6, batch_size=32,
                 lr=0.02, verbose=False)
    assert saved['test_rmse'] == pytest.approx(one['test_rmse'], abs=0.05)
    assert saved['history'][-1]['train_loss'] < \
        saved['history'][0]['train_loss']


def test_killed_worker_fails_the_job_and_leaves_no_output(ml_dir, tmp_path):
    """SIGKILL to one worker: the launcher exits non-zero within 30 s, no
    process is left, and --out holds no partial file."""
    out = tmp_path / 'dist'
    p = subprocess.Popen(
        [sys.executable, '-m', 'd2l_recsys.launch', '-n', '2', '-s', '1',
         '--', sys.executable, MF, '--kvstore', 'dist_sync', '--data-dir',
         ml_dir, '--devices', 'cpu', '--epochs', '100000', '--batch-size',
         '4', '--out', str(out)], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    family = set()
    output = LineReader(p.stdout)
    try:
        started = output.wait_for(
            lambda line: line.startswith('[worker') and 'epoch' in line, 120)
        worker = _worker_pids(p.pid)
        family.update(_descendants(p.pid))
        assert started and worker, 'the job never started training'
        os.kill(worker[0], signal.SIGKILL)
        start = time.time()
        output.rest(30)
        p.wait(timeout=10)
        assert time.time() - start < 30
        assert p.returncode != 0
        assert not _descendants(p.pid)
        assert not out.exists() or not [
            f for f in os.listdir(out) if not f.startswith('.')]
    finally:   # whatever failed, leave nothing behind
        for pid in family | set(_descendants(p.pid)) | {p.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _descendants(pid):
    """Pids of the live processes whose ancestry includes ``pid``."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if fields[0] != 'Z':
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


def _worker_pids(launcher):
    pids = []
    for child in _descendants(launcher):
        try:
            env = open(f'/proc/{child}/environ', 'rb').read().split(b'\0')
        except OSError:
            continue
        if b'DMLC_ROLE=worker' in env and b'PYTHONUNBUFFERED=1' in env:
            pids.append(child)
    return pids


def test_negative_sampling_shards_positives_and_never_draws_seen_items():
    rng = onp.random.default_rng(0)
    users = onp.repeat(onp.arange(30), 7)
    items = onp.concatenate([rng.choice(50, 7, replace=False)
                             for _ in range(30)])
    seen = {(u, i) for u, i in zip(users.tolist(), items.tolist())}
    iters = [NegativeSamplingIter(users, items, 30, 50, num_negatives=2,
                                  batch_size=8, seed=3, rank=r,
                                  num_workers=2) for r in range(2)]
    firsts = []
    for _ in range(2):                                   # two epochs
        parts = [[tuple(a.asnumpy() for a in b) for b in it] for it in iters]
        assert len(parts[0]) == len(parts[1]) == len(iters[0])
        assert all(len(b[0]) == 8 for p in parts for b in p)   # full only
        positives = []
        for p in parts:
            u, i, y = (onp.concatenate(c) for c in zip(*p))
            positives.append({(a, b) for a, b, c in zip(u, i, y) if c == 1})
            assert not {(a, b) for a, b, c in zip(u, i, y) if c == 0} & seen
        assert not positives[0] & positives[1]           # disjoint shares
        assert len(positives[0] | positives[1]) >= len(seen) - 2 - 16
        firsts.append(positives[0])
    assert firsts[0] != firsts[1]                         # reshuffled
    alone = NegativeSamplingIter(users, items, 30, 50, num_negatives=2,
                                 batch_size=8, seed=3, rank=0, num_workers=1)
    sizes = [len(b[0]) for b in alone]     # a one-worker job: full batches
    assert sizes == [8] * (210 * 3 // 8) == [8] * len(alone)


def test_two_workers_train_neumf_like_one_worker(checker_dir, tmp_path):
    out = tmp_path / 'dist'
    opts = ['--data-dir', checker_dir, '--devices', 'cpu', '--model', 'gmf',
            '--num-factors', '2', '--num-test-negatives', '20', '--top-k',
            '5', '--epochs', '10', '--lr', '0.02', '--quiet']
    code = L.launch([sys.executable, NEUMF, '--kvstore', 'dist_sync',
                     '--batch-size', '64', '--out', str(out)] + opts,
                    num_workers=2, num_servers=1, timeout=240)
    assert code == 0
    saved = json.loads((out / 'metrics.json').read_text())
    assert (saved['kvstore'], saved['num_workers']) == ('dist_sync', 2)
    assert len(saved['examples_per_second']) == 2
    one = run_ranking(data_dir=checker_dir, devices='cpu', model='gmf',
                      num_factors=2, num_test_negatives=20, top_k=5,
                      epochs=10, lr=0.02, batch_size=128, verbose=False)
    assert one['auc'] > 0.8                          # the data is learnable
    assert saved['auc'] == pytest.approx(one['auc'], abs=0.05)
    assert saved['hit_rate@5'] == pytest.approx(one['hit_rate@5'], abs=0.1)


def test_two_workers_take_the_global_batch_step_with_sgd(checker_dir,
                                                         tmp_path):
    """2 workers x batch 64 take the steps of 1 worker x batch 128.

    Adam is invariant to the scale of the gradient, so the tests above
    would pass with a step normalised by the wrong batch size; plain SGD's
    step is proportional to it.  In GMF's first epochs under BCE the loss
    falls as the output bias moves toward the log-odds of the 1:4 positive
    ratio: a smooth path, nearly the same whatever the batches hold, whose
    speed is the learning rate.  Measured: the two workers' losses stay
    within 0.007 of one worker's (seeds 0-2), while halving or doubling the
    learning rate, what a factor-2 normalisation error amounts to, moves
    them by 0.03 or more; the test checks both sides of ``TOL``.  Stepping
    by the local batch instead of the global one fails it (by 0.034) while
    the Adam tests above still pass.
    """
    TOL = 0.015
    opts = dict(data_dir=checker_dir, devices='cpu', model='gmf',
                loss='bce', optimizer='sgd', num_factors=8,
                num_test_negatives=20, top_k=5, epochs=3)
    out = tmp_path / 'dist'
    argv = [f"--{k.replace('_', '-')}={v}" for k, v in opts.items()]
    code = L.launch([sys.executable, NEUMF, '--kvstore', 'dist_sync',
                     '--batch-size', '64', '--lr', '0.1', '--quiet',
                     '--out', str(out)] + argv,
                    num_workers=2, num_servers=1, timeout=240)
    assert code == 0
    saved = json.loads((out / 'metrics.json').read_text())
    assert (saved['config']['optimizer'], saved['num_workers']) == ('sgd', 2)

    def losses(history):
        return onp.array([h['train_loss'] for h in history])

    two = losses(saved['history'])
    one, half, double = (
        losses(run_ranking(batch_size=128, lr=lr, verbose=False,
                           **opts)['history']) for lr in (0.1, 0.05, 0.2))
    assert len(two) == len(one) == 3
    assert abs(two - one).max() < TOL, (two, one)
    for wrong in (half, double):              # the test can see a factor 2
        assert abs(wrong - one).max() > 2 * TOL, (wrong, one)
