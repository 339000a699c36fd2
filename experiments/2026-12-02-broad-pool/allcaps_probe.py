"""Does the news-titles gap come from all-caps headlines? Scores the held-out news-titles task (`open-ada evaluate`'s
out-of-domain task) with the headlines as they are and with all-caps headlines lower-cased (Reuters writes every
headline in capitals; our BPE is cased, the teacher's WordPiece is not). No training: a diagnostic for issue #12.

    python experiments/2026-12-02-broad-pool/allcaps_probe.py models/open-ada-small all-MiniLM-L6-v2
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from open_ada.data import read_ood_task
from open_ada.evaluate import load_encoder, retrieval_scores


def main() -> None:
    task = read_ood_task("news-titles")
    caps = {q: t for q, t in task.queries.items() if t.isupper()}
    lowered = replace(task, queries={q: (t.lower() if q in caps else t) for q, t in task.queries.items()})
    out = {"command": "python experiments/2026-12-02-broad-pool/allcaps_probe.py " + " ".join(sys.argv[1:])}
    out["all_caps_queries"] = f"{len(caps)} of {len(task.queries)}"
    for name in sys.argv[1:]:
        encode, _ = load_encoder(name)
        out[name] = {
            "as is": retrieval_scores(encode, task)["ndcg@10"],
            "all-caps lower-cased": retrieval_scores(encode, lowered)["ndcg@10"],
        }
        print(name, out[name], flush=True)
    Path(__file__).with_name("allcaps_probe.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
