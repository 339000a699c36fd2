"""Probe, no training: a 256-token model reading a long input in one forward pass with block-local attention and a
global EOS. The text is cut into blocks (`AdaModel.chunk`'s cuts, each block's positions restarting at 0); a text
token attends causally within its block only, so every block runs as the model was trained; the one EOS of the input
attends, in every layer, to every text token of every block (and itself), as Longformer's global tokens do. Short
inputs (one block) embed exactly as before. Scored on `open-ada evaluate`'s `documents` and `articles` long tasks.

    PYTHONPATH=. python experiments/2026-12-06-global-eos/global_eos.py runs/v13 --output F.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from loguru import logger

from modeling_ada import AdaModel, chunk_ids
from open_ada.evaluate import long_scores, memoised
from open_ada.long_tasks import build_long_task, shipped_token_counter

LENGTHS = (512, 1024, 2048, 4096, 8192)
TASKS = ("documents", "articles")


@torch.inference_mode()
def global_eos_embedding(
    model: AdaModel, ids: list[int], block_length: int, block_eos: bool, query_scale: float | str, eos_position: str
) -> torch.Tensor:
    """One input's unit embedding: blocks of at most `block_length` tokens (with their own EOS kept as block tokens
    if `block_eos`), one global EOS at `eos_position` ("last": its place in the last block; "end": the context's last
    position) whose query is multiplied by `query_scale`, or by log(n) / log(context) if it is "logn"."""
    context = model.config.max_position_embeddings
    eos = ids[-1]
    blocks = chunk_ids(ids, block_length, model.chunk_breaks) if len(ids) > context else [list(ids)]
    if len(blocks) == 1:  # the model's own forward
        return F.normalize(model.pooled_output(torch.tensor([ids]))[0], dim=-1)
    blocks = [b if block_eos else b[:-1] for b in blocks]
    width = max(map(len, blocks))
    input_ids = torch.tensor([b + [model.config.pad_token_id] * (width - len(b)) for b in blocks])
    attended = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in blocks]).bool()
    positions = torch.arange(width).expand(len(blocks), width)
    hidden = model._embed(input_ids, positions)  # right padding: the causal kernel needs no mask
    n = int(attended.sum())
    position = len(blocks[-1]) if eos_position == "last" else context - 1
    global_eos = model._embed(torch.tensor([[eos]]), torch.tensor([[position]]))  # (1, 1, H)
    factor = math.log(n + 1) / math.log(context) if query_scale == "logn" else query_scale
    scale = torch.full((1, n + 1, 1), factor)
    query = torch.tensor([[n]])
    eos_mask = torch.ones(1, 1, 1, n + 1, dtype=torch.bool)
    for layer in model.layers:
        tokens = hidden[attended][None]  # (1, n, H): every block's text tokens at this layer's input
        global_eos = layer(torch.cat([tokens, global_eos], 1), eos_mask, query, scale)
        hidden = layer(hidden)
    return F.normalize(model.norm(global_eos)[0, 0], dim=-1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--output", required=True)
    p.add_argument("--lengths", type=int, nargs="+", default=LENGTHS)
    p.add_argument("--variants", nargs="+", help="names of the variants to score (default: all)")
    args = p.parse_args()
    count = shipped_token_counter()
    tasks = {(t, n): build_long_task(t, n, count=count) for t in TASKS for n in args.lengths}
    model = AdaModel.from_pretrained(args.model, dtype=torch.float32).eval()
    variants = {
        "chunk-mean": None,
        "global, blocks 128": (128, False, 1.0, "last"),
        "global, blocks 128, logn": (128, False, "logn", "last"),
        "global, blocks 255, logn": (255, False, "logn", "last"),
        "global, blocks 128 with EOS, logn": (128, True, "logn", "last"),
        "global, blocks 128, logn, EOS at 255": (128, False, "logn", "end"),
    }
    variants = {name: variants[name] for name in args.variants or variants}
    results = {}
    for name, variant in variants.items():
        if variant is None:

            def encode(texts):
                return model.encode(texts, long_inputs="chunk")
        else:

            def encode(texts, variant=variant):
                ids = model.tokenizer(texts)["input_ids"]
                return np.stack([global_eos_embedding(model, row, *variant).numpy() for row in ids])

        encode = memoised(encode)
        start = time.time()
        row = {f"{t} {n}": long_scores(encode, data)["ndcg@10"] for (t, n), data in tasks.items()}
        results[name] = row
        logger.info(f"{name} ({time.time() - start:.0f}s): " + ", ".join(f"{k} {v:.1f}" for k, v in row.items()))
        Path(args.output).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
