"""How closely a student reproduces the teacher's embeddings: on 800 random texts of each cached training pool (with
their cached teacher embeddings), and on 800 documents and all judged queries of each retrieval set
(`open_ada.data.read_retrieval`; the teacher encodes them here).

    python experiments/2026-12-05-student-fit/fit_probe.py models/open-ada-small

Per set: the mean and 10th percentile of the cosine between the student's and the teacher's embedding of each text,
and the mean share of each text's 10 nearest neighbours within the set that both models agree on.
"""

import random
import sys

import numpy as np
from sentence_transformers import SentenceTransformer

from open_ada.data import read_retrieval
from open_ada.teacher import load_cache, load_teacher, teacher_encode
from open_ada.train import TrainConfig

N = 800
TEACHER = TrainConfig.teacher  # the teacher whose embeddings the training pools cache
model = SentenceTransformer(sys.argv[1], trust_remote_code=True, device="cpu")
teacher = load_teacher(TEACHER)
rng = random.Random(0)


def fit(texts: list[str], teacher_emb: np.ndarray | None = None) -> tuple[float, float, float]:
    s = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    t = teacher_encode(teacher, texts) if teacher_emb is None else teacher_emb
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    cos = (s * t).sum(1)
    S, T = s @ s.T, t @ t.T
    np.fill_diagonal(S, -2)
    np.fill_diagonal(T, -2)
    near_s, near_t = np.argsort(-S, 1)[:, :10], np.argsort(-T, 1)[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(near_s, near_t, strict=True)])
    return cos.mean(), np.percentile(cos, 10), overlap


for pool in ["sentences", "text", "passages", "queries", "pairs"]:
    texts, emb = load_cache(TEACHER, pool)
    idx = rng.sample(range(len(texts)), N)
    print(
        f"train {pool:10s} cos %.3f p10 %.3f top10-overlap %.3f"
        % fit([texts[i] for i in idx], emb[idx].astype(np.float32)),
        flush=True,
    )
for name in ["msmarco-dl19-5k", "dbpedia-5k"]:
    data = read_retrieval(name)
    documents = rng.sample(list(data.corpus.values()), N)
    print(f"eval  {name:16s} corpus cos %.3f p10 %.3f top10-overlap %.3f" % fit(documents), flush=True)
    queries = list(data.queries.values())
    print(f"eval  {name:16s} queries({len(queries)}) cos %.3f p10 %.3f top10-overlap %.3f" % fit(queries), flush=True)
