"""Tokens per word, by genre, of open-ada-small's tokenizer and the teacher's (all-MiniLM-L6-v2's WordPiece), on
the training pools and the evaluation sets. Writes tokens_per_word.md beside this file.

    python experiments/2026-12-02-broad-pool/tokens_per_word.py
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from transformers import AutoTokenizer

from open_ada import DEFAULT_MODEL
from open_ada.data import OOD_TASKS, read_ood_task, read_retrieval, read_stsb, retrieval_set_names
from open_ada.pools import build
from open_ada.teacher import teacher_path

SAMPLE = 2000  # texts per genre


def main() -> None:
    ours = AutoTokenizer.from_pretrained(DEFAULT_MODEL)
    teacher = AutoTokenizer.from_pretrained(teacher_path("all-MiniLM-L6-v2"))
    genres: dict[str, list[str]] = defaultdict(list)
    for pool in ("sentences", "pairs", "text", "passages"):
        for fields, source in build(pool):
            genres[f"{pool}: {source}"].append(fields[0])
    genres["eval: STS-B test"] = [s for p in read_stsb("test") for s in (p.sentence1, p.sentence2)]
    for name in retrieval_set_names():
        data = read_retrieval(name)
        genres[f"eval: {name} queries"] = list(data.queries.values())
        genres[f"eval: {name} corpus"] = list(data.corpus.values())
    for name in OOD_TASKS:
        data = read_ood_task(name)
        genres[f"eval: {name} queries"] = list(data.queries.values())
        genres[f"eval: {name} corpus"] = list(data.corpus.values())
    rng = random.Random(0)
    lines = [
        "| genre | texts sampled | words/text | open-ada tokens/word | teacher tokens/word | ratio | "
        "open-ada > 256 tokens |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for genre, texts in sorted(genres.items()):
        sample = rng.sample(texts, min(SAMPLE, len(texts)))
        words = sum(len(t.split()) for t in sample)
        n_ours = [len(ids) - 1 for ids in ours(sample)["input_ids"]]  # without the EOS
        n_teacher = sum(len(ids) - 2 for ids in teacher(sample)["input_ids"])  # without [CLS] [SEP]
        over = sum(n >= 256 for n in n_ours) / len(sample)
        lines.append(
            f"| {genre} | {len(sample)} | {words / len(sample):.1f} | {sum(n_ours) / words:.2f} | "
            f"{n_teacher / words:.2f} | {sum(n_ours) / n_teacher:.2f} | {over:.1%} |"
        )
    out = Path(__file__).with_name("tokens_per_word.md")
    out.write_text(
        f"Tokens per whitespace-separated word, {SAMPLE} random texts per genre (all when fewer), from "
        f"`python {Path(__file__).relative_to(Path.cwd())}`.\n\n" + "\n".join(lines) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
