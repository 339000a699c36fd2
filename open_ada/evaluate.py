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
from collections.abc import Callable
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
from open_ada.long_tasks import MIN_LENGTH


def sts_spearman(encode, pairs: list[ScoredPair]) -> float:
    """Spearman x100 between the cosine similarity of each pair's embeddings and its gold score."""
    a = encode([p.sentence1 for p in pairs])
    b = encode([p.sentence2 for p in pairs])
    cosine = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return float(spearmanr(cosine, [p.score for p in pairs]).statistic * 100)


def similarities(encode, data: RetrievalSet) -> tuple[np.ndarray, np.ndarray]:
    """`(scores, gains)`, both `(queries, documents)`: cosine similarity of each query to each document and its
    judged grade (0 where unjudged)."""
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
    return scores, gains


def retrieval_scores(encode, data: RetrievalSet) -> dict:
    """nDCG@10 and Recall@100 (x100) of cosine-similarity retrieval on one set, and each query's nDCG@10
    (`ndcg@10_by_query`, x100), which `open-ada compare` pairs between two models."""
    scores, gains = similarities(encode, data)
    query_ids = list(data.queries)
    ndcg = [ndcg_score(gains[row : row + 1], scores[row : row + 1], k=10) for row in range(len(query_ids))]
    top100 = np.argsort(-scores, axis=-1)[:, :100]
    recalls = [
        np.take(gains[row] > 0, top100[row]).sum() / max((gains[row] > 0).sum(), 1) for row in range(len(query_ids))
    ]
    return {
        "ndcg@10": float(np.mean(ndcg) * 100),
        "recall@100": float(np.mean(recalls) * 100),
        "ndcg@10_by_query": {q: round(float(v) * 100, 4) for q, v in zip(query_ids, ndcg, strict=True)},
    }


def headline(scores: dict) -> str:
    """A retrieval result's averages for the log, without its per-query scores."""
    return f"nDCG@10 {scores['ndcg@10']:.2f}, Recall@100 {scores['recall@100']:.2f}"


def load_encoder(name: str, batch_size: int = 64):
    """A function texts -> (N, dim) float32 array, from sentence-transformers; and the model's parameter count."""
    import torch
    from sentence_transformers import SentenceTransformer

    from open_ada.folder import is_open_ada_folder
    from open_ada.teacher import teacher_path

    path = teacher_path(name)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SentenceTransformer(str(path), trust_remote_code=is_open_ada_folder(path), device=device)
    params = sum(p.numel() for p in model.parameters())

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=batch_size, show_progress_bar=len(texts) > 2000, convert_to_numpy=True)

    return encode, params


def long_scores(encode, data: RetrievalSet) -> dict[str, float]:
    """nDCG@10 and accuracy@1 (x100: the share of queries whose one relevant document ranks first) on a long task."""
    scores, gains = similarities(encode, data)
    top1 = gains[np.arange(len(scores)), scores.argmax(-1)] > 0
    return {"ndcg@10": float(ndcg_score(gains, scores, k=10) * 100), "accuracy@1": float(top1.mean() * 100)}


def long_encoders(name: str, max_length: int) -> tuple[dict, int]:
    """The views of a model scored on documents of up to `max_length` tokens, `{view: texts -> array}`, and its context
    in tokens. Open-ada models read with their own `encode` (batched within its token budget): `native` if their
    context holds `max_length` tokens, else `truncated` at it and `chunk-mean` (`encode(long_inputs="chunk")`, as
    `open-ada serve` embeds long inputs). Other models: `truncated` (cut at their position limit, e.g. 512 for
    BERT-style teachers) and `chunk-mean` (`open_ada.teacher.chunk_mean_encode`: the mean over chunks of their
    `max_seq_length`)."""
    import torch

    from open_ada.folder import is_open_ada_folder
    from open_ada.teacher import chunk_mean_encode, load_teacher

    if is_open_ada_folder(name):
        from transformers import AutoModel

        model = AutoModel.from_pretrained(name, trust_remote_code=True).eval()
        if torch.cuda.is_available():
            model.cuda()
        context = model.context_length
        view = "native" if context >= max_length else "truncated"
        read = {view: lambda texts: model.encode(texts, max_length=context)}
        if context < max_length:
            read["chunk-mean"] = lambda texts: model.encode(texts, long_inputs="chunk")
        return read, context
    model = load_teacher(name)
    chunked = {"chunk-mean": lambda texts: chunk_mean_encode(model, texts)}
    context = model[0].auto_model.config.max_position_embeddings

    def truncated(texts: list[str]) -> np.ndarray:
        model.max_seq_length, chunk_length = context, model.max_seq_length  # the chunk-mean view keeps its own
        try:
            return model.encode(texts, batch_size=16, convert_to_numpy=True)
        finally:
            model.max_seq_length = chunk_length

    return {"truncated": truncated, **chunked}, context


LONG_TASK_CACHE: dict[tuple[str, int, int], RetrievalSet] = {}


def memoised(encode: Callable[[list[str]], np.ndarray]) -> Callable[[list[str]], np.ndarray]:
    """`encode` that embeds each distinct text once: the long tasks repeat texts across lengths (an article shorter
    than the length, a digest's titles)."""
    seen: dict[str, np.ndarray] = {}

    def encode_once(texts: list[str]) -> np.ndarray:
        new = [text for text in dict.fromkeys(texts) if text not in seen]
        if new:
            seen.update(zip(new, encode(new), strict=True))
        return np.stack([seen[text] for text in texts])

    return encode_once


def evaluate_long(name: str, lengths: tuple[int, ...], n_docs: int) -> dict:
    """`{view: {task: {length: scores}}}` of one model on every long-document task (`open_ada.long_tasks`)."""
    from open_ada.long_tasks import LONG_TASKS, build_long_task, shipped_token_counter

    encoders, context = long_encoders(name, max(lengths))
    count = shipped_token_counter()
    out: dict = {}
    for view, encode_view in encoders.items():
        encode = memoised(encode_view)
        for task in LONG_TASKS:
            for length in lengths:
                key = (task, length, n_docs)
                if key not in LONG_TASK_CACHE:  # built once per run, scored for every model and view
                    LONG_TASK_CACHE[key] = build_long_task(task, length, n_docs, count=count)
                data = LONG_TASK_CACHE[key]
                start = time.time()
                scores = long_scores(encode, data)
                out.setdefault(view, {}).setdefault(task, {})[str(length)] = scores
                logger.info(
                    f"{name} ({view}, context {context}): {task} at {length} tokens: nDCG@10 {scores['ndcg@10']:.2f}, "
                    f"accuracy@1 {scores['accuracy@1']:.1f} ({time.time() - start:.0f}s)"
                )
    return out


SUITES = ("stsb", "retrieval", "ood", "long")


def evaluate(
    name: str,
    sets: list[str] | None = None,
    splits: tuple[str, ...] = ("dev", "test"),
    dimensions: tuple[int, ...] = (),
    ood: list[str] | None = None,
    suites: tuple[str, ...] = ("stsb", "retrieval", "ood"),
    long_lengths: tuple[int, ...] = (),
    long_docs: int = 32,
) -> dict:
    """All scores of one model on `suites` (of `SUITES`); `sets` limits retrieval sets (default: all found) and `ood`
    the out-of-domain tasks (default: all); `dimensions` adds STS-B test scores of the first N dimensions (Matryoshka
    truncation; cosine renormalises); `long` scores the long-document tasks at `long_lengths` with `long_docs`
    documents each (`evaluate_long`)."""
    unknown = set(suites) - set(SUITES)
    if unknown:
        raise ValueError(f"unknown suites {sorted(unknown)}; allowed: {list(SUITES)}")
    encode_full, params = load_encoder(name)
    cache: dict[tuple[str, ...], np.ndarray] = {}

    def encode(texts: list[str]) -> np.ndarray:
        key = tuple(texts)
        if key not in cache:
            cache[key] = encode_full(texts)
        return cache[key]

    width = encode_full(["width"]).shape[-1] if dimensions else 0  # any one text's embedding gives the width
    too_wide = [dim for dim in dimensions if dim > width]
    if too_wide:
        raise ValueError(f"dimensions {too_wide}: {name} embeds in {width}; give widths in [1, {width}]")
    start = time.time()
    result: dict = {
        "model": name,
        "parameters": params,
        "stsb": {},
        "stsb_test_dimensions": {},
        "retrieval": {},
        "ood": {},
    }
    for split in splits if "stsb" in suites else ():
        result["stsb"][split] = sts_spearman(encode, read_stsb(split))
        logger.info(f"{name}: STS-B {split} {result['stsb'][split]:.2f}")
    for dim in dimensions if "stsb" in suites else ():
        score = sts_spearman(lambda texts, d=dim: encode(texts)[:, :d], read_stsb("test"))
        result["stsb_test_dimensions"][str(dim)] = score
        logger.info(f"{name}: STS-B test, first {dim} dimensions: {score:.2f}")
    for set_name in (retrieval_set_names() if sets is None else sets) if "retrieval" in suites else ():
        result["retrieval"][set_name] = retrieval_scores(encode, read_retrieval(set_name))
        logger.info(f"{name}: {set_name} {headline(result['retrieval'][set_name])}")
    for task in (OOD_TASKS if ood is None else ood) if "ood" in suites else ():
        result["ood"][task] = retrieval_scores(encode, read_ood_task(task))
        logger.info(f"{name}: out-of-domain {task} {headline(result['ood'][task])}")
    if "long" in suites:
        result["long"] = evaluate_long(name, long_lengths, long_docs)
    result["seconds"] = round(time.time() - start, 1)
    return result


def model_label(name: str) -> str:
    """A model's name in the tables: its folder's name (`runs/x/final` -> `x/final`) or the PyPI teacher name."""
    path = Path(name)
    return f"{path.parent.name}/{path.name}" if path.name == "final" else path.name


def markdown_table(results: list[dict]) -> str:
    sets = sorted({s for r in results for s in r["retrieval"]})
    dims = sorted({int(d) for r in results for d in r.get("stsb_test_dimensions", {})})
    splits = ["dev", "test"] if any(r["stsb"] for r in results) else []  # a long-only run has no STS-B columns
    header = ["model", "params", *[f"STS-B {s}" for s in splits]] + [f"test @{d}d" for d in dims]
    header += [f"{s} {m}" for s in sets for m in ("nDCG@10", "R@100")]
    tasks = [t for t in OOD_TASKS if any(t in r.get("ood", {}) for r in results)]
    header += [f"{t} nDCG@10" for t in tasks]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        row = [model_label(r["model"]), f"{r['parameters'] / 1e6:.1f}M"]
        row += [f"{r['stsb'][s]:.2f}" if s in r["stsb"] else "–" for s in splits]
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


# the headline metric of each long task
LONG_METRIC = {"needle": "accuracy@1", "passkey": "accuracy@1", "documents": "ndcg@10", "articles": "ndcg@10"}


def long_table(results: list[dict]) -> str:
    """One markdown table per long-document task: a row per model and view, a column per length."""
    tables = []
    for task, metric in LONG_METRIC.items():
        rows = [
            (model_label(r["model"]), view, scores[task])
            for r in results
            for view, scores in r.get("long", {}).items()
        ]
        lengths = sorted({int(n) for *_, by_length in rows for n in by_length})
        if not rows:
            continue
        lines = [
            f"{task} ({metric})",
            "",
            "| model | view | " + " | ".join(str(n) for n in lengths) + " |",
            "|---|---|" + "---|" * len(lengths),
        ]
        for model, view, by_length in rows:
            cells = [f"{by_length[str(n)][metric]:.1f}" if str(n) in by_length else "–" for n in lengths]
            lines.append(f"| {model} | {view} | " + " | ".join(cells) + " |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


@dataclass
class EvaluateConfig(FromArgs):
    """The models `open-ada evaluate` scores side by side, and what it scores."""

    model: str  # a model folder or PyPI teacher name
    teacher: list[str] = field(default_factory=list)  # more models, scored next to `model`
    splits: list[str] = field(default_factory=lambda: ["dev", "test"])  # STS-B splits
    dimensions: list[int] = field(default_factory=list)  # also STS-B test at these widths (Matryoshka)
    output: str | None = None  # JSON result file; a .md table is written beside it
    suites: list[str] = field(default_factory=lambda: ["stsb", "retrieval", "ood"])  # of SUITES; `long` is opt-in
    long_lengths: list[int] = field(
        default_factory=lambda: [512, 1024, 2048, 4096, 8192]
    )  # tokens (shipped tokenizer)
    long_docs: int = 32  # documents per long task and length

    def __post_init__(self):
        if any(d < 1 for d in self.dimensions) or self.long_docs < 1 or min(self.long_lengths) < MIN_LENGTH:
            raise ValueError(
                f"dimensions must be >= 1, long_docs >= 1 and long_lengths >= {MIN_LENGTH} tokens, got "
                f"{self.dimensions}, {self.long_docs} and {self.long_lengths}"
            )


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
    p.add_argument(
        "--suites",
        nargs="+",
        choices=SUITES,
        default=d.suites,
        help="what to score: STS-B, the retrieval sets, the out-of-domain tasks, and (opt-in, slow on a CPU) the "
        "long-document tasks: needle, passkey, document and article retrieval at --long-lengths",
    )
    p.add_argument("--long-lengths", type=int, nargs="+", default=d.long_lengths, help="long-task document lengths")
    p.add_argument("--long-docs", type=int, default=d.long_docs, help="documents per long task and length")


def main(args) -> None:
    run(EvaluateConfig.from_args(args))


def run(config: EvaluateConfig) -> None:
    """Scores every model, prints the table and writes the record (with the command and machine) if asked."""
    results = [
        evaluate(
            name,
            splits=tuple(config.splits),
            dimensions=tuple(config.dimensions),
            suites=tuple(config.suites),
            long_lengths=tuple(config.long_lengths),
            long_docs=config.long_docs,
        )
        for name in [config.model, *config.teacher]
    ]
    record = {
        "command": command_line(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
    table = markdown_table(results)
    if "long" in config.suites:
        table += "\n\n" + long_table(results)
    print(table)
    if config.output:
        Path(config.output).parent.mkdir(parents=True, exist_ok=True)
        Path(config.output).write_text(json.dumps(record, indent=2) + "\n")
        Path(config.output).with_suffix(".md").write_text(
            f"Command: `{record['command']}`  \nMachine: {record['machine']}, {record['date']}\n\n{table}\n"
        )
        logger.info(f"wrote {config.output} and {Path(config.output).with_suffix('.md')}")
