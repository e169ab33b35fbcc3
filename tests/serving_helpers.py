"""Helpers of the serving tests (tests/test_predictor.py and
tests/test_service.py): the models served, their runs (made once in the
session: conftest's ``serving_runs``) and a script run in this process."""
import contextlib
import io
import os
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ['mf', 'autorec_item', 'autorec_user', 'gmf', 'neumf', 'itempop',
          'caser']


def train_runs(ml_dir, checker_dir, base):
    """A run folder per model in ``base``, 2 epochs each."""
    from d2l_recsys.runs import run, run_autorec, run_mf, run_ranking
    out = {m: str(base / m) for m in MODELS}
    quiet = dict(epochs=2, devices='cpu', verbose=False)
    run_mf(data_dir=ml_dir, num_factors=5, split='random',
           out=out['mf'], **quiet)
    for variant in ('item', 'user'):
        run_autorec(data_dir=ml_dir, num_hiddens=8, variant=variant,
                    out=out[f'autorec_{variant}'], **quiet)
    for model in ('gmf', 'neumf', 'itempop'):
        run_ranking(data_dir=checker_dir, model=model, num_test_negatives=20,
                    out=out[model], **quiet)
    run('caser', data_dir=ml_dir, top_k=5, out=out['caser'], **quiet)
    return out


def script(name, *args):
    """Run ``scripts/name`` in this process: ``(exit code, stdout,
    stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = [name, *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            module = runpy.run_path(os.path.join(ROOT, 'scripts', name))
            code = module['main']()
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()
