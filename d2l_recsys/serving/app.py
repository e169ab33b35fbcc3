"""The HTTP service: a FastAPI app over one ``Predictor``.

Endpoints (JSON; a user or item id is an integer or a string of 1 to 200
characters, as the model's data has it; ids come back as given or stored):

* ``GET /health`` -> ``{"status": "ok", "pid", "model", "users",
  "items", "version", "run"}`` (``pid``: the worker process that answered;
  ``version``: d2l_recsys's; ``run``: what is served, ``{"folder",
  "kind", "entry", "config_hash"}``: the folder loaded at start, made
  absolute, ``"run"`` or ``"export"``, the registry entry and
  ``predictor.config_hash``, the same for a run folder and its exports;
  ``folder`` and ``kind`` are null for a predictor handed to
  ``create_app``).
* ``POST /recommend`` ``{"user": 196, "k": 10}`` (optional ``"cold_start":
  "popular"``; for a sequence-aware model such as Caser, optional
  ``"recent": [12, 40, 7, 9, 3]``: the user's recent items, oldest first,
  read instead of its latest training items, at least the model's ``L``)
  -> ``{"user", "cold_start", "items": [{"item", "title", "score"},
  ...]}``, best first, without the movies the user has rated (nor the
  recent ones given).
* ``POST /predict`` ``{"pairs": [[196, 242], ...]}`` -> ``{"predictions":
  [float or null, ...], "unknown": n}`` (null: unknown user or movie).
* ``GET /docs`` (Swagger UI) and ``GET /redoc`` over ``/openapi.json``,
  their scripts and styles served from ``/static/docs`` (the package
  ``fastapi-offline`` ships them): the pages work without a network.

Bad requests get a 4xx answer with a message and the service carries on:
422 for malformed JSON or a missing/mistyped field (pydantic's message
without the echoed input, which may not even be JSON: 1e400), 400 for
``k`` beyond the catalogue or an id the model's data cannot hold, 404 for
an unknown user without cold start; ``recent`` with unknown items (named),
fewer than ``L`` of them or for a model that reads no sequence is a 400.

Everything is read at start (``load_predictor``): the service keeps
answering from the model it loaded when its folder is removed or replaced,
and it never reads a run's ``checkpoint/`` (the optimizer states there are
a pickle).

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
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, List, Literal, Optional, Tuple, Union

import fastapi_offline
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from ..version import __version__
from .predictor import load_predictor
from ..scorers import ensure_np_mode

MODEL_DIR_ENV = 'D2L_RECSYS_SERVE_MODEL_DIR'
DATA_DIR_ENV = 'D2L_RECSYS_SERVE_DATA_DIR'
MAX_PAIRS = 100_000
MAX_RECENT = 10_000
# swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / 'static'
DOCS_ASSETS_URL = '/static/docs'
Id = Union[Annotated[StrictInt, Field(ge=-2 ** 63, lt=2 ** 63)],
           Annotated[StrictStr, Field(min_length=1, max_length=200)]]


class RecommendRequest(BaseModel):
    """Body of ``POST /recommend``."""
    model_config = ConfigDict(extra='forbid', json_schema_extra={
        'examples': [{'user': 196, 'k': 10}]})
    user: Id
    k: StrictInt = Field(10, ge=1)
    cold_start: Optional[Literal['popular']] = None
    recent: Optional[List[Id]] = Field(
        None, min_length=1, max_length=MAX_RECENT,
        description="sequence-aware models (Caser): the user's recent "
        "items, oldest first, read instead of the user's latest training "
        "items; at least the model's L, the latest L are read")


class PredictRequest(BaseModel):
    """Body of ``POST /predict``: at most ``MAX_PAIRS`` ``[user, item]``."""
    model_config = ConfigDict(extra='forbid', json_schema_extra={
        'examples': [{'pairs': [[196, 242], [186, 302]]}]})
    pairs: List[Tuple[Id, Id]] = Field(
        ..., min_length=1, max_length=MAX_PAIRS)


class ServedRun(BaseModel):
    """What ``GET /health`` says about the model it serves."""
    folder: Optional[str] = Field(description='the run or export folder '
                                  'loaded at start, made absolute (null: a '
                                  'predictor built in code)')
    kind: Optional[Literal['run', 'export']] = Field(
        description='a run folder or an export')
    entry: Optional[str] = Field(description="the model's registry entry")
    config_hash: Optional[str] = Field(
        description="16 hex digits of the SHA-256 of the run's entry and "
        'configuration (out and resume cleared): the same for a run folder '
        'and its exports')


class Health(BaseModel):
    """Answer of ``GET /health``."""
    status: Literal['ok']
    pid: int = Field(description='the worker process that answered')
    model: str = Field(description="the model's class name")
    users: int = Field(description='users with training interactions')
    items: int = Field(description='movies in the catalogue')
    version: str = Field(description="d2l_recsys's version")
    run: ServedRun = Field(description='the run it serves')


class Recommendation(BaseModel):
    """One recommended movie."""
    item: Union[int, str]
    title: str
    score: float


class Recommendations(BaseModel):
    """Answer of ``POST /recommend``, best first."""
    user: Union[int, str] = Field(description='as the request gave it')
    cold_start: bool = Field(description='an unknown user got popular '
                             'movies')
    items: List[Recommendation]


class Predictions(BaseModel):
    """Answer of ``POST /predict``, one prediction per pair."""
    predictions: List[Optional[float]] = Field(
        description='null where the user or the movie is unknown')
    unknown: int = Field(description='pairs with an unknown side')


class Error(BaseModel):
    """A 400 or 404 answer."""
    detail: str


class FieldError(BaseModel):
    """What is wrong with one part of a request."""
    loc: List[Union[int, str]]
    msg: str
    type: str


class InvalidRequest(BaseModel):
    """A 422 answer: the body is not JSON or does not fit the model."""
    detail: List[FieldError]


INVALID = {422: {'model': InvalidRequest,
                 'description': 'malformed JSON or a missing, mistyped or '
                                'out-of-range field'}}


def served_run(predictor):
    """``/health``'s ``run`` of a predictor (``ServedRun``'s fields; None
    for what the predictor does not know)."""
    source = getattr(predictor, 'source', None) or {}
    entry = getattr(predictor, 'entry', None)
    return dict(folder=source.get('folder'), kind=source.get('kind'),
                entry=getattr(entry, 'name', None),
                config_hash=getattr(predictor, 'config_hash', None))


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
    predictor.recommend(predictor.user_ids[predictor.known_users][0], 1)
    run = ServedRun(**served_run(predictor))
    inference = ThreadPoolExecutor(max_workers=1,
                                   thread_name_prefix='inference',
                                   initializer=ensure_np_mode)

    @asynccontextmanager
    async def lifespan(app):
        yield
        inference.shutdown(wait=True)

    app = FastAPI(title='d2l_recsys', version=__version__, lifespan=lifespan,
                  description=__doc__.split('\n\n')[0], docs_url=None,
                  redoc_url=None)
    app.state.predictor = predictor
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS),
              name='docs-assets')

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

    def page(request):
        """What both docs pages need: the schema's URL, a title, and where
        the app serves the assets (behind a proxy's root path too)."""
        root = request.scope.get('root_path', '')
        return (dict(openapi_url=root + app.openapi_url,
                     title=f'{app.title} {app.version}'),
                root + DOCS_ASSETS_URL)

    @app.get('/docs', include_in_schema=False)
    async def swagger_ui(request: Request):
        common, assets = page(request)
        return get_swagger_ui_html(
            **common, swagger_js_url=f'{assets}/swagger-ui-bundle.js',
            swagger_css_url=f'{assets}/swagger-ui.css',
            swagger_favicon_url=f'{assets}/favicon.png')

    @app.get('/redoc', include_in_schema=False)
    async def redoc(request: Request):
        common, assets = page(request)
        return get_redoc_html(
            **common, redoc_js_url=f'{assets}/redoc.standalone.js',
            redoc_favicon_url=f'{assets}/favicon.png', with_google_fonts=False)

    @app.get('/health', response_model=Health)
    async def health():
        return Health(status='ok', pid=os.getpid(), model=predictor.model,
                      users=int(predictor.known_users.sum()),
                      items=predictor.num_items, version=__version__,
                      run=run)

    @app.post('/recommend', response_model=Recommendations, responses={
        400: {'model': Error, 'description': '``k`` beyond the catalogue, '
              'a user id the model\'s data cannot hold, or ``recent`` '
              'refused (unknown items, fewer than L, no sequence model)'},
        404: {'model': Error, 'description': 'an unknown user without '
              '``"cold_start": "popular"``'}, **INVALID})
    async def recommend(req: RecommendRequest):
        if req.k > predictor.num_items:
            raise HTTPException(400, f'k={req.k}: the catalogue has '
                                f'{predictor.num_items} movies')
        try:
            known = predictor.knows_user(req.user)
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        if not known and req.cold_start is None:
            try:
                predictor.user_index(req.user)
            except ValueError as e:
                raise HTTPException(404, f"{e}; send \"cold_start\": "
                                    "\"popular\" for popular movies") \
                    from None
        extra = {} if req.recent is None else {'recent': req.recent}
        try:
            recs = await infer(functools.partial(
                predictor.recommend, req.user, req.k, req.cold_start,
                **extra))
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        return {'user': req.user, 'cold_start': not known,
                'items': [{'item': r['item'], 'title': r['title'],
                           'score': r['score']} for r in recs]}

    @app.post('/predict', response_model=Predictions, responses={
        400: {'model': Error, 'description': 'an id the model\'s data '
              'cannot hold'}, **INVALID})
    async def predict(req: PredictRequest):
        users, items = zip(*req.pairs)
        try:
            preds, unknown = await infer(predictor.predict, users, items)
        except ValueError as e:
            raise HTTPException(400, str(e)) from None
        return {'predictions': [None if p != p else float(p) for p in preds],
                'unknown': unknown}

    return app
