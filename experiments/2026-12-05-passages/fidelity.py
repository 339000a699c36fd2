"""Did more paragraph distillation bring the student's paragraph embeddings closer to the teacher's? Mean cosine between
each model's and the teacher's embedding of the same text, on the retrieval corpora and queries (never trained on) and
on 1,000 texts of the training `passages` and `sentences` pools (seen in training).

    python experiments/2026-12-05-passages/fidelity.py all-MiniLM-L6-v2 models/open-ada-small runs/rank4-soup3 \
        runs/passages-soup3 --output experiments/2026-12-05-passages/fidelity.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from open_ada.data import read_retrieval
from open_ada.evaluate import load_encoder
from open_ada.teacher import load_cache


def text_sets(teacher: str) -> dict[str, list[str]]:
    sets = {}
    for name in ("msmarco-dl19-5k", "dbpedia-5k"):
        data = read_retrieval(name)
        sets[f"{name} documents"] = list(data.corpus.values())
        sets[f"{name} queries"] = list(data.queries.values())
    for pool in ("passages", "sentences"):
        texts, _ = load_cache(teacher, pool)
        sets[f"training {pool} (1,000)"] = [texts[i] for i in np.random.default_rng(0).choice(len(texts), 1000, False)]
    return sets


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher")
    parser.add_argument("students", nargs="+")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    sets = text_sets(args.teacher)
    encode, _ = load_encoder(args.teacher)
    targets = {name: unit(encode(texts)) for name, texts in sets.items()}
    result = {}
    for student in args.students:
        encode, _ = load_encoder(student)
        result[student] = {
            name: round(float((unit(encode(texts)) * targets[name]).sum(-1).mean()), 4) for name, texts in sets.items()
        }
        print(student, result[student], flush=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
