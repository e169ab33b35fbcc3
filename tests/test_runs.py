"""One run definition for every consumer: for each model and each kind of
data source and split, re-evaluating the saved run gives its recorded test
metric, and the predictor built from the run folder excludes exactly the
run's training pairs.  The expected training pairs are derived here with
the data layer's own functions, not through the run specification."""
import os

import numpy as onp
import pandas as pd
import pytest

from conftest import block_ratings, make_movielens, write_u_data
from d2l_recsys import data as D
from d2l_recsys.runs import reevaluate, run
from d2l_recsys.serving import load_predictor

MODELS = {
    'mf': dict(num_factors=4, batch_size=64),
    'autorec': dict(num_hiddens=8, batch_size=16),
    'gmf': dict(num_factors=4, batch_size=64, num_test_negatives=10,
                top_k=5),
    'neumf': dict(num_factors=4, mlp_factors=4, nums_hiddens=[8],
                  batch_size=64, num_test_negatives=10, top_k=5),
}
COLUMNS = 'user=user_id,item=sku,rating=stars,timestamp=ts'


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    """A release with official fold files, a folder holding two releases,
    and an own CSV file with string ids."""
    root = tmp_path_factory.mktemp('sources')
    ml = make_movielens(str(root / 'ml-100k'))
    rows = onp.loadtxt(os.path.join(ml, 'u.data'), dtype=onp.int64)
    parts = onp.array_split(onp.arange(len(rows)), 5)
    for k, part in enumerate(parts):
        test = onp.zeros(len(rows), dtype=bool)
        test[part] = True
        write_u_data(os.path.join(ml, f'u{k + 1}.base'), rows[~test])
        write_u_data(os.path.join(ml, f'u{k + 1}.test'), rows[test])
    two = root / 'two'
    make_movielens(str(two / 'ml-100k'), num_users=30, num_items=50, seed=1)
    os.makedirs(two / 'ml-1m')
    write_u_data(two / 'ml-1m' / 'ratings.dat',
                 block_ratings(num_users=36, num_items=55, seed=2), sep='::')
    own = root / 'shop.csv'
    pd.DataFrame({'user_id': [f'u{u:03d}' for u in rows[:, 0]],
                  'sku': [f'sku-{i}' for i in rows[:, 1]],
                  'stars': rows[:, 2], 'ts': rows[:, 3]}).to_csv(own,
                                                                 index=False)
    return dict(ml=ml, two=str(two), own=str(own))


def _options(case, src):
    """The run options of a case."""
    return {
        'default': dict(data_dir=src['ml']),
        'validation': dict(data_dir=src['ml'], validation=True),
        'folds': dict(data_dir=src['ml'], folds=5),
        'dataset': dict(data_dir=src['two'], dataset='ml-1m'),
        'pair': dict(train_file=os.path.join(src['ml'], 'u1.base'),
                     test_file=os.path.join(src['ml'], 'u1.test')),
        'own': dict(ratings=src['own'], columns=COLUMNS),
    }[case]


def _expected_train(model, case, src):
    """The training ratings of a case, straight from the data layer."""
    split = {'mf': 'seq-aware', 'autorec': 'random'}.get(model, 'seq-aware')
    if case in ('pair', 'folds'):
        k = 1 if case == 'pair' else 3
        return D.read_train_test(os.path.join(src['ml'], f'u{k}.base'),
                                 os.path.join(src['ml'], f'u{k}.test'))[0]
    if case == 'own':
        data = D.read_table(src['own'], D.parse_columns(COLUMNS))
        (data,), nu, ni = D.densify([data])
    elif case == 'dataset':
        data, nu, ni = D.read_data_ml100k(src['two'], 'ml-1m')
    else:
        data, nu, ni = D.read_data_ml100k(src['ml'])
    train = D.split_data_ml100k(data, nu, ni, split, 0.1, seed=0)[0]
    if case == 'validation':
        train = D.validation_split(train, split, 0.1, seed=0)[0]
    return train


def _pairs(frame):
    """``{(original user, original item)}`` of a DataFrame with dense ids."""
    users = onp.asarray(frame.attrs['user_ids'])[frame['user_id'] - 1]
    items = onp.asarray(frame.attrs['item_ids'])[frame['item_id'] - 1]
    return set(zip(users.tolist(), items.tolist()))


def _excluded(p):
    """``{(user, item)}`` the predictor leaves out of each known user's
    recommendations with ``exclude='train'``, read off its answers."""
    out = set()
    users = p.user_ids[p.known_users]
    candidates = set(p.item_ids[p.known_items].tolist())
    for user in users.tolist():
        recs = p.recommend(user, p.num_items, exclude='train')
        out |= {(user, i) for i in candidates - {r['item'] for r in recs}}
    return out


@pytest.mark.parametrize('case', ['default', 'validation', 'folds',
                                  'dataset', 'pair', 'own'])
@pytest.mark.parametrize('model', list(MODELS))
def test_reevaluate_and_predictor_follow_the_run(model, case, sources,
                                                 tmp_path):
    out = str(tmp_path / 'run')
    res = run(model, epochs=1, devices='cpu', verbose=False, out=out,
              **MODELS[model], **_options(case, sources))
    metric = 'test_rmse' if model in ('mf', 'autorec') else 'hit_rate@5'
    folder = out
    if case == 'folds':
        folder = os.path.join(out, 'fold-3')
        res = res['folds'][2]
    again = reevaluate(folder)
    value = again if isinstance(again, float) else again[metric]
    assert value == pytest.approx(res[metric], abs=1e-6)
    p = load_predictor(folder)
    expected = _pairs(_expected_train(model, case, sources))
    assert _excluded(p) == expected
    if case == 'own':
        assert all(isinstance(u, str) for u in p.user_ids)
        user = p.user_ids[0]
        assert all(r['item'].startswith('sku-')
                   for r in p.recommend(user, 3))


def test_a_run_on_a_dataframe_says_so(tmp_path):
    """A folder trained from a DataFrame records it: reloading it without
    the frame is a clear error, never another data set."""
    import d2l_recsys as rs
    from conftest import block_ratings as rows_of
    rows = rows_of(num_users=20, num_items=30)
    df = pd.DataFrame(rows, columns=['user', 'item', 'rating', 'timestamp'])
    out = str(tmp_path / 'run')
    rs.fit('mf', df, out=out, epochs=1, devices='cpu')
    with pytest.raises(ValueError, match='in-memory DataFrame'):
        load_predictor(out)
    assert load_predictor(out, frame=df).num_users == 20


def test_resume_continues_in_its_own_folder_and_model(ml_dir, tmp_path):
    out = str(tmp_path / 'run')
    run('mf', data_dir=ml_dir, epochs=1, devices='cpu', verbose=False,
        out=out)
    with pytest.raises(ValueError, match='not out'):
        run('mf', resume=out, out=str(tmp_path / 'other'), verbose=False)
    with pytest.raises(ValueError, match='a mf run, not a autorec run'):
        run('autorec', resume=out, verbose=False)


def test_conflicting_sources_and_too_many_negatives(ml_dir, sources,
                                                    tmp_path):
    with pytest.raises(ValueError, match='give one source of ratings'):
        run('mf', data_dir=ml_dir, ratings=sources['own'], epochs=1)
    with pytest.raises(ValueError, match='columns: it maps the columns'):
        run('mf', data_dir=ml_dir, columns=COLUMNS, epochs=1)
    out = tmp_path / 'run'
    with pytest.raises(ValueError, match=r'num_test_negatives=99: user '
                       r'u\d+ has only \d+ items'):
        run('gmf', ratings=sources['own'], columns=COLUMNS, epochs=1,
            devices='cpu', verbose=False, out=str(out))
    assert not out.exists()
    with pytest.raises(ValueError, match='reads .*shop.csv, not a MovieLens'):
        folder = str(tmp_path / 'own')
        run('mf', ratings=sources['own'], columns=COLUMNS, epochs=1,
            devices='cpu', verbose=False, out=folder)
        load_predictor(folder, data_dir=ml_dir)


@pytest.mark.parametrize('argv, command', [
    (['/usr/bin/python3', 'scripts/train_mf.py', '--epochs', '40'],
     'python scripts/train_mf.py --resume runs/x'),
    (['/v/bin/python', '/v/bin/d2l-recsys', 'train', 'mf', '--quiet'],
     'd2l-recsys train mf --resume runs/x'),
    (['python', '-m', 'd2l_recsys', 'train', 'gmf', '--lr', '0.1'],
     'python -m d2l_recsys train gmf --resume runs/x'),
])
def test_the_printed_resume_command_fits_how_the_run_was_started(argv,
                                                                 command):
    from d2l_recsys.callbacks import resume_command
    assert resume_command('runs/x', argv) == command
