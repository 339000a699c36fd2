"""The two other ways of reading text probed here, with no training: a copy of a model folder whose tokenizer reads
text as `--variant` says, for `open-ada evaluate`.

- `strip`: accents stripped before lower-casing (NFD, StripAccents, Lowercase: the teacher's full normalisation);
- `punct`: a prefix space (`tokenizer.train_tokenizer.byte_level`), and a word after an opening bracket or quote, a
  hyphen, a dash or a slash also read as word-initial: such a mark (with the space before it) is split off first,
  and each piece gets the prefix space (`(née` -> `Ġ( Ġnée`, `north-south` -> `Ġnorth Ġ- Ġsouth`).

    python experiments/2026-12-05-prefix-space/reading_probe.py models/open-ada-small /tmp/v12-strip --variant strip
    open-ada evaluate /tmp/v12-strip --suites stsb retrieval ood --output /tmp/v12-strip/eval.json
"""

import argparse
import shutil
from pathlib import Path

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers

from open_ada.folder import DESCRIBES_THE_MODEL

VARIANTS = {
    "strip": lambda t: setattr(
        t, "normalizer", normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    ),
    "punct": lambda t: setattr(
        t,
        "pre_tokenizer",
        pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(r"\s?[-–—/(\[{\"“‘]"), "isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=True),
            ]
        ),
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("output")
    parser.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    args = parser.parse_args()
    output = Path(args.output)
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(args.folder, output, ignore=shutil.ignore_patterns(*DESCRIBES_THE_MODEL))
    tokenizer = Tokenizer.from_file(str(output / "tokenizer.json"))
    VARIANTS[args.variant](tokenizer)
    tokenizer.save(str(output / "tokenizer.json"))
    print(output, tokenizer.encode('Guitarist (née Smith) plays "north-south"').tokens)


if __name__ == "__main__":
    main()
