"""Issue #12, deliverable 5: keep the shipped 16k tokenizer, or retrain a 32k BPE on the broad pool and carry the
shipped weights over? Both arms continue from the shipped open-ada-small for the same short distillation run on the
same pools (configs/open-ada-small.json, shortened, without the pair sets), then are scored on STS-B dev and the held-out out-of-domain
tasks (no test set is used to decide).

    python experiments/2026-12-02-broad-pool/tokenizer_probe.py --steps 100

Arm "carried": a byte-level BPE of 32,768 tokens trained on the texts of the cached pools; a token the shipped
vocabulary also has keeps its row; a new token's row is the mean of the shipped rows of the pieces the shipped
tokenizer splits its text into. Everything else (layers, positions) is the shipped model's.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

import torch
from loguru import logger
from transformers import AutoModel, AutoTokenizer

from open_ada import DEFAULT_MODEL
from open_ada.evaluate import evaluate
from open_ada.folder import save_model_folder
from open_ada.teacher import load_cache
from open_ada.train import TrainConfig, train
from tokenizer.train_tokenizer import build_tokenizer

HERE = Path(__file__).parent


@torch.no_grad()
def carried_model(texts: list[str], vocab_size: int, out: Path) -> Path:
    old_tok = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
    old = AutoModel.from_pretrained(DEFAULT_MODEL, trust_remote_code=True, dtype=torch.float32)
    new_tok = build_tokenizer(texts, vocab_size, model_max_length=old.config.max_position_embeddings)
    config = old.config
    config.vocab_size = len(new_tok)
    new = type(old)(config)
    state = {k: v for k, v in old.state_dict().items() if k != "embed_tokens.weight"}
    new.load_state_dict(state, strict=False)
    old_rows = old.get_input_embeddings().weight
    rows = new.get_input_embeddings().weight
    old_vocab = old_tok.get_vocab()
    copied = averaged = 0
    for token, i in new_tok.get_vocab().items():
        if token in old_vocab:
            rows[i] = old_rows[old_vocab[token]]
            copied += 1
        else:
            pieces = old_tok(new_tok.convert_tokens_to_string([token]), add_special_tokens=False)["input_ids"]
            rows[i] = old_rows[pieces].mean(0)
            averaged += 1
    logger.info(f"carried tokenizer: {copied} rows copied, {averaged} averaged from the shipped pieces")
    return save_model_folder(new, new_tok, out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--vocab-size", type=int, default=32768)
    p.add_argument("--out", default="runs/tokenizer-probe")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    base = TrainConfig.from_file("configs/open-ada-small.json")
    # Distillation only: the vocabulary is what differs, and GIST steps cost ~6x a distillation step on the CPU.
    base = replace(
        base, pair_sets=[], max_steps=args.steps, warmup_steps=args.steps // 10, eval_steps=0, save_steps=args.steps
    )
    texts = [t for pool in base.distill_pools for t in load_cache(base.teacher, pool)[0]]
    out = Path(args.out)
    arms = {"shipped-16k": str(DEFAULT_MODEL)}
    arms["carried-32k"] = str(carried_model(texts, args.vocab_size, out / "carried-32k-init"))
    results = {}
    for name, init in arms.items():
        final = train(replace(base, init_model=init, output_dir=str(out / name)), resume=True)
        results[name] = evaluate(str(final), sets=[], splits=("dev",))
    record = {
        "command": f"python experiments/2026-12-02-broad-pool/tokenizer_probe.py --steps {args.steps}",
        "results": results,
    }
    (HERE / "tokenizer_probe.json").write_text(json.dumps(record, indent=2) + "\n")
    for name, r in results.items():
        ood = ", ".join(f"{t} {s['ndcg@10']:.2f}" for t, s in r["ood"].items())
        logger.info(f"{name}: params {r['parameters'] / 1e6:.1f}M, STS-B dev {r['stsb']['dev']:.2f}; {ood}")


if __name__ == "__main__":
    main()
