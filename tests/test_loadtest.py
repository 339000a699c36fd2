"""`open-ada loadtest`: bounded load on a running `open-ada serve`, every vector checked against offline encode,
and the bounds it refuses to pass (remote URLs, unbounded load, OpenAI's inputs per request)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, TEXTS
from open_ada import loadtest
from open_ada.cli import build_parser
from open_ada.loadtest import check_url


def long_text() -> str:
    return "The quick brown fox jumps over the lazy dog. " * 40  # far over the tiny model's 64 tokens


def run_loadtest(*args: str):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "open_ada.cli", "loadtest", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_loadtest_reports_zero_errors_against_offline_encode(server, model_folder, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(dict.fromkeys(TEXTS + [t[: len(t) // 2] for t in TEXTS] + [long_text()])))
    output = tmp_path / "load.json"
    result = run_loadtest(
        "--url", server.url, "--model", str(model_folder), "--concurrency", "2", "--seconds", "2",
        "--inputs-per-request", "3", "--texts-from", str(texts), "--output", str(output),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(output.read_text())
    assert report["errors"] == 0 and report["requests"] > 0
    assert report["texts"] == len(set(TEXTS)) * 2  # the text over the context is left out
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
        (["--inputs-per-request", "2049"], "[1, 2048]"),
    ],
)
def test_loadtest_refuses_remote_urls_and_unbounded_load(args, message, capsys):
    args = build_parser("loadtest").parse_args(["loadtest", *args])
    assert loadtest.main(args) == 2  # refused before any model is loaded or request sent
    assert message in capsys.readouterr().err
