"""Does subtracting a mean embedding (estimated on training text, never on evaluation text) help retrieval and STS?

    python experiments/2026-12-06-centering/centering_probe.py models/open-ada-small all-MiniLM-L6-v2

For each model: the mean of its embeddings of 4,000 cached `text` + `passages` pool texts (normalised first), its
norm, and the evaluation scores with and without that mean subtracted before the cosine. No training.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from open_ada.data import OOD_TASKS, read_ood_task, read_retrieval, read_stsb, retrieval_set_names
from open_ada.evaluate import load_encoder, retrieval_scores, sts_spearman
from open_ada.teacher import load_cache


def pool_sample(n_per_pool: int = 2000) -> list[str]:
    texts = []
    for pool in ("text", "passages"):
        pool_texts, _ = load_cache("all-MiniLM-L6-v2", pool)
        rng = np.random.default_rng(0)
        texts += [pool_texts[i] for i in rng.choice(len(pool_texts), n_per_pool, replace=False)]
    return texts


def main() -> None:
    sample = pool_sample()
    out = {}
    for name in sys.argv[1:]:
        raw, _ = load_encoder(name)
        seen: dict[tuple, np.ndarray] = {}

        def encode(texts, raw=raw, seen=seen):
            key = tuple(texts)
            if key not in seen:
                seen[key] = raw(texts)
            return seen[key]

        emb = encode(sample)
        emb = emb / np.linalg.norm(emb, axis=-1, keepdims=True)
        mean = emb.mean(0)
        row = {"mean_norm": float(np.linalg.norm(mean))}
        for label, shift in (("plain", 0.0), ("centred", mean)):

            def centred(texts, shift=shift):
                e = encode(texts)
                return e / np.linalg.norm(e, axis=-1, keepdims=True) - shift

            scores = {"stsb_test": sts_spearman(centred, read_stsb("test"))}
            for s in retrieval_set_names():
                scores[s] = retrieval_scores(centred, read_retrieval(s))["ndcg@10"]
            for t in OOD_TASKS:
                scores[t] = retrieval_scores(centred, read_ood_task(t))["ndcg@10"]
            row[label] = scores
            print(name, label, {k: round(v, 2) for k, v in scores.items()}, flush=True)
        out[name] = row
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
