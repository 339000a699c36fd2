"""How to start the new position rows when the shipped model's 256 learned positions grow to 8,192, measured before
any training: each initialisation's long-document retrieval with the shipped weights otherwise unchanged.

    python experiments/2026-12-02-long-context/position_init.py --lengths 1024 2048 --docs 32

- `tile` (what `AdaModel.resize_position_embeddings` does; Longformer's recipe): row i starts as row i % 256;
- `last`: every new row is a copy of the last trained row (255);
- `random`: new rows drawn from a normal with the trained rows' mean and standard deviation;
- `truncated` (the reference): the shipped model as it is, reading the first 256 tokens.
Writes `position_init.json` beside this script.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from loguru import logger

import open_ada.model  # noqa: F401
from modeling_ada import AdaModel
from open_ada.evaluate import long_scores
from open_ada.long_tasks import build_long_task, shipped_token_counter
from open_ada.paths import DEFAULT_MODEL


def variant(name: str) -> AdaModel:
    model = AdaModel.from_pretrained(DEFAULT_MODEL).eval()
    if name == "truncated":
        return model
    old = model.embed_positions.weight.detach().clone()
    model.resize_position_embeddings(8192)
    with torch.no_grad():
        new = model.embed_positions.weight
        if name == "last":
            new[old.shape[0] :] = old[-1]
        elif name == "random":
            torch.manual_seed(0)
            new[old.shape[0] :] = torch.randn_like(new[old.shape[0] :]) * old.std(0) + old.mean(0)
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--docs", type=int, default=32)
    p.add_argument("--tasks", nargs="+", default=["documents", "needle"])
    args = p.parse_args()
    count = shipped_token_counter()
    tasks = {(t, n): build_long_task(t, n, args.docs, count=count) for t in args.tasks for n in args.lengths}
    results = {}
    for name in ["truncated", "tile", "last", "random"]:
        model = variant(name)
        context = model.context_length

        def encode(texts, model=model, context=context):
            return model.encode(texts, max_length=context)

        for (task, length), data in tasks.items():
            start = time.time()
            scores = long_scores(encode, data)
            results.setdefault(name, {}).setdefault(task, {})[str(length)] = scores
            logger.info(f"{name}: {task} at {length}: {scores} ({time.time() - start:.0f}s)")
    out = Path(__file__).with_name("position_init.json")
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2) + "\n")
    for name, by_task in results.items():
        print(name, {t: {n: round(s["ndcg@10"], 1) for n, s in v.items()} for t, v in by_task.items()})


if __name__ == "__main__":
    main()
