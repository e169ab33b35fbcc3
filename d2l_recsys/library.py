"""The library-style entry point: ``fit`` trains a model on one's own
data and hands back its predictor.  It sits above both the runs (which
train) and the serving side (which predicts), so neither imports the
other.
"""
import os
import shutil
import tempfile

from typing import Any, Optional, Union

import pandas as pd

from .runs import run
from .serving.predictor import Predictor, load_predictor


def fit(model: str, data: Union[pd.DataFrame, str, os.PathLike],
        verbose: bool = False, out: Optional[str] = None,
        **options: Any) -> Predictor:
    """Train a model on a DataFrame or a ratings file and return its
    predictor, in the data's own ids: the library-style entry point.

    ``p = rs.fit('mf', df)``, then ``p.predict(users, items)``,
    ``p.recommend(user, k)``, ``p.save(folder)``.

    Args:
        model: a registry name (``mf``, ``autorec``, ``gmf``, ``neumf``...).
        data: a DataFrame with columns ``user``, ``item`` and optionally
            ``rating`` and ``timestamp`` (other names mapped by
            ``columns='user=...,item=...'``), or the path of such a CSV/TSV
            file.
        verbose: print a line per epoch.
        out: a run folder to keep (default: the run goes through a
            temporary folder, removed once the predictor is loaded).
        **options: the model's config fields (``epochs``, ``lr``,
            ``split``, ``validation``...).

    Returns:
        A ``serving.Predictor`` (with ``results``: the run's results dict).
    """
    frame = None
    if isinstance(data, (str, os.PathLike)):
        options['ratings'] = os.fspath(data)
    else:
        frame = data
    folder = out or tempfile.mkdtemp(prefix='d2l_recsys-fit-')
    try:
        results = run(model, verbose=verbose, frame=frame, out=folder,
                      **options)
        predictor = load_predictor(folder, frame=frame)
    finally:
        if out is None:
            shutil.rmtree(folder, ignore_errors=True)
    predictor.results = results
    return predictor
