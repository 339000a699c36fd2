"""Shared fixtures: a tiny tokenizer, a tiny config (as in Transformers' model testers) and a saved folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ["HF_HUB_OFFLINE"] = "1"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import open_ada  # noqa: E402,F401  (registers the Auto classes)
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
