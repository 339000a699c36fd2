"""Readers for the shared evaluation/training data and the distillation text pool.

Everything reads `../shared/data` (or `$OPEN_ADA_DATA`) in place; nothing is downloaded.
"""

from __future__ import annotations

import csv
import functools
import glob
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from open_ada.paths import DATA_DIR

# Default cap on the texts taken from each source of a distillation pool.
MAX_PER_SOURCE = 120_000


@dataclass
class ScoredPair:
    sentence1: str
    sentence2: str
    score: float


def read_stsb(split: str, data_dir: Path = DATA_DIR) -> list[ScoredPair]:
    """STS Benchmark `train`, `dev` or `test`; scores in [0, 5]."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"STS-B split must be 'train', 'dev' or 'test', got {split!r}")
    pairs = []
    with open(data_dir / "stsb" / f"sts-{split}.csv", encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")  # some rows carry two extra source columns
            pairs.append(ScoredPair(fields[5], fields[6], float(fields[4])))
    return pairs


def read_sick(data_dir: Path = DATA_DIR) -> list[ScoredPair]:
    """SICK train + trial relatedness pairs; scores in [1, 5]."""
    pairs = []
    for name in ("sick-train.tsv", "sick-trial.tsv"):
        with open(data_dir / "pairs" / name, encoding="utf-8") as f:
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                pairs.append(ScoredPair(row["sentence_A"], row["sentence_B"], float(row["relatedness_score"])))
    return pairs


def read_msrp(data_dir: Path = DATA_DIR) -> list[ScoredPair]:
    """MSRP train; score 1.0 = paraphrase, 0.0 = not."""
    pairs = []
    with open(data_dir / "pairs" / "msrp-train.tsv", encoding="utf-8-sig") as f:
        next(f)
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 5:
                pairs.append(ScoredPair(fields[3], fields[4], float(fields[0])))
    return pairs


def read_trecqa(split: str = "train", data_dir: Path = DATA_DIR) -> list[ScoredPair]:
    """TrecQA (question, candidate answer, 1.0 if it answers the question)."""
    with open(data_dir / "pairs" / f"trecqa-{split}.csv", encoding="utf-8") as f:
        return [ScoredPair(r["qtext"], r["atext"], float(r["label"])) for r in csv.DictReader(f)]


@dataclass
class RetrievalSet:
    name: str
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def read_retrieval(name: str, data_dir: Path = DATA_DIR) -> RetrievalSet:
    """A BEIR-layout retrieval set (`msmarco-dl19-5k` or `dbpedia-5k`); only judged queries are kept."""
    root = data_dir / "retrieval" / name

    def jsonl(path: Path) -> list[dict]:
        # Split on "\n" only: the corpus holds U+2028, which str.splitlines() would also split on.
        return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]

    corpus = {d["_id"]: (d.get("title", "") + " " + d["text"]).strip() for d in jsonl(root / "corpus.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with open(root / "qrels" / "test.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, did, score = line.split("\t")
            qrels.setdefault(qid, {})[did] = int(score)
    queries = {q["_id"]: q["text"] for q in jsonl(root / "queries.jsonl") if q["_id"] in qrels}
    return RetrievalSet(name, corpus, queries, qrels)


def retrieval_set_names(data_dir: Path = DATA_DIR) -> list[str]:
    return sorted(Path(p).name for p in glob.glob(str(data_dir / "retrieval" / "*")) if Path(p).is_dir())


def read_sourced(path: Path) -> list[tuple[list[str], str]]:
    """Rows of a shared `X.txt` / `X.tsv` (tab-separated fields) with the source tag of its `X.src` twin."""
    rows = path.read_text(encoding="utf-8").split("\n")
    sources = Path(f"{path}.src").read_text(encoding="utf-8").split("\n")
    if rows[-1] == "":
        rows, sources = rows[:-1], sources[:-1]
    if len(rows) != len(sources):
        raise ValueError(f"{path} has {len(rows)} lines but {path}.src has {len(sources)}")
    return [(row.split("\t"), source) for row, source in zip(rows, sources, strict=True)]


# ---------------------------------------------------------------------------------------------------------------
# Held-out out-of-domain retrieval tasks, built from documents of the training material that training never sees
# (split by document, deterministically). `training_filter` drops every text of them from every training pool.

OOD_TASKS = ("news-titles", "squad-sentences", "scitail-claims", "medical-questions")
HELD_OUT_SHARE = 10  # one document in HELD_OUT_SHARE is held out of the news articles and medical questions
SQUAD_HELD_OUT_ROWS = 2500  # the last rows of the nqg test split: held-out SQuAD train articles, in article order
NEWS_BODY_WORDS = 200  # an article body is cut here: near the 256-token context of the models compared


def text_key(text: str) -> str:
    """The evaluation denylist's key of a text (`../shared/data/README.md`): SHA-1 of its normalised form."""
    return hashlib.sha1(re.sub(r"[^0-9a-z]+", " ", text.lower()).strip().encode()).hexdigest()[:16]


def held_out(document_key: str) -> bool:
    return int(text_key(document_key), 16) % HELD_OUT_SHARE == 0


def news_articles(data_dir: Path = DATA_DIR) -> list[tuple[str, list[str]]]:
    """(title, body paragraphs) of the Reuters and BBC articles of `text/news.txt`: a title line starts an article
    and the body lines after it belong to it (`news.txt.src` tags them `*_title` / `*_body`)."""
    articles: list[tuple[str, list[str]]] = []
    for (line,), source in read_sourced(data_dir / "text" / "news.txt"):
        if source.endswith("_title"):
            articles.append((line, []))
        elif source.endswith("_body") and articles:
            articles[-1][1].append(line)
    return articles


def held_out_articles(data_dir: Path = DATA_DIR) -> list[tuple[str, list[str]]]:
    """(title, body paragraphs) of the held-out news articles with a body of at least 20 words, in file order."""
    return [(t, body) for t, body in news_articles(data_dir) if held_out(t) and len(" ".join(body).split()) >= 20]


def held_out_squad_rows(data_dir: Path = DATA_DIR) -> list[list[str]]:
    """(question, answer sentence) rows of the held-out SQuAD articles: the last `SQUAD_HELD_OUT_ROWS` of nqg test."""
    rows = [fields for fields, source in read_sourced(data_dir / "qa" / "qa.tsv") if source.endswith("(nqg_test)")]
    return rows[-SQUAD_HELD_OUT_ROWS:]


def retrieval_task(name: str, queries: list[str], relevant: list[set[str]], docs: list[str]) -> RetrievalSet:
    """A RetrievalSet from query texts, each query's relevant document texts, and the whole corpus."""
    doc_ids = {text: f"d{i}" for i, text in enumerate(dict.fromkeys(docs))}
    return RetrievalSet(
        name,
        corpus={i: text for text, i in doc_ids.items()},
        queries={f"q{i}": q for i, q in enumerate(queries)},
        qrels={f"q{i}": {doc_ids[d]: 1 for d in rel} for i, rel in enumerate(relevant)},
    )


def _news_titles(data_dir: Path) -> RetrievalSet:
    held = held_out_articles(data_dir)
    bodies = [" ".join(" ".join(body).split()[:NEWS_BODY_WORDS]) for _, body in held]
    return retrieval_task("news-titles", [t for t, _ in held], [{b} for b in bodies], bodies)


def _squad_sentences(data_dir: Path) -> RetrievalSet:
    rows = held_out_squad_rows(data_dir)
    return retrieval_task("squad-sentences", [q for q, _ in rows], [{a} for _, a in rows], [a for _, a in rows])


def _scitail_claims(data_dir: Path) -> RetrievalSet:
    rows = [fields for fields, source in read_sourced(data_dir / "nli" / "nli.tsv") if source == "scitail_dev"]
    entailed: dict[str, set[str]] = {}
    for premise, hypothesis, label in rows:
        if label == "entailment":
            entailed.setdefault(hypothesis, set()).add(premise)
    return retrieval_task(
        "scitail-claims", list(entailed), list(entailed.values()), [premise for premise, _, _ in rows]
    )


def _medical_questions(data_dir: Path) -> RetrievalSet:
    rows = [fields for fields, _ in read_sourced(data_dir / "qa" / "dupq.tsv") if held_out(fields[0])]
    similar: dict[str, set[str]] = {}
    for q1, q2, label in rows:
        if label == "1":
            similar.setdefault(q1, set()).add(q2)
    return retrieval_task("medical-questions", list(similar), list(similar.values()), [q2 for _, q2, _ in rows])


def read_ood_task(name: str, data_dir: Path = DATA_DIR) -> RetrievalSet:
    """One held-out out-of-domain retrieval task (of `OOD_TASKS`), binary relevance:

    - news-titles: Reuters / BBC headline -> its article's body (first 200 words), among the bodies of the held-out
      articles (one in ten, by a hash of the title);
    - squad-sentences: SQuAD question -> the sentence holding its answer, among the answer sentences of the last
      2,500 rows of the nqg test split (whole SQuAD train articles, in article order);
    - scitail-claims: a science claim -> the web sentences that entail it, among every premise of SciTail dev
      (including those that do not entail it); all of SciTail dev is held out;
    - medical-questions: a patient question -> its doctor-written similar rewrite, among every rewrite, similar or
      not, of the held-out questions (one in ten, by a hash of the question).
    """
    builders = {
        "news-titles": _news_titles,
        "squad-sentences": _squad_sentences,
        "scitail-claims": _scitail_claims,
        "medical-questions": _medical_questions,
    }
    if name not in builders:
        raise ValueError(f"unknown out-of-domain task {name!r}; allowed: {list(builders)}")
    return builders[name](data_dir)


# ---------------------------------------------------------------------------------------------------------------
# The one gate of the training material.

SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")  # sentence ends, and clauses after a semicolon


class TrainingFilter:
    """Decides which training texts may be used: a text is refused when its denylist key, or the key of any of its
    sentences (or of a clause after a semicolon), is listed. `keep` drops every row (a text, a pair or a triplet, with
    its source tag) that has a refused field."""

    def __init__(self, keys: set[str] | frozenset[str]):
        self.keys = frozenset(keys)

    def allows(self, text: str) -> bool:
        if text_key(text) in self.keys:
            return False
        parts = SENTENCE_END.split(text)
        return len(parts) == 1 or not any(text_key(part) in self.keys for part in parts)

    def keep(self, rows: Iterable[tuple[tuple[str, ...], str]]) -> list[tuple[tuple[str, ...], str]]:
        return [(fields, source) for fields, source in rows if all(self.allows(text) for text in fields)]


@functools.cache
def training_filter(data_dir: Path = DATA_DIR) -> TrainingFilter:
    """The filter every training pool and pair set passes through (`open_ada.pools.build`): the evaluation
    denylist (`denylist/eval-texts.sha1`: STS-B dev/test, the retrieval sets, further held-out sets) plus every text,
    and every sentence of it, of the held-out out-of-domain tasks."""
    keys = set((data_dir / "denylist" / "eval-texts.sha1").read_text().split())
    held = [
        text
        for name in OOD_TASKS
        for task in [read_ood_task(name, data_dir)]
        for text in [*task.queries.values(), *task.corpus.values()]
    ]
    held += [line for title, body in news_articles(data_dir) if held_out(title) for line in body]  # past 200 words too
    for text in held:
        keys.update(text_key(part) for part in [text, *SENTENCE_END.split(text)] if len(part.split()) >= 3)
    return TrainingFilter(keys)
