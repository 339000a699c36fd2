"""The teacher cache: embedding a pool from a manifest written elsewhere, and an open-ada model as the teacher."""

import argparse
import json
import shutil

import numpy as np
import pytest

import open_ada.teacher as teacher
from conftest import offline_chunk_mean
from modeling_ada import AdaModel
from open_ada.data import read_stsb


def test_embed_teacher_from_a_manifest_reproduces_the_pool(tmp_path, monkeypatch):
    texts = [p.sentence1 for p in read_stsb("train")[:20]]
    monkeypatch.setattr(teacher, "CACHE_ROOT", tmp_path / "a")
    teacher.embed_pool("all-MiniLM-L6-v2", "pairs", texts, ["stsb"] * len(texts))
    manifest = teacher.cache_dir("all-MiniLM-L6-v2", "pairs") / "texts.jsonl"
    copied = tmp_path / "texts.jsonl"
    copied.write_text(manifest.read_text())
    before = teacher.load_cache("all-MiniLM-L6-v2", "pairs")

    monkeypatch.setattr(teacher, "CACHE_ROOT", tmp_path / "b")
    args = argparse.Namespace(
        teacher="all-MiniLM-L6-v2", pool="pairs", texts=str(copied), batch_size=8, max_per_source=None
    )
    teacher.main(args)
    after = teacher.load_cache("all-MiniLM-L6-v2", "pairs")
    assert after[0] == before[0] == texts
    np.testing.assert_allclose(after[1].astype(np.float32), before[1].astype(np.float32), atol=2e-3)
    rows = [json.loads(line) for line in (teacher.cache_dir("all-MiniLM-L6-v2", "pairs") / "texts.jsonl").open()]
    assert [r["source"] for r in rows] == ["stsb"] * len(texts)


def test_a_pool_loads_only_its_finished_chunks_and_says_so(tmp_path, monkeypatch):
    from loguru import logger

    monkeypatch.setattr(teacher, "CACHE_ROOT", tmp_path)
    assert teacher.load_cache("all-MiniLM-L6-v2", "pairs")[0] == []  # never embedded: nothing, for the caller to say
    monkeypatch.setattr(teacher, "CHUNK", 2)
    texts = [p.sentence1 for p in read_stsb("train")[:5]]
    teacher.embed_pool("all-MiniLM-L6-v2", "pairs", texts, ["stsb"] * len(texts))
    (teacher.cache_dir("all-MiniLM-L6-v2", "pairs") / "emb-00001.npy").unlink()  # as if stopped in chunk 2 of 3
    warnings = []
    sink = logger.add(warnings.append, level="WARNING")
    try:
        loaded, emb = teacher.load_cache("all-MiniLM-L6-v2", "pairs")
    finally:
        logger.remove(sink)
    assert loaded == texts[:2] and emb.shape == (2, 384)
    assert len(warnings) == 1 and "only 2 of 5 texts are embedded" in warnings[0]
    sink = logger.add(warnings.append, level="WARNING")
    try:
        assert teacher.load_cache("all-MiniLM-L6-v2", "pairs", limit=1)[0] == texts[:1]  # all it asked for
    finally:
        logger.remove(sink)
    assert len(warnings) == 1


def test_a_model_that_is_neither_a_folder_nor_the_teacher_is_named(tmp_path):
    with pytest.raises(ValueError, match="'runs/no-such-model' is not a model folder, nor 'all-MiniLM-L6-v2'"):
        teacher.teacher_path("runs/no-such-model")


def test_embed_teacher_refuses_what_would_leave_a_useless_cache_behind(tmp_path, monkeypatch):
    """An empty pool or a teacher that does not exist once left a manifest that the next, right run refused."""
    monkeypatch.setattr(teacher, "CACHE_ROOT", tmp_path)
    with pytest.raises(ValueError, match="'runs/no-such-teacher' is not a model folder"):
        teacher.embed_pool("runs/no-such-teacher", "pairs", ["A text."], ["a"])
    with pytest.raises(ValueError, match="the pairs pool holds no texts"):
        teacher.embed_pool("all-MiniLM-L6-v2", "pairs", [], [])
    args = argparse.Namespace(teacher="all-MiniLM-L6-v2", pool="pairs", texts=None, batch_size=8, max_per_source=0)
    with pytest.raises(ValueError, match="--batch-size and --max-per-source must be >= 1, got 8 and 0"):
        teacher.main(args)
    assert not any(tmp_path.iterdir())


def test_embed_teacher_refuses_a_cap_it_would_not_apply_to_a_manifest(tmp_path):
    args = argparse.Namespace(
        teacher="all-MiniLM-L6-v2", pool="pairs", texts=str(tmp_path / "texts.jsonl"), batch_size=8, max_per_source=10
    )
    with pytest.raises(ValueError, match="--max-per-source caps a pool built here"):
        teacher.main(args)


def test_an_open_ada_teacher_caches_its_own_embeddings_and_chunk_means(model_folder, tmp_path, monkeypatch):
    """Self-distillation: an open-ada folder as the teacher caches `encode`'s vectors of short texts and, for the
    long pool, the chunk mean that `open-ada serve` returns (written out with numpy in `offline_chunk_mean`)."""
    model = AdaModel.from_pretrained(model_folder).eval()
    short = ["A short text.", "Another one, a little longer than the first."]
    long = "The river rose over the old stone bridge after a week of rain. " * 20
    assert len(model.tokenizer(long)["input_ids"]) > model.context_length
    monkeypatch.setattr(teacher, "CACHE_ROOT", tmp_path)
    teacher.embed_pool(str(model_folder), "pairs", short, ["test"] * 2)
    teacher.embed_pool(str(model_folder), "long", [long, short[0]], ["test"] * 2)
    cached = teacher.load_cache(str(model_folder), "pairs")[1].astype(np.float32)
    np.testing.assert_allclose(cached, model.encode(short), atol=1e-2)  # float16 cache, bf16 autocast where native
    cached = teacher.load_cache(str(model_folder), "long")[1].astype(np.float32)
    np.testing.assert_allclose(cached[0], offline_chunk_mean(model, long), atol=2e-3)
    np.testing.assert_allclose(cached[1], model.encode(short[0]), atol=2e-3)


def test_only_an_open_ada_folder_runs_its_own_code(tmp_path, model_folder):
    """A teacher or evaluated folder of another model type loads with the libraries' code: a module its config.json
    names in `auto_map` is never imported (here it would raise)."""
    from open_ada.evaluate import load_encoder
    from open_ada.folder import is_open_ada_folder
    from open_ada.teacher import load_teacher, teacher_path

    shipped = teacher_path("all-MiniLM-L6-v2")
    folder = tmp_path / "minilm"
    shutil.copytree(shipped, folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "booby_trap.BertModel", "AutoConfig": "booby_trap.BertConfig"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "booby_trap.py").write_text("raise RuntimeError('remote code ran')\n")
    sentences = ["A man is playing a guitar.", "Stocks fell sharply."]
    expected = load_teacher("all-MiniLM-L6-v2").encode(sentences)
    np.testing.assert_allclose(load_teacher(str(folder)).encode(sentences), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(load_encoder(str(folder))[0](sentences), expected, rtol=1e-5, atol=1e-6)
    assert is_open_ada_folder(model_folder) and not is_open_ada_folder(folder) and not is_open_ada_folder(tmp_path)
