"""Long-document retrieval tasks, in the spirit of LongEmbed's synthetic tasks, at a chosen document length.

Every document is built from held-out material that `open_ada.data.training_filter` keeps out of training (the
held-out news articles, one in ten by a hash of the title, and the held-out SQuAD rows), so no task text was trained
on. Lengths count tokens of the shipped tokenizer (EOS included), so a document of `length` tokens fits a model of
that context exactly. The build is deterministic: the same data and arguments give the same task.

- `needle`: a SQuAD answer sentence placed at a random depth of a document of unrelated news text; the query is its
  question, the one relevant document the one holding that sentence (every document holds another needle).
- `passkey`: "The pass key of <name> is <5 digits>. Remember it. <digits> is the pass key of <name>." at a random
  depth of news text; the query "What is the pass key of <name>?" (a different name per document).
- `documents`: a digest of consecutive held-out news articles (their bodies) of about `length` tokens; every title of
  an article in it is a query with that digest as its one relevant document, wherever the article sits: a model that
  reads only the start of a document cannot find most of them. 32 digests of 512 / 1k / 2k / 4k / 8k tokens hold
  72 / 118 / 273 / 555 / 1,157 articles, so many more queries than one a document would give (and no random choice).
- `articles`: a held-out news article's headline -> that article, cut to `length` tokens, among every held-out article
  longer than `SHORT_CONTEXT` tokens (518 with the shipped tokenizer: median 400, longest 5,032). The same queries
  and articles at every length, so the columns show what reading more of each article adds. A headline is about its
  article's opening: the opposite of `documents`, where most answers lie deep in the text.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from open_ada.data import DATA_DIR, RetrievalSet, held_out_articles, held_out_squad_rows, retrieval_task
from open_ada.paths import DEFAULT_MODEL

LONG_TASKS = ("needle", "passkey", "documents", "articles")
LONG_LENGTHS = (512, 1024, 2048, 4096, 8192)
LONG_DOCS = 32  # documents per task and length (and queries, but for `documents`: one per article); not `articles`
MIN_LENGTH = 64  # the shortest long-task document, in tokens: room for a needle and some text around it
SHORT_CONTEXT = 256  # `articles` leaves out articles of up to this many tokens: the shipped model reads those whole
FIRST_NAMES = (
    "Ada Boris Chen Dara Emil Farah Goran Hana Ivo Jonas Kemal Lena Mira Nils Olga Pavel Rosa Sami Tomas Uma".split()
)
LAST_NAMES = (
    "Abbott Berg Costa Dietz Egan Frey Grant Haas Ibsen Jovic Kerr Lund Moss Novak Ortiz Price Quinn Ruiz".split()
)


def shipped_token_counter(model_dir: str | Path = DEFAULT_MODEL) -> Callable[[list[str]], list[int]]:
    """Token counts (EOS included) of texts under the shipped tokenizer: the unit of the task lengths."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(model_dir))
    return lambda texts: [len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]]


def _cut(text: str, budget: int, count: Callable[[list[str]], list[int]]) -> str:
    """The longest prefix of whole words of `text` with at most `budget` tokens (EOS included; binary search)."""
    if count([text])[0] <= budget:
        return text
    words = text.split(" ")  # newlines stay inside words: paragraphs survive the cut
    low, high = 0, len(words)
    while low < high:
        mid = (low + high + 1) // 2
        if count([" ".join(words[:mid])])[0] <= budget:
            low = mid
        else:
            high = mid - 1
    return " ".join(words[:low])


def _haystack(paragraphs: list[str], start: int, budget: int, count) -> tuple[list[str], int]:
    """Paragraphs from `start` (cycling), cut to `budget` tokens; returns them and the index after the last used."""
    chosen, chars, i = [], 0, start
    while chars < 8 * budget:  # more than enough text: no tokenizer gives 8 characters a token on news
        chosen.append(paragraphs[i % len(paragraphs)])
        chars += len(chosen[-1]) + 1
        i += 1
    kept = _cut("\n".join(chosen), budget, count).split("\n")
    return kept, start + len(kept)


def _with_needle(rng: random.Random, haystack: list[str], needle: str, length: int, count) -> str:
    """`needle` inserted as a paragraph at a uniformly random depth of `haystack`, the haystack's last words dropped
    until the whole fits `length` tokens."""
    depth = rng.randint(0, len(haystack))
    while True:
        text = "\n".join([*haystack[:depth], needle, *haystack[depth:]])
        if count([text])[0] <= length or not haystack:
            return text
        last = haystack[-1].rsplit(" ", 1)
        haystack = haystack[:-1] + ([last[0]] if len(last) == 2 else [])
        depth = min(depth, len(haystack))


def build_long_task(
    name: str,
    length: int,
    n_docs: int = LONG_DOCS,
    data_dir: Path = DATA_DIR,
    count: Callable[[list[str]], list[int]] | None = None,
    seed: int = 0,
) -> RetrievalSet:
    """Task `name` (of `LONG_TASKS`) with `n_docs` documents of at most `length` tokens: one query each (`needle`,
    `passkey`, placed by `seed`) or one per article (`documents`); `articles` takes every article it can."""
    if name not in LONG_TASKS:
        raise ValueError(f"unknown long-document task {name!r}; allowed: {list(LONG_TASKS)}")
    if length < MIN_LENGTH or n_docs < 1:
        raise ValueError(
            f"length must be at least {MIN_LENGTH} tokens and n_docs at least 1, got {length} and {n_docs}"
        )
    count = count or shipped_token_counter()
    rng = random.Random(f"{name}-{length}-{seed}")
    articles = held_out_articles(data_dir)
    queries, docs, qrels = [], [], []
    if name == "articles":
        bodies = [" ".join(body) for _, body in articles]
        long = [i for i, n in enumerate(count(bodies)) if n > SHORT_CONTEXT]
        cut = [_cut(bodies[i], length, count) for i in long]
        return retrieval_task(f"{name}-{length}", [articles[i][0] for i in long], [{text} for text in cut], cut)
    if name == "documents":
        start = 0
        for _ in range(n_docs):
            digest, titles, budget = [], [], length - 1  # the EOS
            while start < len(articles):
                title, body = articles[start]
                n = count([" ".join(body)])[0]  # its EOS counts the newline joining it
                if n > budget:
                    if digest:
                        break
                    start += 1  # an article longer than a whole document is skipped
                    continue
                digest.append(" ".join(body))
                titles.append(title)
                budget -= n
                start += 1
            if not digest:
                raise ValueError(f"not enough held-out news articles for {n_docs} documents of {length} tokens")
            queries += titles
            qrels += [len(docs)] * len(titles)
            docs.append("\n".join(digest))
    else:
        paragraphs = [" ".join(body) for _, body in articles]
        if name == "needle":
            rows = held_out_squad_rows(data_dir)
            by_answer = dict((a, q) for q, a in rows)  # one question per answer sentence
            needles = [(q, a) for a, q in rng.sample(sorted(by_answer.items()), n_docs)]
        else:
            names = rng.sample([f"{f} {last}" for f in FIRST_NAMES for last in LAST_NAMES], n_docs)
            needles = []
            for person in names:
                key = f"{rng.randrange(10**5):05d}"
                needles.append(
                    (
                        f"What is the pass key of {person}?",
                        f"The pass key of {person} is {key}. Remember it. {key} is the pass key of {person}.",
                    )
                )
        start = rng.randrange(len(paragraphs))
        for question, needle in needles:
            haystack, start = _haystack(paragraphs, start, length - count([needle])[0], count)
            queries.append(question)
            qrels.append(len(docs))
            docs.append(_with_needle(rng, haystack, needle, length, count))
    return RetrievalSet(
        f"{name}-{length}",
        corpus={f"d{i}": d for i, d in enumerate(docs)},
        queries={f"q{i}": q for i, q in enumerate(queries)},
        qrels={f"q{i}": {f"d{d}": 1} for i, d in enumerate(qrels)},
    )
