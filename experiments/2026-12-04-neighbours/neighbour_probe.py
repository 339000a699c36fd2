"""How often a model and the teacher agree on a text's nearest neighbour within a training-sized batch.

    python experiments/2026-12-04-neighbours/neighbour_probe.py runs/open-ada-small/final [more models] \
        --output experiments/2026-12-04-neighbours/neighbour_probe.json

For each pool, 4 batches of 256 cached texts (seeded): the share of texts whose nearest other text of the batch is
the same for the model as for the teacher (cached embeddings), the mean cosine to the teacher, and the two
distillation terms on those batches (the pointwise `3 * (1 - cos)` and `neighbour_kl` at temperature 0.05).
"""

import argparse
import json

import numpy as np
import torch
import torch.nn.functional as F

from open_ada.evaluate import load_encoder
from open_ada.train import allowed_cache, neighbour_kl

parser = argparse.ArgumentParser()
parser.add_argument("models", nargs="+")
parser.add_argument("--pools", nargs="+", default=["sentences", "pairs", "text", "passages", "queries"])
parser.add_argument("--batches", type=int, default=4)
parser.add_argument("--output")
args = parser.parse_args()


def nearest(x: torch.Tensor) -> torch.Tensor:
    return (x @ x.T).fill_diagonal_(-2.0).argmax(-1)


caches = {pool: allowed_cache("all-MiniLM-L6-v2", pool) for pool in args.pools}
out = {}
for model in args.models:
    encode, _ = load_encoder(model)
    for pool, (texts, emb) in caches.items():
        rng = np.random.default_rng(0)
        agree, cos, point, kl = [], [], [], []
        for _ in range(args.batches):
            idx = rng.choice(len(texts), 256, replace=False)
            s = F.normalize(torch.tensor(encode([texts[i] for i in idx])), dim=-1)
            t = F.normalize(torch.tensor(emb[idx]).float(), dim=-1)
            agree.append((nearest(s) == nearest(t)).float().mean().item())
            cos.append((s * t).sum(-1).mean().item())
            point.append(3 * (1 - cos[-1]))
            kl.append(neighbour_kl(s, t, 0.05).item())
        row = {k: round(float(np.mean(v)), 4) for k, v in dict(agree=agree, cos=cos, pointwise=point, kl=kl).items()}
        out.setdefault(model, {})[pool] = row
        print(model, pool, row, flush=True)
if args.output:
    with open(args.output, "w") as f:
        json.dump(out, f, indent=1)
