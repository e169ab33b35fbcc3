"""The one runner of every row: runs through ``runs.run``, the runs they
start from made first (or found among the runs made before), saved models
scored again through ``runs.reevaluate``, and each run's numbers picked
from its results as the row's ``Metric``s say.  It knows no row by name.
"""
import json
import os

import numpy as onp

from ..runs import reevaluate, run

# What a quick report changes of every run: it checks the pipeline only.
QUICK = dict(epochs=1)


def lookup(results, key):
    """The value at ``key`` (a key, or a path of keys and indices) of a
    run's results; None where there is none."""
    value = results
    for part in (key if isinstance(key, (tuple, list)) else (key,)):
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def summary(runs):
    """``{metric: {mean, std, values}}`` over the runs' values (a list of
    ``{metric: value}``); a metric no run has is left out, the std is the
    sample one (0 for a single value)."""
    out = {}
    for name in runs[0] if runs else ():
        values = [r[name] for r in runs if r.get(name) is not None]
        if values:
            out[name] = dict(mean=float(onp.mean(values)),
                             std=float(onp.std(values, ddof=1))
                             if len(values) > 1 else 0.0, values=values)
    return out


def _model_and_options(model, options):
    options = dict(options)
    return options.pop('model', model), options


class Runner:
    """The runs of one report.  A run kept (``keep``: another starts
    from it, or it is scored again) is a folder in ``folder``, found again
    by its model and options."""

    def __init__(self, folder):
        self.folder = folder
        self.kept = {}

    @staticmethod
    def _key(model, options):
        return json.dumps([model, options], sort_keys=True, default=str)

    def run(self, model, options, keep=False):
        """One run of ``model`` (or ``options['model']``) with
        ``options``.  Returns ``(results, its folder or None)``."""
        model, options = _model_and_options(model, options)
        out = os.path.join(self.folder, f'{len(self.kept):03d}-{model}') \
            if keep else None
        results = run(model, verbose=False, out=out, **options)
        if keep:
            self.kept[self._key(model, options)] = out
        return results, out

    def folder_of(self, model, options):
        """The folder of the run of ``model`` with ``options``: one made
        before and kept, else made now."""
        model, options = _model_and_options(model, options)
        key = self._key(model, options)
        if key not in self.kept:
            self.run(model, options, keep=True)
        return self.kept[key]

    def measure(self, model, options, metrics, needs=None, keep=False):
        """One run and its metrics.

        Args:
            model: a registry name (or None with ``options['model']``).
            options: the run's options.
            metrics: ``rows.Metric``s; one with ``scored`` re-scores the
                saved run through ``reevaluate`` (once per way of scoring).
            needs: ``{option: (model, options)}``: runs made first (or
                found, ``folder_of``) whose folders those options name.
            keep: keep the run for later ones (``folder_of``).

        Returns:
            ``(results, {metric name: value or None})``.
        """
        options = dict(options)
        for option, (part, part_options) in (needs or {}).items():
            options[option] = self.folder_of(part, part_options)
        keep = keep or any(m.scored for m in metrics)
        results, out = self.run(model, options, keep)
        scored, values = {}, {}
        for m in metrics:
            source = results
            if m.scored:
                how = json.dumps(dict(m.scored), sort_keys=True)
                if how not in scored:
                    scored[how] = reevaluate(out, **m.scored)
                source = scored[how]
            values[m.name] = lookup(source, m.key)
        return results, values
