"""Weight interpolation between two model folders of the same architecture and tokenizer (WiSE-FT style):
`(1 - alpha) * start + alpha * tuned`, written as a copy of the tuned folder with the mixed weights (float32). If the
tuned model grew its learned positions (`extend_positions`), the rows the start model lacks are the tuned model's.

    python experiments/2026-12-02-broad-pool/interpolate.py runs/open-ada-small-v4 runs/open-ada-small-v5 \
        --alpha 0.5 --output runs/open-ada-small-v5-mix
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from loguru import logger
from safetensors.torch import load_file, save_file


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("start", type=Path, help="the model training started from")
    p.add_argument("tuned", type=Path, help="the trained model (its folder is copied: config, tokenizer, code)")
    p.add_argument("--alpha", type=float, default=0.5, help="weight of the tuned model, in [0, 1]")
    p.add_argument("--output", type=Path, required=True)
    args = p.parse_args()
    if not 0.0 <= args.alpha <= 1.0:
        raise ValueError(f"--alpha must be in [0, 1], got {args.alpha}")
    start = load_file(args.start / "model.safetensors")
    tuned = load_file(args.tuned / "model.safetensors")
    grown = "embed_positions.weight"  # a tuned model may have more learned positions (a long-context stage)
    if (
        start.keys() != tuned.keys()
        or any(start[k].shape != tuned[k].shape for k in start if k != grown)
        or start[grown].shape[1:] != tuned[grown].shape[1:]
        or len(start[grown]) > len(tuned[grown])
    ):
        raise ValueError(f"{args.start} and {args.tuned} do not hold the same tensors: not the same architecture")
    mixed = {
        k: ((1 - args.alpha) * start[k].float() + args.alpha * tuned[k].float()).contiguous()
        for k in tuned
        if k != grown
    }
    # positions both have are mixed; the rows only the tuned model has are its own (the start has nothing there)
    n = len(start[grown])
    mixed[grown] = tuned[grown].float().clone()
    mixed[grown][:n] = (1 - args.alpha) * start[grown].float() + args.alpha * tuned[grown][:n].float()
    if args.output.exists():
        shutil.rmtree(args.output)
    shutil.copytree(args.tuned, args.output)
    save_file(mixed, args.output / "model.safetensors", metadata={"format": "pt"})
    logger.info(f"{args.output}: {1 - args.alpha:g} x {args.start} + {args.alpha:g} x {args.tuned}")


if __name__ == "__main__":
    main()
