"""`open-ada interpolate`: the weight midpoint (or any mix) of a model and its fine-tuned descendant, WiSE-FT style.

`(1 - alpha) * start + alpha * tuned` for every tensor, written as a copy of the tuned folder (config, tokenizer,
code, sentence-transformers files) with the mixed weights in float32; the tuned model's evaluation results and model
card stay behind, as they describe that model, not the mix. The last step of the shipped recipe
(`configs/open-ada-small.card.md`): fine-tuning on a new mix of data, then keeping half of the model it started from.

open-ada interpolate models/open-ada-small runs/open-ada-small-trained/final --alpha 0.5 \
    --output runs/open-ada-small/final

A tuned model that grew its learned positions (`extend_positions`) keeps its own rows past the start model's; one whose
stage changed how its tokenizer reads text (`uncased`, `add_prefix_space`) mixes with its start, and the mix reads as
the tuned model does.
`mix`, the weighted sum of any number of folders, is the one home of this step; `open-ada soup` (`open_ada.soup`)
calls it with equal weights.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from loguru import logger
from safetensors.torch import load_file, save_file

from open_ada.cli import FromArgs
from open_ada.folder import DESCRIBES_THE_MODEL, clear_output_folder

WEIGHTS = "model.safetensors"
POSITIONS = "embed_positions.weight"  # the one tensor a tuned model may have more rows of (a long-context stage)


@dataclass
class InterpolateConfig(FromArgs):
    """Which two model folders `open-ada interpolate` mixes, how much of each, and where the mix goes."""

    start: str  # the model training started from
    tuned: str  # the trained model; its folder is copied
    output: str
    alpha: float = 0.5  # the tuned model's weight, in [0, 1]


def add_arguments(p) -> None:
    """Flags of `open-ada interpolate`; their defaults are `InterpolateConfig`'s."""
    p.add_argument("start", help="the model folder training started from")
    p.add_argument("tuned", help="the trained model folder (copied: config, tokenizer, code)")
    p.add_argument(
        "--output",
        required=True,
        help="the folder to write the mixed model to (an earlier model folder there is replaced; never an input)",
    )
    p.add_argument("--alpha", type=float, default=InterpolateConfig.alpha, help="the tuned model's weight, in [0, 1]")


def _check_compatible(start: Path, tuned: Path, a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Both folders hold the same tensors (the tuned one may have more position rows) and the same tokenizer."""
    same_tensors = a.keys() == b.keys() and all(
        a[k].shape == b[k].shape if k != POSITIONS else a[k].shape[1:] == b[k].shape[1:] and len(a[k]) <= len(b[k])
        for k in a
    )
    if not same_tensors:
        raise ValueError(f"{start} and {tuned} do not hold the same tensors: only one architecture can be mixed")
    if _vocabulary(start) != _vocabulary(tuned):
        raise ValueError(f"{start} and {tuned} have different tokenizers: their token embeddings cannot be mixed")


def _vocabulary(folder: Path) -> dict:
    """What a folder's token ids stand for: its `tokenizer.json`'s tokens, merges and special tokens. How text is read
    into them (normaliser, pre-tokenizer, truncation length) may differ: a stage that made the tokenizer uncased or
    gave it a prefix space, or grew the positions, trains the same rows; the mix reads text as the tuned folder does."""
    spec = json.loads((folder / "tokenizer.json").read_text())
    return {"model": spec["model"], "added_tokens": spec["added_tokens"]}


def mix(folders: list[Path], weights: list[float], output: Path) -> Path:
    """Writes `sum(weight * model)` over the model folders to `output`, a copy of the last folder's model files, and
    returns it. The last folder may have more position rows than the others (a grown model): a folder without a row
    counts the last folder's row in its place."""
    for folder in folders:
        if not (folder / WEIGHTS).is_file():
            raise ValueError(f"{folder} is not a model folder: it has no {WEIGHTS}")
    models = [load_file(folder / WEIGHTS) for folder in folders]
    last = models[-1]
    for folder, model in zip(folders[:-1], models[:-1], strict=True):
        _check_compatible(folder, folders[-1], model, last)

    def mean(key: str) -> torch.Tensor:
        rows = [torch.cat([m[key].float(), last[key][len(m[key]) :].float()]) for m in models]
        return sum(w * r for w, r in zip(weights, rows, strict=True))

    mixed = {key: mean(key) for key in last}
    clear_output_folder(output, folders)
    shutil.copytree(folders[-1], output, ignore=shutil.ignore_patterns(*DESCRIBES_THE_MODEL))
    save_file(mixed, output / WEIGHTS, metadata={"format": "pt"})
    logger.info(f"{output}: " + " + ".join(f"{w:g} x {f}" for w, f in zip(weights, folders, strict=True)))
    return output


def interpolate(start: Path, tuned: Path, output: Path, alpha: float = InterpolateConfig.alpha) -> Path:
    """Writes `(1 - alpha) * start + alpha * tuned` to `output` (a copy of `tuned`'s model files) and returns it."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha is the tuned model's weight and must be in [0, 1], got {alpha}")
    return mix([start, tuned], [1 - alpha, alpha], output)


def main(args) -> None:
    config = InterpolateConfig.from_args(args)
    interpolate(Path(config.start), Path(config.tuned), Path(config.output), config.alpha)
