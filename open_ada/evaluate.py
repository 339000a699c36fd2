"""Evaluates embedding models on STS-B and retrieval, side by side, on the same data in one run.

    open-ada evaluate models/open-ada-small --teacher all-MiniLM-L6-v2 --output results/eval.json

- STS-B: Spearman x100 (scipy) of the cosine similarity of each pair against the gold score, dev and test.
- Retrieval (every BEIR-layout set under `data/retrieval/`): nDCG@10 with graded relevance (scikit-learn's
  `ndcg_score`, gains = judged grades, unjudged = 0) and Recall@100 (share of documents judged >= 1 that are
  in the top 100), averaged over judged queries.
- Out-of-domain retrieval (`open_ada.data.OOD_TASKS`): the same scores on tasks built from held-out documents of
  the training material (news headline -> article, SQuAD question -> answer sentence, science claim -> supporting
  sentence, medical question -> its rewrite), which `open_ada.data.training_filter` keeps out of every training pool.

Any model sentence-transformers can load is accepted (a folder, or a PyPI teacher name).
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from loguru import logger
from scipy.stats import spearmanr
from sklearn.metrics import ndcg_score

from open_ada.cli import FromArgs, command_line
from open_ada.data import (
    OOD_TASKS,
    RetrievalSet,
    ScoredPair,
    read_ood_task,
    read_retrieval,
    read_stsb,
    retrieval_set_names,
)


def sts_spearman(encode, pairs: list[ScoredPair]) -> float:
    """Spearman x100 between the cosine similarity of each pair's embeddings and its gold score."""
    a = encode([p.sentence1 for p in pairs])
    b = encode([p.sentence2 for p in pairs])
    cosine = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return float(spearmanr(cosine, [p.score for p in pairs]).statistic * 100)


def retrieval_scores(encode, data: RetrievalSet) -> dict[str, float]:
    """nDCG@10 and Recall@100 (x100) of cosine-similarity retrieval on one set."""
    doc_ids = list(data.corpus)
    query_ids = list(data.queries)
    docs = encode([data.corpus[d] for d in doc_ids])
    queries = encode([data.queries[q] for q in query_ids])
    docs = docs / np.linalg.norm(docs, axis=-1, keepdims=True)
    queries = queries / np.linalg.norm(queries, axis=-1, keepdims=True)
    scores = queries @ docs.T  # (Q, D)
    gains = np.zeros_like(scores)
    column = {d: i for i, d in enumerate(doc_ids)}
    for row, q in enumerate(query_ids):
        for d, grade in data.qrels[q].items():
            if d in column:
                gains[row, column[d]] = grade
    ndcg = ndcg_score(gains, scores, k=10)
    top100 = np.argsort(-scores, axis=-1)[:, :100]
    recalls = [
        np.take(gains[row] > 0, top100[row]).sum() / max((gains[row] > 0).sum(), 1) for row in range(len(query_ids))
    ]
    return {"ndcg@10": float(ndcg * 100), "recall@100": float(np.mean(recalls) * 100)}


def load_encoder(name: str, batch_size: int = 64):
    """A function texts -> (N, dim) float32 array, from sentence-transformers; and the model's parameter count."""
    import torch
    from sentence_transformers import SentenceTransformer

    from open_ada.teacher import teacher_path

    path = str(teacher_path(name)) if not Path(name).is_dir() else name
    model = SentenceTransformer(path, trust_remote_code=True, device="cuda" if torch.cuda.is_available() else "cpu")
    params = sum(p.numel() for p in model.parameters())

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=batch_size, show_progress_bar=len(texts) > 2000, convert_to_numpy=True)

    return encode, params


def evaluate(
    name: str,
    sets: list[str] | None = None,
    splits: tuple[str, ...] = ("dev", "test"),
    dimensions: tuple[int, ...] = (),
    ood: list[str] | None = None,
) -> dict:
    """All scores of one model; `sets` limits retrieval sets (default: all found) and `ood` the out-of-domain tasks
    (default: all); `dimensions` adds STS-B test scores of the first N dimensions (Matryoshka truncation; cosine
    renormalises)."""
    encode_full, params = load_encoder(name)
    cache: dict[tuple[str, ...], np.ndarray] = {}

    def encode(texts: list[str]) -> np.ndarray:
        key = tuple(texts)
        if key not in cache:
            cache[key] = encode_full(texts)
        return cache[key]

    start = time.time()
    result: dict = {
        "model": name,
        "parameters": params,
        "stsb": {},
        "stsb_test_dimensions": {},
        "retrieval": {},
        "ood": {},
    }
    for split in splits:
        result["stsb"][split] = sts_spearman(encode, read_stsb(split))
        logger.info(f"{name}: STS-B {split} {result['stsb'][split]:.2f}")
    for dim in dimensions:
        score = sts_spearman(lambda texts, d=dim: encode(texts)[:, :d], read_stsb("test"))
        result["stsb_test_dimensions"][str(dim)] = score
        logger.info(f"{name}: STS-B test, first {dim} dimensions: {score:.2f}")
    for set_name in retrieval_set_names() if sets is None else sets:
        result["retrieval"][set_name] = retrieval_scores(encode, read_retrieval(set_name))
        logger.info(f"{name}: {set_name} {result['retrieval'][set_name]}")
    for task in OOD_TASKS if ood is None else ood:
        result["ood"][task] = retrieval_scores(encode, read_ood_task(task))
        logger.info(f"{name}: out-of-domain {task} {result['ood'][task]}")
    result["seconds"] = round(time.time() - start, 1)
    return result


def markdown_table(results: list[dict]) -> str:
    sets = sorted({s for r in results for s in r["retrieval"]})
    dims = sorted({int(d) for r in results for d in r.get("stsb_test_dimensions", {})})
    header = ["model", "params", "STS-B dev", "STS-B test"] + [f"test @{d}d" for d in dims]
    header += [f"{s} {m}" for s in sets for m in ("nDCG@10", "R@100")]
    tasks = [t for t in OOD_TASKS if any(t in r.get("ood", {}) for r in results)]
    header += [f"{t} nDCG@10" for t in tasks]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        row = [Path(r["model"]).name, f"{r['parameters'] / 1e6:.1f}M"]
        row += [f"{r['stsb'][s]:.2f}" if s in r["stsb"] else "–" for s in ("dev", "test")]
        row += [
            f"{r['stsb_test_dimensions'][str(d)]:.2f}" if str(d) in r.get("stsb_test_dimensions", {}) else "–"
            for d in dims
        ]
        for s in sets:
            scores = r["retrieval"].get(s, {})
            row += [f"{scores[m]:.2f}" if m in scores else "–" for m in ("ndcg@10", "recall@100")]
        row += [f"{r['ood'][t]['ndcg@10']:.2f}" if t in r.get("ood", {}) else "–" for t in tasks]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


@dataclass
class EvaluateConfig(FromArgs):
    """The models `open-ada evaluate` scores side by side, and what it scores."""

    model: str  # a model folder or PyPI teacher name
    teacher: list[str] = field(default_factory=list)  # more models, scored next to `model`
    splits: list[str] = field(default_factory=lambda: ["dev", "test"])  # STS-B splits
    dimensions: list[int] = field(default_factory=list)  # also STS-B test at these widths (Matryoshka)
    output: str | None = None  # JSON result file; a .md table is written beside it


def add_arguments(p) -> None:
    """Flags of `open-ada evaluate`; their defaults are `EvaluateConfig`'s."""
    d = EvaluateConfig(model="")  # for the defaults of the other fields
    p.add_argument("model", help="model folder or PyPI teacher name (e.g. all-MiniLM-L6-v2)")
    p.add_argument("--teacher", action="append", default=d.teacher, help="also evaluate this model (repeatable)")
    p.add_argument("--splits", nargs="+", default=d.splits, choices=["dev", "test"], help="STS-B splits")
    p.add_argument(
        "--dimensions", type=int, nargs="*", default=d.dimensions, help="also score STS-B test at these widths"
    )
    p.add_argument("--output", default=d.output, help="JSON result file (a .md table is written beside it)")


def main(args) -> None:
    run(EvaluateConfig.from_args(args))


def run(config: EvaluateConfig) -> None:
    """Scores every model, prints the table and writes the record (with the command and machine) if asked."""
    results = [
        evaluate(name, splits=tuple(config.splits), dimensions=tuple(config.dimensions))
        for name in [config.model, *config.teacher]
    ]
    record = {
        "command": command_line(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
    table = markdown_table(results)
    print(table)
    if config.output:
        Path(config.output).parent.mkdir(parents=True, exist_ok=True)
        Path(config.output).write_text(json.dumps(record, indent=2) + "\n")
        Path(config.output).with_suffix(".md").write_text(
            f"Command: `{record['command']}`  \nMachine: {record['machine']}, {record['date']}\n\n{table}\n"
        )
        logger.info(f"wrote {config.output} and {Path(config.output).with_suffix('.md')}")
