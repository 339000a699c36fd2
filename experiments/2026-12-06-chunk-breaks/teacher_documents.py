"""The teacher's chunk-mean (the `long` pool's distillation target) on the `documents` task under the old windows
and under sentence-end cuts (its WordPiece tokenizer drops line breaks, so only sentence ends): 254 or 126 tokens of
text a chunk, paired per query against its 254-token windows, 8 query seeds as in `documents.py`.

    PYTHONPATH=models/open-ada-small:experiments/2026-12-06-chunk-breaks \
        python experiments/2026-12-06-chunk-breaks/teacher_documents.py
"""

import numpy as np
import torch
from chunk_rules import paired
from sklearn.metrics import ndcg_score

from modeling_ada import chunk_ids, pool_chunks
from open_ada import teacher
from open_ada.long_tasks import build_long_task, shipped_token_counter

model = teacher.load_teacher("all-MiniLM-L6-v2")
tok = model.tokenizer
sentence_ids = {tok.convert_tokens_to_ids(t) for t in (".", "!", "?")}


def windows(text_tokens, rule):
    """One text's chunks, each closed by [SEP] (in the EOS's place), under `rule`: (most tokens with [SEP], breaks)."""
    length, breaks = rule
    return chunk_ids([*text_tokens, tok.sep_token_id], length, breaks)


def encode(texts, rule):
    ids = tok(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    chunks = [windows(x, rule) for x in ids]
    flat = [c for cs in chunks for c in cs]
    feats = []
    for start in range(0, len(flat), 64):
        batch = flat[start : start + 64]
        f = tok.pad({"input_ids": [[tok.cls_token_id, *c] for c in batch]}, return_tensors="pt")
        f["token_type_ids"] = f["input_ids"] * 0
        feats.append(model(dict(f))["sentence_embedding"].detach().float())
    rows = torch.nn.functional.normalize(torch.cat(feats), dim=-1)
    out = pool_chunks(rows, chunks).numpy()
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


RULES = {"windows-255": (255, ()), "sentence-255": (255, (sentence_ids,)), "sentence-127": (127, (sentence_ids,))}
count = shipped_token_counter()
rng = np.random.default_rng(0)
with torch.inference_mode():
    for length in (1024, 2048, 4096, 8192):
        tasks = [build_long_task("documents", length, 32, count=count, seed=s) for s in range(8)]
        docs = list(tasks[0].corpus.values())
        scores = {}
        for name, rule in RULES.items():
            emb = dict(zip(tasks[0].corpus, encode(docs, rule), strict=True))
            per = []
            for data in tasks:
                doc_ids, qids = list(data.corpus), list(data.queries)
                D = np.stack([emb[d] for d in doc_ids])
                Q = model.encode([data.queries[q] for q in qids], normalize_embeddings=True)
                S = Q @ D.T
                for r, q in enumerate(qids):
                    g = np.array([data.qrels[q].get(d, 0) for d in doc_ids], float)
                    per.append(ndcg_score(g[None], S[r][None], k=10))
            scores[name] = per
        cells = [f"windows {np.mean(scores['windows-255']) * 100:.2f}"]
        for name in list(RULES)[1:]:
            d, low, high = paired(scores["windows-255"], scores[name], rng)
            cells.append(f"{name} {np.mean(scores[name]) * 100:.2f} ({d:+.2f} [{low:+.2f}, {high:+.2f}])")
        print(length, "; ".join(cells), flush=True)
