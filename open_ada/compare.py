"""Whether a candidate model's retrieval scores differ from a base model's by more than the queries' noise.

    open-ada compare results/eval.json runs/candidate/eval.json

The retrieval sets are small (43 judged queries in msmarco-dl19-5k, 40 in dbpedia-5k), so a point of nDCG@10 is
often one or two queries. For every retrieval and out-of-domain set in both `open-ada evaluate` records, this pairs
the two models' nDCG@10 query by query and reports the mean difference (candidate - base), its 95% paired
bootstrap interval over queries (`scipy.stats.bootstrap`), and how many queries went up and down. A difference whose
interval holds 0 is within the noise of that set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import bootstrap

from open_ada.cli import FromArgs

BY_QUERY = "ndcg@10_by_query"  # written by open_ada.evaluate.retrieval_scores


@dataclass
class CompareConfig(FromArgs):
    base: str  # an `open-ada evaluate --output` JSON record
    candidate: str  # another record (or the same one, naming another model)
    base_model: str | None = None  # which result of the base record (default: its first, the evaluated model)
    candidate_model: str | None = None  # which result of the candidate record (default: its first)
    confidence: float = 0.95
    resamples: int = 10_000
    seed: int = 0  # of the bootstrap's resampling: the same records give the same interval
    output: str | None = None  # also write the table to this markdown file

    def __post_init__(self):
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence {self.confidence}: give a level between 0 and 1, e.g. 0.95")
        if self.resamples < 1:
            raise ValueError(f"resamples {self.resamples}: give at least 1 (thousands for a stable interval)")


@dataclass
class Difference:
    """One set's paired comparison; scores are nDCG@10 x100."""

    name: str
    queries: int
    base: float
    candidate: float
    low: float  # the interval of the mean difference
    high: float
    up: int  # queries the candidate scores higher
    down: int

    @property
    def mean(self) -> float:
        return self.candidate - self.base

    @property
    def verdict(self) -> str:
        if self.low > 0:
            return "candidate higher"
        if self.high < 0:
            return "base higher"
        return "within noise"


def load_result(path: str, model: str | None) -> dict:
    """The result of `model` (default: the first) in the `open-ada evaluate` record at `path`."""
    record = json.loads(Path(path).read_text())
    if not isinstance(record, dict) or not isinstance(record.get("results"), list):
        raise ValueError(f"{path} is not an `open-ada evaluate --output` record (a JSON object with a 'results' list)")
    results = record["results"]
    names = [r["model"] for r in results]
    if model is None:
        return results[0]
    if model not in names:
        raise ValueError(f"{path} has no result for model {model!r}; it has {names}")
    return results[names.index(model)]


def per_query(result: dict, path: str) -> dict[str, dict[str, float]]:
    """`{set: {query id: nDCG@10}}` over the retrieval and out-of-domain sets of one result."""
    sets = {**result.get("retrieval", {}), **result.get("ood", {})}
    missing = [name for name, scores in sets.items() if BY_QUERY not in scores]
    if missing:
        raise ValueError(
            f"{path}: {result['model']} has no per-query scores for {missing} (records written before "
            f"`{BY_QUERY}` existed): run `open-ada evaluate` again to compare them"
        )
    return {name: scores[BY_QUERY] for name, scores in sets.items()}


def paired_difference(
    name: str, base: dict[str, float], candidate: dict[str, float], config: CompareConfig
) -> Difference:
    """The paired comparison of two models' per-query scores on one set, with `config`'s bootstrap; both must score
    the same queries."""
    if set(base) != set(candidate):
        raise ValueError(
            f"{name}: the two results score different queries ({len(base)} and {len(candidate)}, "
            f"{len(set(base) ^ set(candidate))} not shared): evaluate both on the same data"
        )
    queries = sorted(base)
    a = np.array([base[q] for q in queries])
    b = np.array([candidate[q] for q in queries])
    diff = b - a
    if np.all(diff == diff[0]):  # one value resampled is that value (scipy refuses a degenerate sample)
        low = high = float(diff[0])
    else:
        interval = bootstrap(
            (diff,),
            np.mean,
            confidence_level=config.confidence,
            n_resamples=config.resamples,
            method="percentile",
            rng=np.random.default_rng(config.seed),
        ).confidence_interval
        low, high = float(interval.low), float(interval.high)
    return Difference(
        name, len(queries), float(a.mean()), float(b.mean()), low, high, int((diff > 0).sum()), int((diff < 0).sum())
    )


def compare(config: CompareConfig) -> list[Difference]:
    """The paired comparison on every set that both results score, in the base record's order."""
    base = per_query(load_result(config.base, config.base_model), config.base)
    candidate = per_query(load_result(config.candidate, config.candidate_model), config.candidate)
    shared = [name for name in base if name in candidate]
    if not shared:
        raise ValueError(
            f"{config.base} scores {sorted(base)} and {config.candidate} scores {sorted(candidate)}: no set in common"
        )
    return [paired_difference(name, base[name], candidate[name], config) for name in shared]


def markdown_table(differences: list[Difference], base: str, candidate: str, confidence: float) -> str:
    lines = [
        f"nDCG@10 x100, candidate `{candidate}` against base `{base}`; {confidence:.0%} paired bootstrap interval "
        "of the mean difference over queries.",
        "",
        "| set | queries | base | candidate | difference | interval | queries up / down | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in differences:
        lines.append(
            f"| {d.name} | {d.queries} | {d.base:.2f} | {d.candidate:.2f} | {d.mean:+.2f} | "
            f"[{d.low:+.2f}, {d.high:+.2f}] | {d.up} / {d.down} | {d.verdict} |"
        )
    return "\n".join(lines)


def add_arguments(p) -> None:
    """Flags of `open-ada compare`; their defaults are `CompareConfig`'s."""
    d = CompareConfig(base="", candidate="")
    p.add_argument("base", help="the base model's `open-ada evaluate --output` JSON record")
    p.add_argument("candidate", help="the candidate's record (may be the same file with --candidate-model)")
    p.add_argument("--base-model", default=d.base_model, help="result of the base record to use (default: first)")
    p.add_argument(
        "--candidate-model", default=d.candidate_model, help="result of the candidate record to use (default: first)"
    )
    p.add_argument("--confidence", type=float, default=d.confidence, help="level of the bootstrap interval")
    p.add_argument("--resamples", type=int, default=d.resamples, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the bootstrap's resampling")
    p.add_argument("--output", default=d.output, help="also write the table to this markdown file")


def main(args) -> None:
    config = CompareConfig.from_args(args)
    base_name = load_result(config.base, config.base_model)["model"]
    candidate_name = load_result(config.candidate, config.candidate_model)["model"]
    table = markdown_table(compare(config), base_name, candidate_name, config.confidence)
    print(table)
    if config.output:
        Path(config.output).write_text(table + "\n")
