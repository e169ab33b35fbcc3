"""Your own data: a CSV with string ids and its own column names trains
MF and GMF from the scripts and from ``rs.fit``, and recommends in its own
ids; a bad file is a one-line error, exit 2, and nothing is written."""
import os
import re

import numpy as onp
import pandas as pd
import pytest

import d2l_recsys as rs
from conftest import run_script, block_ratings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = 'user=user_id,item=sku,rating=stars,timestamp=ts'


def shop_frame():
    """Block-structured ratings with string ids: customer ``c07`` rates
    products ``p-3``..."""
    rows = block_ratings(num_users=30, num_items=40, seed=3)
    return pd.DataFrame({'user_id': [f'c{u:02d}' for u in rows[:, 0]],
                         'sku': [f'p-{i}' for i in rows[:, 1]],
                         'stars': rows[:, 2], 'ts': rows[:, 3]})


@pytest.fixture(scope='module')
def shop(tmp_path_factory):
    path = tmp_path_factory.mktemp('shop') / 'ratings.csv'
    shop_frame().to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize('train', [
    ('train_mf.py',), ('train_neumf.py', '--model', 'gmf',
                       '--num-test-negatives', '10')])
def test_scripts_train_and_recommend_in_the_files_ids(shop, tmp_path, train):
    out = str(tmp_path / 'run')
    r = run_script(*train, '--ratings', shop, '--columns', COLUMNS, '--epochs',
                   '2', '--devices', 'cpu', '--quiet', '--out', out)
    assert r.returncode == 0, r.stderr
    r = run_script('recommend.py', '--model-dir', out, '--user', 'c07', '-k',
                   '3')
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == 'top 3 for user c07:'
    assert all('(item p-' in line for line in lines[1:4])


def test_fit_in_memory_returns_a_predictor_in_the_datas_ids(tmp_path):
    df = shop_frame()
    p = rs.fit('mf', df, columns=COLUMNS, epochs=3, devices='cpu')
    assert p.results['num_train'] + p.results['num_test'] == len(df)
    rated = set(df.loc[df['user_id'] == 'c07', 'sku'])
    recs = p.recommend('c07', 5)
    assert len(recs) == 5 and not rated & {r['item'] for r in recs}
    values, unknown = p.predict(['c07', 'c07', 'nobody'], ['p-3', 'p-4',
                                                            'p-3'])
    assert unknown == 1 and onp.isfinite(values[:2]).all()
    assert onp.isnan(values[2])
    p.save(str(tmp_path / 'export'))
    again = rs.serving.load_predictor(str(tmp_path / 'export'))
    assert again.recommend('c07', 5) == recs
    gmf = rs.fit('gmf', df, columns=COLUMNS, epochs=2, devices='cpu',
                 num_test_negatives=10)
    assert {r['item'] for r in gmf.recommend('c07', 5)} <= set(df['sku'])


@pytest.mark.parametrize('edit, message', [
    (lambda df: df.drop(columns=['sku']), "line 1: --columns maps item=sku, "
     "but there is no column 'sku'"),
    (lambda df: pd.concat([df, df.iloc[[4]]]), r'lines 6 and \d+: .* twice'),
    (lambda df: df.assign(stars=df['stars'].astype(object).where(
        df.index != 9, 'lots')), "line 11: rating must be a number, got "
        "'lots'"),
])
def test_bad_files_are_one_line_errors_and_write_nothing(tmp_path, edit,
                                                         message):
    path = tmp_path / 'bad.csv'
    edit(shop_frame()).to_csv(path, index=False)
    out = tmp_path / 'run'
    r = run_script('train_mf.py', '--ratings', str(path), '--columns', COLUMNS,
                   '--epochs', '1', '--devices', 'cpu', '--out', str(out))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], r.stderr
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists()


def test_rating_models_need_ratings(tmp_path):
    path = tmp_path / 'clicks.csv'
    shop_frame().drop(columns=['stars']).to_csv(path, index=False)
    out = tmp_path / 'run'
    r = run_script('train_mf.py', '--ratings', str(path), '--columns',
                   'user=user_id, item=sku, timestamp=ts', '--epochs', '1',
                   '--devices', 'cpu', '--out', str(out))
    assert r.returncode == 2 and 'has none (no rating column)' in r.stderr
    assert not out.exists()
    # implicit data trains a ranking model
    r = run_script('train_neumf.py', '--model', 'gmf', '--ratings', str(path),
                   '--columns', 'user=user_id, item=sku, timestamp=ts',
                   '--epochs', '1', '--num-test-negatives', '10', '--devices',
                   'cpu', '--quiet', '--out', str(out))
    assert r.returncode == 0, r.stderr
