"""`open-ada encode`: embed texts with the shipped model (or any model folder) and show how similar they are.

open-ada encode "A man is playing a guitar." "Someone plays an instrument."
open-ada encode --file texts.txt --output embeddings.npy      # one text per line
cat texts.txt | open-ada encode - --dimensions 128 --output embeddings.jsonl
open-ada encode --file docs.txt --long-inputs chunk --output docs.npy  # long texts whole, as `open-ada serve` does
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modeling_ada import ENCODE_BATCH_SIZE, LONG_INPUTS, LongInputs
from open_ada.cli import FromArgs
from open_ada.model import DEFAULT_DTYPE, DEFAULT_MODEL, add_model_arguments, load_model

OUTPUT_SUFFIXES = (".npy", ".jsonl")  # a NumPy array in input order, or one {"text", "embedding"} object a line


@dataclass
class EncodeConfig(FromArgs):
    """What `open-ada encode` embeds, with which model, and where the embeddings go."""

    texts: list[str] = field(default_factory=list)  # '-' reads one text per line from stdin
    file: str | None = None  # one text per line
    model: str = str(DEFAULT_MODEL)
    dtype: str = DEFAULT_DTYPE
    dimensions: int | None = None
    max_length: int | None = None  # default: the model's context
    long_inputs: LongInputs = "truncate"  # over max length: truncate, chunk (embedded whole) or reject (an error)
    batch_size: int = ENCODE_BATCH_SIZE
    output: str | None = None  # one of OUTPUT_SUFFIXES
    show: int = 6  # values of each embedding to print


def add_arguments(p) -> None:
    """Flags of `open-ada encode`; their defaults are `EncodeConfig`'s."""
    d = EncodeConfig
    p.add_argument("texts", nargs="*", help="texts to embed; '-' reads one text per line from stdin")
    p.add_argument("--file", default=d.file, help="read one text per line from this file")
    add_model_arguments(p, d)
    p.add_argument(
        "--dimensions", type=int, default=d.dimensions, help="keep the first N dimensions (Matryoshka) and renormalise"
    )
    p.add_argument(
        "--max-length", type=int, default=d.max_length, help="most tokens per text (default: the model's context)"
    )
    p.add_argument(
        "--long-inputs",
        choices=LONG_INPUTS,
        default=d.long_inputs,
        help="texts over max length: cut them keeping the EOS, with a warning (default); embed them whole as the "
        "token-weighted mean of their chunks, as `open-ada serve` does; or stop with an error",
    )
    p.add_argument(
        "--chunk", dest="long_inputs", action="store_const", const="chunk", help="the same as --long-inputs chunk"
    )
    p.add_argument(
        "--no-truncate",
        dest="long_inputs",
        action="store_const",
        const="reject",
        help="the same as --long-inputs reject",
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--output", default=d.output, help="write all embeddings to a .npy or .jsonl file")
    p.add_argument("--show", type=int, default=d.show, help=f"values of each embedding to print (default {d.show})")


def read_texts(config: EncodeConfig) -> list[str]:
    texts = [t for t in config.texts if t != "-"]
    if "-" in config.texts:
        texts += [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if config.file:
        texts += [
            line.rstrip("\n") for line in Path(config.file).read_text(encoding="utf-8").split("\n") if line.strip()
        ]
    return texts


def format_similarities(texts: list[str], emb: np.ndarray, width: int = 40) -> str:
    """Pairwise cosine similarities as an aligned table (embeddings are unit-norm)."""
    sims = emb @ emb.T
    labels = [f"[{i}] " + (t if len(t) <= width else t[: width - 1] + "…") for i, t in enumerate(texts)]
    header = " " * (width + 6) + "".join(f"{f'[{j}]':>8}" for j in range(len(texts)))
    rows = [
        f"{label:<{width + 6}}" + "".join(f"{s:8.3f}" for s in row) for label, row in zip(labels, sims, strict=False)
    ]
    return "\n".join([header, *rows])


def main(args) -> int:
    return encode(EncodeConfig.from_args(args))


def encode(config: EncodeConfig) -> int:
    """Embeds the texts, writes them if asked, prints them and their similarities; exit code 2 on bad input."""
    if config.output and Path(config.output).suffix not in OUTPUT_SUFFIXES:
        print(
            f"open-ada encode: --output {config.output}: give a {' or '.join(OUTPUT_SUFFIXES)} file", file=sys.stderr
        )
        return 2
    texts = read_texts(config)
    if not texts:
        print("open-ada encode: no texts given (pass texts, '-' for stdin, or --file)", file=sys.stderr)
        return 2
    from loguru import logger

    try:
        model = load_model(config.model, config.dtype)
        emb = model.encode(
            texts,
            batch_size=config.batch_size,
            max_length=config.max_length,
            dimensions=config.dimensions,
            long_inputs=config.long_inputs,
            show_progress_bar=len(texts) > 1000,
        )
    except (ValueError, TypeError) as err:
        print(f"open-ada encode: {err}", file=sys.stderr)
        return 2

    if config.output:
        path = Path(config.output)
        path.parent.mkdir(parents=True, exist_ok=True)  # the embeddings are made: do not lose them to a missing folder
        if path.suffix == ".npy":
            np.save(path, emb)
        else:
            with path.open("w", encoding="utf-8") as f:
                for text, row in zip(texts, emb, strict=False):
                    f.write(json.dumps({"text": text, "embedding": row.tolist()}) + "\n")
        logger.info(f"wrote {len(texts)} embeddings of {emb.shape[1]} dimensions to {path}")
    for i, row in enumerate(emb[:20]):
        values = ", ".join(f"{v:+.4f}" for v in row[: config.show])
        print(f"[{i}] [{values}, …] ({emb.shape[1]} dims)")
    if len(texts) > 20:
        print(f"… {len(texts) - 20} more")
    if 1 < len(texts) <= 20:
        print("\nCosine similarity:")
        print(format_similarities(texts, emb))
    print(f"\nEmbedded {len(texts)} text(s) with {Path(config.model).name} ({emb.shape[1]} dimensions).")
    return 0
