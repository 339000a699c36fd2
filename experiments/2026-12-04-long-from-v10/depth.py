"""Where in a long document does a model find the article a query names? Document retrieval (`open_ada.long_tasks`,
the `documents` task) split by the depth of the query's article in its digest: first third, middle, last third.

    python experiments/2026-12-04-long-from-v10/depth.py runs/open-ada-small-long/final all-MiniLM-L6-v2 \
        --lengths 2048 4096 8192 --output experiments/2026-12-04-long-from-v10/depth.json

A model that mostly finds last articles leans on what it read last (the EOS token sits after them); one that mostly
finds first articles reads like a truncating model.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from loguru import logger

from open_ada.data import held_out_articles
from open_ada.evaluate import long_encoders, similarities
from open_ada.long_tasks import build_long_task, shipped_token_counter

PARTS = ("first third", "middle", "last third")


def depths(data) -> list[float]:
    """The relative depth (0 = first, 1 = last) of each query's article among its document's articles."""
    body_of = {title: " ".join(body) for title, body in held_out_articles()}
    out = []
    for qid, title in data.queries.items():
        lines = data.corpus[next(iter(data.qrels[qid]))].split("\n")
        out.append(lines.index(body_of[title]) / max(1, len(lines) - 1))
    return out


def ranks(encode, data) -> list[int]:
    """The 1-based rank of each query's one relevant document among all documents, by cosine similarity."""
    scores, gains = similarities(encode, data)
    target = scores[np.arange(len(scores)), gains.argmax(-1)]
    return [int(n) + 1 for n in (scores > target[:, None]).sum(-1)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--lengths", type=int, nargs="+", default=[2048, 4096, 8192])
    p.add_argument("--output", required=True)
    args = p.parse_args()
    count = shipped_token_counter()
    tasks = {n: build_long_task("documents", n, count=count) for n in args.lengths}
    result = {}
    for name in args.models:
        encoders, _ = long_encoders(name, max(args.lengths))
        for view, encode in encoders.items():
            rows = []  # (depth, rank) over every length
            for data in tasks.values():
                rows += zip(depths(data), ranks(encode, data), strict=True)
            parts = {}
            for k, part in enumerate(PARTS):
                chosen = [r for d, r in rows if min(int(d * 3), 2) == k]
                parts[part] = {
                    "queries": len(chosen),
                    "accuracy@1": 100 * float(np.mean([r == 1 for r in chosen])),
                    "mrr": 100 * float(np.mean([1 / r for r in chosen])),
                }
            result[f"{name} ({view})"] = parts
            logger.info(
                f"{name} ({view}): "
                + ", ".join(f"{p} acc@1 {v['accuracy@1']:.1f} of {v['queries']}" for p, v in parts.items())
            )
    with open(args.output, "w") as f:
        json.dump({"lengths": args.lengths, "results": result}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
