"""The teacher cache: embedding a pool from a manifest written elsewhere."""

import argparse
import json

import numpy as np
import pytest

import open_ada.teacher as teacher
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


def test_embed_teacher_refuses_a_cap_it_would_not_apply_to_a_manifest(tmp_path):
    args = argparse.Namespace(
        teacher="all-MiniLM-L6-v2", pool="pairs", texts=str(tmp_path / "texts.jsonl"), batch_size=8, max_per_source=10
    )
    with pytest.raises(ValueError, match="--max-per-source caps a pool built here"):
        teacher.main(args)
