"""`open-ada serve` through a real uvicorn process and the official `openai` client.

The client libraries' own conformance (LangChain, LlamaIndex, a vector store) is in test_serve_clients.py, the load
check against a running server in test_loadtest.py.
"""

import asyncio
import base64
import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import openai
import pytest
import tiktoken
import torch
from transformers import AutoModel

from conftest import TEXTS, Server, offline_chunk_mean, raw_request
from open_ada.cli import build_parser
from open_ada.limits import CL100K_LONGEST_TOKEN_CHARS, MAX_BODY_BYTES, MAX_INPUT_CHARS, MAX_INPUT_TOKENS
from open_ada.serve.batcher import Job, MicroBatcher, embed_jobs
from open_ada.serve.schema import ADA_ALIAS

KEY = "test-secret"
TIGHT_BODY_BYTES = 200_000


@pytest.fixture(scope="module")
def loaded(model_folder):
    return AutoModel.from_pretrained(model_folder, trust_remote_code=True).eval()


@pytest.fixture(scope="module")
def cl100k():
    return tiktoken.get_encoding("cl100k_base")


@pytest.fixture(scope="module")
def keyed_server(model_folder, tmp_path_factory):
    """API key required, over-long inputs truncated, and a long batching window (for the micro-batching test)."""
    server = Server(
        model_folder, tmp_path_factory.mktemp("serve"), "--api-key", KEY, "--truncate", "--max-wait-ms", "300"
    )
    yield server
    assert server.stop()


@pytest.fixture(scope="module")
def tight_server(model_folder, tmp_path_factory):
    """Every bound small: one request at a time, a 200 kB body, 1 s to send it, long inputs refused, native token
    ids, and a 1 s batching window that holds a request in the batcher."""
    flags = [
        "--max-queue", "1", "--max-body-bytes", str(TIGHT_BODY_BYTES), "--body-timeout-s", "1",
        "--long-inputs", "reject", "--token-ids", "native", "--max-wait-ms", "1000",
    ]  # fmt: skip
    server = Server(model_folder, tmp_path_factory.mktemp("serve"), *flags)
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


def post(server, body: dict, headers: dict | None = None) -> tuple[int, dict, dict]:
    status, raw, response_headers = raw_request(
        "POST", server.url + "/v1/embeddings", json.dumps(body).encode(), headers
    )
    return status, json.loads(raw), response_headers


def long_text() -> str:
    return "The quick brown fox jumps over the lazy dog. " * 40  # far over the tiny model's 64 tokens


# ---------------------------------------------------------------------------------------------------------------
# Every input form and encoding format equals direct encode


def test_string_input_response_schema_and_usage(server, loaded, name):
    text = TEXTS[0]
    response = server.client().embeddings.create(model=name, input=text, encoding_format="float", user="u-1")
    assert response.object == "list" and response.model == name
    assert [(d.object, d.index) for d in response.data] == [("embedding", 0)]
    np.testing.assert_allclose(vectors(response)[0], loaded.encode(text), atol=1e-5)
    n_tokens = len(loaded.tokenizer(text)["input_ids"])  # the model's own tokens, EOS included
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
    status, body, _ = post(server, {"model": name, "input": TEXTS[1], "encoding_format": "base64"})
    assert status == 200
    decoded = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    assert decoded.shape == (loaded.config.hidden_size,)
    np.testing.assert_allclose(decoded, loaded.encode(TEXTS[1]), atol=1e-5)


def test_cl100k_token_arrays_embed_the_text_they_encode(server, loaded, name, cl100k):
    """What LangChain sends: OpenAI's cl100k_base ids, read as the text they encode, not as the model's ids."""
    texts = [TEXTS[0], TEXTS[3], "It is a good day."]  # TEXTS[3] holds non-ASCII letters
    client = server.client()
    one = client.embeddings.create(model=name, input=cl100k.encode(texts[2]), encoding_format="float")
    np.testing.assert_allclose(vectors(one)[0], loaded.encode(texts[2]), atol=1e-5)
    many = client.embeddings.create(model=ADA_ALIAS, input=[cl100k.encode(t) for t in texts])
    np.testing.assert_allclose(vectors(many), loaded.encode(texts), atol=1e-5)
    # usage counts the model's tokens that were embedded, not the cl100k ids that were sent
    assert many.usage.total_tokens == sum(len(x) for x in loaded.tokenizer(texts)["input_ids"])
    assert many.usage.total_tokens != sum(len(cl100k.encode(t)) for t in texts)


def test_empty_string_alone_is_embedded_as_openai_does(server, loaded, name):
    response = server.client().embeddings.create(model=name, input="", encoding_format="float")
    np.testing.assert_allclose(vectors(response)[0], loaded.encode(""), atol=1e-5)
    assert response.usage.total_tokens == 1  # the lone EOS


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
# Inputs longer than the context: the token-weighted chunk mean, said in a header


def test_long_inputs_are_the_chunk_mean_and_the_response_says_so(server, loaded, name, cl100k):
    long = long_text()
    texts = [TEXTS[0], long, long[: len(long) // 3]]
    status, body, headers = post(server, {"model": name, "input": texts, "encoding_format": "float"})
    assert status == 200
    got = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    np.testing.assert_allclose(got[0], loaded.encode(TEXTS[0]), atol=1e-5)  # a short input is not touched
    for row, text in zip(got[1:], texts[1:], strict=True):
        assert len(loaded.tokenizer(text, verbose=False)["input_ids"]) > loaded.config.max_position_embeddings
        assert float(row @ offline_chunk_mean(loaded, text)) >= 0.99999
        assert float(row @ loaded.encode(text)) < 0.9999  # not the truncated embedding
    assert headers["x-open-ada-chunked-inputs"] == "2"
    # usage: every chunk's tokens with its own EOS
    chunks = [loaded.chunk(ids) for ids in loaded.tokenizer(texts, verbose=False)["input_ids"]]
    assert body["usage"]["total_tokens"] == sum(len(c) for text_chunks in chunks for c in text_chunks)
    # the same text sent as cl100k ids, and cut to fewer dimensions: the chunks' cut vectors, averaged
    response = server.client().embeddings.create(model=name, input=[cl100k.encode(long)], dimensions=8)
    np.testing.assert_allclose(vectors(response)[0], offline_chunk_mean(loaded, long, dimensions=8), atol=1e-5)
    short = raw_request("POST", server.url + "/v1/embeddings", json.dumps({"model": name, "input": "hi"}).encode())
    assert "x-open-ada-chunked-inputs" not in short[2]


def test_truncate_flag_cuts_long_inputs_keeping_eos(keyed_server, loaded, name, cl100k):
    limit = loaded.config.max_position_embeddings
    client = keyed_server.client(KEY)
    response = client.embeddings.with_raw_response.create(
        model=name, input=[long_text(), "short"], encoding_format="float"
    )
    assert response.headers["x-open-ada-truncated-inputs"] == "1"
    np.testing.assert_allclose(vectors(response.parse()), loaded.encode([long_text(), "short"]), atol=1e-5)
    assert response.parse().usage.total_tokens == limit + len(loaded.tokenizer("short")["input_ids"])
    ids = cl100k.encode(long_text())
    response = client.embeddings.create(model=name, input=ids, encoding_format="float")
    np.testing.assert_allclose(vectors(response)[0], loaded.encode(long_text()), atol=1e-5)
    assert response.usage.total_tokens == limit


def test_reject_mode_answers_400_for_inputs_over_the_context(tight_server, name):
    status, body, _ = post(tight_server, {"model": name, "input": ["short", long_text()]})
    assert status == 400 and body["error"]["code"] == "context_length_exceeded"
    assert "'input[1]'" in body["error"]["message"] and "context of 64" in body["error"]["message"]


def test_native_token_ids_get_eos_and_match_encode_ids(tight_server, loaded, name):
    eos = loaded.config.eos_token_id
    with_eos = loaded.tokenizer(TEXTS[2])["input_ids"]
    client = tight_server.client()
    one = client.embeddings.create(model=name, input=with_eos[:-1], encoding_format="float")  # EOS appended
    np.testing.assert_allclose(vectors(one)[0], loaded.encode(TEXTS[2]), atol=1e-5)
    assert one.usage.total_tokens == len(with_eos)
    many = client.embeddings.create(model=name, input=[with_eos, [5, 6, 7], [eos]], encoding_format="base64")
    np.testing.assert_allclose(vectors(many), loaded.encode_ids([with_eos, [5, 6, 7, eos], [eos]]), atol=1e-5)
    with pytest.raises(openai.BadRequestError, match=r"300.*\[0, 299\].*native") as info:
        client.embeddings.create(model=name, input=[[1, 2], [3, 300]])
    assert info.value.code == "invalid_token_id"


# ---------------------------------------------------------------------------------------------------------------
# Models, health, metrics


def test_models_and_health(server, name):
    listed = [m.id for m in server.client().models.list()]
    assert listed == [name, ADA_ALIAS]
    assert server.client().models.retrieve(name).id == name
    with pytest.raises(openai.NotFoundError):
        server.client().models.retrieve("gpt-4")
    status, body, _ = raw_request("GET", server.url + "/health")
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
    assert after["process_resident_memory_bytes"] > 0


# ---------------------------------------------------------------------------------------------------------------
# Client errors: OpenAI's error body and a 4xx, never a 500


@pytest.mark.parametrize(
    "kwargs, error, param, code, message",
    [
        ({"input": []}, openai.BadRequestError, "input", None, "empty"),
        ({"input": ["ok", ""]}, openai.BadRequestError, "input", None, r"input\[1\].*empty"),
        ({"input": [[]]}, openai.BadRequestError, "input", None, "empty"),
        ({"input": ["x"] * 2049}, openai.BadRequestError, "input", None, "2048"),
        ({"input": "a " * 8192}, openai.BadRequestError, "input", "context_length_exceeded", "cl100k.*8191"),
        ({"input": [list(range(8192))]}, openai.BadRequestError, "input", "context_length_exceeded", "8192"),
        ({"input": ["a " * 8000] * 38}, openai.BadRequestError, "input", None, "300000 tokens"),
        ({"input": [1, 100256]}, openai.BadRequestError, "input", "invalid_token_id", "100256.*cl100k"),
        ({"input": [[5], [-1]]}, openai.BadRequestError, "input", "invalid_token_id", r"input\[1\].*-1"),
        ({"input": [100277]}, openai.BadRequestError, "input", "invalid_token_id", "100277"),
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
        ("POST", "/v1/embeddings", b'{"model": "x", "input": "caf\xe9"}', 400, "parse the JSON"),  # not UTF-8
        ("POST", "/v1/embeddings", b'["a", "b"]', 400, "JSON object"),
        ("POST", "/v1/embeddings", b'{"input": "hi"}', 400, "Missing required parameter: 'model'"),
        ("POST", "/v1/embeddings", b"", 400, "JSON object with 'model' and 'input'"),
        ("GET", "/v1/embeddings", None, 405, "Invalid URL"),
        ("POST", "/v1/completions", b"{}", 404, "Invalid URL"),
    ],
)
def test_malformed_requests_answer_json_errors(server, method, path, body, status, message):
    got, raw, _ = raw_request(method, server.url + path, body)
    error = json.loads(raw)["error"]
    assert got == status
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_json_without_content_type_is_read_and_other_types_are_named(server, name):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("POST", "/v1/embeddings", json.dumps({"model": name, "input": "hi"}))  # no Content-Type header
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["usage"]["total_tokens"] > 0
    body = json.dumps({"model": name, "input": "hi"}).encode()
    status, raw, _ = raw_request("POST", server.url + "/v1/embeddings", body, {"Content-Type": "text/plain"})
    assert status == 400 and "Content-Type: application/json" in json.loads(raw)["error"]["message"]


# ---------------------------------------------------------------------------------------------------------------
# Hostile requests: refused early and cheaply, with OpenAI's error body, and memory given back


def test_character_bound_follows_from_cl100k(cl100k):
    # No cl100k_base token is longer than CL100K_LONGEST_TOKEN_CHARS, so a longer string than MAX_INPUT_CHARS
    # is certainly over MAX_INPUT_TOKENS ...
    longest = max(len(cl100k.decode_single_token_bytes(t).decode("utf-8", "replace")) for t in range(100256))
    assert CL100K_LONGEST_TOKEN_CHARS == longest
    # ... and the bound is tight: a string of exactly MAX_INPUT_CHARS can be within OpenAI's limit.
    assert len(cl100k.encode(" " * MAX_INPUT_CHARS)) <= MAX_INPUT_TOKENS


def test_huge_string_is_refused_by_its_length_in_milliseconds(server, name):
    body = json.dumps({"model": name, "input": "a" * 10_000_000}).encode()  # 10 MB
    start = time.perf_counter()
    status, raw, _ = raw_request("POST", server.url + "/v1/embeddings", body)
    elapsed = time.perf_counter() - start
    error = json.loads(raw)["error"]
    assert status == 400 and error["code"] == "context_length_exceeded" and "characters" in error["message"]
    assert elapsed < 2.0, f"a 10 MB string took {elapsed:.2f} s to refuse"  # was 17 s when it was tokenized


def test_lone_surrogate_is_a_400_naming_the_input(server, name):
    body = b'{"model": "%s", "input": ["fine", "\\ud800 abc"]}' % name.encode()
    status, raw, _ = raw_request("POST", server.url + "/v1/embeddings", body)
    error = json.loads(raw)["error"]
    assert status == 400 and error["param"] == "input" and error["code"] == "invalid_unicode"
    assert "'input[1]'" in error["message"] and "U+D800" in error["message"]
    # a surrogate in the model's name is echoed in a valid JSON error, not a 500
    status, raw, _ = raw_request("POST", server.url + "/v1/embeddings", b'{"model": "\\udfff", "input": "hi"}')
    assert status == 404 and json.loads(raw)["error"]["code"] == "model_not_found"


def test_body_over_the_limit_is_413_before_it_is_read(server, name):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/v1/embeddings")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(50 * 1024 * 1024))  # announces 50 MB, sends a few bytes
    conn.endheaders(b'{"model": "')
    response = conn.getresponse()
    error = json.loads(response.read())["error"]
    assert response.status == 413 and error["code"] == "request_too_large" and error["type"] == "invalid_request_error"
    assert str(MAX_BODY_BYTES) in error["message"]


def test_body_without_length_is_cut_off_at_the_limit(tight_server, name):
    texts = ["word " * 1000] * 100  # ~500 kB, over the tight server's 200 kB
    body = json.dumps({"model": name, "input": texts}).encode()
    # Chunked transfer encoding: no Content-Length to refuse it by. A keep-alive client, as the OpenAI client is: one
    # that asks for `Connection: close` (urllib does) has the server close on the answer while the client still sends,
    # and the reset can reach it before the answer does.
    connection = http.client.HTTPConnection("127.0.0.1", tight_server.port, timeout=60)
    chunks = iter([body[i : i + 65536] for i in range(0, len(body), 65536)])
    connection.request("POST", "/v1/embeddings", chunks, {"Content-Type": "application/json"}, encode_chunked=True)
    response = connection.getresponse()
    status, raw = response.status, response.read()
    connection.close()
    assert status == 413 and str(TIGHT_BODY_BYTES) in json.loads(raw)["error"]["message"]


def test_a_full_300k_token_request_fits_the_default_body_limit(keyed_server, name, cl100k):
    """The largest request OpenAI accepts, in its largest usual form: 300,000 cl100k ids of six digits."""
    ids = [t for t in range(100_000, 100_256)]
    inputs = [[ids[(i + j) % len(ids)] for j in range(MAX_INPUT_TOKENS)] for i in range(36)]
    inputs.append(ids * ((300_000 - 36 * MAX_INPUT_TOKENS) // len(ids)))
    assert sum(map(len, inputs)) <= 300_000
    body = json.dumps({"model": name, "input": inputs}).encode()
    assert len(body) < MAX_BODY_BYTES
    status, raw, _ = raw_request("POST", keyed_server.url + "/v1/embeddings", body, {"Authorization": f"Bearer {KEY}"})
    assert status == 200 and len(json.loads(raw)["data"]) == len(inputs)


def test_memory_returns_near_idle_after_hostile_requests(server, name):
    """Resident memory watched from outside the server: what hostile requests allocate goes back once it is idle,
    despite the allocator thresholds that keep freed memory for the next batch."""

    def settle() -> float:
        trims = server.metrics()["open_ada_memory_trims_total"]
        deadline = time.monotonic() + 10
        while server.metrics()["open_ada_memory_trims_total"] <= trims and time.monotonic() < deadline:
            time.sleep(0.2)
        return server.resident_mib()

    post(server, {"model": name, "input": TEXTS})
    idle = settle()
    bodies = [
        json.dumps({"model": name, "input": "a" * 10_000_000}).encode(),  # refused by its length
        json.dumps({"model": name, "input": ["word " * 1000] * 3000}).encode(),  # 15 MB: refused, 2048 inputs
        json.dumps({"model": name, "input": ["\ud800" * 1000] * 2000}).encode(),  # 12 MB of escaped surrogates
    ]
    for body in bodies:
        assert raw_request("POST", server.url + "/v1/embeddings", body)[0] == 400
    after = settle()
    assert after < idle + 16, f"resident memory {idle:.0f} MiB idle, {after:.0f} MiB after hostile requests"


def wait_in_flight(server) -> None:
    """Until an embedding request is in progress (then a little longer, so it has reached the batcher)."""
    deadline = time.monotonic() + 10
    while server.metrics()["open_ada_requests_in_flight"] < 1:
        assert time.monotonic() < deadline, "the request never arrived"
        time.sleep(0.02)
    time.sleep(0.2)


def test_overload_is_429_with_retry_after_and_the_openai_client_retries(tight_server, loaded, name):
    result = {}

    def first() -> None:
        result["first"] = post(tight_server, {"model": name, "input": "a"})

    thread = threading.Thread(target=first)
    thread.start()  # holds the only place for the 1 s batching window
    wait_in_flight(tight_server)
    status, body, headers = post(tight_server, {"model": name, "input": "b"})
    assert status == 429 and headers["retry-after"] == "1"
    assert body["error"]["code"] == "rate_limit_exceeded" and set(body["error"]) == {
        "message",
        "type",
        "param",
        "code",
    }
    # the openai SDK waits Retry-After and tries again, by then the first request is answered
    response = tight_server.client(max_retries=5).embeddings.create(model=name, input="b", encoding_format="float")
    np.testing.assert_allclose(vectors(response)[0], loaded.encode("b"), atol=1e-5)
    thread.join(timeout=30)
    assert result["first"][0] == 200


def test_slow_client_gets_408_and_does_not_hold_up_others(tight_server, loaded, name):
    with socket.create_connection(("127.0.0.1", tight_server.port), timeout=10) as slow:
        slow.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        slow.sendall(b'Content-Length: 100\r\n\r\n{"model": ')  # then nothing more
        start = time.monotonic()
        wait_in_flight(tight_server)
        # the server is not stuck meanwhile: health answers at once (the slow request holds the one queue place)
        assert raw_request("GET", tight_server.url + "/health")[0] == 200
        response = b""
        while chunk := slow.recv(4096):
            response += chunk
        elapsed = time.monotonic() - start
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and json.loads(body)["error"]["code"] == "request_timeout"
    assert 0.5 < elapsed < 5  # --body-timeout-s 1, then the connection is closed
    response = tight_server.client().embeddings.create(model=name, input="after", encoding_format="float")
    np.testing.assert_allclose(vectors(response)[0], loaded.encode("after"), atol=1e-5)


def test_client_disconnect_drops_its_queued_work(tight_server, loaded, name):
    before = tight_server.metrics()
    body = json.dumps({"model": name, "input": ["left before the answer"]}).encode()
    with socket.create_connection(("127.0.0.1", tight_server.port), timeout=10) as gone:
        gone.sendall(
            b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        wait_in_flight(tight_server)
    # closed while its job waits in the 1 s batching window
    deadline = time.monotonic() + 10
    while tight_server.metrics()["open_ada_client_disconnects_total"] == before["open_ada_client_disconnects_total"]:
        assert time.monotonic() < deadline, "the disconnect was not noticed"
        time.sleep(0.05)
    time.sleep(1.5)  # past the batching window: the dropped job is not embedded
    after = tight_server.metrics()
    assert after["open_ada_batch_inputs_total"] == before["open_ada_batch_inputs_total"]
    assert after["open_ada_requests_in_flight"] == 0 and after["open_ada_queue_depth"] == 0
    response = tight_server.client().embeddings.create(model=name, input="next", encoding_format="float")
    np.testing.assert_allclose(vectors(response)[0], loaded.encode("next"), atol=1e-5)  # no stuck batch


# ---------------------------------------------------------------------------------------------------------------
# API key, micro-batching, shutdown


def test_api_key_required_on_v1_but_not_health(keyed_server, loaded, name):
    with pytest.raises(openai.AuthenticationError) as info:
        keyed_server.client("wrong-key").embeddings.create(model=name, input="hi")
    assert info.value.status_code == 401 and info.value.code == "invalid_api_key"
    status, raw, _ = raw_request("POST", keyed_server.url + "/v1/embeddings", b"{}")  # no Authorization header at all
    assert status == 401 and "API key" in json.loads(raw)["error"]["message"]
    assert raw_request("GET", keyed_server.url + "/health")[0] == 200
    response = keyed_server.client(KEY).embeddings.create(model=name, input="hi", encoding_format="float")
    np.testing.assert_allclose(vectors(response)[0], loaded.encode("hi"), atol=1e-5)


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
    """Stands in for `AdaModel.embed_ids`: row i is `[len(ids[i]), 1]`; records each call's input count."""

    def __init__(self):
        self.calls = []

    def embed_ids(self, ids, batch_size, max_batch_tokens):
        self.calls.append(len(ids))
        return torch.tensor([[float(len(x)), 1.0] for x in ids])


def test_micro_batcher_gathers_within_budget():
    fake = FakeModel()

    async def scenario():
        batcher = MicroBatcher(fake, batch_size=32, max_batch_tokens=10, max_wait_ms=50)
        batcher.start()
        # Three jobs of 4 tokens: the first two fill the 10-token budget only with the third.
        out = await asyncio.gather(*(batcher.embed([[[1, 2, 3, 4]]]) for _ in range(3)), batcher.embed([[[1]]] * 2, 1))
        await batcher.close(timeout=5)
        return out

    out = asyncio.run(scenario())
    assert fake.calls[0] == 3 and sum(fake.calls[:2]) == 5  # one call for the three jobs that fill the budget
    np.testing.assert_allclose(out[0], [[4 / 17**0.5, 1 / 17**0.5]], atol=1e-6)
    assert out[3].shape == (2, 1) and np.allclose(out[3], 1.0)  # dimensions=1, renormalised


def test_embed_jobs_pools_the_chunks_of_each_input_by_their_tokens():
    loop = asyncio.new_event_loop()
    jobs = [
        Job([[[1, 2, 9]], [[1, 9], [1, 2, 3, 9]]], None, loop.create_future()),  # one plain input, one of two chunks
        Job([[[5, 6, 7, 8, 9]]], 1, loop.create_future()),
    ]
    plain, chunked = embed_jobs(FakeModel(), jobs, batch_size=8, max_batch_tokens=100)
    loop.close()
    np.testing.assert_allclose(plain[0], np.array([3, 1]) / 10**0.5, atol=1e-6)
    # chunks [2, 1] and [4, 1], normalised, weighted 1 and 3 (their tokens without the EOS), renormalised
    mean = (np.array([2, 1]) / 5**0.5 + 3 * np.array([4, 1]) / 17**0.5) / 4
    np.testing.assert_allclose(plain[1], mean / np.linalg.norm(mean), atol=1e-6)
    np.testing.assert_allclose(chunked, [[1.0]], atol=1e-6)


def test_serve_names_a_model_it_cannot_find_and_exits_2(tmp_path):
    from loguru import logger

    from open_ada.serve import ServeConfig, serve

    errors = []
    sink = logger.add(errors.append, level="ERROR")
    try:
        assert serve(ServeConfig(model=str(tmp_path / "no-such-model"))) == 2  # before uvicorn starts
    finally:
        logger.remove(sink)
    assert len(errors) == 1 and "no-such-model' is not a model folder" in errors[0]


def test_serve_flags_keep_working_and_truncate_is_long_inputs_truncate():
    from open_ada.serve import ServeConfig

    parse = build_parser("serve").parse_args
    assert ServeConfig.from_args(parse(["serve"])) == ServeConfig()
    args = parse(["serve", "--truncate", "--token-ids", "native", "--max-body-bytes", "1000", "--api-key", ""])
    config = ServeConfig.from_args(args)
    assert (config.long_inputs, config.token_ids, config.max_body_bytes, config.api_key) == (
        "truncate",
        "native",
        1000,
        None,
    )
    with pytest.raises(ValueError, match="max_body_bytes"):
        ServeConfig(max_body_bytes=0)
    with pytest.raises(ValueError, match=r"port must be in \[0, 65535\].*got 70000"):
        ServeConfig(port=70000)
