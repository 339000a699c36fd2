"""`open-ada serve`: an OpenAI-compatible embeddings API, the drop-in replacement for text-embedding-ada-002.

    open-ada serve                                  # the shipped model on http://127.0.0.1:8000/v1
    open-ada serve --model path/to/folder --port 9000 --api-key secret

Clients change only their base URL: `OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=...)`. Concurrent
requests are micro-batched: one worker gathers queued requests for a few milliseconds (or until a token budget
is full) and embeds them with a single `AdaModel.encode_ids` call, so throughput under load approaches offline
`encode`. See docs/serve.md for the endpoints, limits and flags.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch.nn.functional as F
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from loguru import logger
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

from modeling_ada import ENCODE_BATCH_SIZE, ENCODE_BATCH_TOKENS
from open_ada import add_model_arguments, load_model, model_path

# OpenAI's limits for its embedding models: inputs per request, tokens per input, tokens per request.
MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8191
MAX_REQUEST_TOKENS = 300_000
#: Clients that hard-code OpenAI's model name keep working: only their base URL changes.
ADA_ALIAS = "text-embedding-ada-002"
API_KEY_ENV = "OPEN_ADA_API_KEY"
GRACEFUL_SHUTDOWN_S = 30  # in-flight requests get this long to finish after SIGTERM
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def add_arguments(p) -> None:
    """Flags of `open-ada serve`."""
    add_model_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"require `Authorization: Bearer KEY` on /v1 routes (default: ${API_KEY_ENV}; unset = open)",
    )
    p.add_argument(
        "--truncate",
        action="store_true",
        help="cut inputs over the per-input token limit (keeping EOS) instead of answering 400",
    )
    p.add_argument("--batch-size", type=int, default=ENCODE_BATCH_SIZE, help="most inputs per forward pass")
    p.add_argument(
        "--max-batch-tokens",
        type=int,
        default=ENCODE_BATCH_TOKENS,
        help="token budget of one micro-batch, and most padded tokens per forward pass",
    )
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=5.0,
        help="how long the first queued request waits for others to join its micro-batch",
    )
    p.add_argument("--max-queue", type=int, default=256, help="most queued requests; more are answered 503")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])


@dataclass
class ServeConfig:
    """How the server behaves: API key, truncation, micro-batching and the queue bound."""

    api_key: str | None = None
    truncate: bool = False
    batch_size: int = ENCODE_BATCH_SIZE
    max_batch_tokens: int = ENCODE_BATCH_TOKENS
    max_wait_ms: float = 5.0
    max_queue: int = 256

    def __post_init__(self):
        if self.batch_size < 1 or self.max_batch_tokens < 1 or self.max_queue < 1 or self.max_wait_ms < 0:
            raise ValueError(
                "batch_size, max_batch_tokens and max_queue must be positive and max_wait_ms non-negative, got "
                f"{self.batch_size}, {self.max_batch_tokens}, {self.max_queue}, {self.max_wait_ms}"
            )


# ---------------------------------------------------------------------------------------------------------------
# Errors in OpenAI's format


class APIError(Exception):
    """An error answered with OpenAI's body: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.type, self.param, self.code)


def error_response(
    status: int, message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


INPUT_HINT = "'input' must be a non-empty string, a list of strings, a list of token ids or a list of token-id lists"


def validation_message(errors: Sequence[dict], content_type: str | None = None) -> tuple[str, str | None]:
    """A readable message and the offending parameter from pydantic's errors of the request body."""
    first = errors[0]
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    if first.get("type") == "json_invalid":
        return f"We could not parse the JSON body of your request: {first.get('ctx', {}).get('error')}", None
    if not loc:
        if content_type and "json" not in content_type:
            return (
                f"The request body must be JSON, sent with `Content-Type: application/json` (got {content_type})",
                None,
            )
        return f"The request body must be a JSON object with 'model' and 'input': {first.get('msg')}", None
    param = loc[0]
    if first.get("type") == "missing":
        return f"Missing required parameter: '{param}'", param
    if param == "input":
        return INPUT_HINT, param
    if first.get("type") == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}", param
    return f"Invalid value for '{'.'.join(loc)}': {first.get('msg')}", param


# ---------------------------------------------------------------------------------------------------------------
# Request and response


class EmbeddingRequest(BaseModel):
    """OpenAI's `POST /v1/embeddings` body; unknown fields are rejected, as OpenAI does."""

    model_config = ConfigDict(extra="forbid")

    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]
    model: StrictStr
    encoding_format: Literal["float", "base64"] | None = None  # None (or absent): float, as OpenAI
    dimensions: StrictInt | None = None
    user: StrictStr | None = None


def encode_embedding(vector: np.ndarray, encoding_format: str | None) -> list[float] | str:
    """One embedding as OpenAI sends it: a list of floats, or base64 of little-endian float32."""
    if encoding_format == "base64":  # anything else (float, None) is a list of floats
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector.tolist()


def response_body(embeddings: np.ndarray, model: str, encoding_format: str | None, tokens: int) -> bytes:
    data = [
        {"object": "embedding", "index": i, "embedding": encode_embedding(row, encoding_format)}
        for i, row in enumerate(embeddings)
    ]
    body = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return json.dumps(body, separators=(",", ":")).encode()


class InputTokenizer:
    """Turns the `input` of a request into token ids ending in EOS, enforcing the per-input token limit.

    Args:
        model: The `AdaModel` whose tokenizer and vocabulary define valid inputs.
        truncate: Cut over-long inputs to the limit (keeping EOS) instead of raising a 400 `APIError`.
    """

    def __init__(self, model, truncate: bool = False):
        self.tokenizer = model.tokenizer
        self.vocab_size = model.config.vocab_size
        self.eos_token_id = model.config.eos_token_id
        self.max_tokens = min(MAX_INPUT_TOKENS, model.config.max_position_embeddings, self.tokenizer.model_max_length)
        self.truncate = truncate

    def __call__(self, input: str | list[str] | list[int] | list[list[int]]) -> list[list[int]]:
        """Token ids of each input (texts tokenized, token-id inputs checked and given an EOS).

        Raises:
            APIError: 400 for empty or too many inputs, out-of-vocabulary ids, or (without truncation) an input
                over the token limit.
        """
        inputs = [input] if isinstance(input, str) or (input and isinstance(input[0], int)) else input
        if not inputs:
            raise APIError(400, "'input' must not be empty", param="input")
        if len(inputs) > MAX_INPUTS:
            raise APIError(
                400, f"'input' has {len(inputs)} items, more than the maximum of {MAX_INPUTS}", param="input"
            )
        if isinstance(inputs[0], str):
            return self.texts(inputs)
        return [self.token_ids(ids, i) for i, ids in enumerate(inputs)]

    def texts(self, texts: list[str]) -> list[list[int]]:
        empty = next((i for i, t in enumerate(texts) if not t), None)
        if empty is not None:
            raise APIError(400, f"'input[{empty}]' is an empty string; every input must be non-empty", param="input")
        # One token past the limit is enough to tell which texts are too long.
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_tokens + 1)["input_ids"]
        return [self.fit(x, i, exact=False) for i, x in enumerate(ids)]

    def token_ids(self, ids: list[int], index: int) -> list[int]:
        if not ids:
            raise APIError(400, f"'input[{index}]' is an empty list of token ids", param="input")
        bad = next((t for t in ids if not 0 <= t < self.vocab_size), None)
        if bad is not None:
            raise APIError(
                400,
                f"'input[{index}]' holds token id {bad}, outside this model's vocabulary [0, {self.vocab_size - 1}]",
                param="input",
                code="invalid_token_id",
            )
        return self.fit(ids if ids[-1] == self.eos_token_id else [*ids, self.eos_token_id], index, exact=True)

    def fit(self, ids: list[int], index: int, exact: bool) -> list[int]:
        """`ids` (ending in EOS) if within the limit; else truncated to it keeping the EOS, or a 400."""
        if len(ids) <= self.max_tokens:
            return ids
        if self.truncate:
            return [*ids[: self.max_tokens - 1], ids[-1]]
        count = f"{len(ids)}" if exact else f"more than {self.max_tokens}"
        raise APIError(
            400,
            f"'input[{index}]' has {count} tokens, over this model's maximum of {self.max_tokens} tokens per input; "
            "shorten it (or start the server with --truncate)",
            param="input",
            code="context_length_exceeded",
        )


# ---------------------------------------------------------------------------------------------------------------
# Micro-batching


@dataclass
class Job:
    ids: list[list[int]]
    dimensions: int | None
    future: asyncio.Future

    @property
    def tokens(self) -> int:
        return sum(len(x) for x in self.ids)


def embed_jobs(model, jobs: list[Job], batch_size: int, max_batch_tokens: int) -> list[np.ndarray]:
    """Embeds all jobs' inputs in one `encode_ids` call; per job, its rows cut to `dimensions` and normalised."""
    ids = [x for job in jobs for x in job.ids]
    raw = model.encode_ids(ids, batch_size, normalize=False, convert_to_numpy=False, max_batch_tokens=max_batch_tokens)
    out, start = [], 0
    for job in jobs:
        rows = raw[start : start + len(job.ids), : job.dimensions]
        out.append(F.normalize(rows, p=2, dim=-1).numpy())  # the same ops as `encode`, so the same values
        start += len(job.ids)
    return out


class MicroBatcher:
    """A bounded queue of embedding jobs and the one worker that serves them in micro-batches.

    The worker takes the oldest job, gathers more until `max_batch_tokens` tokens are queued or `max_wait_ms`
    has passed, and embeds them all in one thread-pool call, so the event loop stays responsive while torch
    works.

    Args:
        model: An `AdaModel` (anything with its `encode_ids`).
        config: Batch size, token budget, wait and queue bound.
        metrics: Counts batches and the inputs in them.
    """

    def __init__(self, model, config: ServeConfig, metrics: Metrics | None = None):
        self.model, self.config, self.metrics = model, config, metrics
        self.queue: asyncio.Queue[Job] = asyncio.Queue(config.max_queue)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-ada-encode")
        self.busy = False
        self.worker: asyncio.Task | None = None

    def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self.run())

    async def embed(self, ids: list[list[int]], dimensions: int | None = None) -> np.ndarray:
        """The normalised `(len(ids), dimensions or hidden_size)` embeddings of `ids`.

        Raises:
            APIError: 503 when the queue is full.
        """
        job = Job(ids, dimensions, asyncio.get_running_loop().create_future())
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise APIError(
                503, "The server is overloaded; retry shortly", type="server_error", code="overloaded"
            ) from None
        return await job.future

    async def gather(self) -> list[Job]:
        """The next micro-batch: the oldest job plus what arrives within the wait and the token budget."""
        jobs = [await self.queue.get()]
        self.busy = True  # from here until `run` has resolved these jobs: `close` waits for them
        tokens = jobs[0].tokens
        deadline = asyncio.get_running_loop().time() + self.config.max_wait_ms / 1000
        while tokens < self.config.max_batch_tokens:
            if self.queue.empty():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:  # the builtin TimeoutError from Python 3.11
                    break
            else:
                job = self.queue.get_nowait()
            jobs.append(job)
            tokens += job.tokens
        return jobs

    async def run(self) -> None:
        while True:
            jobs = await self.gather()
            try:
                await self.run_batch([job for job in jobs if not job.future.done()])  # skip clients that left
            finally:
                self.busy = False

    async def run_batch(self, jobs: list[Job]) -> None:
        """Embeds `jobs` in the worker thread and resolves each one's future with its rows (or the error)."""
        if not jobs:
            return
        loop = asyncio.get_running_loop()
        config = self.config
        try:
            results = await loop.run_in_executor(
                self.executor, embed_jobs, self.model, jobs, config.batch_size, config.max_batch_tokens
            )
        except Exception as err:  # a server bug: every waiting request answers 500, the worker lives on
            results = [err] * len(jobs)
        if self.metrics:
            self.metrics.batches += 1
            self.metrics.batch_inputs += sum(len(job.ids) for job in jobs)
        for job, result in zip(jobs, results, strict=True):
            if job.future.done():
                continue
            if isinstance(result, Exception):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    async def close(self, timeout: float = GRACEFUL_SHUTDOWN_S) -> None:
        """Lets queued and running work finish (bounded by `timeout`), then stops the worker."""
        deadline = time.monotonic() + timeout
        while (self.busy or not self.queue.empty()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.worker:
            self.worker.cancel()
        self.executor.shutdown(wait=False)


# ---------------------------------------------------------------------------------------------------------------
# Metrics in Prometheus' text format


@dataclass
class Metrics:
    """The few counters Prometheus scrapes from `/metrics`."""

    requests: Counter = field(default_factory=Counter)  # (path, status) -> count
    errors: Counter = field(default_factory=Counter)  # (status, type) -> count
    inputs: int = 0
    tokens: int = 0
    batches: int = 0
    batch_inputs: int = 0
    in_flight: int = 0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    latency_sum: float = 0.0
    latency_count: int = 0

    def observe_latency(self, seconds: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_buckets[i] += 1  # cumulative buckets: `le` counts every request at or below it
        self.latency_sum += seconds
        self.latency_count += 1

    def render(self, queue_depth: int) -> str:
        lines = [
            "# HELP open_ada_requests_total HTTP requests by path and status code.",
            "# TYPE open_ada_requests_total counter",
            *(
                f'open_ada_requests_total{{path="{p}",status="{s}"}} {n}'
                for (p, s), n in sorted(self.requests.items())
            ),
            "# HELP open_ada_errors_total Error responses by status code and OpenAI error type.",
            "# TYPE open_ada_errors_total counter",
            *(f'open_ada_errors_total{{status="{s}",type="{t}"}} {n}' for (s, t), n in sorted(self.errors.items())),
            "# HELP open_ada_inputs_total Inputs embedded.",
            "# TYPE open_ada_inputs_total counter",
            f"open_ada_inputs_total {self.inputs}",
            "# HELP open_ada_tokens_total Tokens embedded (usage.total_tokens summed).",
            "# TYPE open_ada_tokens_total counter",
            f"open_ada_tokens_total {self.tokens}",
            "# HELP open_ada_batches_total Micro-batches run (each one encode_ids call).",
            "# TYPE open_ada_batches_total counter",
            f"open_ada_batches_total {self.batches}",
            "# HELP open_ada_batch_inputs_total Inputs in all micro-batches (divide by batches for the mean size).",
            "# TYPE open_ada_batch_inputs_total counter",
            f"open_ada_batch_inputs_total {self.batch_inputs}",
            "# HELP open_ada_requests_in_flight Embedding requests being handled now.",
            "# TYPE open_ada_requests_in_flight gauge",
            f"open_ada_requests_in_flight {self.in_flight}",
            "# HELP open_ada_queue_depth Embedding requests waiting for the worker.",
            "# TYPE open_ada_queue_depth gauge",
            f"open_ada_queue_depth {queue_depth}",
            "# HELP open_ada_request_duration_seconds Latency of POST /v1/embeddings.",
            "# TYPE open_ada_request_duration_seconds histogram",
            *(
                f'open_ada_request_duration_seconds_bucket{{le="{bound}"}} {n}'
                for bound, n in zip(LATENCY_BUCKETS, self.latency_buckets, strict=True)
            ),
            f'open_ada_request_duration_seconds_bucket{{le="+Inf"}} {self.latency_count}',
            f"open_ada_request_duration_seconds_sum {self.latency_sum}",
            f"open_ada_request_duration_seconds_count {self.latency_count}",
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
            "# TYPE process_cpu_seconds_total counter",
            f"process_cpu_seconds_total {time.process_time()}",
        ]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# The application


def served_name(model_path: str | Path) -> str:
    """The model's name in the API: its folder (or Hub repo) name, e.g. `open-ada-small`."""
    return Path(str(model_path).rstrip("/")).name


def create_app(model, name: str, config: ServeConfig) -> FastAPI:
    """The FastAPI application serving `model` as `name` (and as `text-embedding-ada-002`).

    Args:
        model: A loaded `AdaModel` in eval mode.
        name: The model name clients pass as `model`.
        config: Limits, batching and the optional API key.

    Returns:
        The ASGI application; its lifespan starts the micro-batching worker and drains it on shutdown.
    """
    metrics = Metrics()
    batcher = MicroBatcher(model, config, metrics)
    tokenize = InputTokenizer(model, truncate=config.truncate)
    # Tokenizing and JSON encoding run off the event loop, in one thread: fast tokenizers are not thread-safe.
    prepare = ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-ada-prepare")
    names = (name, ADA_ALIAS)
    created = int(time.time())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        yield
        # Uvicorn has already waited for in-flight requests; this drains anything still queued.
        await batcher.close()
        prepare.shutdown(wait=False)
        logger.info("micro-batcher drained")

    # strict_content_type=False: `curl -d '{...}'` without a JSON Content-Type header is read as JSON all the same.
    app = FastAPI(
        title="open-ada",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        strict_content_type=False,
    )

    @app.middleware("http")
    async def auth_and_metrics(request: Request, call_next):
        start = time.perf_counter()
        path = request.url.path if request.url.path in KNOWN_PATHS else "other"
        embedding = path == "/v1/embeddings"
        metrics.in_flight += embedding
        status = 500  # unless a response comes back: an exception escaped every handler
        try:
            if config.api_key and request.url.path.startswith("/v1") and not authorized(request, config.api_key):
                metrics.errors[(401, "invalid_request_error")] += 1
                response = unauthorized(request)
            else:
                response = await call_next(request)
            status = response.status_code
            return response
        finally:
            metrics.in_flight -= embedding
            metrics.requests[(path, status)] += 1
            if embedding:
                metrics.observe_latency(time.perf_counter() - start)

    @app.exception_handler(APIError)
    async def api_error(request: Request, err: APIError):
        metrics.errors[(err.status, err.type)] += 1
        return err.response()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError):
        message, param = validation_message(err.errors(), request.headers.get("content-type"))
        metrics.errors[(400, "invalid_request_error")] += 1
        return error_response(400, message, param=param)

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

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": name}

    @app.get("/metrics")
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(batcher.queue.qsize()), media_type="text/plain; version=0.0.4")

    @app.get("/v1/models")
    async def list_models() -> dict:
        return {"object": "list", "data": [model_card(n, created) for n in names]}

    @app.get("/v1/models/{model_name}")
    async def retrieve_model(model_name: str) -> dict:
        check_model(model_name, names)
        return model_card(model_name, created)

    @app.post("/v1/embeddings")
    async def create_embeddings(body: EmbeddingRequest) -> Response:
        check_model(body.model, names)
        hidden = model.config.hidden_size
        if body.dimensions is not None and not 1 <= body.dimensions <= hidden:
            raise APIError(
                400, f"'dimensions' must be between 1 and {hidden}, got {body.dimensions}", param="dimensions"
            )
        loop = asyncio.get_running_loop()
        ids = await loop.run_in_executor(prepare, tokenize, body.input)
        tokens = sum(len(x) for x in ids)
        if tokens > MAX_REQUEST_TOKENS:
            raise APIError(
                400,
                f"The request has {tokens} tokens, over the maximum of {MAX_REQUEST_TOKENS} per request",
                param="input",
            )
        embeddings = await batcher.embed(ids, body.dimensions)
        content = await loop.run_in_executor(prepare, response_body, embeddings, name, body.encoding_format, tokens)
        metrics.inputs += len(ids)
        metrics.tokens += tokens
        return Response(content, media_type="application/json")

    return app


KNOWN_PATHS = ("/health", "/metrics", "/v1/models", "/v1/embeddings")


def model_card(name: str, created: int) -> dict:
    return {"id": name, "object": "model", "created": created, "owned_by": "open-ada"}


def check_model(requested: str, names: Sequence[str]) -> None:
    if requested not in names:
        raise APIError(
            404,
            f"The model `{requested}` does not exist; this server serves {', '.join(f'`{n}`' for n in names)}",
            param="model",
            code="model_not_found",
        )


def authorized(request: Request, api_key: str) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())


def unauthorized(request: Request) -> JSONResponse:
    if not request.headers.get("authorization"):
        message = "You didn't provide an API key. Pass it as `Authorization: Bearer YOUR_KEY`."
        return error_response(401, message)
    return error_response(401, "Incorrect API key provided.", code="invalid_api_key")


def main(args) -> int:
    """Loads the model and serves it with uvicorn until SIGINT/SIGTERM (in-flight requests finish first)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import uvicorn

    try:
        config = ServeConfig(
            api_key=args.api_key or None,
            truncate=args.truncate,
            batch_size=args.batch_size,
            max_batch_tokens=args.max_batch_tokens,
            max_wait_ms=args.max_wait_ms,
            max_queue=args.max_queue,
        )
    except ValueError as err:
        logger.error(f"open-ada serve: {err}")
        return 2
    model = load_model(args)
    name = served_name(model_path(args))
    app = create_app(model, name, config)
    auth = "API key required" if config.api_key else "no API key"
    logger.info(f"serving {name} (alias {ADA_ALIAS}) on http://{args.host}:{args.port}/v1 ({auth})")
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,  # /metrics counts requests; a log line per request costs throughput
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return 0
