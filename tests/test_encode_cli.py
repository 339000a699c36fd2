"""The main job on the shipped model: `open-ada encode`."""

import json
import subprocess
import sys

import numpy as np
import pytest

import open_ada
from conftest import ROOT


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "open_ada.cli", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def shipped():
    from transformers import AutoModel

    assert (open_ada.DEFAULT_MODEL / "model.safetensors").exists(), "the shipped model folder is missing"
    return AutoModel.from_pretrained(open_ada.DEFAULT_MODEL, trust_remote_code=True).eval()


def test_encode_command_prints_similarities_of_the_shipped_model(shipped, tmp_path):
    texts = ["A man is playing a guitar.", "Someone is playing an instrument.", "The stock market fell sharply."]
    result = run_cli("encode", *texts, "--output", str(tmp_path / "new" / "emb.npy"))  # its folder is made
    assert result.returncode == 0, result.stderr
    assert "Cosine similarity" in result.stdout
    emb = np.load(tmp_path / "new" / "emb.npy")
    np.testing.assert_allclose(emb, shipped.encode(texts), atol=1e-5)
    sims = emb @ emb.T
    assert sims[0, 1] > sims[0, 2]  # a trained model ranks the paraphrase above the unrelated sentence


def test_encode_command_reads_stdin_and_writes_jsonl_with_dimensions(shipped, tmp_path):
    out = tmp_path / "emb.jsonl"
    result = run_cli("encode", "-", "--dimensions", "64", "--output", str(out), stdin="first text\nsecond text\n")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["first text", "second text"]
    vectors = np.array([r["embedding"] for r in rows])
    assert vectors.shape == (2, 64)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=-1), 1.0, atol=1e-5)


def test_encode_command_in_bfloat16_stays_close_to_float32(shipped, tmp_path):
    texts = ["A man is playing a guitar.", "A very different, much longer sentence about the weather in spring."]
    result = run_cli("encode", *texts, "--dtype", "bfloat16", "--output", str(tmp_path / "emb.npy"))
    assert result.returncode == 0, result.stderr
    emb = np.load(tmp_path / "emb.npy")
    assert emb.dtype == np.float32
    cosine = (emb * shipped.encode(texts)).sum(-1)
    assert cosine.min() > 0.999 and not np.allclose(emb, shipped.encode(texts), atol=1e-6)  # bf16 really ran


def test_encode_command_with_long_inputs_chunk_embeds_a_long_text_whole(shipped, tmp_path):
    texts = ["The river rose over the old stone bridge after a week of rain. " * 40, "A short text."]
    assert len(shipped.tokenize(texts[:1], max_length=None)[0]) > 2 * shipped.context_length
    result = run_cli("encode", *texts, "--long-inputs", "chunk", "--output", str(tmp_path / "emb.npy"))
    assert result.returncode == 0, result.stderr
    emb = np.load(tmp_path / "emb.npy")
    np.testing.assert_allclose(emb, shipped.encode(texts, long_inputs="chunk"), atol=1e-5)
    assert float(emb[0] @ shipped.encode(texts[0])) < 0.9999  # not the truncated embedding
    result = run_cli("encode", *texts, "--chunk", "--output", str(tmp_path / "alias.npy"))  # the short spelling
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "alias.npy"), emb)


def test_encode_command_errors_clearly(shipped, tmp_path):
    result = run_cli("encode")
    assert result.returncode == 2 and "no texts" in result.stderr
    result = run_cli("encode", "x", "--dimensions", "100000")
    assert result.returncode == 2 and "dimensions must be" in result.stderr
    for flags in (["--long-inputs", "reject"], ["--no-truncate"]):
        result = run_cli("encode", "word " * 2000, *flags)
        assert result.returncode == 2 and "longer than max_length" in result.stderr
    result = run_cli("encode", "x", "--long-inputs", "split")
    assert result.returncode == 2 and "invalid choice: 'split'" in result.stderr
    result = run_cli("encode", "x", "--model", "runs/no-such-model")  # a typo, not a network failure
    assert result.returncode == 2 and "'runs/no-such-model' is not a model folder" in result.stderr
    result = run_cli("encode", "x", "--output", str(tmp_path / "emb.csv"))  # once JSON lines under a .csv name
    assert result.returncode == 2 and "give a .npy or .jsonl file" in result.stderr
    assert not (tmp_path / "emb.csv").exists()


def test_shipped_model_is_honest_about_its_context(shipped):
    assert shipped.config.max_position_embeddings <= 512
    assert shipped.tokenizer.model_max_length == shipped.config.max_position_embeddings
    assert (open_ada.DEFAULT_MODEL / "model.safetensors").stat().st_size <= 60 * 1024 * 1024
