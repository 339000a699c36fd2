"""Which side loses retrieval: queries or documents? Score student queries against teacher documents and vice versa."""
import numpy as np
from sklearn.metrics import ndcg_score
from open_ada.data import read_retrieval
from open_ada.evaluate import load_encoder
s, _ = load_encoder("runs/open-ada-small/final")
t, _ = load_encoder("all-MiniLM-L6-v2")
def unit(x): return x / np.linalg.norm(x, axis=-1, keepdims=True)
for name in ("msmarco-dl19-5k", "dbpedia-5k"):
    d = read_retrieval(name)
    docs = [d.corpus[i] for i in d.corpus]; qs = [d.queries[q] for q in d.queries]
    col = {k: i for i, k in enumerate(d.corpus)}
    gains = np.zeros((len(qs), len(docs)))
    for r, q in enumerate(d.queries):
        for k, g in d.qrels[q].items():
            if k in col: gains[r, col[k]] = g
    E = {"s": (unit(s(qs)), unit(s(docs))), "t": (unit(t(qs)), unit(t(docs)))}
    for qm in "st":
        for dm in "st":
            print(name, f"queries {qm} docs {dm}", round(100 * ndcg_score(gains, E[qm][0] @ E[dm][1].T, k=10), 2))
    print(name, "cos(student, teacher) queries", round(float((E['s'][0]*E['t'][0]).sum(-1).mean()),3), "docs", round(float((E['s'][1]*E['t'][1]).sum(-1).mean()),3))
