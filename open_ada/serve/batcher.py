"""The micro-batcher: one worker that embeds queued requests together, in a thread, so the event loop stays free."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from modeling_ada import pool_chunks, postprocess
from open_ada.serve.metrics import Metrics

GRACEFUL_SHUTDOWN_S = 30  # in-flight requests get this long to finish after SIGTERM


@dataclass
class Job:
    """One request's inputs, each as its chunks of token ids (one chunk unless the input is longer than the
    context), the `dimensions` it asked for and the future its rows resolve."""

    chunks: list[list[list[int]]]
    dimensions: int | None
    future: asyncio.Future

    @property
    def tokens(self) -> int:
        return sum(len(c) for chunks in self.chunks for c in chunks)


def embed_jobs(model, jobs: list[Job], batch_size: int, max_batch_tokens: int) -> list[np.ndarray]:
    """Embeds every chunk of every job in one `embed_ids` call; per job, the `(inputs, dimensions)` unit rows:
    each chunk post-processed as `encode` does, and an input of several chunks their token-weighted mean."""
    flat = [c for job in jobs for chunks in job.chunks for c in chunks]
    raw = model.embed_ids(flat, batch_size, max_batch_tokens)
    out, start = [], 0
    for job in jobs:
        rows = postprocess(raw[start : start + sum(len(chunks) for chunks in job.chunks)], job.dimensions)
        start += len(rows)
        out.append(pool_chunks(rows, job.chunks).numpy())
    return out


class MicroBatcher:
    """A queue of embedding jobs and the one worker that serves them in micro-batches.

    The worker takes the oldest job, gathers more until `max_batch_tokens` tokens are queued or `max_wait_ms`
    has passed, and embeds them all in one thread-pool call, so the event loop stays responsive while torch
    works. Jobs whose client has gone (their future cancelled) are skipped. How many jobs may wait is bounded
    where requests are admitted (`max_queue`), before their bodies are read.

    Args:
        model: An `AdaModel` (anything with its `embed_ids`).
        batch_size: Most inputs per forward pass.
        max_batch_tokens: Token budget of a micro-batch and of one forward pass.
        max_wait_ms: How long the oldest job waits for others to join it.
        metrics: Counts batches and the inputs in them.
    """

    def __init__(
        self, model, batch_size: int, max_batch_tokens: int, max_wait_ms: float, metrics: Metrics | None = None
    ):
        self.model, self.metrics = model, metrics
        self.batch_size, self.max_batch_tokens, self.max_wait_ms = batch_size, max_batch_tokens, max_wait_ms
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-ada-encode")
        self.busy = False
        self.worker: asyncio.Task | None = None

    def start(self) -> None:
        self.worker = asyncio.get_running_loop().create_task(self.run())

    async def embed(self, chunks: list[list[list[int]]], dimensions: int | None = None) -> np.ndarray:
        """The unit `(len(chunks), dimensions or hidden_size)` embeddings of a request's inputs.

        Cancelling the wait (the client left) cancels the job: if it is still queued it is never embedded.
        """
        job = Job(chunks, dimensions, asyncio.get_running_loop().create_future())
        self.queue.put_nowait(job)
        return await job.future

    async def gather(self) -> list[Job]:
        """The next micro-batch: the oldest job plus what arrives within the wait and the token budget."""
        jobs = [await self.queue.get()]
        self.busy = True  # from here until `run` has resolved these jobs: `close` waits for them
        tokens = jobs[0].tokens
        deadline = asyncio.get_running_loop().time() + self.max_wait_ms / 1000
        while tokens < self.max_batch_tokens:
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
        try:
            results = await loop.run_in_executor(
                self.executor, embed_jobs, self.model, jobs, self.batch_size, self.max_batch_tokens
            )
        except Exception as err:  # a server bug: every waiting request answers 500, the worker lives on
            results = [err] * len(jobs)
        if self.metrics:
            self.metrics.batches += 1
            self.metrics.batch_inputs += sum(len(job.chunks) for job in jobs)
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
