"""`open-ada serve` through a real uvicorn process and the official `openai` client, and `open-ada loadtest`."""

import asyncio
import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import openai
import pytest
import torch
from transformers import AutoModel

from conftest import ROOT, TEXTS
from open_ada import loadtest
from open_ada.cli import build_parser
from open_ada.loadtest import check_url
from open_ada.serve import ADA_ALIAS, APIError, Job, MicroBatcher, ServeConfig

KEY = "test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_request(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    """A raw request (for what the openai client cannot send); `(status, body)` whatever the status."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class Server:
    """`python -m open_ada.cli serve` in a subprocess on a free loopback port."""

    def __init__(self, model_folder, tmp_path, *flags: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"serve-{self.port}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}  # stay small next to other jobs
        env.pop("OPEN_ADA_API_KEY", None)
        command = [
            sys.executable,
            "-m",
            "open_ada.cli",
            "serve",
            "--model",
            str(model_folder),
            "--port",
            str(self.port),
        ]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([*command, *flags], cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server exited:\n{self.log.read_text()[-4000:]}"
            try:
                if raw_request("GET", self.url + "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server did not start:\n{self.log.read_text()[-4000:]}")

    def client(self, api_key: str = "unused") -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, timeout=60)

    def metrics(self) -> dict[str, float]:
        text = raw_request("GET", self.url + "/metrics")[1].decode()
        return {
            k: float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
        }

    def stop(self) -> bool:
        """SIGTERM; whether the server shut down gracefully (lifespan finished, exit by the re-raised SIGTERM)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        return code in (0, -signal.SIGTERM) and "Application shutdown complete" in self.log.read_text()


@pytest.fixture(scope="module")
def loaded(model_folder):
    return AutoModel.from_pretrained(model_folder, trust_remote_code=True).eval()


@pytest.fixture(scope="module")
def server(model_folder, tmp_path_factory):
    server = Server(model_folder, tmp_path_factory.mktemp("serve"))
    yield server
    assert server.stop()


@pytest.fixture(scope="module")
def keyed_server(model_folder, tmp_path_factory):
    """API key required, over-long inputs truncated, and a long batching window (for the micro-batching test)."""
    server = Server(
        model_folder, tmp_path_factory.mktemp("serve"), "--api-key", KEY, "--truncate", "--max-wait-ms", "300"
    )
    yield server
    assert server.stop()


@pytest.fixture(scope="module")
def name(model_folder):
    return model_folder.name


def vectors(response) -> np.ndarray:
    """Embeddings from an openai response, decoding base64 strings (explicit `encoding_format="base64"`)."""
    rows = [d.embedding for d in sorted(response.data, key=lambda d: d.index)]
    if isinstance(rows[0], str):
        return np.stack([np.frombuffer(base64.b64decode(r), dtype="<f4") for r in rows])
    return np.array(rows, dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Every input form and encoding format equals direct encode


def test_string_input_response_schema_and_usage(server, loaded, name):
    text = TEXTS[0]
    response = server.client().embeddings.create(model=name, input=text, encoding_format="float", user="u-1")
    assert response.object == "list" and response.model == name
    assert [(d.object, d.index) for d in response.data] == [("embedding", 0)]
    np.testing.assert_allclose(vectors(response)[0], loaded.encode(text), atol=1e-5)
    n_tokens = len(loaded.tokenizer(text)["input_ids"])
    assert response.usage.prompt_tokens == response.usage.total_tokens == n_tokens


@pytest.mark.parametrize("encoding_format", ["float", "base64", None])  # None: the client asks base64, decodes it
def test_list_of_strings_in_each_encoding_format(server, loaded, name, encoding_format):
    texts = list(dict.fromkeys(TEXTS))
    kwargs = {"encoding_format": encoding_format} if encoding_format else {}
    response = server.client().embeddings.create(model=name, input=texts, **kwargs)
    assert isinstance(response.data[0].embedding, str) == (encoding_format == "base64")
    assert [d.index for d in response.data] == list(range(len(texts)))
    np.testing.assert_allclose(vectors(response), loaded.encode(texts), atol=1e-5)
    assert response.usage.total_tokens == sum(len(x) for x in loaded.tokenizer(texts)["input_ids"])


def test_base64_is_little_endian_float32_on_the_wire(server, loaded, name):
    body = json.dumps({"model": name, "input": TEXTS[1], "encoding_format": "base64"}).encode()
    status, raw = raw_request("POST", server.url + "/v1/embeddings", body)
    assert status == 200
    embedding = json.loads(raw)["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    assert decoded.shape == (loaded.config.hidden_size,)
    np.testing.assert_allclose(decoded, loaded.encode(TEXTS[1]), atol=1e-5)


def test_token_id_inputs_get_eos_and_match_encode(server, loaded, name):
    eos = loaded.config.eos_token_id
    with_eos = loaded.tokenizer(TEXTS[2])["input_ids"]
    assert with_eos[-1] == eos
    client = server.client()
    # One list of ids, without its EOS: the server appends it, and counts it in usage.
    one = client.embeddings.create(model=name, input=with_eos[:-1], encoding_format="float")
    np.testing.assert_allclose(vectors(one)[0], loaded.encode(TEXTS[2]), atol=1e-5)
    assert one.usage.total_tokens == len(with_eos)
    # A list of id lists, one already ending in EOS (not doubled).
    ids = [with_eos, [5, 6, 7], [eos]]
    many = client.embeddings.create(model=name, input=ids, encoding_format="base64")
    expected = loaded.encode_ids([with_eos, [5, 6, 7, eos], [eos]])
    np.testing.assert_allclose(vectors(many), expected, atol=1e-5)
    assert many.usage.total_tokens == len(with_eos) + 4 + 1


@pytest.mark.parametrize("dimensions", [8, 32])
def test_dimensions_truncate_and_renormalise(server, loaded, name, dimensions):
    response = server.client().embeddings.create(model=name, input=TEXTS[:3], dimensions=dimensions)
    got = vectors(response)
    assert got.shape == (3, dimensions)
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, loaded.encode(TEXTS[:3], dimensions=dimensions), atol=1e-5)


def test_ada_alias_is_accepted_and_answers_with_the_real_name(server, loaded, name):
    response = server.client().embeddings.create(model=ADA_ALIAS, input=TEXTS[0], encoding_format="float")
    assert response.model == name
    np.testing.assert_allclose(vectors(response)[0], loaded.encode(TEXTS[0]), atol=1e-5)


def test_concurrent_requests_each_get_their_own_vectors(server, loaded, name):
    words = " ".join(TEXTS).split()
    batches = [[" ".join(words[i : i + 1 + (i * 7 + j) % 8]) for j in range(1 + i % 4)] for i in range(16)]
    client = server.client()

    def call(texts):
        return vectors(client.embeddings.create(model=name, input=texts, encoding_format="float"))

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(call, batches))
    for texts, got in zip(batches, results, strict=True):
        np.testing.assert_allclose(got, loaded.encode(texts), atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# Models, health, metrics


def test_models_and_health(server, name):
    listed = [m.id for m in server.client().models.list()]
    assert listed == [name, ADA_ALIAS]
    assert server.client().models.retrieve(name).id == name
    with pytest.raises(openai.NotFoundError):
        server.client().models.retrieve("gpt-4")
    status, body = raw_request("GET", server.url + "/health")
    assert status == 200 and json.loads(body) == {"status": "ok", "model": name}


def test_metrics_count_requests_tokens_errors_and_latency(server, name):
    before = server.metrics()
    response = server.client().embeddings.create(model=name, input=TEXTS[:2])
    with pytest.raises(openai.BadRequestError):
        server.client().embeddings.create(model=name, input=[])
    after = server.metrics()

    def delta(key):
        return after.get(key, 0) - before.get(key, 0)

    assert delta('open_ada_requests_total{path="/v1/embeddings",status="200"}') == 1
    assert delta('open_ada_requests_total{path="/v1/embeddings",status="400"}') == 1
    assert delta('open_ada_errors_total{status="400",type="invalid_request_error"}') == 1
    assert delta("open_ada_tokens_total") == response.usage.total_tokens
    assert delta("open_ada_inputs_total") == 2
    assert delta("open_ada_request_duration_seconds_count") == 2
    assert delta("open_ada_batches_total") == 1  # the rejected request never reached the model
    assert after["open_ada_queue_depth"] == 0
    assert after["process_cpu_seconds_total"] > before["process_cpu_seconds_total"]  # the server's own CPU time


# ---------------------------------------------------------------------------------------------------------------
# Client errors: OpenAI's error body and a 4xx, never a 500


def long_text() -> str:
    return "The quick brown fox jumps over the lazy dog. " * 40  # far over the tiny model's 64 tokens


@pytest.mark.parametrize(
    "kwargs, error, param, code, message",
    [
        ({"input": []}, openai.BadRequestError, "input", None, "empty"),
        ({"input": ""}, openai.BadRequestError, "input", None, "empty"),
        ({"input": ["ok", ""]}, openai.BadRequestError, "input", None, r"input\[1\]"),
        ({"input": [[]]}, openai.BadRequestError, "input", None, "empty"),
        ({"input": ["x"] * 2049}, openai.BadRequestError, "input", None, "2048"),
        (
            {"input": [TEXTS[0], long_text()]},
            openai.BadRequestError,
            "input",
            "context_length_exceeded",
            r"input\[1\]",
        ),
        ({"input": list(range(1, 100))}, openai.BadRequestError, "input", "context_length_exceeded", "100 tokens"),
        ({"input": [[1, 2], [3, 300]]}, openai.BadRequestError, "input", "invalid_token_id", r"300.*\[0, 299\]"),
        ({"input": [-1]}, openai.BadRequestError, "input", "invalid_token_id", "-1"),
        ({"input": 123}, openai.BadRequestError, "input", None, "list of token ids"),
        ({"input": ["a", 1]}, openai.BadRequestError, "input", None, "list of strings"),
        ({"input": [1.5, 2.0]}, openai.BadRequestError, "input", None, "token ids"),
        ({"input": "hi", "model": "gpt-4"}, openai.NotFoundError, "model", "model_not_found", "gpt-4"),
        ({"input": "hi", "dimensions": 33}, openai.BadRequestError, "dimensions", None, "between 1 and 32"),
        ({"input": "hi", "dimensions": 0}, openai.BadRequestError, "dimensions", None, "between 1 and 32"),
        ({"input": "hi", "encoding_format": "hex"}, openai.BadRequestError, "encoding_format", None, "float"),
        (
            {"input": "hi", "extra_body": {"temperature": 1}},
            openai.BadRequestError,
            "temperature",
            None,
            "temperature",
        ),
    ],
)
def test_bad_requests_raise_openai_errors(server, name, kwargs, error, param, code, message):
    kwargs = {"model": name, **kwargs}
    with pytest.raises(error, match=message) as info:
        server.client().embeddings.create(**kwargs)
    assert info.value.type == "invalid_request_error"
    assert (info.value.param, info.value.code) == (param, code)
    assert set(info.value.body) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        ("POST", "/v1/embeddings", b'{"model": "x", "input": ', 400, "parse the JSON"),
        ("POST", "/v1/embeddings", b"not json at all", 400, "parse the JSON"),
        ("POST", "/v1/embeddings", b'["a", "b"]', 400, "JSON object"),
        ("POST", "/v1/embeddings", b'{"input": "hi"}', 400, "Missing required parameter: 'model'"),
        ("POST", "/v1/embeddings", b"", 400, "JSON object with 'model' and 'input'"),
        ("GET", "/v1/embeddings", None, 405, "Invalid URL"),
        ("POST", "/v1/completions", b"{}", 404, "Invalid URL"),
    ],
)
def test_malformed_requests_answer_json_errors(server, method, path, body, status, message):
    got, raw = raw_request(method, server.url + path, body)
    error = json.loads(raw)["error"]
    assert got == status
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_json_without_content_type_is_read_and_other_types_are_named(server, name):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/v1/embeddings", json.dumps({"model": name, "input": "hi"}))  # no Content-Type header
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["usage"]["total_tokens"] > 0
    body = json.dumps({"model": name, "input": "hi"}).encode()
    status, raw = raw_request("POST", server.url + "/v1/embeddings", body, {"Content-Type": "text/plain"})
    assert status == 400 and "Content-Type: application/json" in json.loads(raw)["error"]["message"]


# ---------------------------------------------------------------------------------------------------------------
# API key, truncation, micro-batching, shutdown


def test_api_key_required_on_v1_but_not_health(keyed_server, loaded, name):
    with pytest.raises(openai.AuthenticationError) as info:
        keyed_server.client("wrong-key").embeddings.create(model=name, input="hi")
    assert info.value.status_code == 401 and info.value.code == "invalid_api_key"
    status, raw = raw_request("POST", keyed_server.url + "/v1/embeddings", b"{}")  # no Authorization header at all
    assert status == 401 and "API key" in json.loads(raw)["error"]["message"]
    assert raw_request("GET", keyed_server.url + "/health")[0] == 200
    response = keyed_server.client(KEY).embeddings.create(model=name, input="hi", encoding_format="float")
    np.testing.assert_allclose(vectors(response)[0], loaded.encode("hi"), atol=1e-5)


def test_truncate_flag_cuts_long_inputs_keeping_eos(keyed_server, loaded, name):
    limit = loaded.config.max_position_embeddings
    client = keyed_server.client(KEY)
    response = client.embeddings.create(model=name, input=[long_text(), "short"], encoding_format="float")
    np.testing.assert_allclose(vectors(response), loaded.encode([long_text(), "short"]), atol=1e-5)
    assert response.usage.total_tokens == limit + len(loaded.tokenizer("short")["input_ids"])
    ids = list(range(1, 100))
    response = client.embeddings.create(model=name, input=ids, encoding_format="float")
    expected = loaded.encode_ids([ids[: limit - 1] + [loaded.config.eos_token_id]])
    np.testing.assert_allclose(vectors(response), expected, atol=1e-5)
    assert response.usage.total_tokens == limit


def test_concurrent_requests_share_micro_batches(keyed_server, loaded, name):
    before = keyed_server.metrics()["open_ada_batches_total"]
    client = keyed_server.client(KEY)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda t: vectors(client.embeddings.create(model=name, input=t)), TEXTS[:8]))
    np.testing.assert_allclose(np.concatenate(results), loaded.encode(TEXTS[:8]), atol=1e-5)
    # 8 requests within the 300 ms window: far fewer forward calls than requests.
    assert keyed_server.metrics()["open_ada_batches_total"] - before < 8


def test_graceful_shutdown_finishes_in_flight_requests(model_folder, tmp_path, loaded, name):
    server = Server(model_folder, tmp_path, "--max-wait-ms", "2000")  # a request waits 2 s in the batcher
    result = {}

    def call():
        result["response"] = server.client().embeddings.create(model=name, input=TEXTS[3], encoding_format="float")

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 30
    while server.metrics()["open_ada_queue_depth"] + server.metrics()["open_ada_batches_total"] < 1:
        assert time.monotonic() < deadline, "the request never reached the batcher"
        time.sleep(0.05)
    assert server.stop()
    thread.join(timeout=30)
    np.testing.assert_allclose(vectors(result["response"])[0], loaded.encode(TEXTS[3]), atol=1e-5)


class FakeModel:
    """Stands in for `AdaModel.encode_ids`: row i is `[len(ids[i]), 1]`; records each call's input count."""

    def __init__(self):
        self.calls = []

    def encode_ids(self, ids, batch_size, normalize, convert_to_numpy, max_batch_tokens):
        self.calls.append(len(ids))
        return torch.tensor([[float(len(x)), 1.0] for x in ids])


def test_micro_batcher_gathers_within_budget_and_bounds_its_queue():
    fake = FakeModel()

    async def scenario():
        batcher = MicroBatcher(fake, ServeConfig(max_batch_tokens=10, max_wait_ms=50, max_queue=4))
        batcher.start()
        # Three jobs of 4 tokens: the first two fill the 10-token budget only with the third.
        out = await asyncio.gather(*(batcher.embed([[1, 2, 3, 4]]) for _ in range(3)), batcher.embed([[1]] * 2, 1))
        for job in [Job([[1]], None, asyncio.get_running_loop().create_future()) for _ in range(4)]:
            batcher.queue.put_nowait(job)
        with pytest.raises(APIError) as info:
            await batcher.embed([[1]])
        await batcher.close(timeout=5)
        return out, info.value

    out, error = asyncio.run(scenario())
    assert fake.calls[0] == 3 and sum(fake.calls[:2]) == 5  # one call for the three jobs that fill the budget
    np.testing.assert_allclose(out[0], [[4 / 17**0.5, 1 / 17**0.5]], atol=1e-6)
    assert out[3].shape == (2, 1) and np.allclose(out[3], 1.0)  # dimensions=1, renormalised
    assert error.status == 503 and error.code == "overloaded"


def test_micro_batcher_close_finishes_jobs_still_gathering():
    async def scenario():
        batcher = MicroBatcher(FakeModel(), ServeConfig(max_wait_ms=1000))
        batcher.start()
        job = asyncio.ensure_future(batcher.embed([[1, 2, 3]]))
        await asyncio.sleep(0.05)  # the worker holds the job, waiting for others to join it
        assert batcher.queue.empty() and not job.done()
        await batcher.close(timeout=5)
        return job.result()

    np.testing.assert_allclose(asyncio.run(scenario()), [[3 / 10**0.5, 1 / 10**0.5]], atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Load check


def run_loadtest(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "open_ada.cli", "loadtest", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_loadtest_reports_zero_errors_against_offline_encode(server, model_folder, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(dict.fromkeys(TEXTS + [t[: len(t) // 2] for t in TEXTS])))
    output = tmp_path / "load.json"
    result = run_loadtest(
        "--url", server.url, "--model", str(model_folder), "--concurrency", "2", "--seconds", "2",
        "--inputs-per-request", "3", "--texts-from", str(texts), "--output", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(output.read_text())
    assert report["errors"] == 0 and report["requests"] > 0
    assert 0 <= report["max_abs_diff"] <= 1e-5
    assert report["latency_p99_ms"] >= report["latency_p50_ms"] > 0
    assert report["tokens_per_s"] > 0 and report["served_over_offline"] > 0
    assert report["server_cpu_seconds"] > 0 and report["served_over_offline_per_cpu_s"] > 0  # from /metrics
    assert "| clients | inputs/request | requests/s |" in result.stdout


@pytest.mark.parametrize(
    "url, allowed",
    [
        ("http://127.0.0.1:8000", True),
        ("http://localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://192.0.2.1:8000", False),
        ("http://example.com:8000", False),
        ("https://127.0.0.1:8000", False),
    ],
)
def test_loadtest_targets_loopback_only(url, allowed):
    if allowed:
        assert check_url(url)[1] == 8000
    else:
        with pytest.raises(ValueError, match="--url must"):
            check_url(url)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--url", "http://192.0.2.1:8000"], "this machine"),
        (["--concurrency", "1000"], "--concurrency"),
        (["--seconds", "3600"], "--seconds"),
        (["--inputs-per-request", "0"], "--inputs-per-request"),
    ],
)
def test_loadtest_refuses_remote_urls_and_unbounded_load(args, message, capsys):
    args = build_parser("loadtest").parse_args(["loadtest", *args])
    assert loadtest.main(args) == 2  # refused before any model is loaded or request sent
    assert message in capsys.readouterr().err
