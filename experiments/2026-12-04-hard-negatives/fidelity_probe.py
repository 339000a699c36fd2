import numpy as np
from open_ada.evaluate import load_encoder
from open_ada.teacher import load_cache
s, _ = load_encoder("runs/open-ada-small/final")
for pool in ("sentences", "pairs", "text", "passages", "queries"):
    texts, emb = load_cache("all-MiniLM-L6-v2", pool)
    idx = np.random.default_rng(0).choice(len(texts), 1000, replace=False)
    e = s([texts[i] for i in idx]); e = e / np.linalg.norm(e, axis=-1, keepdims=True)
    t = emb[idx].astype(np.float32)
    print(pool, len(texts), "cos", round(float((e * t).sum(-1).mean()), 3))
