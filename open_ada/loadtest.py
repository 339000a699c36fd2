"""`open-ada loadtest`: bounded concurrent load on a running `open-ada serve`, every response checked against
offline `encode` of the same model folder.

    open-ada serve &
    open-ada loadtest --url http://127.0.0.1:8000 --concurrency 8 --seconds 20 --texts-from stsb

N client threads post for T seconds (loopback only, both capped); the report gives requests/s, tokens/s, p50/p99
latency, errors (any non-200, failed connection or vector off by more than 1e-5) and the ratio of served to
offline encode throughput. It prints a markdown table and, with --output, writes the same numbers as JSON. Texts
longer than the model's context are left out: the server embeds them as its --long-inputs says, not as `encode`.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from open_ada.cli import FromArgs
from open_ada.limits import MAX_INPUTS
from open_ada.model import DEFAULT_DTYPE, DEFAULT_MODEL, add_model_arguments, load_model

MAX_CONCURRENCY = 64
MAX_SECONDS = 300
TOLERANCE = 1e-5  # served and offline vectors come from the same kernels; only batching order differs


@dataclass
class LoadtestConfig(FromArgs):
    """The server to load, the model it serves (for the offline reference), and how much load."""

    url: str = "http://127.0.0.1:8000"  # loopback only
    model: str = str(DEFAULT_MODEL)
    dtype: str = DEFAULT_DTYPE
    concurrency: int = 8  # client threads, at most MAX_CONCURRENCY
    seconds: float = 20.0  # at most MAX_SECONDS
    inputs_per_request: int = 1  # at most MAX_INPUTS
    texts_from: str = "stsb"  # 'stsb' (STS-B test sentences) or a file, one text a line
    api_key: str | None = field(default_factory=lambda: os.environ.get("OPEN_ADA_API_KEY"))
    output: str | None = None  # the report as JSON


def add_arguments(p) -> None:
    """Flags of `open-ada loadtest`; their defaults are `LoadtestConfig`'s."""
    d = LoadtestConfig()
    p.add_argument("--url", default=d.url, help="the server's base URL (loopback only)")
    add_model_arguments(p, d, "the model the server serves, with its --dtype, for the offline reference")
    p.add_argument(
        "--concurrency", type=int, default=d.concurrency, help=f"client threads (at most {MAX_CONCURRENCY})"
    )
    p.add_argument(
        "--seconds", type=float, default=d.seconds, help=f"how long to send requests (at most {MAX_SECONDS})"
    )
    p.add_argument(
        "--inputs-per-request",
        type=int,
        default=d.inputs_per_request,
        help=f"texts per request (at most {MAX_INPUTS})",
    )
    p.add_argument(
        "--texts-from", default=d.texts_from, help="'stsb' (STS-B test sentences) or a file, one text a line"
    )
    p.add_argument("--api-key", default=d.api_key, help="default: $OPEN_ADA_API_KEY")
    p.add_argument("--output", default=d.output, help="write the report as JSON here")


@dataclass
class Result:
    """One request as a client saw it."""

    latency: float
    tokens: int = 0
    inputs: int = 0
    error: str | None = None
    max_abs_diff: float = 0.0


def check_url(url: str) -> tuple[str, int]:
    """`(host, port)` of an `http://` URL on this machine.

    Raises:
        ValueError: Not plain http, or a host that is not loopback (the load check never leaves the machine).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http":
        raise ValueError(f"--url must be http://127.0.0.1:PORT (plain http on loopback), got {url!r}")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"--url must point at this machine (127.0.0.1, ::1 or localhost), got host {host!r}")
    return host, parts.port or 80


def read_texts(source: str) -> list[str]:
    """Distinct non-empty texts: STS-B test sentences (`'stsb'`) or the lines of a file."""
    if source == "stsb":
        from open_ada.data import read_stsb

        texts = [t for pair in read_stsb("test") for t in (pair.sentence1, pair.sentence2)]
    else:
        texts = Path(source).read_text(encoding="utf-8").split("\n")
    return list(dict.fromkeys(t.strip() for t in texts if t.strip()))


class Client:
    """A keep-alive HTTP connection posting JSON, as a client library would hold one."""

    def __init__(self, host: str, port: int, api_key: str | None, timeout: float = 60.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.conn = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.conn.request(method, path, json.dumps(body) if body is not None else None, self.headers)
            response = self.conn.getresponse()
            return response.status, json.loads(response.read())
        except Exception:
            self.conn.close()
            self.conn = None  # reconnect on the next request
            raise


def client_loop(
    client: Client,
    model: str,
    texts: list[str],
    reference: np.ndarray,
    inputs_per_request: int,
    deadline: float,
    seed: int,
) -> list[Result]:
    """Posts random batches of `texts` until `deadline`; checks every vector against `reference`."""
    rng = random.Random(seed)
    results = []
    while time.perf_counter() < deadline:
        picks = rng.sample(range(len(texts)), min(inputs_per_request, len(texts)))
        body = {"model": model, "input": [texts[i] for i in picks], "encoding_format": "base64"}
        start = time.perf_counter()
        try:
            status, payload = client.request("POST", "/v1/embeddings", body)
        except Exception as err:
            results.append(Result(time.perf_counter() - start, error=f"{type(err).__name__}: {err}"))
            continue
        result = Result(time.perf_counter() - start, inputs=len(picks))
        if status != 200:
            result.error = f"HTTP {status}: {payload.get('error', {}).get('message')}"
        else:
            result.tokens = payload["usage"]["total_tokens"]
            served = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), "<f4") for d in payload["data"]])
            result.max_abs_diff = float(np.abs(served - reference[picks]).max())
            if result.max_abs_diff > TOLERANCE:
                result.error = f"vectors differ from offline encode by {result.max_abs_diff:.2e}"
        results.append(result)
    return results


def within_context(model, texts: list[str]) -> list[str]:
    """The texts that fit the model's context. A longer one is embedded by the server as it was told to
    (`--long-inputs`: chunk mean, truncation or a 400), so offline `encode` is no reference for it."""
    ids = model.tokenize(texts, max_length=None)
    return [t for t, x in zip(texts, ids, strict=True) if len(x) <= model.context_length]


def offline_throughput(model, texts: list[str], min_seconds: float = 1.0) -> tuple[np.ndarray, float, float]:
    """Offline `encode` of `texts` (the reference vectors), its tokens per second and its tokens per CPU-second,
    timed over repeated passes until `min_seconds` have passed, so that a small text pool gives a stable number."""
    tokens = sum(len(x) for x in model.tokenize(texts, max_length=None))
    model.encode(texts[:64])  # warm-up
    start, cpu_start, passes = time.perf_counter(), time.process_time(), 0
    while passes == 0 or time.perf_counter() - start < min_seconds:
        reference = model.encode(texts)
        passes += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return reference, tokens * passes / wall, tokens * passes / cpu


def server_cpu_seconds(host: str, port: int, api_key: str | None) -> float | None:
    """The server's `process_cpu_seconds_total` from its `/metrics` (None when it does not report one)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {api_key}"} if api_key else {})
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    return None


def summarize(
    results: list[Result],
    seconds: float,
    offline_tokens_per_s: float,
    offline_tokens_per_cpu_s: float,
    server_cpu_s: float | None,
) -> dict:
    """The report: throughput, latency percentiles, errors and the served/offline throughput ratios, per second of
    wall time and per CPU-second the server spent (the clients share the machine, so the first is a lower bound)."""
    ok = [r for r in results if r.error is None]
    latencies = np.array([r.latency for r in results]) * 1000 if results else np.zeros(1)
    tokens_per_s = sum(r.tokens for r in ok) / seconds
    errors = [r.error for r in results if r.error is not None]
    per_cpu_s = sum(r.tokens for r in ok) / server_cpu_s if server_cpu_s else None
    return {
        "requests": len(results),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "requests_per_s": len(ok) / seconds,
        "inputs_per_s": sum(r.inputs for r in ok) / seconds,
        "tokens_per_s": tokens_per_s,
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p99_ms": float(np.percentile(latencies, 99)),
        "max_abs_diff": max((r.max_abs_diff for r in results), default=0.0),
        "offline_tokens_per_s": offline_tokens_per_s,
        "served_over_offline": tokens_per_s / offline_tokens_per_s,
        "server_cpu_seconds": server_cpu_s,
        "offline_tokens_per_cpu_s": offline_tokens_per_cpu_s,
        "served_tokens_per_server_cpu_s": per_cpu_s,
        "served_over_offline_per_cpu_s": per_cpu_s / offline_tokens_per_cpu_s if per_cpu_s else None,
    }


def markdown_table(report: dict) -> str:
    columns = [
        ("clients", "concurrency", "{}"),
        ("inputs/request", "inputs_per_request", "{}"),
        ("requests/s", "requests_per_s", "{:.1f}"),
        ("tokens/s", "tokens_per_s", "{:.0f}"),
        ("p50 ms", "latency_p50_ms", "{:.1f}"),
        ("p99 ms", "latency_p99_ms", "{:.1f}"),
        ("errors", "errors", "{}"),
        ("offline tokens/s", "offline_tokens_per_s", "{:.0f}"),
        ("served/offline", "served_over_offline", "{:.2f}"),
        ("server CPU s", "server_cpu_seconds", "{:.1f}"),
        ("served/offline per CPU-s", "served_over_offline_per_cpu_s", "{:.2f}"),
    ]
    header = "| " + " | ".join(c[0] for c in columns) + " |"
    rule = "|" + "|".join("---:" for _ in columns) + "|"
    row = "| " + " | ".join("–" if report[key] is None else fmt.format(report[key]) for _, key, fmt in columns) + " |"
    return "\n".join([header, rule, row])


def main(args) -> int:
    return loadtest(LoadtestConfig.from_args(args))


def loadtest(config: LoadtestConfig) -> int:
    """Runs the bounded load and prints its table; exit code 1 if any request failed or differed from encode."""
    try:
        host, port = check_url(config.url)
        if not 1 <= config.concurrency <= MAX_CONCURRENCY or not 0 < config.seconds <= MAX_SECONDS:
            raise ValueError(
                f"--concurrency must be in [1, {MAX_CONCURRENCY}] and --seconds in (0, {MAX_SECONDS}], "
                f"got {config.concurrency} and {config.seconds}"
            )
        if not 1 <= config.inputs_per_request <= MAX_INPUTS:
            raise ValueError(f"--inputs-per-request must be in [1, {MAX_INPUTS}], got {config.inputs_per_request}")
        texts = read_texts(config.texts_from)
        if not texts:
            raise ValueError(f"no texts in {config.texts_from!r}")
    except (ValueError, OSError) as err:
        print(f"open-ada loadtest: {err}", file=sys.stderr)
        return 2

    try:
        status, models = Client(host, port, config.api_key).request("GET", "/v1/models")
    except OSError as err:
        print(f"open-ada loadtest: no server at {config.url}: {err}", file=sys.stderr)
        return 2
    if status != 200:
        print(f"open-ada loadtest: GET /v1/models answered {status}: {models}", file=sys.stderr)
        return 2
    served = models["data"][0]["id"]

    model = load_model(config.model, config.dtype)
    texts = within_context(model, texts)
    if not texts:
        print(f"open-ada loadtest: no text in {config.texts_from!r} fits the model's context", file=sys.stderr)
        return 2
    reference, offline_tokens_per_s, offline_tokens_per_cpu_s = offline_throughput(model, texts)
    print(f"offline encode: {len(texts)} texts, {offline_tokens_per_s:.0f} tokens/s; loading {config.url} ...")

    cpu_before = server_cpu_seconds(host, port, config.api_key)
    start = time.perf_counter()
    deadline = start + config.seconds
    with ThreadPoolExecutor(config.concurrency) as pool:
        futures = [
            pool.submit(
                client_loop,
                Client(host, port, config.api_key),
                served,
                texts,
                reference,
                config.inputs_per_request,
                deadline,
                seed,
            )
            for seed in range(config.concurrency)
        ]
        results = [r for f in futures for r in f.result()]
    elapsed = time.perf_counter() - start
    cpu_after = server_cpu_seconds(host, port, config.api_key)
    server_cpu_s = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None

    report = {
        "url": config.url,
        "model": served,
        "concurrency": config.concurrency,
        "seconds": elapsed,
        "inputs_per_request": config.inputs_per_request,
        "texts": len(texts),
        **summarize(results, elapsed, offline_tokens_per_s, offline_tokens_per_cpu_s, server_cpu_s),
    }
    print(markdown_table(report))
    if report["errors"]:
        print(f"{report['errors']} of {report['requests']} requests failed; first: {report['first_error']}")
    if config.output:
        Path(config.output).parent.mkdir(parents=True, exist_ok=True)
        Path(config.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if report["errors"] else 0
