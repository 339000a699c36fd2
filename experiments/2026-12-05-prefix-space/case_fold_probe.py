"""Probe, no training: give the dead capitalised tokens of an uncased model's BPE to their lower-case spellings.

The BPE was learned on cased text (v5); v6 put a Lowercase normaliser in front of it, so a token with a capital letter
never occurs since, and a lower-cased name is read in pieces (`john` -> `Ġj ohn`, `american` -> `Ġa meric an`). Each
capitalised token whose lower-case spelling is not a token already takes that spelling (the lowest id wins a shared
spelling); each merge that joined capitalised pieces is replaced, at its rank, by the same merge of their lower-case
spellings. The ids and weights are unchanged: `Ġjohn` gets the row `ĠJohn` learned on cased text up to v5.

    python experiments/2026-12-05-prefix-space/case_fold_probe.py models/open-ada-small /tmp/v13-fold
    open-ada evaluate /tmp/v13-fold --suites stsb retrieval ood --output /tmp/v13-fold/eval.json
"""

import argparse
import json
import shutil
from pathlib import Path

from tokenizers import Tokenizer

from open_ada.folder import DESCRIBES_THE_MODEL


def lower(token: str) -> str:
    """ASCII capitals lower-cased; the other characters of a byte-level token stand for bytes (`Ġ` is a space)."""
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in token)


def fold(spec: dict) -> tuple[dict, int, int]:
    vocab = spec["model"]["vocab"]
    rename: dict[str, str] = {}
    for token, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
        spelled = lower(token)
        if spelled != token and spelled not in vocab and spelled not in rename.values():
            rename[token] = spelled
    folded = {rename.get(t, t): i for t, i in vocab.items()}
    merges, seen, lowered = [], set(), 0
    for a, b in spec["model"]["merges"]:
        if lower(a) != a or lower(b) != b:  # never fires on lower-cased text: its lower-case twin takes its rank
            pair = (lower(a), lower(b))
            if pair[0] in folded and pair[1] in folded and "".join(pair) in folded and pair not in seen:
                merges.append(list(pair))
                seen.add(pair)
                lowered += 1
        elif (a, b) not in seen:
            merges.append([a, b])
            seen.add((a, b))
    spec["model"]["vocab"], spec["model"]["merges"] = folded, merges
    return spec, len(rename), lowered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("output")
    args = parser.parse_args()
    output = Path(args.output)
    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(args.folder, output, ignore=shutil.ignore_patterns(*DESCRIBES_THE_MODEL))
    spec, renamed, lowered = fold(json.loads((output / "tokenizer.json").read_text()))
    (output / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
    text = "John Smith, an American actor born in California in January"
    print(f"{output}: {renamed} tokens renamed, {lowered} merges lower-cased:")
    print(Tokenizer.from_file(str(output / "tokenizer.json")).encode(text).tokens)


if __name__ == "__main__":
    main()
