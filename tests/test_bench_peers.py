"""bench/bench_peers.py's pure parts: the split it hands every contestant,
the variants it accepts, the comparison of ours with the peers, and the
docs section that shows it.  No virtual environment, network or training."""
import numpy as onp
import pandas as pd
import pytest

from test_bench_docs import bench_module


@pytest.fixture(scope='module')
def peers():
    return bench_module('bench_peers')


def ratings(n=1000, seed=1):
    rng = onp.random.default_rng(seed)
    return pd.DataFrame(dict(user_id=rng.integers(1, 50, n),
                             item_id=onp.arange(n),
                             rating=rng.integers(1, 6, n),
                             timestamp=onp.arange(n) + 10 ** 9))


def test_the_split_is_disjoint_and_covers_the_ratings(peers):
    frame = ratings()
    train, test = peers.split_ratings(frame, test_ratio=0.1, seed=0)
    assert len(test) == 100 and len(train) == 900
    assert not set(train.index) & set(test.index)
    whole = pd.concat([train, test]).sort_index()
    pd.testing.assert_frame_equal(whole, frame)
    assert list(train.index) == sorted(train.index)     # the file's order
    again = peers.split_ratings(frame, test_ratio=0.1, seed=0)[1]
    assert list(again.index) == list(test.index)        # fixed by the seed


def test_the_split_files_are_written_as_the_readers_expect(peers, tmp_path):
    frame = ratings(20)
    peers.write_ratings(frame, str(tmp_path / 'train.tsv'))
    lines = (tmp_path / 'train.tsv').read_text().splitlines()
    assert len(lines) == 20
    assert lines[0].split('\t') == [str(frame.loc[0, c]) for c in
                                    ('user_id', 'item_id', 'rating',
                                     'timestamp')]
    half = frame.assign(rating=frame.rating - 0.5)
    peers.write_ratings(half, str(tmp_path / 'train.csv'))
    lines = (tmp_path / 'train.csv').read_text().splitlines()
    assert lines[0] == 'userId,movieId,rating,timestamp'
    assert len(lines) == 21


def test_variants_name_one_of_our_scripts(peers):
    name, c = peers.parse_variant(
        'mf-fast=train_mf.py --batch-size 8192 --sparse-grad')
    assert name == 'mf-fast'
    assert c == dict(side='ours', task='mf', script='train_mf.py',
                     args=['--batch-size', '8192', '--sparse-grad'])
    for bad in ('mf-fast', 'mf-fast=', '=train_mf.py',
                'x=train_neumf.py --epochs 1'):
        with pytest.raises(ValueError):
            peers.parse_variant(bad)
    assert {c['task'] for c in peers.CONTESTANTS.values()} == \
        set(peers.PEER_OF)


def row(shape, contestant, side, task, seconds, wall, rmse, status='ok'):
    return dict(shape=shape, contestant=contestant, side=side, task=task,
                status=status, train_test_seconds=seconds,
                wall_seconds=wall, test_rmse=rmse)


def test_ours_is_compared_with_its_tasks_peer_on_the_same_shape(peers):
    rows = peers.compare([
        row('ml-100k', 'surprise-svd', 'peer', 'mf', 0.5, 1.0, 0.92),
        row('ml-100k', 'mf', 'ours', 'mf', 10.0, 12.0, 0.90),
        row('ml-100k', 'mf-fast', 'ours', 'mf', 0.25, 2.0, 0.93),
        row('ml-1m', 'mf', 'ours', 'mf', 50.0, 60.0, 0.70),  # no peer
        row('ml-100k', 'torch-autorec', 'peer', 'autorec', 4.0, 6.0, 0.89,
            status='failed'),
        row('ml-100k', 'autorec', 'ours', 'autorec', 2.0, 3.0, 0.88)])
    mf, fast, big, autorec = rows[1], rows[2], rows[3], rows[5]
    assert mf['peer'] == 'surprise-svd'
    assert mf['speedup'] == pytest.approx(0.05)       # 0.5 s / 10 s
    assert mf['wall_speedup'] == pytest.approx(1 / 12)
    assert mf['rmse_diff'] == pytest.approx(-0.02)
    assert fast['speedup'] == pytest.approx(2.0)
    assert fast['rmse_diff'] == pytest.approx(0.01)
    assert 'speedup' not in big and 'speedup' not in autorec
    assert 'speedup' not in rows[0]                   # peers get none
    # rows come first from a merged file: a stale comparison goes
    rows[0]['status'] = 'failed'
    assert 'speedup' not in peers.compare(rows)[1]


def test_rows_are_ordered_by_shape_task_then_peer_first(peers):
    rows = [row('ml-1m', 'mf', 'ours', 'mf', 1, 1, 1),
            row('ml-100k', 'autorec', 'ours', 'autorec', 1, 1, 1),
            row('ml-100k', 'mf', 'ours', 'mf', 1, 1, 1),
            row('ml-100k', 'surprise-svd', 'peer', 'mf', 1, 1, 1)]
    assert [(r['shape'], r['contestant']) for r in
            sorted(rows, key=peers.order)] == [
        ('ml-100k', 'surprise-svd'), ('ml-100k', 'mf'),
        ('ml-100k', 'autorec'), ('ml-1m', 'mf')]


def test_the_docs_show_the_peers_table(peers):
    docs = bench_module('docs')
    rows = peers.compare([
        dict(row('ml-100k', 'surprise-svd', 'peer', 'mf', 0.5, 1.0, 0.92),
             data='real', epochs=20, num_test=10000,
             library='scikit-surprise 1.1.5', command='surprise_svd.py'),
        dict(row('ml-100k', 'mf', 'ours', 'mf', 10.0, 12.0, 0.90),
             data='real', epochs=20, num_test=10000, command='train_mf.py'),
        dict(row('ml-1m', 'autorec', 'ours', 'autorec', 1.0, 1.0, 0.9,
                 status='failed'), data='synthetic', error='boom',
             floor_rmse=0.61,
             command='train_autorec.py')])
    result = dict(benchmark='bench_peers', command='python bench/bench_'
                  'peers.py', date='2026-12-04 10:00 UTC', commit='0' * 40,
                  dirty=[], rerun=True, measurements=rows,
                  machine=dict(cpu='cpu', cores=2, memory_gb=24, gpus=0,
                               mxnet='1.9.1', python='3.11',
                               load_at_start=0.1))
    page = docs.render({'peers.json': result})
    assert "## Against the peers a practitioner would use" in page
    assert ('| ml-100k | mf | mf (`train_mf.py`) | 20 | 0.9000 | 10,000 | '
            '10.0 | 12.0 | 0.05× | -0.0200 |') in page
    assert '| ml-100k | mf | surprise-svd (scikit-surprise 1.1.5) | 20 |' \
        in page
    assert ('| ml-1m (synthetic, floor 0.610) | autorec | autorec (`train_autorec.py`) | '
            'failed: boom |') in page
