"""News headline -> its whole article among the held-out articles (`open_ada.data.held_out_articles`), the articles
longer than the 256-token context: what reading a whole document natively does for the inputs of a few hundred to a
few thousand tokens that users mostly send (abstracts, articles), next to truncation and the chunk mean.

    python experiments/2026-12-06-logn-attention/news_bodies.py runs/v13 runs/v13-tile-logn ... --output F.json

Each open-ada model is read as `open-ada evaluate --suites long` reads it (`long_encoders`): natively if its
context holds the longest article, else truncated and chunk-mean. nDCG@10 x100 and each query's, for `open-ada
compare`-style pairing, go to `--output`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from loguru import logger

from open_ada.data import held_out_articles, retrieval_task
from open_ada.evaluate import long_encoders, retrieval_scores
from open_ada.long_tasks import shipped_token_counter

CONTEXT = 256


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--output", required=True)
    args = p.parse_args()
    articles = held_out_articles()
    bodies = [" ".join(" ".join(body).split()) for _, body in articles]
    lengths = shipped_token_counter()(bodies)
    keep = [i for i, n in enumerate(lengths) if n > CONTEXT]
    data = retrieval_task(
        "news-bodies", [articles[i][0] for i in keep], [{bodies[i]} for i in keep], [bodies[i] for i in keep]
    )
    kept = np.array([lengths[i] for i in keep])
    logger.info(
        f"{len(keep)} of {len(articles)} held-out articles over {CONTEXT} tokens: median {np.median(kept):.0f}, "
        f"max {kept.max()} tokens"
    )
    results = {
        "articles": len(keep),
        "tokens": {"median": float(np.median(kept)), "max": int(kept.max())},
        "models": {},
    }
    for name in args.models:
        views, _ = long_encoders(name, int(kept.max()))
        for view, encode in views.items():
            scores = retrieval_scores(encode, data)
            results["models"][f"{name} {view}"] = scores
            logger.info(f"{name} {view}: nDCG@10 {scores['ndcg@10']:.2f}")
    Path(args.output).write_text(json.dumps(results, indent=1) + "\n")
    for key, scores in results["models"].items():
        print(f"{key}: {scores['ndcg@10']:.2f}")


if __name__ == "__main__":
    main()
