"""Teacher-mined hard negatives for the contrastive pair sets.

    open-ada mine-negatives --pair-set keywords --max-rows 16000

In-batch negatives are mostly easy: a random passage rarely competes with the right one. Mining turns a pair set's
(anchor, positive) rows into (anchor, positive, negative) triplets whose negative is a near miss: the positive of
another row that the teacher ranks high for the anchor, but scores below `max_ratio` times the anchor's own positive
(NV-Retriever's "PercPos" filter; a candidate about as close as the positive is likely a second right answer,
not a negative). The triplets are cached outside git (`<cache>/teacher/<teacher>/negatives/<pair set>.jsonl`, with
the teacher's two scores), and `open-ada train` reads them for the pair sets named in its config's `hard_negatives`,
where the teacher as GIST guide still drops any in-batch candidate it finds as close as the positive.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from loguru import logger

from open_ada.cli import FromArgs
from open_ada.data import training_filter
from open_ada.pools import LONG_PAIR_SETS, PAIR_SETS, build
from open_ada.teacher import TEACHER, cache_dir, load_teacher, teacher_encode

MINABLE = tuple(name for name in PAIR_SETS if name not in LONG_PAIR_SETS and name != "nli")  # nli has its own


def negatives_path(teacher: str, pair_set: str) -> Path:
    return cache_dir(teacher, "negatives") / f"{pair_set}.jsonl"


def mine(
    anchors: list[str], positives: list[str], anchor_emb: np.ndarray, positive_emb: np.ndarray, max_ratio: float
) -> list[int | None]:
    """For each row `i`, the row whose positive is the hardest allowed negative of anchor `i`: the closest positive
    (unit embeddings, cosine) that scores below `max_ratio` times the row's own positive and is no positive of the
    same anchor text; None where no positive qualifies. Rows whose positive the teacher itself ranks low keep a
    negative (further down the ranking): no row is dropped for being hard."""
    first = {}  # positive text -> its first row: each text is one candidate
    for j, positive in enumerate(positives):
        first.setdefault(positive, j)
    columns = list(first.values())
    column_of = {text: c for c, text in enumerate(first)}
    own = defaultdict(list)  # anchor text -> the candidate columns of all its positives
    for anchor, positive in zip(anchors, positives, strict=True):
        own[anchor].append(column_of[positive])
    a, p = torch.from_numpy(anchor_emb).float(), torch.from_numpy(positive_emb).float()
    bounds = (a * p).sum(-1) * max_ratio
    candidates = p[columns]
    chosen: list[int | None] = []
    for start in range(0, len(anchors), 1024):
        scores = a[start : start + 1024] @ candidates.T
        scores[scores >= bounds[start : start + 1024, None]] = -torch.inf
        for row in range(len(scores)):
            scores[row, own[anchors[start + row]]] = -torch.inf
        best, column = scores.max(-1)
        chosen += [columns[c] if s > -torch.inf else None for s, c in zip(best.tolist(), column.tolist(), strict=True)]
    return chosen


def mine_pair_set(config: MineConfig) -> Path:
    """Mines `config.pair_set`'s first `max_rows` rows (`open_ada.pools.build` shuffles across sources, so a prefix
    mixes them) and writes the triplets to the cache; returns its path."""
    rows = build(config.pair_set)[: config.max_rows]
    if len(rows[0][0]) != 2:
        raise ValueError(
            f"pair set {config.pair_set!r} has {len(rows[0][0])} columns; mining needs (anchor, positive)"
        )
    anchors, positives = [fields[0] for fields, _ in rows], [fields[1] for fields, _ in rows]
    model = load_teacher(config.teacher)
    logger.info(f"{config.pair_set}: embedding {len(rows)} anchors and positives with {config.teacher}")
    anchor_emb = teacher_encode(model, anchors, config.batch_size)
    positive_emb = teacher_encode(model, positives, config.batch_size)
    chosen = mine(anchors, positives, anchor_emb, positive_emb, config.max_ratio)
    path = negatives_path(config.teacher, config.pair_set)
    path.parent.mkdir(parents=True, exist_ok=True)
    kept = Counter()
    with path.with_suffix(".tmp").open("w", encoding="utf-8") as f:
        for i, j in enumerate(chosen):
            if j is None:
                continue
            kept[rows[i][1]] += 1
            record = {
                "anchor": anchors[i],
                "positive": positives[i],
                "negative": positives[j],
                "source": rows[i][1],
                "teacher_positive": round(float(anchor_emb[i] @ positive_emb[i]), 4),
                "teacher_negative": round(float(anchor_emb[i] @ positive_emb[j]), 4),
            }
            f.write(json.dumps(record) + "\n")
    path.with_suffix(".tmp").replace(path)
    dropped = len(rows) - sum(kept.values())
    logger.info(
        f"{config.pair_set}: {sum(kept.values())} triplets by source {dict(kept.most_common())} in {path}"
        + (
            f"; {dropped} rows dropped (no other positive scores below {config.max_ratio} x their own)"
            if dropped
            else ""
        )
    )
    return path


def load_triplets(teacher: str, pair_set: str) -> list[tuple[str, str, str]]:
    """The cached (anchor, positive, negative) triplets of `pair_set` that the training filter allows now (it runs
    again at load time, since a cache may predate a longer denylist)."""
    path = negatives_path(teacher, pair_set)
    if not path.is_file():
        raise ValueError(
            f"no mined negatives of pair set {pair_set!r} for teacher {teacher}: run "
            f"`open-ada mine-negatives --pair-set {pair_set}` (or leave it out of hard_negatives)"
        )
    records = [json.loads(line) for line in path.open(encoding="utf-8")]
    rows = training_filter().keep(((r["anchor"], r["positive"], r["negative"]), r["source"]) for r in records)
    if len(rows) < len(records):
        logger.warning(f"{pair_set} negatives: {len(records) - len(rows)} triplets refused by the training filter")
    return [fields for fields, _ in rows]


@dataclass
class MineConfig(FromArgs):
    pair_set: str = "keywords"
    teacher: str = TEACHER
    max_rows: int | None = None  # mine the first N rows of the pair set (None: all)
    max_ratio: float = 0.95  # a negative scores below this share of the anchor's positive
    batch_size: int = 64


def add_arguments(p) -> None:
    defaults = MineConfig()
    p.add_argument("--pair-set", choices=MINABLE, default=defaults.pair_set)
    p.add_argument("--teacher", default=defaults.teacher)
    p.add_argument("--max-rows", type=int, default=defaults.max_rows, help="mine the pair set's first N rows only")
    p.add_argument(
        "--max-ratio",
        type=float,
        default=defaults.max_ratio,
        help="a negative's teacher score stays below this share of the positive's (drops likely right answers)",
    )
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="teacher batch size")


def main(args) -> None:
    mine_pair_set(MineConfig.from_args(args))
