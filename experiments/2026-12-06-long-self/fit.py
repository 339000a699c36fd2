"""How close the self-distilled long model's native embedding of a long text comes to its target, v13's chunk mean:
on 96 of the `long` pool's training documents and on the held-out documents of the `documents` task (32 a length).

PYTHONPATH=. python experiments/2026-12-06-long-self/fit.py runs/long-self/final runs/v13
"""

import random
import sys

import numpy as np
from transformers import AutoModel

from open_ada.long_tasks import build_long_task, shipped_token_counter
from open_ada.teacher import load_cache


def main(student_dir: str, target_dir: str) -> None:
    student = AutoModel.from_pretrained(student_dir, trust_remote_code=True).eval()
    target = AutoModel.from_pretrained(target_dir, trust_remote_code=True).eval()
    texts, cached = load_cache(target_dir, "long")
    pick = sorted(random.Random(0).sample(range(len(texts)), 96))
    fits = (student.encode([texts[i] for i in pick]) * cached[pick].astype(np.float32)).sum(-1)
    print(f"long pool (trained on), 96 documents: mean cosine to the target {fits.mean():.3f}")
    count = shipped_token_counter()
    for length in (512, 1024, 2048, 4096, 8192):
        docs = list(build_long_task("documents", length, count=count).corpus.values())
        native = student.encode(docs)
        chunked = target.encode(docs, long_inputs="chunk")
        truncated = target.encode(docs)
        print(
            f"held-out documents at {length}: native . target {(native * chunked).sum(-1).mean():.3f}; "
            f"v13 truncated . target {(truncated * chunked).sum(-1).mean():.3f}"
        )


if __name__ == "__main__":
    main(*sys.argv[1:3])
