"""Runs by model name: train (``run``, and the book-named ``run_mf``,
``run_autorec``, ``run_ranking``) and score a saved run again
(``reevaluate``).

Every entry point builds the run's configuration once (fresh, or resumed
from a run folder's ``run.json``), and every path to data goes through
``data.spec.materialize`` of that configuration.
"""
import inspect
from dataclasses import replace
from typing import Any, Optional

import pandas as pd

from .. import defaults as D
from .. import registry
from ..config import RunConfig
from ..devices import parse_devices
from ..folders import claim
from ..run_folder import open_run, read_run
from .common import make_config
from .task_run import run_task


def _entry(model, config, options, kind=None):
    """The registry entry of a run: a resumed run's stored one, else
    ``model`` (a ranking config's ``model``)."""
    if config is None and options.get('resume'):
        entry = registry.get(read_run(options['resume'])['entry'])
        asked = model and registry.get(model, entry.kind)
        if (kind and entry.kind != kind) or (asked and asked is not entry):
            raise ValueError(f"{options['resume']}: a {entry.name} run, not "
                             f'a {model or kind} run')
        return entry
    if model is None:
        model = getattr(config, 'model', None) or options.get('model') or \
            D.RANKING['model']
    return registry.get(model, kind)


def run(model: Optional[str] = None, config: Optional[RunConfig] = None,
        verbose: bool = True, frame: Optional[pd.DataFrame] = None,
        **options: Any) -> dict:
    """Train and evaluate any registered model.

    Args:
        model: its registry name (``mf``, ``autorec``, ``neumf``, ``gmf``,
            ``mlp``, ``itempop``, ``dmf``, or one you registered); None
            with ``config`` or ``resume``.
        config: a config object of the model's class, or None to build one
            from ``options`` (the book's / the protocol's defaults fill the
            rest).
        verbose: print a line per epoch.
        frame: a DataFrame to train on instead of files (``tables``).
        **options: fields of the model's config class; ``resume=DIR``
            continues the run in DIR (only ``epochs``, ``devices`` and
            ``checkpoint_every`` may change).

    Returns:
        The results dict (see ``runs.task_run.run_task``).
    """
    entry = _entry(model, config, options)
    if config is None and not options.get('resume'):
        if 'model' in entry.config.__dataclass_fields__:
            options['model'] = entry.name
        if frame is not None:
            options.setdefault('frame_name', 'DataFrame')
    cfg = make_config(entry, config, options)
    if frame is not None and not cfg.frame_name:
        raise ValueError('frame: give the config frame_name= too, so that '
                         'the run folder records its source')
    if not cfg.out or cfg.kvstore.startswith('dist'):
        return run_task(entry, cfg, verbose, frame)
    # one writer per run folder, and nothing in it replaced by mistake
    with claim(cfg.out, resume=bool(cfg.resume), overwrite=cfg.overwrite,
               resume_flag=f'--resume {cfg.out} to continue it'):
        return run_task(entry, cfg, verbose, frame)


def run_mf(config: Optional[RunConfig] = None, verbose: bool = True,
           **options: Any) -> dict:
    """Matrix factorization with the book's settings (``defaults.MF``): 30
    factors, Adam lr 0.002, wd 1e-5, 20 epochs, batch 512, Normal(0.01)
    init, and its split: the book's MF loads data with
    ``split_and_load_ml100k``, whose default split is **seq-aware** (each
    user's latest rating is the test set).  The results add
    ``test_rmse_book_running_avg``, the figure the book's evaluator prints
    (a mean of running per-batch RMSEs); ``test_rmse`` is the exact RMSE.
    """
    return run('mf', config, verbose, **options)


def run_autorec(config: Optional[RunConfig] = None, verbose: bool = True,
                **options: Any) -> dict:
    """AutoRec with the book's settings (``defaults.AUTOREC``):
    item-based, random 90/10 split, 500 hidden units, dropout 0.05, Adam lr
    0.002, wd 1e-5, 25 epochs, batch 256, Normal(0.01) init;
    ``variant='user'`` is the paper's user-based AutoRec."""
    return run('autorec', config, verbose, **options)


def run_ranking(config: Optional[RunConfig] = None, verbose: bool = True,
                **options: Any) -> dict:
    """A ranking model under the NCF or the book's protocol; options left
    None take the protocol's defaults (``defaults.PROTOCOL_DEFAULTS``).

    ``pretrain_gmf`` and ``pretrain_mlp`` name run folders of GMF and MLP
    runs to initialise a NeuMF from; it is then fine-tuned with plain SGD
    unless ``optimizer`` says otherwise (the NCF paper: Adam's moments are
    not part of the pretrained weights).  ``output_activation='sigmoid'``
    and ``dense_init='normal'`` restore the book's model exactly (see
    ``models/neumf.py``)."""
    entry = _entry(options.pop('model', None), config, options, 'ranking')
    return run(entry.name, config, verbose, **options)


# What ``reevaluate`` may change: how a saved model is scored, never the
# model or the data it learnt from.  Fields of the run's configuration...
SCORING_FIELDS = ('book_item_range', 'top_k')
# ... and keywords of its task's ``setup`` (the test's rule for ties).
SCORING_KEYWORDS = ('ties',)


def _scoring(entry, cfg, scoring, where):
    """The run's config with the scoring fields of ``scoring`` replaced,
    and the setup keywords of ``scoring``.

    Raises:
        ValueError: an option that is not one of scoring, one the run's
            model has not, or a bad value.
    """
    unknown = sorted(set(scoring) - set(SCORING_FIELDS + SCORING_KEYWORDS))
    if unknown:
        raise ValueError(f'reevaluate: {", ".join(unknown)}: not an option '
                         'of scoring; expected '
                         f'{", ".join(SCORING_FIELDS + SCORING_KEYWORDS)}')
    takes = [k for k in SCORING_FIELDS if k in cfg.__dataclass_fields__] + \
        [k for k in SCORING_KEYWORDS
         if k in inspect.signature(entry.task.setup).parameters]
    other = sorted(set(scoring) - set(takes))
    if other:
        raise ValueError(f'{where}: a {entry.name} run is not scored with '
                         f'{", ".join(other)}')
    if not isinstance(scoring.get('book_item_range', False), bool):
        raise ValueError(f"book_item_range={scoring['book_item_range']!r}: "
                         'expected True or False')
    if scoring.get('ties', 'index') not in ('pessimistic', 'index'):
        raise ValueError(f"ties={scoring['ties']!r}: expected 'pessimistic' "
                         "or 'index'")
    fields = {k: v for k, v in scoring.items() if k in SCORING_FIELDS}
    keywords = {k: v for k, v in scoring.items() if k in SCORING_KEYWORDS}
    return (replace(cfg, **fields) if fields else cfg), keywords


def reevaluate(model_dir: str, data_dir: Optional[str] = None,
               devices: str = 'cpu', **scoring: Any) -> Any:
    """Score a saved run again on the data and split stored with it.

    Args:
        model_dir: the run folder.
        data_dir: the MovieLens folder, if not the one recorded.
        devices: where to score.
        **scoring: score the same model on the same data another way: a
            ranking run with ``book_item_range=True`` (only items
            0..num_users-1 ranked, the book's bug), another ``top_k``, or
            ``ties='index'`` (tied scores in item order, as d2l's stable
            sort; a run's own test is ``'pessimistic'``).

    Returns:
        The test RMSE of a rating model, the metrics dict of a ranking model.

    Raises:
        ValueError: a scoring option the run's model does not have, or a
            bad value.
    """
    entry, cfg, data, net = open_run(model_dir, data_dir)
    cfg, keywords = _scoring(entry, cfg, scoring, model_dir)
    devs = parse_devices(devices)
    net.collect_params().reset_ctx(devs)
    s = entry.task.setup(entry, cfg, data, training=False, **keywords)
    return entry.task.reevaluated(s.test(net, devs))
