"""v13's chunk mean with chunks of up to 128 tokens (`modeling_ada.CHUNK_LENGTH`, `open-ada serve`'s default) and of
up to 256 (its context), on the lead-heavy headline -> whole-article task of `news_bodies.py` and on the `documents`
digests at 1k-8k: how much of the chunk mean's loss to the 256-token cut on news is the chunk length.

    python experiments/2026-12-06-logn-attention/chunk_length.py runs/v13 --output F.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from loguru import logger

import modeling_ada
from modeling_ada import AdaModel
from open_ada.data import held_out_articles, retrieval_task
from open_ada.evaluate import long_scores, retrieval_scores
from open_ada.long_tasks import build_long_task, shipped_token_counter

LENGTHS = (1024, 2048, 4096, 8192)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--output", required=True)
    args = p.parse_args()
    count = shipped_token_counter()
    articles = held_out_articles()
    bodies = [" ".join(" ".join(body).split()) for _, body in articles]
    keep = [i for i, n in enumerate(count(bodies)) if n > 256]
    news = retrieval_task(
        "news-bodies", [articles[i][0] for i in keep], [{bodies[i]} for i in keep], [bodies[i] for i in keep]
    )
    digests = {n: build_long_task("documents", n, 32, count=count) for n in LENGTHS}
    model = AdaModel.from_pretrained(args.model).eval()

    def encode(texts):
        return model.encode(texts, long_inputs="chunk")

    results = {}
    for chunk_length in (128, 256):
        modeling_ada.CHUNK_LENGTH = chunk_length
        row = {"news-bodies": retrieval_scores(encode, news)["ndcg@10"]}
        row |= {f"documents {n}": long_scores(encode, data)["ndcg@10"] for n, data in digests.items()}
        results[chunk_length] = row
        logger.info(f"chunks of up to {chunk_length} tokens: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()))
    Path(args.output).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
