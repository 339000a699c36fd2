"""The application: the gate every request passes (API key, metrics), OpenAI-style error handlers, and the lifespan
that runs the micro-batcher and returns idle memory to the system."""

from __future__ import annotations

import asyncio
import hmac
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from loguru import logger
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from open_ada.serve.batcher import MicroBatcher
from open_ada.serve.config import ServeConfig
from open_ada.serve.inputs import InputTokenizer
from open_ada.serve.metrics import Metrics
from open_ada.serve.routes import router
from open_ada.serve.schema import APIError, error_response
from open_ada.serve.state import ServeState

KNOWN_PATHS = ("/health", "/metrics", "/v1/models", "/v1/embeddings")


class Gate:
    """ASGI middleware every request passes: the API key on `/v1` routes, and each request's count, status and
    latency. Plain ASGI (not `BaseHTTPMiddleware`), so routes see the client's own `receive` and its disconnect."""

    def __init__(self, app, state: ServeState):
        self.app, self.state = app, state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics, api_key = self.state.metrics, self.state.config.api_key
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        embedding = path == "/v1/embeddings"
        status = 500  # unless a response starts: an exception escaped every handler

        async def observed_send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        metrics.in_flight += embedding
        try:
            headers = Headers(scope=scope)
            if api_key and scope["path"].startswith("/v1") and not authorized(headers, api_key):
                metrics.errors[(401, "invalid_request_error")] += 1
                await unauthorized(headers)(scope, receive, observed_send)
            else:
                await self.app(scope, receive, observed_send)
        finally:
            metrics.in_flight -= embedding
            metrics.requests[(path, status)] += 1
            if embedding:
                metrics.observe_latency(time.perf_counter() - start)
                self.state.request_ended()


def authorized(headers: Headers, api_key: str) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())


def unauthorized(headers: Headers):
    if not headers.get("authorization"):
        return error_response(401, "You didn't provide an API key. Pass it as `Authorization: Bearer YOUR_KEY`.")
    return error_response(401, "Incorrect API key provided.", code="invalid_api_key")


def create_app(model, name: str, config: ServeConfig, cl100k) -> FastAPI:
    """The FastAPI application serving `model` as `name` (and as `text-embedding-ada-002`).

    Args:
        model: A loaded `AdaModel` in eval mode.
        name: The model name clients pass as `model`.
        config: Limits, batching, long inputs, token ids and the optional API key.
        cl100k: tiktoken's `cl100k_base` encoding (`inputs.load_cl100k()`).

    Returns:
        The ASGI application; its lifespan starts the micro-batcher and the idle memory trim, and drains the
        batcher on shutdown.
    """
    metrics = Metrics()
    state = ServeState(
        model=model,
        name=name,
        config=config,
        inputs=InputTokenizer(model, cl100k, config.token_ids, config.long_inputs),
        batcher=MicroBatcher(model, config.batch_size, config.max_batch_tokens, config.max_wait_ms, metrics),
        metrics=metrics,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.batcher.start()
        trim = asyncio.get_running_loop().create_task(state.trim_when_idle())
        yield
        # Uvicorn has already waited for in-flight requests; this drains anything still queued.
        trim.cancel()
        await state.batcher.close()
        state.prepare.shutdown(wait=False)
        logger.info("micro-batcher drained")

    app = FastAPI(title="open-ada", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.serve = state
    app.include_router(router)
    app.add_middleware(Gate, state=state)

    @app.exception_handler(APIError)
    async def api_error(request: Request, err: APIError):
        metrics.errors[(err.status, err.type)] += 1
        return err.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):
        metrics.errors[(err.status_code, "invalid_request_error")] += 1
        message = f"Invalid URL ({request.method} {request.url.path})" if err.status_code in (404, 405) else err.detail
        return error_response(err.status_code, str(message))

    @app.exception_handler(Exception)
    async def server_error(request: Request, err: Exception):
        metrics.errors[(500, "server_error")] += 1
        # Details stay in the server log (uvicorn prints the traceback); the client learns only the error's kind.
        message = f"The server had an error while processing your request ({type(err).__name__})"
        return error_response(500, message, "server_error")

    return app
