"""Feature fields from one's own ratings file (``--ratings FILE --features
COL,...``): the columns kept by ``data.tables``, their one-line errors, and
a known answer: users of group g like the items of genre g, so FM, which
sees the (group, genre) pair, ranks held-out ratings well where logistic
regression, which sees each field alone, cannot."""
import numpy as onp
import pandas as pd
import pytest

from d2l_recsys.data.spec import DataSpec, materialize
from d2l_recsys.data.tables import read_table
from d2l_recsys.runs import reevaluate, run
from d2l_recsys.serving import load_predictor

GROUPS = 3


def _checkerboard(path, num_users=90, num_items=60, per_user=24, seed=0):
    """Ratings: 5 stars (mostly) where the user's group is the item's
    genre, 2 stars (mostly) elsewhere; ``device`` varies by rating."""
    rng = onp.random.default_rng(seed)
    rows = []
    for u in range(num_users):
        for i in rng.choice(num_items, per_user, replace=False):
            liked = u % GROUPS == i % GROUPS
            noise = rng.random() < 0.1
            stars = 5 if liked != noise else 2
            rows.append((f'u{u}', f'i{i}', stars, f'g{u % GROUPS}',
                         f'c{i % GROUPS}', rng.choice(['web', 'app'])))
    pd.DataFrame(rows, columns=['user', 'item', 'stars', 'group', 'genre',
                                'device']).to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope='module')
def own_file(tmp_path_factory):
    return _checkerboard(tmp_path_factory.mktemp('own') / 'ratings.csv')


def test_the_feature_columns_ride_along_the_split(own_file):
    spec = DataSpec(ratings=own_file, columns='rating=stars',
                    features='group,genre', validation=True)
    data = materialize(spec)
    for part in (data.train, data.valid, data.test):
        assert list(part.columns)[-2:] == ['group', 'genre']
        # each row keeps its own user's group and item's genre
        raw_user = data.user_ids[part.user_id.to_numpy() - 1]
        groups = [f'g{int(u[1:]) % GROUPS}' for u in raw_user]
        assert part.group.tolist() == groups
    assert sum(len(p) for p in (data.train, data.valid, data.test)) == \
        90 * 24


@pytest.mark.parametrize('features, message', [
    ('group,nope', "--features names 'nope', but there is no column 'nope'"),
    ('group,stars', "--features names 'stars', the rating column"),
    ('group,group', "--features lists 'group' twice"),
    ('group,,genre', '--features lists an empty name'),
    ('rating', "--features lists the reserved name 'rating'"),
])
def test_bad_feature_names_get_one_line_naming_the_file(own_file, features,
                                                        message):
    with pytest.raises(ValueError) as e:
        read_table(own_file, {'rating': 'stars'}, features=features)
    text = str(e.value)
    assert text.startswith(f'{own_file}, line 1: ') and message in text
    assert '\n' not in text


def test_features_need_a_ratings_file():
    with pytest.raises(ValueError, match='features: they name columns of '
                       '--ratings'):
        DataSpec(features='genre')


def _auc(model, own_file, folder, features='group,genre'):
    res = run(model, ratings=own_file, columns='rating=stars',
              features=features, epochs=15, lr=0.05, devices='cpu',
              batch_size=256, seed=0, out=str(folder), verbose=False)
    return res


def test_fm_learns_the_pair_that_logistic_regression_cannot(own_file,
                                                            tmp_path):
    fm = _auc('fm', own_file, tmp_path / 'fm')
    lr = _auc('lr', own_file, tmp_path / 'lr')
    # the labels depend on the (group, genre) pair only: no single field
    # predicts them, the pair does (up to the 10% noise)
    assert fm['auc'] > 0.8 > 0.65 > lr['auc']
    assert reevaluate(str(tmp_path / 'fm'))['auc'] == \
        pytest.approx(fm['auc'], abs=1e-6)
    predictor = load_predictor(str(tmp_path / 'fm'))
    top = predictor.recommend('u4', k=5)        # group 1
    items = [int(str(r['item'])[1:]) for r in top]
    assert all(i % GROUPS == 1 for i in items), top


def test_a_column_of_neither_side_trains_but_cannot_recommend(own_file,
                                                              tmp_path):
    res = _auc('fm', own_file, tmp_path / 'run', 'group,device')
    assert 0 <= res['auc'] <= 1
    with pytest.raises(ValueError, match='device vary for one user and for '
                       'one item'):
        load_predictor(str(tmp_path / 'run'))
