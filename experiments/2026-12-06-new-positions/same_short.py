"""Checks that a model trained with `new_positions_only` embeds every text within its starting model's context exactly
as that model does: the STS-B test sentences and the retrieval sets' queries and documents, compared bit for bit.

PYTHONPATH=. python experiments/2026-12-06-new-positions/same_short.py runs/long-positions/final runs/v13
"""

import sys

import numpy as np
from transformers import AutoModel

from open_ada.data import read_retrieval, read_stsb


def main(trained_dir: str, start_dir: str) -> None:
    trained = AutoModel.from_pretrained(trained_dir, trust_remote_code=True).eval()
    start = AutoModel.from_pretrained(start_dir, trust_remote_code=True).eval()
    pairs = read_stsb("test")
    texts = sorted({t for pair in pairs for t in (pair.sentence1, pair.sentence2)})
    for name in ("msmarco-dl19-5k", "dbpedia-5k"):
        data = read_retrieval(name)
        texts += list(data.queries.values()) + list(data.corpus.values())
    fits = [len(ids) <= start.context_length for ids in start.tokenize(texts, max_length=None)]
    texts = [t for t, fit in zip(texts, fits, strict=True) if fit]
    same = (trained.encode(texts) == start.encode(texts)).all(axis=-1)
    print(f"{same.sum()} of {len(texts)} texts within {start.context_length} tokens embed bit-identically")


if __name__ == "__main__":
    main(*sys.argv[1:3])
