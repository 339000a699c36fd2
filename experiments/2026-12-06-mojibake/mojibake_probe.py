"""How much MS MARCO's mojibake costs retrieval, no training (issue #12 probe).

A fifth of the msmarco-dl19-5k passages hold UTF-8 punctuation decoded as Latin-1 (`Lanterman\u00e2\x80\x93Petris`
for `Lanterman\u2013Petris`). This scores msmarco-dl19-5k with the corpus as it is and repaired by ftfy (the upper
bound of any repair), for each model given, and writes one `open-ada evaluate --output`-style record per model and
reading, so that `open-ada compare` can pair the two readings query by query.

    PYTHONPATH=. python experiments/2026-12-06-mojibake/mojibake_probe.py models/open-ada-small all-MiniLM-L6-v2 \
        --output-dir experiments/2026-12-06-mojibake
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import ftfy
from loguru import logger

from open_ada.data import read_retrieval
from open_ada.evaluate import headline, load_encoder, retrieval_scores

SET = "msmarco-dl19-5k"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--output-dir", required=True)
    args = p.parse_args()
    data = read_retrieval(SET)
    repaired = dataclasses.replace(data, corpus={d: ftfy.fix_text(t) for d, t in data.corpus.items()})
    changed = sum(repaired.corpus[d] != t for d, t in data.corpus.items())
    logger.info(f"ftfy changes {changed} of {len(data.corpus)} passages")
    for name in args.models:
        encode, _ = load_encoder(name)
        for reading, corpus in (("as-is", data), ("ftfy", repaired)):
            scores = retrieval_scores(encode, corpus)
            logger.info(f"{name}, corpus {reading}: {SET} {headline(scores)}")
            result = {"model": name, "retrieval": {SET: scores}, "ood": {}}
            record = {"corpus": reading, "changed_passages": changed, "results": [result]}
            out = Path(args.output_dir) / f"{Path(name).name}-{reading}.json"
            out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
