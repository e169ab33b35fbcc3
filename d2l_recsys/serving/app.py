"""The HTTP service: a FastAPI app over one ``Predictor``.

Endpoints (JSON; ids are MovieLens ids):

* ``GET /health`` -> ``{"status": "ok", "pid", "model", "users",
  "items"}`` (``pid``: the worker process that answered).
* ``POST /recommend`` ``{"user": 196, "k": 10}`` (optional ``"cold_start":
  "popular"``) -> ``{"user", "cold_start", "items": [{"item", "title",
  "score"}, ...]}``, best first, without the movies the user has rated.
* ``POST /predict`` ``{"pairs": [[196, 242], ...]}`` -> ``{"predictions":
  [float or null, ...], "unknown": n}`` (null: unknown user or movie).

Bad requests get a 4xx answer with a message and the service carries on:
422 for malformed JSON or a missing/mistyped field (pydantic's message
without the echoed input, which may not even be JSON: 1e400), 400 for
``k`` beyond the catalogue, 404 for an unknown user without cold start.

Concurrency: MXNet Gluon blocks are not thread-safe, and MXNet's numpy mode
is set per thread.  Each process therefore runs every model call on one
dedicated inference thread (a single-thread executor that turns numpy mode
on); the event loop keeps accepting requests meanwhile and ``/health``
never waits for the model.  Throughput scales with processes:
``scripts/serve.py --workers N`` runs N uvicorn workers, each of which
builds its own app through the factory ``create_app`` (an import string
with ``factory=True``), reading the model folder from the environment
variable ``D2L_RECSYS_SERVE_MODEL_DIR``.
"""
import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, List, Literal, Optional, Tuple

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from .predictor import load_predictor
from .scorers import ensure_np_mode

MODEL_DIR_ENV = 'D2L_RECSYS_SERVE_MODEL_DIR'
DATA_DIR_ENV = 'D2L_RECSYS_SERVE_DATA_DIR'
MAX_PAIRS = 100_000
Id = Annotated[StrictInt, Field(ge=-2 ** 63, lt=2 ** 63)]


class RecommendRequest(BaseModel):
    """Body of ``POST /recommend``."""
    model_config = ConfigDict(extra='forbid')
    user: Id
    k: StrictInt = Field(10, ge=1)
    cold_start: Optional[Literal['popular']] = None


class PredictRequest(BaseModel):
    """Body of ``POST /predict``: at most ``MAX_PAIRS`` ``[user, item]``."""
    model_config = ConfigDict(extra='forbid')
    pairs: List[Tuple[Id, Id]] = Field(
        ..., min_length=1, max_length=MAX_PAIRS)


def create_app(predictor=None, model_dir=None, data_dir=None):
    """Build the service.

    Args:
        predictor: a loaded ``Predictor``; None loads one from ``model_dir``.
        model_dir: a run or export folder (default: the environment variable
            ``D2L_RECSYS_SERVE_MODEL_DIR``, as uvicorn workers receive it).
        data_dir: the MovieLens folder for a run folder (default:
            ``D2L_RECSYS_SERVE_DATA_DIR``, else the one the run recorded).

    Returns:
        A FastAPI application.
    """
    if predictor is None:
        model_dir = model_dir or os.environ.get(MODEL_DIR_ENV)
        if not model_dir:
            raise ValueError(f'no model folder: pass model_dir or set '
                             f'{MODEL_DIR_ENV}')
        predictor = load_predictor(
            model_dir, data_dir or os.environ.get(DATA_DIR_ENV) or None)
    # Warm up before the first request: hybridized graphs, AutoRec's cache.
    predictor.recommend(int(predictor.user_ids[predictor.known_users][0]), 1)
    inference = ThreadPoolExecutor(max_workers=1,
                                   thread_name_prefix='inference',
                                   initializer=ensure_np_mode)

    @asynccontextmanager
    async def lifespan(app):
        yield
        inference.shutdown(wait=True)

    app = FastAPI(title='d2l_recsys', lifespan=lifespan,
                  description=__doc__.split('\n\n')[0])
    app.state.predictor = predictor

    async def infer(fn, *args):
        """Run ``fn(*args)`` on the inference thread."""
        return await asyncio.get_running_loop().run_in_executor(
            inference, fn, *args)

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        # FastAPI's own answer echoes the input, and an input like 1e400 or
        # NaN cannot be written as JSON: that would be a 500.
        return JSONResponse(status_code=422, content={'detail': [
            {'loc': list(e['loc']), 'msg': e['msg'], 'type': e['type']}
            for e in exc.errors()]})

    @app.get('/health')
    async def health():
        return {'status': 'ok', 'pid': os.getpid(), 'model': predictor.model,
                'users': int(predictor.known_users.sum()),
                'items': predictor.num_items}

    @app.post('/recommend')
    async def recommend(req: RecommendRequest):
        if req.k > predictor.num_items:
            raise HTTPException(400, f'k={req.k}: the catalogue has '
                                f'{predictor.num_items} movies')
        known = predictor.knows_user(req.user)
        if not known and req.cold_start is None:
            try:
                predictor.user_index(req.user)
            except ValueError as e:
                raise HTTPException(404, f"{e}; send \"cold_start\": "
                                    "\"popular\" for popular movies") \
                    from None
        try:
            recs = await infer(predictor.recommend, req.user, req.k,
                               req.cold_start)
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        return JSONResponse({
            'user': req.user, 'cold_start': not known,
            'items': [{'item': r['item'], 'title': r['title'],
                       'score': r['score']} for r in recs]})

    @app.post('/predict')
    async def predict(req: PredictRequest):
        users, items = zip(*req.pairs)
        preds, unknown = await infer(predictor.predict, users, items)
        return JSONResponse({
            'predictions': [None if p != p else float(p) for p in preds],
            'unknown': unknown})

    return app
