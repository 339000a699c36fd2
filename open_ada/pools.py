"""Training material: the distillation text pools (embedded once by the teacher and cached, `open_ada.teacher`)
and the labelled pair sets of the contrastive objective (`open_ada.train`).

Every row of every pool and pair set passes `open_ada.data.training_filter` in `build`, the one place where
evaluation texts and the held-out out-of-domain tasks are kept out of training. Everything is read from
`../shared/data` (every genre file found under `text/`, `nli/` and `qa/`) and, where installed, Debian packages.
"""

from __future__ import annotations

import gzip
import random
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from open_ada.data import (
    DATA_DIR,
    held_out,
    news_articles,
    read_msrp,
    read_sick,
    read_sourced,
    read_stsb,
    read_trecqa,
    training_filter,
)

Row = tuple[tuple[str, ...], str]  # the texts of one example (one text, a pair or a triplet) and its source tag

MAX_PER_SOURCE = 120_000  # default cap on the rows taken from each source of a pool
PASSAGE_WORDS = (50, 150)  # a passage joins consecutive lines of one document up to a random length in this range
MAX_TEXT_WORDS = 150  # longer lines are split at sentence ends: ~200-230 tokens, inside the 256-token context
# Sources whose consecutive lines are unrelated texts (comments, snippets, questions): never joined into passages.
INDEPENDENT_LINES = {
    "goemotions_reddit",
    "nltk_masc_twitter",
    "nltk_nps_chat",
    "nltk_sentence_polarity_rt",
    "nltk_subjectivity",
    "nltk_trec_qc_questions",
    "nltk_webtext_firefox",
    "nltk_webtext_overheard",
    "nltk_webtext_singles",
    "nltk_webtext_wine",
    "wikisplit_complex_sentence",
}


LONG_WORDS = (500, 4000)  # a long document joins one source's lines up to a random length in this range: ~1k-8k tokens
LONG_DOCS_PER_SOURCE = 120  # each source of long documents gives at most this many: no single corpus dominates
PREFIX_FRACTIONS = (0.125, 0.25, 0.5)  # the depths of a long document at which the `prefixes` pool cuts it
QUERY_SHARE = 0.3  # the queries pool cuts one query from this share of the genre lines
STOPWORDS = set(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this that these "
    "those he she they we you i his her their our your my me him them us not no so than then there here which who "
    "whom what when where why how all any some such can could would should will shall may might must do does did "
    "has have had also into over after before about up down out said says".split()
)


def _keep(text: str) -> bool:
    n = len(text.split())
    return 3 <= n <= 80 and sum(c.isalpha() for c in text) > 0.6 * len(text)


# ---------------------------------------------------------------------------------------------------------------
# Sources


WORDNET_DIR = Path("/usr/share/wordnet")  # Debian's wordnet-base


def _wordnet_sentences(root: Path) -> list[str]:
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


def _debian_descriptions() -> list[list[str]]:
    """The sentences of each Debian package's long description (`apt-cache dumpavail`), one list per package."""
    try:
        text = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    out: list[list[str]] = []
    in_description = False  # continuation lines (" ...") belong to whichever field came before them
    for line in text.splitlines():
        if line.startswith("Description: "):
            in_description = True
            out.append([line[len("Description: ") :]])
        elif not line.startswith(" "):
            in_description = False
        elif in_description and line.strip() != ".":
            out[-1].extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", line.strip()))
    return out


def _labelled_pairs(data_dir: Path) -> list[Row]:
    """Every labelled pair of the shared files, any label: (text, text) rows."""
    scored = read_stsb("train", data_dir) + read_sick(data_dir) + read_msrp(data_dir) + read_trecqa("train", data_dir)
    rows: list[Row] = [((p.sentence1, p.sentence2), "stsb/sick/msrp/trecqa") for p in scored]
    for folder in ("nli", "qa"):
        for path in sorted((data_dir / folder).glob("*.tsv")):
            rows += [((fields[0], fields[1]), source) for fields, source in read_sourced(path)]
    return rows


def _genre_lines(data_dir: Path) -> list[tuple[str, str]]:
    """(line, source tag) of every genre file under `text/`."""
    return [
        (fields[0], source)
        for path in sorted((data_dir / "text").glob("*.txt"))
        for fields, source in read_sourced(path)
    ]


def _split_long(text: str, max_words: int = MAX_TEXT_WORDS) -> list[str]:
    """`text` whole if it has at most `max_words` words, else runs of its sentences of at most that many."""
    if len(text.split()) <= max_words:
        return [text]
    chunks: list[list[str]] = [[]]
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        if chunks[-1] and len(" ".join(chunks[-1] + [sentence]).split()) > max_words:
            chunks.append([])
        chunks[-1].append(sentence)
    return [" ".join(" ".join(c).split()[:max_words]) for c in chunks]


# ---------------------------------------------------------------------------------------------------------------
# Pools (one text a row) and pair sets


def _capped(rows: list[Row], max_per_source: int, seed: int) -> list[Row]:
    """Rows deduplicated (case-insensitively) and shuffled, at most `max_per_source` of each source."""
    rng = random.Random(seed)
    seen: set[str] = set()
    by_source: dict[str, list[Row]] = {}
    for fields, source in rows:
        key = "\t".join(fields).lower()
        if key not in seen:
            seen.add(key)
            by_source.setdefault(source, []).append((fields, source))
    out = []
    for source_rows in by_source.values():
        rng.shuffle(source_rows)
        out += source_rows[:max_per_source]
    return out


def sentences_pool(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """Short texts of the dictionary-like sources: WordNet glosses, GCIDE definitions, fortunes, Debian package
    descriptions (where installed), the shared Wikipedia sentences and the old labelled pairs' sentences."""
    texts = {
        "pairs": [t for (a, b), s in _labelled_pairs(data_dir) if s == "stsb/sick/msrp/trecqa" for t in (a, b)],
        "wiki": (data_dir / "pairs" / "wiki-sentences-12k.txt").read_text(encoding="utf-8").splitlines(),
        "wordnet": _wordnet_sentences(WORDNET_DIR),
        "gcide": _gcide_sentences(),
        "fortunes": _fortune_sentences(),
        "debian": [s for description in _debian_descriptions() for s in description],
    }
    rows = [((t.strip(),), source) for source, items in texts.items() for t in items if _keep(t.strip())]
    return _capped(rows, max_per_source, seed)


def pairs_pool(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """Each side of every labelled pair (NLI, QA, paraphrases, duplicate questions, STS): questions, claims and
    answer sentences, closest in form to retrieval queries and STS pairs."""
    rows = [((t,), source) for fields, source in _labelled_pairs(data_dir) for t in fields if len(t.split()) >= 2]
    return _capped(rows, max_per_source, seed)


def text_pool(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """Every line of every genre file under `text/` (news, forum, misc genres, Wikipedia...), as it is; lines over
    `MAX_TEXT_WORDS` words are split at sentence ends."""
    rows = [((part,), source) for line, source in _genre_lines(data_dir) for part in _split_long(line)]
    return _capped([r for r in rows if len(r[0][0].split()) >= 3], max_per_source, seed)


def passages_pool(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """Paragraph-length passages (`PASSAGE_WORDS`): consecutive lines of one document of `text/` joined (a news
    title opens its article's first passage, as titles open the documents of retrieval corpora), and Debian
    package descriptions. Sources of unrelated lines (`INDEPENDENT_LINES`) are not joined."""
    rng = random.Random(seed)
    rows: list[Row] = []
    words: list[str] = []
    target = 0
    previous = None

    def flush() -> None:
        if len(words) >= PASSAGE_WORDS[0] // 2:
            rows.append(((" ".join(words[: PASSAGE_WORDS[1]]),), previous))

    documents = [[(line, "debian") for line in d] for d in _debian_descriptions()]
    current: list[tuple[str, str]] = []
    for line, source in _genre_lines(data_dir):
        if source in INDEPENDENT_LINES:
            continue
        starts = source != (current[-1][1] if current else None) and not (
            current and current[-1][1].endswith("_title") and source.endswith("_body")
        )
        if starts or source.endswith("_title"):
            documents.append(current)
            current = []
        current.append((line, source))
    documents.append(current)
    for document in documents:
        words, target, previous = [], rng.randint(*PASSAGE_WORDS), None
        for line, source in document:
            previous = source.removesuffix("_title") + "_body" if source.endswith("_title") else source
            words += line.split()
            if len(words) >= target:
                flush()
                words, target = [], rng.randint(*PASSAGE_WORDS)
        flush()
    return _capped(rows, max_per_source, seed)


def _content_words(words: list[str]) -> list[str]:
    return [w for w in words if w.lower().strip(".,;:!?\"'()") not in STOPWORDS]


def _cut_query(words: list[str], rng: random.Random) -> str:
    """A search-style query cut from `words`: half the time a span of 2-8 consecutive words, else 2-7 of their content
    words in order ("guitar chord tuning", "Hugh Downs"); "" where too few content words are left."""
    if rng.random() < 0.5:
        n = rng.randint(2, min(8, len(words)))
        start = rng.randrange(len(words) - n + 1)
        query = words[start : start + n]
    else:
        content = _content_words(words)
        if len(content) < 2:
            return ""
        keep = sorted(rng.sample(range(len(content)), rng.randint(2, min(7, len(content)))))
        query = [content[i] for i in keep]
    return " ".join(query).strip(".,;:!?\"'()")


def queries_pool(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """Search-style queries (`_cut_query`) cut from the genre lines of `text/` (one line in `QUERY_SHARE`): the
    short keyword queries of search logs, which no other pool has."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for line, source in _genre_lines(data_dir):
        words = line.split()
        if len(words) < 4 or rng.random() >= QUERY_SHARE:
            continue
        rows.append(((_cut_query(words, rng),), source))
    return _capped([r for r in rows if r[0][0]], max_per_source, seed)


def _system_documents(max_docs: int, seed: int) -> list[tuple[list[str], str]]:
    """(paragraphs, source) of installed Debian documentation: README-like files of `/usr/share/doc` and English
    manual pages (`/usr/share/man/man[158]`, rendered by `man`). Empty where neither is installed."""
    rng = random.Random(seed)
    docs: list[tuple[list[str], str]] = []
    readmes = sorted(
        p for p in Path("/usr/share/doc").glob("*/*") if p.is_file() and p.name.upper().startswith("README")
    )
    for path in rng.sample(readmes, min(max_docs, len(readmes))):
        raw = path.read_bytes()
        text = gzip.decompress(raw) if path.suffix == ".gz" else raw
        docs.append((text.decode("utf-8", "replace").split("\n\n"), "debian_doc"))
    pages = sorted(p for section in "158" for p in Path(f"/usr/share/man/man{section}").glob("*"))
    for path in rng.sample(pages, min(max_docs, len(pages))):
        try:
            text = subprocess.run(
                ["man", "-l", "-P", "cat", str(path)],
                capture_output=True,
                text=True,
                timeout=20,
                env={"MANWIDTH": "10000", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        docs.append((re.sub("[\b].", "", text).split("\n\n"), "debian_man"))
    return [([" ".join(p.split()) for p in paragraphs if p.strip()], source) for paragraphs, source in docs]


def long_pool(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """Documents of `LONG_WORDS` words (about 1k-8k tokens), for training on long inputs: consecutive news articles of
    `text/news.txt` (a "news digest": title and body each), runs of one document's lines of the other genre files
    (speeches, essays, fiction, letters... not `INDEPENDENT_LINES`), Debian README files and manual pages. Lines that
    the training filter refuses are left out before joining (a held-out article never enters a digest), so the one
    filter of `build` then passes the document; paragraphs are kept as lines."""
    rng = random.Random(seed)
    allowed = training_filter(data_dir).allows
    documents: list[tuple[list[tuple[str, bool]], str]] = []  # (line, a document may start here), source
    current: list[tuple[str, bool]] = []
    previous = None
    for line, source in _genre_lines(data_dir):
        kind = source.removesuffix("_title").removesuffix("_body")
        if source in INDEPENDENT_LINES or kind != previous:
            documents.append((current, previous or ""))
            current = []
        previous = None if source in INDEPENDENT_LINES else kind
        if previous and allowed(line):
            current.append((line, not source.endswith("_body")))  # a digest starts at a title, not mid-article
    documents.append((current, previous or ""))
    for paragraphs, source in _system_documents(LONG_DOCS_PER_SOURCE, seed):
        documents.append(([(p, True) for p in paragraphs if allowed(p)], source))
    rows: list[Row] = []
    for lines, source in documents:
        words, paragraphs, target = 0, [], rng.randint(*LONG_WORDS)
        for line, starts in lines:
            if words >= target and starts:
                rows.append((("\n".join(paragraphs),), source))
                words, paragraphs, target = 0, [], rng.randint(*LONG_WORDS)
            if paragraphs or starts:
                paragraphs.append(line)
                words += len(line.split())
        if words >= LONG_WORDS[0]:
            rows.append((("\n".join(paragraphs),), source))
    rows = [r for r in rows if len(r[0][0].split()) <= LONG_WORDS[1] * 1.2]  # a man page or README may run over
    return _capped(rows, min(max_per_source, LONG_DOCS_PER_SOURCE), seed)


def prefix_cuts(document: str, fractions: Sequence[float] = PREFIX_FRACTIONS) -> list[int]:
    """Where the prefixes of a long document end, one per fraction of its characters: at the line break nearest that
    depth (at the nearest space in a text of one line), so a prefix holds whole lines and whole words and tokenizes
    as the document's first tokens. Nearby fractions of a short text may share a cut; a text with no break gives
    none."""
    breaks = [i for i, c in enumerate(document) if c == "\n"] or [i for i, c in enumerate(document) if c == " "]
    if not breaks:
        return []
    return [min(breaks, key=lambda i: abs(i - f * len(document))) for f in fractions]


def prefixes_pool(bases: list[str], seed: int) -> list[Row]:
    """The prefixes (`prefix_cuts`) of each long document of `bases` (the `long` pool's texts): with the teacher's
    chunk-mean of each, a long document is distilled at several depths in one forward (`open_ada.train`)."""
    return [((document[:cut],), "prefixes") for document in bases for cut in dict.fromkeys(prefix_cuts(document))]


def crops_pool(bases: list[str], seed: int) -> list[Row]:
    """One variant of each short text of `bases` (see `build_crops`)."""
    return [((t,), "crops") for t in build_crops(bases, seed)]


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


def qa_pairs(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """(question, answer sentence) of `qa/qa.tsv`, (question, similar question) of `qa/dupq.tsv` and (sentence,
    paraphrase) of the MSRP rows of `qa/para.tsv`: positives of the contrastive objective."""
    rows: list[Row] = [(tuple(f[:2]), s) for f, s in read_sourced(data_dir / "qa" / "qa.tsv")]
    rows += [(tuple(f[:2]), s) for f, s in read_sourced(data_dir / "qa" / "dupq.tsv") if f[2] == "1"]
    rows += [
        (tuple(f[:2]), s) for f, s in read_sourced(data_dir / "qa" / "para.tsv") if f[2] == "1" and s == "msrp_train"
    ]
    return _capped(rows, max_per_source, seed)


def answer_passage_pairs(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """(question, passage): each SQuAD question of `qa/qa.tsv` with a passage of about `PASSAGE_WORDS` words that
    holds its answer sentence among the answer sentences next to it in the file (SQuAD's rows run in article order),
    grown one neighbour at a time on a random side (the passage ends at the sentence that reaches its drawn length),
    so the answer sits anywhere in it: contrastive training for natural questions -> paragraph retrieval, msmarco's
    shape, where `qa` pairs a question with one sentence. A passage that would hold a held-out or listed sentence is
    dropped whole by the training filter (it checks every sentence)."""
    rng = random.Random(seed)
    by_source: dict[str, list[tuple[str, str]]] = {}
    for fields, source in read_sourced(data_dir / "qa" / "qa.tsv"):
        if "squad" in source:
            by_source.setdefault(source, []).append((fields[0], fields[1]))
    rows: list[Row] = []
    for source, pairs in by_source.items():
        sentences = list(dict.fromkeys(answer for _, answer in pairs))
        index = {sentence: i for i, sentence in enumerate(sentences)}
        for question, answer in pairs:
            first = last = index[answer]
            words, target = len(answer.split()), rng.randint(*PASSAGE_WORDS)
            while words < target and (first > 0 or last < len(sentences) - 1):
                if last == len(sentences) - 1 or (first > 0 and rng.random() < 0.5):
                    first -= 1
                    words += len(sentences[first].split())
                else:
                    last += 1
                    words += len(sentences[last].split())
            rows.append(((question, " ".join(sentences[first : last + 1])), source))
    return _capped(rows, max_per_source, seed)


def nli_triplets(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """(premise, entailed hypothesis, contradicted hypothesis) of `nli/nli.tsv`: each entailed hypothesis of a
    premise with one of its contradictions as the hard negative."""
    by_premise: dict[str, dict[str, list[str]]] = {}
    sources: dict[str, str] = {}
    for (premise, hypothesis, label), source in read_sourced(data_dir / "nli" / "nli.tsv"):
        by_premise.setdefault(premise, {}).setdefault(label, []).append(hypothesis)
        sources[premise] = source
    rows: list[Row] = []
    for premise, labels in by_premise.items():
        entailed, contradicted = labels.get("entailment", []), labels.get("contradiction", [])
        for i, hypothesis in enumerate(entailed if contradicted else []):
            rows.append(((premise, hypothesis, contradicted[i % len(contradicted)]), sources[premise]))
    return _capped(rows, max_per_source, seed)


def definition_pairs(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """(name, definition) of every WordNet noun synset: a name (its first lemma, "Wilfrid Laurier") and the gloss
    without its example sentences ("Canadian statesman who was the first French Canadian to be prime minister of
    Canada"), the shape of an entity query and its encyclopedia abstract. Instances (people, places, events) and
    common nouns are separate sources. `data_dir` is unused: WordNet is a Debian package (`WORDNET_DIR`)."""
    path = WORDNET_DIR / "data.noun"
    if not path.exists():
        raise ValueError(f"pair set 'definitions' needs WordNet at {path}: apt-get install wordnet-base")
    rows: list[Row] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("  ") or "| " not in line:
            continue  # licence header
        fields, gloss = line.split("| ", 1)
        name = fields.split()[4].replace("_", " ")
        definition = "; ".join(p.strip() for p in gloss.split(";") if p.strip() and not p.strip().startswith('"'))
        source = "wordnet_instance" if " @i " in fields else "wordnet_noun"
        if len(definition.split()) >= 3:
            rows.append(((name, definition), source))
    return _capped(rows, max_per_source, seed)


def entity_pairs(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """(name, definition) of WordNet's instance synsets only ("Wilfrid Laurier", the people, places, works and events
    of `definitions`): a pair set of its own, so a config can weigh entity queries apart from common nouns."""
    return [row for row in definition_pairs(data_dir, max_per_source, seed) if row[1] == "wordnet_instance"]


NAME_WORD = re.compile(r"^(?:[A-Z0-9][^ ]*|of|the|de|del|der|da|di|du|la|le|von|van|and|&)$")
NOT_NAMES = set("He She It This These Those They There Its His Her Their Our One Each Both Such We You".split())
# "Name (born 1950) is a ...": a name of up to six words, an optional parenthesis, then a definitional verb phrase
SUBJECT = re.compile(
    r'^"?(?P<name>[^,;:()"]{2,80}?)"?(?: \([^)]{1,100}\))?,? (?P<verb>is|was|are|were) (?:a|an|the|one)\b'
)


def subject_name(sentence: str) -> str | None:
    """The name a sentence opens by defining ("Golo Mann" of "Golo Mann (1909 - 1994) was the third child of
    novelist Thomas Mann."), or None: the words before the verb must look like a name (capitalised, up to six
    words, not a pronoun) and be followed by "is/was a/an/the/one". A single word needs "is/are": "Brown was a
    Republican" names a person by surname, a back-reference inside an article rather than its subject."""
    match = SUBJECT.match(sentence)
    if not match:
        return None
    words = match.group("name").split()
    if not 1 <= len(words) <= 6 or words[0] in NOT_NAMES or not all(map(NAME_WORD.match, words)):
        return None
    if len(words) == 1 and match.group("verb") in ("was", "were"):
        return None
    return " ".join(words) if words[-1][0].isupper() or words[-1][0].isdigit() else None


def subject_pairs(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """(name, sentence) of the Wikipedia sentences that open by defining a named subject ("Mfantsipim" -> "Mfantsipim
    is a high school in Cape Coast, in Ghana, ..."), from `text/wiki.txt` and `pairs/wiki-sentences-12k.txt`: the
    shape of an entity query and the opening of its encyclopedia article, on names WordNet does not know."""
    lines = [(fields[0], source) for fields, source in read_sourced(data_dir / "text" / "wiki.txt")]
    sentences = (data_dir / "pairs" / "wiki-sentences-12k.txt").read_text(encoding="utf-8").splitlines()
    lines += [(sentence, "wiki_sentences") for sentence in sentences]
    rows: list[Row] = [((name, line), source) for line, source in lines if (name := subject_name(line))]
    return _capped(rows, max_per_source, seed)


def keyword_pairs(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """(query, passage): a search-style query (`_cut_query`, at least two content words) cut from one sentence of each
    passage of the `passages` pool, paired with the whole passage: contrastive training for short keyword queries ->
    paragraph retrieval (the shape of msmarco's and dbpedia's queries) in every genre of `text/`; the guide drops
    in-batch passages that answer the query as well."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for (passage,), source in passages_pool(data_dir, max_per_source, seed):
        sentences = [s.split() for s in re.split(r"(?<=[.!?])\s+", passage) if len(s.split()) >= 4]
        if sentences:
            rows.append(((_cut_query(rng.choice(sentences), rng), passage), source))
    return _capped([r for r in rows if len(_content_words(r[0][0].split())) >= 2], max_per_source, seed)


def _training_articles(data_dir: Path) -> list[tuple[str, list[str]]]:
    """(title, body paragraphs) of the news articles training may use: not held out, a body of at least 20 words, and
    no line the training filter refuses (the whole article is left out, so no pair or digest is built around a gap)."""
    allowed = training_filter(data_dir).allows
    return [
        (title, body)
        for title, body in news_articles(data_dir)
        if not held_out(title) and len(" ".join(body).split()) >= 20 and all(map(allowed, [title, *body]))
    ]


def headline_pairs(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """(title, lead): each training news article's title and the opening of its body, whole paragraphs up to
    `MAX_TEXT_WORDS` words (the first paragraph's first sentences if it alone is longer): contrastive training for
    (title -> passage) retrieval, the shape of the `news-titles` task, whose held-out articles never appear here. An
    article with a line the training filter refuses is left out."""
    rows: list[Row] = []
    for title, body in _training_articles(data_dir):
        lead = _split_long(body[0])[0]
        for paragraph in body[1:]:
            if len(f"{lead} {paragraph}".split()) > MAX_TEXT_WORDS:
                break
            lead = f"{lead} {paragraph}"
        rows.append(((title, lead), "news_headline"))
    return _capped(rows, max_per_source, seed)


def digest_pairs(data_dir: Path, max_per_source: int, seed: int) -> list[Row]:
    """(title, digest): consecutive news articles of `text/news.txt` joined into a digest of their bodies, one a
    paragraph, of `LONG_WORDS` words (about 1k-8k tokens), with the title of one of them drawn at random, wherever it
    sits: contrastive training for (title -> long document) retrieval, the shape of the `documents` long-document
    task (built from the held-out articles, which never enter a digest here). An article with a line the training
    filter refuses is left out before joining."""
    rng = random.Random(seed)
    rows: list[Row] = []
    titles, bodies, words, target = [], [], 0, rng.randint(*LONG_WORDS)
    for title, body in _training_articles(data_dir):
        titles.append(title)
        bodies.append(" ".join(body))
        words += len(bodies[-1].split())
        if words >= target:
            rows.append(((rng.choice(titles), "\n".join(bodies)), "news_digest"))
            titles, bodies, words, target = [], [], 0, rng.randint(*LONG_WORDS)
    return _capped(rows, max_per_source, seed)


BUILDERS: dict[str, Callable[[Path, int, int], list[Row]]] = {
    "sentences": sentences_pool,
    "pairs": pairs_pool,
    "text": text_pool,
    "passages": passages_pool,
    "queries": queries_pool,
    "long": long_pool,
    "qa": qa_pairs,
    "answers": answer_passage_pairs,
    "nli": nli_triplets,
    "definitions": definition_pairs,
    "entities": entity_pairs,
    "subjects": subject_pairs,
    "headlines": headline_pairs,
    "keywords": keyword_pairs,
    "digests": digest_pairs,
}
# distillation: one text a row
POOLS = ("sentences", "pairs", "text", "passages", "queries", "crops", "long", "prefixes")
# pool -> its builder and the pools whose texts it is derived from (`build`'s bases: their cached texts)
DERIVED: dict[str, tuple[Callable[[list[str], int], list[Row]], tuple[str, ...]]] = {
    "crops": (crops_pool, ("sentences", "pairs", "text")),
    "prefixes": (prefixes_pool, ("long",)),
}
# contrastive: (anchor, positive[, negative]) rows
PAIR_SETS = ("qa", "answers", "nli", "definitions", "entities", "subjects", "headlines", "keywords", "digests")
LONG_PAIR_SETS = ("digests",)  # pair sets whose positives are long documents (1k-8k tokens)


def build(
    name: str,
    data_dir: Path = DATA_DIR,
    max_per_source: int = MAX_PER_SOURCE,
    seed: int = 0,
    bases: list[str] | None = None,
) -> list[Row]:
    """The rows of pool or pair set `name` (of `POOLS` + `PAIR_SETS`) that pass the training filter, shuffled across
    sources (so any prefix mixes all of them). A `DERIVED` pool is built from `bases`, the texts of other pools."""
    if name in DERIVED:
        builder, base_pools = DERIVED[name]
        if bases is None:
            raise ValueError(
                f"the {name} pool is derived from the texts of the {', '.join(base_pools)} pools: pass bases"
            )
        rows = builder(bases, seed)
    elif name in BUILDERS:
        rows = BUILDERS[name](data_dir, max_per_source, seed)
    else:
        raise ValueError(f"unknown pool or pair set {name!r}; allowed: {[*POOLS, *PAIR_SETS]}")
    rows = training_filter(data_dir).keep(rows)
    random.Random(seed).shuffle(rows)
    return rows
