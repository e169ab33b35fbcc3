"""Use what you trained: predictions, recommendations, batch jobs, export
and an HTTP service for every saved model.

``load_predictor(folder)`` gives one ``Predictor`` for a run folder or an
export folder; ``write_export`` writes an export; ``batch`` has the file
jobs; ``app.create_app`` is the FastAPI service (needs the ``serve``
extra: fastapi, uvicorn).  A predictor's training and held-out ratings are
``data.Interactions`` (CSR users x items, re-exported here).  Nothing here
imports the training loop.
"""
from .batch import predict_file, write_all_recommendations  # noqa: F401
from .export import read_export, write_export  # noqa: F401
from ..data.interactions import Interactions  # noqa: F401
from .predictor import Predictor, load_predictor, top_k_rows  # noqa: F401
from ..progress import Progress  # noqa: F401
