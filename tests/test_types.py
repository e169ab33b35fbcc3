"""The typed seams: mypy (the files listed in pyproject.toml) finds no
error, and every public function and method of those seams says the types
of its arguments and of what it returns."""
import inspect
import os
import subprocess
import sys

import pytest

from d2l_recsys import library, registry, run_folder
from d2l_recsys.runs import api
from d2l_recsys.train import Callback
from d2l_recsys.data import spec
from d2l_recsys.models.contract import RecommenderBlock
from d2l_recsys.serving import predictor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEAMS = [
    registry.register, registry.get, registry.names, registry.block_class,
    registry.command_line, spec.materialize, spec.DataSpec.describe,
    spec.DataSpec.from_options, spec.DataSpec.split_key,
    run_folder.open_run, run_folder.read_run, run_folder.load_model,
    run_folder.save_model, run_folder.open_pretrained, library.fit,
    api.run, api.run_mf, api.run_autorec, api.run_ranking, api.reevaluate,
    Callback.on_train_begin, Callback.on_epoch_begin, Callback.on_batch_end,
    Callback.on_epoch_end, Callback.on_train_end,
    predictor.load_predictor, predictor.Predictor.__init__,
    predictor.Predictor.predict, predictor.Predictor.recommend,
    predictor.Predictor.iter_top_k, predictor.Predictor.save,
]


def test_mypy_finds_nothing_in_the_seams():
    p = subprocess.run([sys.executable, '-m', 'mypy'], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert 'Success: no issues found' in p.stdout


@pytest.mark.parametrize('func', SEAMS, ids=lambda f: f.__qualname__)
def test_each_seam_is_annotated(func):
    sig = inspect.signature(func)
    missing = [name for name, p in sig.parameters.items()
               if name not in ('self', 'cls') and p.kind not in (
                   p.VAR_POSITIONAL,) and p.annotation is p.empty]
    assert not missing, f'{func.__qualname__}: no type for {missing}'
    assert sig.return_annotation is not sig.empty, func.__qualname__


def test_every_registered_block_meets_the_contract():
    # a class check: the Protocol's methods and the config attribute of an
    # instance (built from the smallest arguments each entry takes)
    for name in registry.names():
        block = registry.get(name).block
        for method in ('collect_params', 'initialize', 'hybridize',
                       'save_parameters', 'load_parameters', '__call__'):
            assert callable(getattr(block, method, None)), (name, method)
    from d2l_recsys.models import MF
    assert isinstance(MF(3, 4, 5), RecommenderBlock)
    assert not isinstance(object(), RecommenderBlock)
