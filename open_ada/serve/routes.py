"""The endpoints: `POST /v1/embeddings`, `GET /v1/models`, `/health` and `/metrics`.

An embedding request goes: admitted (or 429) -> body read within its byte and time bounds (or 413 / 408) ->
parsed, checked and tokenized in the prepare thread (or 400 / 404) -> embedded by the micro-batcher, given up if the
client leaves -> answered in OpenAI's schema.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.requests import ClientDisconnect

from open_ada.serve.inputs import TokenizedInputs
from open_ada.serve.schema import APIError, parse_request, response_body
from open_ada.serve.state import ServeState

T = TypeVar("T")
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request whose client left; never seen by that client
# Response headers that say how long inputs were embedded.
CHUNKED_HEADER = "X-Open-Ada-Chunked-Inputs"
TRUNCATED_HEADER = "X-Open-Ada-Truncated-Inputs"

router = APIRouter()


@dataclass
class PreparedRequest:
    """A valid embedding request, tokenized: what the batcher embeds and how the answer is written."""

    inputs: TokenizedInputs
    dimensions: int | None
    encoding_format: str | None


def prepare(state: ServeState, body: bytes, content_type: str | None) -> PreparedRequest:
    """Parses, checks and tokenizes a request body (in the prepare thread).

    Raises:
        APIError: 400 for a malformed or invalid request, 404 for an unknown model.
    """
    request = parse_request(body, content_type)
    check_model(request.model, state.names)
    hidden = state.model.config.hidden_size
    if request.dimensions is not None and not 1 <= request.dimensions <= hidden:
        raise APIError(
            400, f"'dimensions' must be between 1 and {hidden}, got {request.dimensions}", param="dimensions"
        )
    return PreparedRequest(state.inputs(request.input), request.dimensions, request.encoding_format)


async def read_body(request: Request, limit: int, timeout: float) -> bytearray:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes (by its Content-Length,
    before reading any of it) and with 408 if it has not all arrived within `timeout` seconds."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(f"{int(declared)} bytes", limit)
    body = bytearray()

    async def collect() -> None:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limit:
                raise too_large(f"more than {limit} bytes", limit)

    try:
        await asyncio.wait_for(collect(), timeout)
    except asyncio.TimeoutError:
        raise APIError(
            408,
            f"The request body did not arrive within {timeout:g} s",
            code="request_timeout",
            headers={"Connection": "close"},
        ) from None
    return body


def too_large(size: str, limit: int) -> APIError:
    # The connection stays open: uvicorn discards the rest of the body unbuffered, so a keep-alive client that sends
    # it all before reading still reads this answer (closing now could reset the connection under it). A client that
    # asked for `Connection: close` gets it closed after the answer, and may see the reset first.
    return APIError(
        413,
        f"The request body is {size}, over this server's limit of {limit} bytes (--max-body-bytes); send fewer or "
        "shorter inputs per request",
        code="request_too_large",
    )


async def until_disconnected(request: Request, work: Awaitable[T]) -> T:
    """The result of `work`, unless the client disconnects first: then `work` is cancelled (a queued embedding job
    is dropped) and `ClientDisconnect` raised."""
    task = asyncio.ensure_future(work)

    async def disconnected() -> None:
        # Once the body is read, the server's `receive` waits until the client disconnects.
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watch = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this request itself is cancelled
        watch.cancel()
        if not task.done():
            task.cancel()
    if task not in done:
        raise ClientDisconnect()
    return task.result()


@router.post("/v1/embeddings")
async def create_embeddings(request: Request) -> Response:
    state: ServeState = request.app.state.serve
    loop = asyncio.get_running_loop()
    try:
        with state.admit():
            body = await read_body(request, state.config.max_body_bytes, state.config.body_timeout_s)
            prepared = await loop.run_in_executor(
                state.prepare, prepare, state, body, request.headers.get("content-type")
            )
            del body  # up to --max-body-bytes: not held while the request waits for the batcher
            inputs = prepared.inputs
            embeddings = await until_disconnected(request, state.batcher.embed(inputs.chunks, prepared.dimensions))
            content = await loop.run_in_executor(
                state.prepare, response_body, embeddings, state.name, prepared.encoding_format, inputs.tokens
            )
    except ClientDisconnect:
        state.metrics.disconnects += 1
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    metrics = state.metrics
    metrics.inputs += len(inputs.chunks)
    metrics.tokens += inputs.tokens
    metrics.chunked_inputs += inputs.chunked
    metrics.truncated_inputs += inputs.truncated
    headers = {CHUNKED_HEADER: str(inputs.chunked)} if inputs.chunked else {}
    if inputs.truncated:
        headers[TRUNCATED_HEADER] = str(inputs.truncated)
    return Response(content, media_type="application/json", headers=headers)


@router.get("/health")
async def health(request: Request) -> dict:
    return {"status": "ok", "model": request.app.state.serve.name}


@router.get("/metrics")
async def prometheus(request: Request) -> PlainTextResponse:
    state: ServeState = request.app.state.serve
    return PlainTextResponse(state.metrics.render(state.batcher.queue.qsize()), media_type="text/plain; version=0.0.4")


@router.get("/v1/models")
async def list_models(request: Request) -> dict:
    state: ServeState = request.app.state.serve
    return {"object": "list", "data": [model_card(n, state.created) for n in state.names]}


@router.get("/v1/models/{model_name}")
async def retrieve_model(request: Request, model_name: str) -> dict:
    state: ServeState = request.app.state.serve
    check_model(model_name, state.names)
    return model_card(model_name, state.created)


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
