"""`open-ada soup`: the uniform model soup (Wortsman et al., 2022) of sibling fine-tunes, every tensor the mean over
the model folders (`open_ada.interpolate.mix`), written as a copy of the last folder's model files.

    open-ada soup runs/rank-seed13/final runs/rank-seed14/final runs/rank-seed15/final --output runs/rank-soup3

The folders must hold the same architecture and tokenizer: runs from one start model with other seeds or data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from open_ada.cli import FromArgs
from open_ada.interpolate import mix


@dataclass
class SoupConfig(FromArgs):
    """Which model folders `open-ada soup` averages, and where the soup goes."""

    models: list[str]
    output: str


def add_arguments(p) -> None:
    """Flags of `open-ada soup`, the fields of `SoupConfig`."""
    p.add_argument("models", nargs="+", help="two or more model folders of one architecture and tokenizer")
    p.add_argument(
        "--output",
        required=True,
        help="the folder to write the soup to (an earlier model folder there is replaced; never an input)",
    )


def soup(folders: list[Path], output: Path) -> Path:
    """Writes the mean of the folders' weights to `output` and returns it."""
    if len(folders) < 2:
        raise ValueError(f"a soup averages two or more model folders, got {len(folders)}")
    if len({folder.resolve() for folder in folders}) < len(folders):
        raise ValueError(f"a soup weighs each model once: {[str(f) for f in folders]} names a folder twice")
    return mix(folders, [1 / len(folders)] * len(folders), output)


def main(args) -> None:
    config = SoupConfig.from_args(args)
    soup([Path(m) for m in config.models], Path(config.output))
