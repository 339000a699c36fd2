"""push_to_hub.py --dry-run builds a folder that loads by repo id from a Hub-style cache, offline."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from test_loading import SAMPLE, make_hub_cache, reference_embeddings

from conftest import ROOT, run_isolated


@pytest.fixture(scope="module")
def results_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "eval.json"
    row = {"model": "tiny", "parameters": 1000, "stsb": {"dev": 50.0, "test": 45.5},
           "retrieval": {"msmarco-dl19-5k": {"ndcg@10": 30.0, "recall@100": 40.0}}}  # fmt: skip
    path.write_text(
        json.dumps({"command": "open-ada evaluate tiny", "machine": "test", "date": "2026-01-01", "results": [row]})
    )
    return path


def test_dry_run_builds_a_complete_folder_with_a_model_card(model_folder, results_file, tmp_path):
    out = tmp_path / "hub"
    # A relative --output, as in the README's command, must work too.
    cmd = [sys.executable, "push_to_hub.py", str(model_folder), "--repo-id", "open-ada/tiny-test", "--dry-run",
           "--output", os.path.relpath(out, ROOT), "--results", str(results_file)]  # fmt: skip
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("model.safetensors", "config.json", "configuration_ada.py", "modeling_ada.py", "tokenizer.json",
                 "modules.json", "1_Pooling/config.json", "README.md"):  # fmt: skip
        assert (out / name).exists(), name
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["library_name"] == "sentence-transformers"
    assert meta["pipeline_tag"] == "sentence-similarity"
    assert meta["license"] == "apache-2.0" and "custom_code" in meta["tags"]
    metrics = [m["value"] for r in meta["model-index"][0]["results"] for m in r["metrics"]]
    assert 45.5 in metrics and 30.0 in metrics  # the given evaluation results, not invented ones
    assert "| tiny |" in card

    hf_home = tmp_path / "hf_home"
    make_hub_cache(out, hf_home, "open-ada/tiny-test")
    code = f"""
import json
from transformers import AutoModel
model = AutoModel.from_pretrained("open-ada/tiny-test", trust_remote_code=True)
print(json.dumps(model.encode({SAMPLE!r}).tolist()))
"""
    emb = json.loads(run_isolated(code, cwd=tmp_path, env={"HF_HOME": str(hf_home)}).strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(emb), reference_embeddings(model_folder, SAMPLE), atol=1e-5)


def test_dry_run_rejects_an_incomplete_folder(model_folder, tmp_path):
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(model_folder), str(broken)], check=True)
    (broken / "tokenizer.json").unlink()
    cmd = [
        sys.executable,
        "push_to_hub.py",
        str(broken),
        "--repo-id",
        "x/y",
        "--dry-run",
        "--output",
        str(tmp_path / "o"),
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "tokenizer.json" in result.stderr


def test_a_hub_folder_never_replaces_its_source_or_a_folder_that_is_not_a_model(model_folder, tmp_path):
    """`--output` a folder holding the model folder (or any other folder) was removed whole before the copy."""
    import shutil

    from push_to_hub import build_folder

    source = shutil.copytree(model_folder, tmp_path / "models" / "tiny")  # a copy: a regression deletes only it
    weights = (source / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="overlaps its input"):
        build_folder(source, tmp_path / "models", "x/y")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not a model folder"):
        build_folder(source, notes, "x/y")
    assert (notes / "todo.txt").read_text() == "mine"
    assert (source / "model.safetensors").read_bytes() == weights


@pytest.mark.parametrize("name", ["configuration_ada.py", "modeling_ada.py"])
def test_the_shipped_folder_carries_the_remote_code_of_this_checkout(name):
    """The shipped model's copies of the remote code are written by push_to_hub (save_model_folder), never by
    hand: they equal the root files byte for byte (re-run push_to_hub after changing a root file)."""
    assert (ROOT / "models" / "open-ada-small" / name).read_bytes() == (ROOT / name).read_bytes()
