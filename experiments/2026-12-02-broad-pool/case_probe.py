"""Would a case-insensitive tokenizer help? Copies a model folder with a normaliser put in front of its BPE
(`lowercase`: Lowercase; `bert`: NFD, strip accents, Lowercase, what the uncased teacher's WordPiece does), with no
training, so `open-ada evaluate` can score it next to the original. A diagnostic for issue #12: msmarco's queries
are all lower case, 20 of dbpedia's 50 are, Reuters' headlines are all capitals; our byte-level BPE is cased.

    python experiments/2026-12-02-broad-pool/case_probe.py models/open-ada-small runs/case-probe
    open-ada evaluate models/open-ada-small runs/case-probe/lowercase runs/case-probe/bert --teacher all-MiniLM-L6-v2
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tokenizers import Tokenizer, normalizers

from tokenizer.train_tokenizer import uncased_normalizer

NORMALIZERS = {
    "lowercase": uncased_normalizer,  # what open-ada-small v6 ships
    "bert": lambda: normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()]),
}


def main() -> None:
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    for name, make in NORMALIZERS.items():
        target = out / name
        shutil.copytree(source, target, dirs_exist_ok=True)
        tokenizer = Tokenizer.from_file(str(target / "tokenizer.json"))
        tokenizer.normalizer = make()
        tokenizer.save(str(target / "tokenizer.json"))
        print(f"{target}: {name} normaliser; 'AIRBUS Sönke' -> {tokenizer.encode('AIRBUS Sönke').tokens}")


if __name__ == "__main__":
    main()
