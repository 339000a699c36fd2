"""The counters `/metrics` shows, in Prometheus' text format."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def resident_bytes() -> int:
    """The process's resident set size, from `/proc/self/statm` (0 where there is none)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@dataclass
class Metrics:
    """The few counters Prometheus scrapes from `/metrics`."""

    requests: Counter = field(default_factory=Counter)  # (path, status) -> count
    errors: Counter = field(default_factory=Counter)  # (status, type) -> count
    inputs: int = 0
    tokens: int = 0
    chunked_inputs: int = 0
    truncated_inputs: int = 0
    batches: int = 0
    batch_inputs: int = 0
    in_flight: int = 0
    disconnects: int = 0
    memory_trims: int = 0
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
        lines: list[str] = []

        def metric(name: str, kind: str, help: str, *samples: str) -> None:
            lines.extend([f"# HELP {name} {help}", f"# TYPE {name} {kind}", *samples])

        def value(name: str, kind: str, help: str, number: float) -> None:
            metric(name, kind, help, f"{name} {number}")

        requests = (
            f'open_ada_requests_total{{path="{p}",status="{s}"}} {n}' for (p, s), n in sorted(self.requests.items())
        )
        errors = (f'open_ada_errors_total{{status="{s}",type="{t}"}} {n}' for (s, t), n in sorted(self.errors.items()))
        metric("open_ada_requests_total", "counter", "HTTP requests by path and status code.", *requests)
        metric("open_ada_errors_total", "counter", "Error responses by status code and OpenAI error type.", *errors)
        value("open_ada_inputs_total", "counter", "Inputs embedded.", self.inputs)
        value("open_ada_tokens_total", "counter", "Tokens embedded (usage.total_tokens summed).", self.tokens)
        value(
            "open_ada_chunked_inputs_total",
            "counter",
            "Inputs longer than the context, embedded as the mean of their chunks.",
            self.chunked_inputs,
        )
        value("open_ada_truncated_inputs_total", "counter", "Inputs cut to the context.", self.truncated_inputs)
        value("open_ada_batches_total", "counter", "Micro-batches run (each one embed_ids call).", self.batches)
        value(
            "open_ada_batch_inputs_total",
            "counter",
            "Inputs in all micro-batches (divide by batches for the mean size).",
            self.batch_inputs,
        )
        value("open_ada_requests_in_flight", "gauge", "Embedding requests being handled now.", self.in_flight)
        value("open_ada_queue_depth", "gauge", "Embedding requests waiting for the worker.", queue_depth)
        value(
            "open_ada_client_disconnects_total",
            "counter",
            "Embedding requests whose client left before the answer (their queued work dropped).",
            self.disconnects,
        )
        value(
            "open_ada_memory_trims_total",
            "counter",
            "Times freed memory was returned to the system after the server went idle.",
            self.memory_trims,
        )
        metric(
            "open_ada_request_duration_seconds",
            "histogram",
            "Latency of POST /v1/embeddings.",
            *(
                f'open_ada_request_duration_seconds_bucket{{le="{bound}"}} {n}'
                for bound, n in zip(LATENCY_BUCKETS, self.latency_buckets, strict=True)
            ),
            f'open_ada_request_duration_seconds_bucket{{le="+Inf"}} {self.latency_count}',
            f"open_ada_request_duration_seconds_sum {self.latency_sum}",
            f"open_ada_request_duration_seconds_count {self.latency_count}",
        )
        value(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            time.process_time(),
        )
        value("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", resident_bytes())
        return "\n".join(lines) + "\n"
