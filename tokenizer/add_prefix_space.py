"""Copies a model folder with its tokenizer reading a text's first word as any other word (`make_prefix_space`): the
weights, vocabulary and merges stay as they are; only how text is split before the BPE changes (`causes of gout` ->
`Ġcauses Ġof ...`, not `c aus es Ġof ...`). The folder's evaluation results and model card stay behind: they describe
the model as it read text before.

    python tokenizer/add_prefix_space.py models/open-ada-small --output runs/open-ada-small-spaced
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from open_ada.folder import DESCRIBES_THE_MODEL, clear_output_folder
from tokenizer.train_tokenizer import make_prefix_space, save_tokenizer


def add_prefix_space(folder: Path, output: Path) -> Path:
    """Writes a copy of model folder `folder` whose tokenizer has a prefix space to `output` (an earlier model folder
    there is replaced) and returns it. Raises ValueError if `folder`'s tokenizer has one already, or if `output` is
    `folder` or overlaps it (`clear_output_folder`)."""
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    if not make_prefix_space(tokenizer):
        raise ValueError(f"{folder}'s tokenizer already reads the first word with a prefix space: nothing to change")
    clear_output_folder(output, [folder])
    shutil.copytree(folder, output, ignore=shutil.ignore_patterns(*DESCRIBES_THE_MODEL))
    save_tokenizer(tokenizer, output)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", help="the model folder to copy")
    parser.add_argument(
        "--output",
        required=True,
        help="the folder to write the copy to (an earlier model folder there is replaced; never the input)",
    )
    args = parser.parse_args(argv)
    output = add_prefix_space(Path(args.folder), Path(args.output))
    print(f"{output}: {args.folder} with a prefix space before each text's first word")


if __name__ == "__main__":
    main()
