"""`open-ada serve`: an OpenAI-compatible embeddings API, the drop-in replacement for text-embedding-ada-002.

    open-ada serve                                  # the shipped model on http://127.0.0.1:8000/v1
    open-ada serve --model path/to/folder --port 9000 --api-key secret

Clients change only their base URL: `OpenAI(base_url="http://127.0.0.1:8000/v1", api_key=...)`. Token-id arrays
are read as OpenAI's cl100k_base ids (what LangChain sends), inputs longer than the model's context are embedded as
the token-weighted mean of their chunks, and concurrent requests are micro-batched into one `AdaModel.embed_ids`
call. See docs/serve.md for the endpoints, limits and flags.

The package, one module per role:
    config.py   ServeConfig and the command's flags (the one copy of each default)
    schema.py   the request, the response and errors in OpenAI's format
    inputs.py   a request's input -> the model's token ids: limits, cl100k arrays, long inputs
    batcher.py  the micro-batcher: queued requests embedded together in a worker thread
    metrics.py  the counters of /metrics
    state.py    what the routes share: admission (429) and the idle memory trim
    routes.py   the endpoints; the body's byte and time bounds; client disconnects
    app.py      the application: the API-key and metrics gate, error handlers, lifespan
"""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from open_ada.allocator import share_one_arena
from open_ada.model import load_model
from open_ada.serve.app import create_app
from open_ada.serve.batcher import GRACEFUL_SHUTDOWN_S
from open_ada.serve.config import ServeConfig, add_arguments
from open_ada.serve.inputs import load_cl100k
from open_ada.serve.schema import ADA_ALIAS


def served_name(model_path: str | Path) -> str:
    """The model's name in the API: its folder (or Hub repo) name, e.g. `open-ada-small`."""
    return Path(str(model_path).rstrip("/")).name


def main(args) -> int:
    """`open-ada serve`: the flags as a `ServeConfig`, then `serve`."""
    try:
        config = ServeConfig.from_args(args)
    except ValueError as err:
        logger.error(f"open-ada serve: {err}")
        return 2
    return serve(config)


def serve(config: ServeConfig) -> int:
    """Loads the model and serves it with uvicorn until SIGINT/SIGTERM (in-flight requests finish first)."""
    import uvicorn

    try:
        cl100k = load_cl100k()
    except RuntimeError as err:
        logger.error(f"open-ada serve: {err}")
        return 2
    share_one_arena()  # before the request and encode threads start: the idle trim then reaches all their memory
    try:
        model = load_model(config.model, config.dtype)
    except ValueError as err:  # no such folder or Hub repo
        logger.error(f"open-ada serve: {err}")
        return 2
    name = served_name(config.model)
    app = create_app(model, name, config, cl100k)
    auth = "API key required" if config.api_key else "no API key"
    logger.info(
        f"serving {name} (alias {ADA_ALIAS}) on http://{config.host}:{config.port}/v1 ({auth}; token ids: "
        f"{config.token_ids}; inputs over {model.context_length} tokens: {config.long_inputs})"
    )
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=False,  # /metrics counts requests; a log line per request costs throughput
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    return 0


__all__ = ["ServeConfig", "add_arguments", "create_app", "main", "serve", "served_name"]
