"""The ways of cutting a long input into chunks that this record compares, and v13's per-query nDCG@10 under each.

Run with the shipped folder on the path (`PYTHONPATH=models/open-ada-small`). Each rule maps a text's ids (ending
in EOS) to its chunks; the chunks are embedded with v13 and averaged weighted by their tokens, renormalised
(`modeling_ada.pool_chunks`), as `open-ada serve` does. `model.chunk` is the rule adopted: 128-token
chunks cut at line ends, else sentence ends, in the second half of each window (`modeling_ada.chunk_ids`).
"""

import math

import numpy as np
from loguru import logger
from sklearn.metrics import ndcg_score
from transformers import AutoModel

from modeling_ada import chunk_ids, pool_chunks

model = AutoModel.from_pretrained("models/open-ada-small", trust_remote_code=True).eval()
vocab = model.tokenizer.convert_ids_to_tokens(list(range(len(model.tokenizer))))
LINE = {i for i, t in enumerate(vocab) if t and "Ċ" in t}
SENTENCE = {i for i, t in enumerate(vocab) if t and t.rstrip("Ċ").endswith((".", "!", "?", '."', ".'", '?"', '!"'))}
logger.info(f"{len(LINE)} line-end tokens, {len(SENTENCE)} sentence-end tokens (the probe's own sets)")


def fixed(ids, max_length):
    """Consecutive windows of `max_length - 1` tokens, each closed by the EOS (the rule before this record)."""
    if len(ids) <= max_length:
        return [list(ids)]
    text, eos, step = ids[:-1], ids[-1], max_length - 1
    return [[*text[i : i + step], eos] for i in range(0, len(text), step)]


def balanced(ids, max_length):
    """As few windows as `fixed`, all of about the same length (no short last chunk)."""
    if len(ids) <= max_length:
        return [list(ids)]
    text, eos = ids[:-1], ids[-1]
    size = math.ceil(len(text) / math.ceil(len(text) / (max_length - 1)))
    return [[*text[i : i + size], eos] for i in range(0, len(text), size)]


def breaks(ids, max_length, sets=(LINE, SENTENCE)):
    """Each window cut after the last token of the first of `sets` found in its second half: `chunk_ids` itself."""
    return chunk_ids(ids, max_length, sets)


def balanced_breaks(ids, max_length):
    """`balanced`'s even share, each cut at the line or sentence end nearest it in the window's second half."""
    if len(ids) <= max_length:
        return [list(ids)]
    text, eos, step = ids[:-1], ids[-1], max_length - 1
    out, i = [], 0
    while i < len(text):
        left = len(text) - i
        if left <= step:
            out.append([*text[i:], eos])
            break
        target = i + math.ceil(left / math.ceil(left / step))
        ends = [j + 1 for j in range(i + step // 2, i + step) if text[j] in SENTENCE or text[j] in LINE]
        end = min(ends, key=lambda c: abs(c - target)) if ends else target
        out.append([*text[i:end], eos])
        i = end
    return out


def overlap(ids, max_length):
    """Windows of `max_length - 1` tokens every half window."""
    if len(ids) <= max_length:
        return [list(ids)]
    text, eos, step = ids[:-1], ids[-1], max_length - 1
    return [[*text[i : i + step], eos] for i in range(0, max(1, len(text) - step // 2), step // 2)]


RULES = {
    "fixed-256": lambda ids: fixed(ids, 256),
    "fixed-128": lambda ids: fixed(ids, 128),
    "balanced-256": lambda ids: balanced(ids, 256),
    "overlap-256": lambda ids: overlap(ids, 256),
    "line+sentence-96": lambda ids: breaks(ids, 96),
    "line+sentence-128": lambda ids: breaks(ids, 128),
    "line+sentence-192": lambda ids: breaks(ids, 192),
    "line+sentence-256": lambda ids: breaks(ids, 256),
    "sentence-256": lambda ids: breaks(ids, 256, (SENTENCE,)),
    "line|sentence-128": lambda ids: breaks(ids, 128, (LINE | SENTENCE,)),
    "line|sentence-256": lambda ids: breaks(ids, 256, (LINE | SENTENCE,)),
    "balanced-line|sentence-256": lambda ids: balanced_breaks(ids, 256),
    "model.chunk": lambda ids: model.chunk(ids),
}
_cache = {}


def embed(rule, texts):
    """Unit chunk-mean embeddings of `texts` under `rule`; a rule name ending in `+nl` first puts a space after
    every line break (so a line's first word reads as word-initial)."""
    if rule.endswith("+nl"):
        rule, texts = rule[:-3], [t.replace("\n", "\n ") for t in texts]
    key = (rule, tuple(texts))
    if key not in _cache:
        chunks = [RULES[rule](ids) for ids in model.tokenize(texts, max_length=None)]
        rows = model.encode_ids([c for cs in chunks for c in cs], convert_to_numpy=False)
        e = pool_chunks(rows, chunks).numpy()
        _cache[key] = e / np.linalg.norm(e, axis=-1, keepdims=True)
    return _cache[key]


def per_query(rule, tasks):
    """nDCG@10 of every query of `tasks` (RetrievalSets), documents read under `rule`, queries as themselves."""
    out = []
    for data in tasks:
        doc_ids, query_ids = list(data.corpus), list(data.queries)
        scores = (
            embed("fixed-256", [data.queries[q] for q in query_ids]) @ embed(rule, [data.corpus[d] for d in doc_ids]).T
        )
        column = {d: i for i, d in enumerate(doc_ids)}
        for row, q in enumerate(query_ids):
            gains = np.zeros(len(doc_ids))
            for d, grade in data.qrels[q].items():
                gains[column[d]] = grade
            out.append(ndcg_score(gains[None], scores[row][None], k=10))
    return out


def paired(base, other, rng):
    """Mean difference (x100) and its 95% bootstrap interval over queries."""
    d = (np.array(other) - np.array(base)) * 100
    boots = [rng.choice(d, len(d)).mean() for _ in range(2000)]
    return d.mean(), np.percentile(boots, 2.5), np.percentile(boots, 97.5)
