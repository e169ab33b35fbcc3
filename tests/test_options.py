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
