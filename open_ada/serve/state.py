"""`ServeState`: what the routes share, the admission bound (429) and the idle memory trim."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from open_ada.allocator import release_freed_memory
from open_ada.serve.batcher import MicroBatcher
from open_ada.serve.config import ServeConfig
from open_ada.serve.inputs import InputTokenizer
from open_ada.serve.metrics import Metrics
from open_ada.serve.schema import ADA_ALIAS, APIError

RETRY_AFTER_S = 1  # what a 429 asks clients to wait; the openai SDK honours it
TRIM_AFTER_IDLE_S = 1.0  # freed memory goes back to the system after this long without an embedding request


@dataclass
class ServeState:
    """What the routes share: the model and its name, the config, the input tokenizer, the batcher, the metrics."""

    model: object
    name: str
    config: ServeConfig
    inputs: InputTokenizer
    batcher: MicroBatcher
    metrics: Metrics
    # Parsing, tokenizing and JSON encoding run off the event loop, in one thread: fast tokenizers are not thread-safe.
    prepare: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-ada-prepare")
    )
    created: int = field(default_factory=lambda: int(time.time()))
    admitted: int = 0  # embedding requests in progress
    last_request_end: float = 0.0
    trim_due: bool = False  # an embedding request ended since memory was last returned

    @property
    def names(self) -> tuple[str, str]:
        return (self.name, ADA_ALIAS)

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Holds one of the `max_queue` places of requests in progress.

        Raises:
            APIError: 429 with `Retry-After` when every place is taken.
        """
        if self.admitted >= self.config.max_queue:
            raise APIError(
                429,
                f"The server is busy: {self.admitted} requests are in progress, its most (--max-queue); retry "
                f"after {RETRY_AFTER_S} s",
                type="requests",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    def request_ended(self) -> None:
        self.last_request_end = time.monotonic()
        self.trim_due = True

    async def trim_when_idle(self) -> None:
        """Returns freed memory to the system once no embedding request has run for `TRIM_AFTER_IDLE_S`: the
        allocator keeps freed blocks for speed (open_ada/allocator.py), which under load is what we want, but one
        large or hostile request must not keep the server at its peak for good."""
        while True:
            await asyncio.sleep(TRIM_AFTER_IDLE_S / 4)
            idle = time.monotonic() - self.last_request_end >= TRIM_AFTER_IDLE_S
            if self.trim_due and idle and self.admitted == 0 and self.metrics.in_flight == 0:
                self.trim_due = False
                await asyncio.get_running_loop().run_in_executor(self.prepare, release_freed_memory)
                self.metrics.memory_trims += 1
