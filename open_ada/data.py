"""Readers for the shared evaluation/training data and the distillation text pool.

Everything reads `../shared/data` (or `$OPEN_ADA_DATA`) in place; nothing is downloaded.
"""

from __future__ import annotations

import csv
import glob
import gzip
import json
import os
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("OPEN_ADA_DATA", REPO_ROOT.parent / "shared" / "data"))
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


# ---------------------------------------------------------------------------------------------------------------
# Distillation text pool: unlabelled English sentences from the shared files and Debian packages.
# Evaluation texts (STS-B dev/test, retrieval corpora and queries) are never part of it.


def _wordnet_sentences(root: Path = Path("/usr/share/wordnet")) -> list[str]:
    out = []
    for pos in ("noun", "verb", "adj", "adv"):
        path = root / f"data.{pos}"
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  ") or "| " not in line:
                continue  # licence header
            gloss = line.split("| ", 1)[1]
            for part in gloss.split(";"):
                out.append(part.strip().strip('"').strip())
    return out


def _gcide_sentences(path: Path = Path("/usr/share/dictd/gcide.dict.dz")) -> list[str]:
    if not path.exists():
        return []
    text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
    out = []
    for block in re.split(r"\n\s*\[[^\]]*\]\s*\n", text):  # entries end with "[1913 Webster]" and similar
        body = " ".join(block.split())
        body = re.sub(r"\{|\}|--\w[\w. ]*$", "", body)
        # keep numbered senses' prose, drop headword / etymology lines
        for sense in re.split(r"\b\d+\. ", body):
            if "\\" in sense or "[" in sense:
                continue
            out.append(sense.strip())
    return out


def _fortune_sentences(root: Path = Path("/usr/share/games/fortunes")) -> list[str]:
    out = []
    for path in sorted(root.glob("*")):
        if path.suffix or not path.is_file() or path.name.endswith(("-o",)):
            continue
        for item in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            item = " ".join(item.split())
            if "--" in item:
                item = item.split("--")[0].strip()
            out.append(item)
    return out


def _debian_descriptions() -> list[str]:
    try:
        text = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    out = []
    in_description = False  # continuation lines (" ...") belong to whichever field came before them
    for line in text.splitlines():
        if line.startswith("Description: "):
            in_description = True
            out.append(line[len("Description: ") :])
        elif not line.startswith(" "):
            in_description = False
        elif in_description and line.strip() != ".":
            out.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", line.strip()))
    return out


def _pair_sentences(data_dir: Path) -> list[str]:
    pairs = read_stsb("train", data_dir) + read_sick(data_dir) + read_msrp(data_dir) + read_trecqa("train", data_dir)
    return [s for p in pairs for s in (p.sentence1, p.sentence2)]


def _keep(text: str) -> bool:
    n = len(text.split())
    return 3 <= n <= 80 and sum(c.isalpha() for c in text) > 0.6 * len(text)


SOURCES = ("pairs", "wiki", "wordnet", "gcide", "fortunes", "debian")


def build_text_pool(
    data_dir: Path = DATA_DIR, max_per_source: int = MAX_PER_SOURCE, seed: int = 0, sources: tuple[str, ...] = SOURCES
) -> dict[str, list[str]]:
    """Deduplicated sentences per source (of `SOURCES`), each capped at `max_per_source` (random sample)."""
    readers = {
        "pairs": lambda: _pair_sentences(data_dir),
        "wiki": lambda: (data_dir / "pairs" / "wiki-sentences-12k.txt").read_text(encoding="utf-8").splitlines(),
        "wordnet": _wordnet_sentences,
        "gcide": _gcide_sentences,
        "fortunes": _fortune_sentences,
        "debian": _debian_descriptions,
    }
    unknown = set(sources) - set(readers)
    if unknown:
        raise ValueError(f"unknown text sources {sorted(unknown)}; allowed: {list(readers)}")
    rng = random.Random(seed)
    seen: set[str] = set()
    pool = {}
    for name in sources:
        texts = readers[name]()
        kept = []
        for t in texts:
            t = t.strip()
            if _keep(t) and t.lower() not in seen:
                seen.add(t.lower())
                kept.append(t)
        rng.shuffle(kept)
        pool[name] = kept[:max_per_source]
    return pool


def build_long_texts(n: int, seed: int = 0, min_words: int = 80, max_words: int = 180) -> list[str]:
    """`n` paragraph-length texts (about 100-250 tokens) so that long positions are trained too: runs of
    consecutive wiki sentences and Debian package descriptions joined until `min_words` is reached."""
    rng = random.Random(seed)
    sentences = (DATA_DIR / "pairs" / "wiki-sentences-12k.txt").read_text(encoding="utf-8").splitlines()
    sentences += [t for t in _debian_descriptions() if _keep(t)]
    out = []
    while len(out) < n:
        start = rng.randrange(len(sentences))
        words: list[str] = []
        for sentence in sentences[start:]:
            if len(words) >= min_words:
                break
            words.extend(sentence.split())
        if len(words) >= min_words:
            out.append(" ".join(words[:max_words]))
    return out


def build_crops(texts: list[str], seed: int = 0, max_words: int = 30) -> list[str]:
    """One new text per short text of `texts` (at most `max_words` words), so that distillation sees more
    inputs than the pool holds: half are a random span of 40-90% of its words (at least 3), half the text
    joined with another random short text. Deduplicated against `texts` and each other."""
    rng = random.Random(seed)
    short = [t for t in texts if len(t.split()) <= max_words]
    seen = {t.lower() for t in texts}
    out = []
    for text in short:
        words = text.split()
        if rng.random() < 0.5 and len(words) > 4:
            n = max(3, round(len(words) * rng.uniform(0.4, 0.9)))
            start = rng.randrange(len(words) - n + 1)
            crop = " ".join(words[start : start + n])
        else:
            crop = f"{text} {rng.choice(short)}"
        if crop.lower() not in seen:
            seen.add(crop.lower())
            out.append(crop)
    return out
