"""Copies the shipped model folder with its tokenizer stripping accents before it lower-cases (NFD, StripAccents, NFC,
Lowercase: `José` -> `jose`, as the uncased teacher's WordPiece reads it); weights, vocabulary and merges unchanged.

PYTHONPATH=. python experiments/2026-12-06-strip-accents/strip_accents.py models/open-ada-small runs/v13-strip
"""

import shutil
import sys

from tokenizers import normalizers
from transformers import PreTrainedTokenizerFast

from open_ada.folder import DESCRIBES_THE_MODEL
from tokenizer.train_tokenizer import save_tokenizer


def main(folder: str, output: str) -> None:
    shutil.rmtree(output, ignore_errors=True)
    shutil.copytree(folder, output, ignore=shutil.ignore_patterns(*DESCRIBES_THE_MODEL))
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    tokenizer.backend_tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFD(), normalizers.StripAccents(), normalizers.NFC(), normalizers.Lowercase()]
    )
    save_tokenizer(tokenizer, output)
    print(tokenizer.convert_ids_to_tokens(tokenizer("José Martí Café Zürich")["input_ids"]))


if __name__ == "__main__":
    main(*sys.argv[1:3])
