"""Every option is taken into account: changing it changes the trained
model (a test that would pass with the option ignored is not enough)."""
import pytest

from d2l_recsys.runs import run_autorec, run_mf, run_ranking

QUIET = dict(devices='cpu', verbose=False)
RANK = dict(num_factors=2, mlp_factors=4, nums_hiddens=[8], batch_size=64,
            num_test_negatives=20, top_k=5, epochs=2, **QUIET)


def losses(res):
    return [h['train_loss'] for h in res['history']]


@pytest.mark.parametrize('run, option, a, b', [
    (run_mf, 'lr', 0.002, 0.05),
    (run_mf, 'wd', 0.0, 0.5),
    (run_mf, 'num_factors', 2, 8),
    (run_mf, 'batch_size', 16, 64),
    (run_autorec, 'lr', 0.002, 0.05),
    (run_autorec, 'wd', 0.0, 0.5),
    (run_autorec, 'dropout', 0.0, 0.5),
    (run_autorec, 'num_hiddens', 4, 16),
])
def test_rating_option_changes_the_model(ml_dir, run, option, a, b):
    kw = dict(data_dir=ml_dir, epochs=2, **QUIET)
    if run is run_autorec and option != 'batch_size':
        kw['batch_size'] = 8
    first = run(**{option: a}, **kw)
    second = run(**{option: b}, **kw)
    assert losses(first) != pytest.approx(losses(second), rel=1e-6)
    assert first['test_rmse'] != pytest.approx(second['test_rmse'],
                                               rel=1e-6)


@pytest.mark.parametrize('model, option, a, b', [
    ('gmf', 'lr', 0.001, 0.05),
    ('gmf', 'wd', 0.0, 0.1),
    ('gmf', 'num_negatives', 1, 4),
    ('mlp', 'nums_hiddens', [8], [8, 4]),
    ('neumf', 'mlp_factors', 4, 6),
])
def test_ranking_option_changes_the_model(checker_dir, model, option, a, b):
    kw = dict(RANK, model=model, data_dir=checker_dir)
    first = run_ranking(**dict(kw, **{option: a}))
    second = run_ranking(**dict(kw, **{option: b}))
    assert losses(first) != pytest.approx(losses(second), rel=1e-6)


def test_alpha_changes_the_pretrained_neumf(checker_dir, tmp_path):
    dirs = {}
    for model in ('gmf', 'mlp'):
        dirs[model] = str(tmp_path / model)
        run_ranking(model=model, data_dir=checker_dir, out=dirs[model],
                    **RANK)
    runs = [run_ranking(model='neumf', data_dir=checker_dir,
                        pretrain_gmf=dirs['gmf'], pretrain_mlp=dirs['mlp'],
                        alpha=alpha, **dict(RANK, epochs=1))
            for alpha in (0.2, 0.8)]
    assert losses(runs[0]) != pytest.approx(losses(runs[1]), rel=1e-6)


def test_alpha_auto_picks_the_best_validation_ndcg(checker_dir, tmp_path):
    dirs = {}
    for model in ('gmf', 'mlp'):
        dirs[model] = str(tmp_path / model)
        run_ranking(model=model, data_dir=checker_dir, out=dirs[model],
                    validation=True, **RANK)
    kw = dict(RANK, model='neumf', data_dir=checker_dir, validation=True,
              pretrain_gmf=dirs['gmf'], pretrain_mlp=dirs['mlp'], epochs=1)
    auto = run_ranking(alpha='auto', **kw)
    chosen = auto['pretrained']
    scores = chosen['valid_ndcg@5']
    assert chosen['grid'][0] == 0 and chosen['grid'][-1] == 1
    assert len(scores) == len(chosen['grid']) == 21
    assert len(set(scores)) > 1           # the weight matters on this data
    assert scores[chosen['grid'].index(chosen['alpha'])] == max(scores)
    # trying the grid leaves nothing behind: the same run as the fixed value
    fixed = run_ranking(alpha=chosen['alpha'], **kw)
    assert fixed['pretrained'] == {'alpha': chosen['alpha']}
    assert losses(fixed) == losses(auto)
    assert fixed['hit_rate@5'] == auto['hit_rate@5']


@pytest.mark.parametrize('kw', [dict(), dict(pretrain_gmf='G',
                                             pretrain_mlp='M')])
def test_alpha_auto_needs_pretraining_and_validation(kw):
    from d2l_recsys.config import RankingConfig
    with pytest.raises(ValueError, match="alpha='auto'.*validation=True"):
        RankingConfig(alpha='auto', **kw)
    with pytest.raises(ValueError, match='alpha=2'):
        RankingConfig(alpha=2)
