"""Probe: train the global EOS of `global_eos.py` alone, every weight of the model kept, towards the model's own chunk
mean of the `long` training documents (`open-ada embed-teacher --teacher runs/v13 --pool long`).

What trains: a vector added to the global EOS's input embedding (hidden_size values) and a log-scale on each head's
query of the global EOS in each layer (layers x heads values); both start at zero, where the embedding is
`global_eos.py`'s "global, blocks 128" variant. Text tokens never see the global EOS, so their keys and values are
computed once per document (no gradient) and only the EOS's path runs in training: an epoch over the 1,281
documents takes seconds once the keys are cached. A tenth of the documents is held out for the fit (mean cosine to
the target); then the `documents` and `articles` long tasks are scored once with the trained parameters. With
`--digests N`, each step also adds an in-batch contrastive term on N (title, digest) pairs of the training news
(the `digests` pair set): the title's v13 embedding against the digests' global-EOS embeddings.

    PYTHONPATH=. python experiments/2026-12-06-global-eos/global_eos_fit.py runs/v13 --output-dir runs/global-eos/fit
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from global_eos import LENGTHS, TASKS
from loguru import logger

from modeling_ada import AdaModel, chunk_ids
from open_ada.evaluate import long_scores, memoised
from open_ada.long_tasks import build_long_task, shipped_token_counter
from open_ada.pools import build
from open_ada.train import allowed_cache

BLOCK_LENGTH = 128


class GlobalEos(torch.nn.Module):
    """The trained parameters: the EOS input's offset and each layer's per-head query log-scale."""

    def __init__(self, model: AdaModel):
        super().__init__()
        config = model.config
        self.offset = torch.nn.Parameter(torch.zeros(config.hidden_size))
        self.log_scale = torch.nn.Parameter(torch.zeros(config.num_hidden_layers, config.num_attention_heads))


@torch.no_grad()
def block_keys(model: AdaModel, ids: list[int]) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], int]:
    """Each layer's keys and values `(1, kv_heads, n, head_dim)` of the text tokens of `ids` (ending in EOS) read in
    blocks of `BLOCK_LENGTH` (positions restarting in each block), and the global EOS's position (its place in the
    last block)."""
    blocks = [b[:-1] for b in chunk_ids(ids, BLOCK_LENGTH, model.chunk_breaks)]
    width = max(map(len, blocks))
    input_ids = torch.tensor([b + [model.config.pad_token_id] * (width - len(b)) for b in blocks])
    attended = torch.tensor([[1] * len(b) + [0] * (width - len(b)) for b in blocks]).bool()
    hidden = model._embed(input_ids, torch.arange(width).expand(len(blocks), width))
    keys = []
    for layer in model.layers:
        attn, tokens = layer.self_attn, layer.input_layernorm(hidden[attended][None])
        kv_heads = attn.num_key_value_heads
        keys.append((attn._heads(attn.k_proj(tokens), kv_heads), attn._heads(attn.v_proj(tokens), kv_heads)))
        hidden = layer(hidden)  # right padding: the causal kernel needs no mask
    return keys, len(blocks[-1])


def eos_embedding(model: AdaModel, eos: GlobalEos, keys, position: int) -> torch.Tensor:
    """The global EOS's unit embedding `(hidden_size,)` over the cached `keys` of its input's text tokens."""
    ids = torch.tensor([[model.config.eos_token_id]])
    hidden = model._embed(ids, torch.tensor([[position]])) + eos.offset  # (1, 1, H)
    for layer, (k_text, v_text), log_scale in zip(model.layers, keys, eos.log_scale, strict=True):
        attn, x = layer.self_attn, layer.input_layernorm(hidden)
        q = attn._heads(attn.q_proj(x), attn.num_heads) * log_scale.exp()[None, :, None, None]
        k = torch.cat([k_text, attn._heads(attn.k_proj(x), attn.num_key_value_heads)], 2)
        v = torch.cat([v_text, attn._heads(attn.v_proj(x), attn.num_key_value_heads)], 2)
        out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)  # the EOS sees every token and itself
        hidden = hidden + attn.o_proj(out.transpose(1, 2).reshape(1, 1, -1))
        hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
    return F.normalize(model.norm(hidden)[0, 0], dim=-1)


def embed(model: AdaModel, eos: GlobalEos, texts: list[str]) -> np.ndarray:
    """Unit embeddings: the model's own for inputs within its context, else the global EOS's."""
    out = []
    with torch.no_grad():
        for ids in model.tokenizer(texts)["input_ids"]:
            if len(ids) <= model.config.max_position_embeddings:
                out.append(F.normalize(model.pooled_output(torch.tensor([ids]))[0], dim=-1))
            else:
                out.append(eos_embedding(model, eos, *block_keys(model, ids)))
    return torch.stack(out).numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--digests", type=int, default=0, help="(title, digest) pairs for an in-batch contrastive term")
    p.add_argument("--scale", type=float, default=20.0, help="the contrastive term's logit scale")
    args = p.parse_args()
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    model = AdaModel.from_pretrained(args.model, dtype=torch.float32).eval().requires_grad_(False)
    texts, targets = allowed_cache(args.model, "long")
    ids = model.tokenizer(texts)["input_ids"]
    rows = [i for i, row in enumerate(ids) if len(row) > model.config.max_position_embeddings]
    random.Random(args.seed).shuffle(rows)
    held = rows[: len(rows) // 10]
    train = rows[len(held) :]
    start = time.time()
    cached = {}
    for n, i in enumerate(rows):
        keys, position = block_keys(model, ids[i])
        cached[i] = ([(k.bfloat16(), v.bfloat16()) for k, v in keys], position)
        if n % 200 == 0:
            logger.info(f"keys of {n}/{len(rows)} documents ({time.time() - start:.0f}s)")
    target = {i: torch.from_numpy(targets[i].astype(np.float32)) for i in rows}
    # (title -> digest) pairs of the training news (`open-ada`'s `digests` pair set, filtered by the training filter)
    pairs = [row for row, _ in build("digests", seed=args.seed)][: args.digests]
    titles = torch.from_numpy(model.encode([title for title, _ in pairs], convert_to_numpy=True)).float()
    digests = []
    for n, (_, digest) in enumerate(pairs):
        keys, position = block_keys(model, model.tokenizer([digest])["input_ids"][0])
        digests.append(([(k.bfloat16(), v.bfloat16()) for k, v in keys], position))
        if n % 200 == 0:
            logger.info(f"keys of {n}/{len(pairs)} digests ({time.time() - start:.0f}s)")
    eos = GlobalEos(model)
    optimiser = torch.optim.Adam(eos.parameters(), lr=args.lr)

    def unpack(entry):
        keys, position = entry
        return [(k.float(), v.float()) for k, v in keys], position

    def fit(docs: list[int]) -> float:
        with torch.no_grad():
            return float(np.mean([float(eos_embedding(model, eos, *unpack(cached[i])) @ target[i]) for i in docs]))

    log = [{"epoch": 0, "held_out_fit": fit(held), "train_fit": fit(train)}]
    logger.info(f"untrained: held-out fit {log[-1]['held_out_fit']:.4f}, training fit {log[-1]['train_fit']:.4f}")
    rng = random.Random(args.seed)
    for epoch in range(1, args.epochs + 1):
        order = train[:]
        rng.shuffle(order)
        for b in range(0, len(order), args.batch_size):
            batch = order[b : b + args.batch_size]
            loss = torch.stack([1 - eos_embedding(model, eos, *unpack(cached[i])) @ target[i] for i in batch]).mean()
            if digests:  # the next batch of digests, cycling
                j = [(b + k) % len(digests) for k in range(args.batch_size)]
                docs = torch.stack([eos_embedding(model, eos, *unpack(digests[k])) for k in j])
                logits = args.scale * titles[j] @ docs.T
                loss = loss + F.cross_entropy(logits, torch.arange(len(j)))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        log.append({"epoch": epoch, "held_out_fit": fit(held), "train_fit": fit(train)})
        logger.info(
            f"epoch {epoch}: held-out fit {log[-1]['held_out_fit']:.4f}, training fit {log[-1]['train_fit']:.4f}, "
            f"query scales {eos.log_scale.exp().mean(1).tolist()} ({time.time() - start:.0f}s)"
        )
    torch.save(eos.state_dict(), out / "global_eos.pt")
    cached.clear()  # the keys of 1,281 documents: memory for the evaluation
    digests.clear()
    count = shipped_token_counter()
    encode = memoised(lambda texts: embed(model, eos, texts))
    scores = {}
    for task in TASKS:
        for length in LENGTHS:
            scores[f"{task} {length}"] = long_scores(encode, build_long_task(task, length, count=count))["ndcg@10"]
            logger.info(f"{task} at {length}: nDCG@10 {scores[f'{task} {length}']:.1f}")
    (out / "results.json").write_text(json.dumps({"fit": log, "ndcg@10": scores}, indent=1) + "\n")
    logger.info("trained global EOS: " + ", ".join(f"{k} {v:.1f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
