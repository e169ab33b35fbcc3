"""Whole runs: configuration -> data (``data.spec``) -> model (``registry``)
-> the shared loop -> results and the run folder (``run.json``, the model,
``curves.html``, ``metrics.json``)."""
from .api import (reevaluate, run, run_autorec, run_mf,  # noqa: F401
                  run_ranking)
