"""Loading a saved folder the ways users do: remote code in a fresh process, Hub cache by repo id,
sentence-transformers and the feature-extraction pipeline."""

import hashlib
import json
import os
import shutil

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoTokenizer, pipeline

from conftest import TEXTS, run_isolated

SAMPLE = ["A man is playing a guitar.", "", "Il pleut à Paris.", "numbers 12345 and symbols #@!"]


def reference_embeddings(folder, texts):
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return F.normalize(model(**batch).pooler_output, dim=-1).numpy()


def test_folder_has_auto_map_and_code(model_folder):
    config = json.loads((model_folder / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "configuration_ada.AdaConfig", "AutoModel": "modeling_ada.AdaModel"}
    assert (model_folder / "configuration_ada.py").exists() and (model_folder / "modeling_ada.py").exists()
    assert (model_folder / "model.safetensors").exists()


def test_auto_classes_registered_in_process(config):
    assert type(AutoConfig.for_model("ada")).__name__ == "AdaConfig"
    assert type(AutoModel.from_config(config)).__name__ == "AdaModel"


def test_remote_code_load_in_fresh_process(model_folder, tmp_path):
    expected = reference_embeddings(model_folder, SAMPLE)
    code = f"""
import json, sys, torch, torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoTokenizer
folder = {str(model_folder)!r}
config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
with torch.no_grad():
    out = F.normalize(model(**tok({SAMPLE!r}, padding=True, return_tensors="pt")).pooler_output, dim=-1)
print(json.dumps({{"config": type(config).__name__, "emb": out.tolist(), "encode": model.encode({SAMPLE!r}).tolist()}}))
"""
    result = json.loads(run_isolated(code, cwd=tmp_path).strip().splitlines()[-1])
    assert result["config"] == "AdaConfig"
    np.testing.assert_allclose(np.array(result["emb"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.array(result["encode"]), expected, atol=1e-5)


def make_hub_cache(folder, hf_home, repo_id):
    """Lays `folder` out as the Hub cache does: refs/main -> commit, snapshots/<commit>/* -> blobs/<sha256>."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "blobs").mkdir()
    for path in folder.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            blob = repo / "blobs" / hashlib.sha256(path.read_bytes()).hexdigest()
            shutil.copyfile(path, blob)
            link = repo / "snapshots" / commit / path.relative_to(folder)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(blob, link.parent), link)


def test_hub_cache_load_by_repo_id_offline(model_folder, tmp_path):
    hf_home = tmp_path / "hf_home"
    make_hub_cache(model_folder, hf_home, "open-ada/tiny-test")
    expected = reference_embeddings(model_folder, SAMPLE)
    code = f"""
import json
from transformers import AutoModel, pipeline
from sentence_transformers import SentenceTransformer
model = AutoModel.from_pretrained("open-ada/tiny-test", trust_remote_code=True).eval()
st = SentenceTransformer("open-ada/tiny-test", trust_remote_code=True, device="cpu")
pipe = pipeline("feature-extraction", model="open-ada/tiny-test", trust_remote_code=True)
print(json.dumps({{"encode": model.encode({SAMPLE!r}).tolist(), "st": st.encode({SAMPLE!r}).tolist(),
                  "pipe_rows": len(pipe({SAMPLE[0]!r})[0])}}))
"""
    out = run_isolated(code, cwd=tmp_path, env={"HF_HOME": str(hf_home)})
    result = json.loads(out.strip().splitlines()[-1])
    np.testing.assert_allclose(np.array(result["encode"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.array(result["st"]), expected, atol=1e-5)
    assert result["pipe_rows"] > 1
    assert list((hf_home / "modules" / "transformers_modules").iterdir())  # remote code went to the HF_HOME


def test_sentence_transformers_equals_normalised_pooler_output(model_folder):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_folder), trust_remote_code=True, device="cpu")
    assert st[1].get_config_dict()["pooling_mode"] == "lasttoken"
    texts = TEXTS[:5] + SAMPLE
    np.testing.assert_allclose(st.encode(texts), reference_embeddings(model_folder, texts), atol=1e-5)


def test_pipeline_eos_row_equals_pooler_output(model_folder):
    pipe = pipeline("feature-extraction", model=str(model_folder), trust_remote_code=True)
    model = AutoModel.from_pretrained(model_folder, trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(model_folder, trust_remote_code=True)
    for text in SAMPLE:
        rows = np.array(pipe(text)[0])
        with torch.no_grad():
            pooled = model(**tok(text, return_tensors="pt")).pooler_output[0].numpy()
        np.testing.assert_allclose(rows[-1], pooled, atol=1e-5)
