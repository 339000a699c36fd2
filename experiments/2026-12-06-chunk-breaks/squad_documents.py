"""A check on text the rule was not chosen on: the held-out SQuAD answer sentences (`held_out_squad_rows`, in their
order, so neighbours come from one article) joined with spaces into documents of about 1k, 2k and 4k tokens (one
paragraph: sentence ends only); every question is a query and its relevant document the one holding its answer
sentence. v13's chunk-mean under several rules of `chunk_rules`, paired per query against `fixed-256`.

    PYTHONPATH=models/open-ada-small python experiments/2026-12-06-chunk-breaks/squad_documents.py
"""

from pathlib import Path

import numpy as np
from chunk_rules import paired, per_query

from open_ada.data import RetrievalSet, held_out_squad_rows
from open_ada.long_tasks import shipped_token_counter

HERE = Path(__file__).parent
RULES = ("fixed-256", "fixed-128", "line|sentence-256", "line+sentence-128", "model.chunk")
rows = held_out_squad_rows()
answers = list(dict.fromkeys(a for _, a in rows))
tokens = dict(zip(answers, shipped_token_counter()(answers), strict=True))
rng = np.random.default_rng(0)
lines = [
    "| length | documents | queries | " + " | ".join(r.replace("|", "\\|") for r in RULES) + " |",
    "|---" * (len(RULES) + 3) + "|",
]
for length in (1024, 2048, 4096):
    docs, current, budget = [], [], length - 1  # the EOS
    for answer in answers:
        if tokens[answer] > budget and current:
            docs.append(current)
            current, budget = [], length - 1
        current.append(answer)
        budget -= tokens[answer]
    if current and budget < length // 2:  # a last document under half the length is left out
        docs.append(current)
    home = {a: i for i, doc in enumerate(docs) for a in doc}
    queries = [(q, home[a]) for q, a in rows if a in home]
    data = RetrievalSet(
        f"squad-documents-{length}",
        corpus={f"d{i}": " ".join(doc) for i, doc in enumerate(docs)},
        queries={f"q{i}": q for i, (q, _) in enumerate(queries)},
        qrels={f"q{i}": {f"d{j}": 1} for i, (_, j) in enumerate(queries)},
    )
    scores = {rule: per_query(rule, [data]) for rule in RULES}
    cells = [f"{np.mean(scores['fixed-256']) * 100:.2f}"]
    for rule in RULES[1:]:
        d, low, high = paired(scores["fixed-256"], scores[rule], rng)
        cells.append(f"{np.mean(scores[rule]) * 100:.2f} ({d:+.2f} [{low:+.2f}, {high:+.2f}])")
    lines.append(f"| {length} | {len(docs)} | {len(queries)} | " + " | ".join(cells) + " |")
    print(lines[-1], flush=True)
(HERE / "squad_documents.md").write_text("\n".join(lines) + "\n")
