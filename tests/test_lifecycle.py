"""The training lifecycle: validation carve-out, early stopping, checkpoints
and exact resume, signals, cross-validation folds."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as onp
import pandas as pd
import pytest

from d2l_recsys import data as D
from d2l_recsys.callbacks import EarlyStopping
from d2l_recsys.runs import run_autorec, run_mf, run_ranking
from conftest import block_ratings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_AUTOREC = dict(num_hiddens=8, batch_size=8, devices='cpu',
                    verbose=False)


def _strip(history):
    return [{k: v for k, v in h.items() if k != 'seconds'} for h in history]


def _assert_same_history(a, b):
    assert len(a) == len(b)
    for x, y in zip(_strip(a), _strip(b)):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float):
                assert x[k] == pytest.approx(y[k], abs=1e-6), k
            elif isinstance(x[k], dict):
                assert x[k] == pytest.approx(y[k], abs=1e-6), k
            else:
                assert x[k] == y[k], k


# --- validation carve-out ----------------------------------------------------
def _frame(rows):
    return pd.DataFrame(rows, columns=D.COLUMNS)


@pytest.mark.parametrize('split', ['random', 'seq-aware'])
def test_validation_never_overlaps_test_or_training(ml_dir, split):
    data, nu, ni = D.read_data_ml100k(ml_dir)
    train, test = D.split_data_ml100k(data, nu, ni, split, seed=0)
    fit, valid = D.validation_split(train, split, 0.2, seed=0)
    key = ['user_id', 'item_id']
    pairs = [set(map(tuple, f[key].to_numpy())) for f in (fit, valid, test)]
    assert not pairs[0] & pairs[1] and not pairs[1] & pairs[2]
    assert not pairs[0] & pairs[2]
    assert len(fit) + len(valid) == len(train)     # taken from train only
    if split == 'seq-aware':   # each user's latest remaining rating
        latest = train.groupby('user_id')['timestamp'].max()
        assert (valid.set_index('user_id')['timestamp']
                == latest[valid['user_id']].to_numpy()).all()
        assert valid['user_id'].is_unique
    else:
        assert 0.1 < len(valid) / len(train) < 0.3


def test_kfold_and_official_folds(ml_dir, tmp_path):
    data, _, _ = D.read_data_ml100k(ml_dir)
    tests = [D.kfold_split(data, 5, f, seed=3)[1] for f in range(5)]
    idx = onp.concatenate([t.index.to_numpy() for t in tests])
    assert sorted(idx) == list(range(len(data)))    # each rating once
    train, test = D.kfold_split(data, 5, 2, seed=3)
    assert not set(train.index) & set(test.index)
    assert D.official_fold_files(str(tmp_path), 0) is None
    for name in ('u1.base', 'u1.test'):
        (tmp_path / name).write_text('1\t1\t3\t5\n')
    assert D.official_fold_files(str(tmp_path), 0) == (
        str(tmp_path / 'u1.base'), str(tmp_path / 'u1.test'))


def test_folds_use_official_files_when_present(tmp_path, capsys):
    folder = tmp_path / 'ml'
    folder.mkdir()
    rows = block_ratings()
    from conftest import write_u_data
    write_u_data(folder / 'u.data', rows)
    parts = onp.array_split(onp.arange(len(rows)), 5)
    for f, part in enumerate(parts):
        write_u_data(folder / f'u{f + 1}.test', rows[part])
        write_u_data(folder / f'u{f + 1}.base', onp.delete(rows, part, 0))
    res = run_mf(data_dir=str(folder), folds=5, epochs=2, devices='cpu',
                 verbose=False, out=str(tmp_path / 'cv'))
    assert [f['num_test'] for f in res['folds']] == [len(p) for p in parts]
    values = [f['test_rmse'] for f in res['folds']]
    assert res['test_rmse'] == pytest.approx(onp.mean(values))
    assert res['test_rmse_std'] == pytest.approx(onp.std(values, ddof=1))
    saved = json.loads((tmp_path / 'cv' / 'metrics.json').read_text())
    assert len(saved['folds']) == 5
    assert (tmp_path / 'cv' / 'fold-3' / 'model.params').exists()
    out = capsys.readouterr().out
    assert out.count('fold ') == 5 and 'mean over 5 folds' in out


# --- early stopping ------------------------------------------------------------
def test_early_stopping_restores_the_best_epoch(ml_dir):
    res = run_autorec(data_dir=ml_dir, validation=True, early_stop=2,
                      epochs=40, lr=0.05, **TINY_AUTOREC)
    hist = res['history']
    best = min(hist, key=lambda h: h['valid_rmse'])
    assert res['best_epoch'] == best['epoch']
    assert res['test_rmse'] == best['test_rmse']
    assert hist[-1]['epoch'] - res['best_epoch'] == 2    # patience 2
    assert len(hist) < 40


def test_early_stopping_callback_puts_back_best_parameters():
    import mxnet as mx
    from mxnet import gluon
    from d2l_recsys.train import LoopState
    net = gluon.nn.Dense(1, in_units=1)
    net.initialize(mx.init.Constant(1.0))
    state = LoopState(net, None, [mx.cpu()], 10)
    es = EarlyStopping('valid_rmse', patience=2)
    for epoch, (value, w) in enumerate([(3.0, 1.0), (2.0, 5.0), (2.5, 7.0),
                                        (2.2, 9.0)], 1):
        net.weight.set_data(mx.np.array([[w]]))
        es.on_epoch_end(state, {'epoch': epoch, 'valid_rmse': value})
    assert state.stop and es.best_epoch == 2
    es.on_train_end(state)
    assert float(net.weight.data()[0, 0]) == 5.0


def test_early_stop_needs_validation(ml_dir):
    with pytest.raises(ValueError, match='early_stop.*validation'):
        run_mf(data_dir=ml_dir, early_stop=3, verbose=False)


# --- checkpoints and resume ------------------------------------------------------
@pytest.mark.parametrize('run, kwargs', [
    (run_mf, dict(batch_size=32, devices='cpu')),
    (run_autorec, dict(num_hiddens=8, batch_size=8, devices='cpu')),
    (run_autorec, dict(num_hiddens=8, batch_size=8, devices='cpu:2',
                       validation=True, early_stop=50)),
])
def test_resume_gives_the_uninterrupted_run(ml_dir, tmp_path, run, kwargs):
    whole = run(data_dir=ml_dir, epochs=4, out=str(tmp_path / 'a'),
                verbose=False, **kwargs)
    run(data_dir=ml_dir, epochs=2, out=str(tmp_path / 'b'), verbose=False,
        **kwargs)
    resumed = run(resume=str(tmp_path / 'b'), epochs=4, verbose=False)
    _assert_same_history(whole['history'], resumed['history'])
    assert resumed['test_rmse'] == pytest.approx(whole['test_rmse'],
                                                 abs=1e-6)
    saved = json.loads((tmp_path / 'b' / 'metrics.json').read_text())
    assert [h['epoch'] for h in saved['history']] == [1, 2, 3, 4]


def test_resume_ranking(checker_dir, tmp_path):
    kw = dict(model='gmf', data_dir=checker_dir, num_factors=2, lr=0.02,
              batch_size=64, num_test_negatives=20, top_k=5, devices='cpu',
              verbose=False)
    whole = run_ranking(epochs=4, out=str(tmp_path / 'a'), **kw)
    run_ranking(epochs=2, out=str(tmp_path / 'b'), **kw)
    resumed = run_ranking(resume=str(tmp_path / 'b'), epochs=4,
                          verbose=False)
    _assert_same_history(whole['history'], resumed['history'])


def test_resume_refuses_changed_options(ml_dir, tmp_path):
    run_mf(data_dir=ml_dir, epochs=1, out=str(tmp_path), verbose=False)
    with pytest.raises(ValueError, match='only epochs, devices.* not lr'):
        run_mf(resume=str(tmp_path), lr=0.1, verbose=False)
    with pytest.raises(FileNotFoundError, match='not a run folder'):
        run_mf(resume=str(tmp_path / 'nothing'), verbose=False)
    with pytest.raises(ValueError, match='a mf run, not a ranking run'):
        run_ranking(resume=str(tmp_path), verbose=False)


def _signal_after(p, out, epoch, signum):
    """Send ``signum`` to the script ``p`` once its run folder ``out`` holds
    the checkpoint of ``epoch``; returns its stderr once it has exited."""
    state = out / 'checkpoint' / 'state.json'
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if state.exists() and \
                    json.loads(state.read_text())['epoch'] >= epoch:
                break
            time.sleep(0.02)
        p.send_signal(signum)
        return p.communicate(timeout=120)[1]
    finally:
        p.kill()


def test_sigint_writes_checkpoint_and_resumes_identically(ml_dir, tmp_path):
    """A script sent SIGINT mid-run exits 130 with a checkpoint and the
    command that resumes; resuming gives the uninterrupted result."""
    script = os.path.join(ROOT, 'scripts', 'train_autorec.py')
    common = ['--data-dir', ml_dir, '--devices', 'cpu', '--epochs', '12',
              '--num-hiddens', '64', '--batch-size', '4']
    out = tmp_path / 'run'
    p = subprocess.Popen([sys.executable, script, *common, '--out', str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    stderr = _signal_after(p, out, 2, signal.SIGINT)
    assert p.returncode == 130, stderr
    assert '--resume' in stderr and 'Traceback' not in stderr
    meta = json.loads((out / 'checkpoint' / 'state.json').read_text())
    assert 2 <= meta['epoch'] < 12
    r = subprocess.run([sys.executable, script, '--resume', str(out),
                        '--epochs', '12', '--devices', 'cpu', '--quiet'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    whole = run_autorec(data_dir=ml_dir, devices='cpu', epochs=12,
                        num_hiddens=64, batch_size=4, verbose=False)
    resumed = json.loads((out / 'metrics.json').read_text())
    _assert_same_history(whole['history'], resumed['history'])


def test_sigterm_then_resume_keeps_the_stored_epochs(ml_dir, tmp_path):
    """A 40-epoch MF script stopped by SIGTERM after epoch 9 and resumed
    with ``--resume DIR`` alone trains to 40/40, as if never stopped: the
    parser's default --epochs does not replace the stored 40."""
    script = os.path.join(ROOT, 'scripts', 'train_mf.py')
    out = tmp_path / 'run'
    p = subprocess.Popen([sys.executable, script, '--data-dir', ml_dir,
                          '--devices', 'cpu', '--epochs', '40',
                          '--batch-size', '8', '--out', str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    stderr = _signal_after(p, out, 9, signal.SIGTERM)
    state = out / 'checkpoint' / 'state.json'
    assert p.returncode == 143, stderr
    stopped = json.loads(state.read_text())['epoch']
    assert 9 <= stopped < 40, stopped
    r = subprocess.run([sys.executable, script, '--resume', str(out),
                        '--quiet'], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    resumed = json.loads((out / 'metrics.json').read_text())
    assert resumed['config']['epochs'] == 40
    whole = run_mf(data_dir=ml_dir, devices='cpu', epochs=40, batch_size=8,
                   verbose=False)
    _assert_same_history(whole['history'], resumed['history'])


def test_interrupt_in_the_middle_of_an_epoch_resumes_exactly(tmp_path):
    """SIGINT after batch 3 of epoch 2: the checkpoint holds that step, and
    a resumed loop (dropout on, so MXNet's stream matters) ends where the
    uninterrupted one does."""
    import mxnet as mx
    from mxnet import gluon, init
    import d2l_recsys as rs
    from d2l_recsys.callbacks import (Checkpoint, StopOnSignal,
                                      TrainingInterrupted)
    from d2l_recsys.train import Callback, train_loop

    rows = onp.random.default_rng(0).random((40, 12)).astype('float32')

    def setup():
        it = rs.ArrayIter(rows, batch_size=6, shuffle=True,
                          last_batch='rollover', seed=1)
        mx.random.seed(0)
        net = rs.AutoRec(5, 12, dropout=0.3)
        net.initialize(init.Normal(0.1))
        trainer = gluon.Trainer(list(net.collect_params().values()), 'adam',
                                {'learning_rate': 0.01})
        loss = rs.MaskedL2Loss()
        return it, net, trainer, (lambda s: loss(net(s[0]), s[0]))

    def weights(net):
        return [p.data().asnumpy() for p in net.collect_params().values()]

    it, net, trainer, shard_loss = setup()
    whole = train_loop(net, it, shard_loss, trainer, 3, [mx.cpu()], seed=7)
    expected = weights(net)

    class Kill(Callback):
        def on_batch_end(self, state):
            if state.epoch == 1 and state.batch == 3:
                os.kill(os.getpid(), signal.SIGINT)

    it, net, trainer, shard_loss = setup()
    ckpt = Checkpoint(str(tmp_path), it)
    with pytest.raises(TrainingInterrupted) as err:
        train_loop(net, it, shard_loss, trainer, 3, [mx.cpu()], seed=7,
                   callbacks=[Kill(), ckpt, StopOnSignal(ckpt)])
    assert err.value.exit_code == 130
    meta = json.loads((tmp_path / 'checkpoint' / 'state.json').read_text())
    assert (meta['epoch'], meta['batch']) == (1, 3)

    it, net, trainer, shard_loss = setup()
    resumed = train_loop(net, it, shard_loss, trainer, 3, [mx.cpu()],
                         seed=7, callbacks=[Checkpoint(str(tmp_path), it,
                                                       resume=True)])
    _assert_same_history(whole, resumed)
    for a, b in zip(expected, weights(net)):
        assert onp.allclose(a, b, atol=1e-6)


def test_ranking_validation_and_early_stopping(checker_dir):
    res = run_ranking(model='gmf', data_dir=checker_dir, num_factors=2,
                      lr=0.02, batch_size=64, num_test_negatives=20, top_k=5,
                      devices='cpu', verbose=False, epochs=30,
                      validation=True, early_stop=3)
    hist = res['history']
    assert all('valid_hit_rate@5' in h and 'valid_ndcg@5' in h for h in hist)
    best = max(hist, key=lambda h: h['valid_hit_rate@5'])
    assert res['best_epoch'] == best['epoch']
    assert res['hit_rate@5'] == best['hit_rate@5']
    assert hist[-1]['epoch'] - res['best_epoch'] <= 3


def test_streamed_trainer_states_are_gluons_file(tmp_path):
    import pickle
    import mxnet as mx
    from mxnet import autograd, gluon, np as mnp
    from d2l_recsys.checkpoints import save_trainer_states
    from d2l_recsys.models import MF
    net = MF(3, 5, 7)
    net.initialize(mx.init.Normal(0.1))
    trainer = gluon.Trainer(net.collect_params(), 'adam',
                            {'learning_rate': 0.01})
    u, i = mnp.array([0, 1, 4]), mnp.array([2, 6, 0])
    for _ in range(2):
        with autograd.record():
            loss = ((net(u, i) - 3) ** 2).sum()
        loss.backward()
        trainer.step(3)
    trainer.save_states(str(tmp_path / 'gluon'))
    save_trainer_states(trainer, str(tmp_path / 'ours'))
    ours, gluons = (pickle.loads((tmp_path / n).read_bytes())
                    for n in ('ours', 'gluon'))
    assert ours[0].keys() == gluons[0].keys()
    for k in ours[0]:
        for a, b in zip(ours[0][k], gluons[0][k]):
            assert (a.asnumpy() == b.asnumpy()).all()
    assert ours[1].num_update == gluons[1].num_update == 2
    trainer.load_states(str(tmp_path / 'ours'))        # Gluon reads it


def test_saved_itempop_scores_again(ml_dir, tmp_path):
    from d2l_recsys.runs import reevaluate
    res = run_ranking(data_dir=ml_dir, model='itempop', num_test_negatives=20,
                      devices='cpu', verbose=False, out=str(tmp_path))
    again = reevaluate(str(tmp_path))
    assert again['hit_rate@10'] == res['hit_rate@10']
    assert again['auc'] == res['auc']
