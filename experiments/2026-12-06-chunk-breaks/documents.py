"""v13's chunk-mean on the long `documents` task (news digests -> an article's title) at 1k-8k tokens under every
rule of `chunk_rules`, paired per query against `fixed-256`. Eight seeds draw eight queries per digest (the same
digests), 256 queries per length. Writes documents.json and documents.md beside this file.

    PYTHONPATH=models/open-ada-small python experiments/2026-12-06-chunk-breaks/documents.py
"""

import json
from pathlib import Path

import numpy as np
from chunk_rules import RULES, paired, per_query

from open_ada.long_tasks import build_long_task, shipped_token_counter

HERE = Path(__file__).parent
LENGTHS, SEEDS = (1024, 2048, 4096, 8192), range(8)
rules = [*RULES, "model.chunk+nl"]
count = shipped_token_counter()
scores = {}
for length in LENGTHS:
    tasks = [build_long_task("documents", length, 32, count=count, seed=s) for s in SEEDS]
    scores[length] = {rule: per_query(rule, tasks) for rule in rules}
    print(length, {rule: round(float(np.mean(v)) * 100, 2) for rule, v in scores[length].items()}, flush=True)
rng = np.random.default_rng(0)
lines = ["| rule | " + " | ".join(f"{n // 1024}k" for n in LENGTHS) + " |", "|---" * (len(LENGTHS) + 1) + "|"]
for rule in rules:
    cells = []
    for length in LENGTHS:
        mean = np.mean(scores[length][rule]) * 100
        if rule == "fixed-256":
            cells.append(f"{mean:.2f}")
        else:
            d, low, high = paired(scores[length]["fixed-256"], scores[length][rule], rng)
            cells.append(f"{mean:.2f} ({d:+.2f} [{low:+.2f}, {high:+.2f}])")
    lines.append("| " + " | ".join([rule.replace("|", "\\|"), *cells]) + " |")  # a bar inside a cell: escaped
(HERE / "documents.md").write_text("\n".join(lines) + "\n")
(HERE / "documents.json").write_text(json.dumps({str(k): v for k, v in scores.items()}))
print("\n".join(lines))
