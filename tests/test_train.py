import json
import os

import mxnet as mx
import numpy as onp
import pytest
from mxnet import gluon, init, np

import d2l_recsys as rs
from d2l_recsys.runs import reevaluate, run_autorec, run_mf
from d2l_recsys.files import atomic_write


def test_parse_devices():
    assert rs.parse_devices('cpu') == [mx.cpu()]
    assert rs.parse_devices('cpu:3') == [mx.cpu(0), mx.cpu(1), mx.cpu(2)]
    assert rs.parse_devices('auto') == rs.try_all_gpus()
    for bad in ('tpu', 'cpu:0', 'cpu:x', 'gpu:a'):
        with pytest.raises(ValueError, match='--devices'):
            rs.parse_devices(bad)
    if mx.context.num_gpus() == 0:
        assert rs.try_all_gpus() == [mx.cpu()]
        with pytest.raises(ValueError, match='GPU'):
            rs.parse_devices('gpu:0')


def _mf_setup(devices, n=37, batch_size=8):
    rng = onp.random.default_rng(0)
    u, i = rng.integers(0, 5, n), rng.integers(0, 6, n)
    r = rng.integers(1, 6, n).astype('float32')
    train_iter = rs.ArrayIter(u, i, r, batch_size=batch_size, shuffle=True,
                              seed=0)
    test_iter = rs.ArrayIter(u, i, r, batch_size=batch_size)
    mx.random.seed(0)
    net = rs.MF(3, 5, 6)
    net.initialize(init.Normal(0.01), ctx=devices)
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.05})
    return net, train_iter, test_iter, trainer


def test_loop_history_and_uneven_batches_on_two_contexts(capsys):
    devices = [mx.cpu(0), mx.cpu(1)]
    # 37 examples in batches of 8: the last batch (5) splits 3 + 2, and a
    # batch of one would use one context only.
    net, train_iter, test_iter, trainer = _mf_setup(devices)
    hist = rs.train_recsys_rating(net, train_iter, test_iter,
                                  gluon.loss.L2Loss(), trainer, 3, devices,
                                  rs.evaluate_rmse)
    assert [h['epoch'] for h in hist] == [1, 2, 3]
    assert set(hist[0]) == {'epoch', 'train_loss', 'test_rmse', 'seconds'}
    assert hist[-1]['train_loss'] < hist[0]['train_loss']
    assert capsys.readouterr().out.count('test RMSE') == 3


def test_train_loss_is_mean_per_example_loss():
    devices = [mx.cpu()]
    net, _, test_iter, trainer = _mf_setup(devices)
    frozen = gluon.Trainer(net.collect_params(), 'sgd',
                           {'learning_rate': 0.0})
    u, i, r = [a.asnumpy() for a in test_iter.arrays]
    expected = float((0.5 * (net(np.array(u), np.array(i)).asnumpy() - r)
                      ** 2).mean())
    hist = rs.train_recsys_rating(net, test_iter, test_iter,
                                  gluon.loss.L2Loss(), frozen, 1, devices,
                                  rs.evaluate_rmse, verbose=False)
    assert hist[0]['train_loss'] == pytest.approx(expected, rel=1e-5)
    assert hist[0]['test_rmse'] == pytest.approx(
        rs.rmse(r, net(np.array(u), np.array(i)).asnumpy()), rel=1e-5)


def test_non_finite_loss_stops_with_message():
    devices = [mx.cpu()]
    net, train_iter, test_iter, trainer = _mf_setup(devices)

    def broken_loss(pred, label):
        return pred * float('nan')
    with pytest.raises(FloatingPointError, match='diverged.*epoch 1'):
        rs.train_recsys_rating(net, train_iter, test_iter, broken_loss,
                               trainer, 2, devices, rs.evaluate_rmse,
                               verbose=False)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / 'metrics.json'
    path.write_text('{"old": 1}')

    def crash(tmp):
        with open(tmp, 'w') as f:
            f.write('{"half')
        raise RuntimeError('crash')
    with pytest.raises(RuntimeError):
        atomic_write(str(path), crash)
    assert json.loads(path.read_text()) == {'old': 1}
    assert os.listdir(tmp_path) == ['metrics.json']
    atomic_write(str(path), lambda tmp: open(tmp, 'w').write('{}'))
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize('run, kwargs', [
    (run_autorec, dict(epochs=3, num_hiddens=10, batch_size=8)),
    (run_autorec, dict(epochs=3, num_hiddens=10, variant='user')),
    (run_mf, dict(epochs=3, batch_size=32)),
])
def test_outputs_and_reload_give_same_rmse(ml_dir, tmp_path, run, kwargs):
    out = str(tmp_path / 'run')
    res = run(data_dir=ml_dir, devices='cpu', out=out, verbose=False,
              **kwargs)
    with open(os.path.join(out, 'metrics.json')) as f:
        saved = json.load(f)
    assert saved['test_rmse'] == res['test_rmse']
    assert [h['epoch'] for h in saved['history']] == [1, 2, 3]
    assert set(saved['seconds']) == {'data', 'train', 'total'}
    assert len(saved['epoch_seconds']) == 3 and \
        0 < sum(saved['epoch_seconds']) <= saved['seconds']['train']
    assert saved['devices'] == ['cpu(0)']
    assert saved['config']['epochs'] == 3
    html = open(os.path.join(out, 'curves.html')).read()
    assert 'test RMSE' in html and 'plotly' in html.lower()
    assert reevaluate(out) == pytest.approx(res['test_rmse'], abs=1e-6)


def test_csr_autorec_runs_like_dense(ml_dir):
    kw = dict(data_dir=ml_dir, devices='cpu', verbose=False, epochs=3,
              num_hiddens=10, dropout=0.0)
    dense = run_autorec(formulation='dense', **kw)
    sparse = run_autorec(formulation='sparse', **kw)
    assert (dense['formulation'], sparse['formulation']) == ('dense',
                                                             'sparse')
    for a, b in zip(dense['history'], sparse['history']):
        assert a['train_loss'] == pytest.approx(b['train_loss'], rel=1e-4)
        assert a['test_rmse'] == pytest.approx(b['test_rmse'], rel=1e-4)


@pytest.mark.parametrize('kwargs, name', [
    (dict(epochs=-3), 'epochs'), (dict(lr=0), 'lr'),
    (dict(test_ratio=1.5), 'test_ratio'), (dict(variant='both'), 'variant'),
    (dict(train_file='x'), 'together'),
])
def test_bad_arguments_are_named(ml_dir, kwargs, name):
    with pytest.raises(ValueError, match=name):
        run_autorec(data_dir=ml_dir, verbose=False, **kwargs)


def test_progress_bar_on_a_terminal_lines_otherwise(ml_dir):
    """stderr a terminal: a bar over each epoch's batches (tqdm, with rate
    and ETA); a pipe: only the per-epoch lines; --quiet: neither."""
    import pty
    import subprocess
    import sys
    import threading
    script = os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), 'scripts', 'train_mf.py')
    args = [sys.executable, script, '--data-dir', ml_dir, '--epochs', '2',
            '--devices', 'cpu', '--batch-size', '8', '--out', ml_dir + '-o',
            '--overwrite']      # the three runs below write one folder
    import fcntl
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
    shown = []

    def drain():     # read as it comes: a full pty buffer blocks the writer
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:         # the last writer closed the terminal
                return
            if not chunk:
                return
            shown.append(chunk)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=slave,
                       text=True, timeout=300)
    os.close(slave)
    reader.join(timeout=30)
    shown = b''.join(shown)
    os.close(master)
    assert p.returncode == 0
    assert b'epoch 2: ' in shown and b'batches/s' in shown   # the bar
    assert p.stdout.count('test RMSE') == 3          # 2 epochs + summary
    piped = subprocess.run(args, capture_output=True, text=True,
                           timeout=300)
    assert 'batches' not in piped.stderr and piped.stdout.count(
        'test RMSE') == 3
    quiet = subprocess.run(args + ['--quiet'], capture_output=True,
                           text=True, timeout=300)
    assert quiet.stdout.count('test RMSE') == 1 and not quiet.stderr


def test_learning_rate_decay_follows_the_epoch_number():
    """Epoch e trains at lr * factor ** (e - 1), also when a resumed run
    starts after epoch 2."""
    from d2l_recsys.callbacks import LearningRateDecay
    from d2l_recsys.train import LoopState

    class Trainer:
        learning_rate = None

        def set_learning_rate(self, lr):
            self.learning_rate = lr

    cb, state = LearningRateDecay(0.01, 0.5), LoopState(None, Trainer(), [], 4)
    rates = []
    for epoch in range(4):
        state.epoch = epoch
        cb.on_epoch_begin(state)
        rates.append(state.trainer.learning_rate)
    assert rates == pytest.approx([0.01, 0.005, 0.0025, 0.00125])
    resumed = LoopState(None, Trainer(), [], 4, epoch=2)
    cb.on_epoch_begin(resumed)
    assert resumed.trainer.learning_rate == pytest.approx(0.0025)


def test_only_networks_with_dropout_are_reseeded_each_step():
    from mxnet.gluon import nn
    from d2l_recsys.train import draws_random
    assert draws_random(rs.AutoRec(num_hiddens=4, num_users=5))
    assert not draws_random(rs.AutoRec(num_hiddens=4, num_users=5,
                                       dropout=0.0))
    assert not draws_random(rs.MF(4, 5, 6))
    outer = nn.HybridSequential()
    outer.add(nn.Dense(3), rs.AutoRec(num_hiddens=4, num_users=5))
    assert draws_random(outer)
