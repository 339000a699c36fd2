"""Size of the ranking term next to GIST on 256 rows of four pair sets, v11 as student, the teacher as guide (kept as it ran).

HF_HUB_OFFLINE=1 python experiments/2026-12-05-teacher-ranking/ranking_size.py
"""
import torch, random
from sentence_transformers import SentenceTransformer
from open_ada.pools import build
from open_ada.teacher import load_teacher
from open_ada.train import RankedGISTLoss, TrainConfig, ranking_kl
torch.set_num_threads(1)
student = SentenceTransformer("runs/soup-plus-soup3", trust_remote_code=True, device="cpu")
teacher = load_teacher("all-MiniLM-L6-v2")
for name in ("qa", "keywords", "subjects", "nli"):
    rows = build(name); random.Random(0).shuffle(rows); rows = rows[:256]
    cols = list(zip(*[f for f, _ in rows]))[:2]
    s = [[torch.tensor(student.encode(list(c), normalize_embeddings=True))] for c in cols]
    t = [[torch.tensor(teacher.encode(list(c), normalize_embeddings=True))] for c in cols]
    for w in (0.0, 1.0):
        l = RankedGISTLoss(student, teacher, TrainConfig(ranking_weight=w, gist_temperature=0.05, gist_mini_batch=128))
        print(name, w, round(l.calculate_loss(s, t).item(), 4))
    S = s[0][0] @ s[1][0].T; T = t[0][0] @ t[1][0].T
    print(name, "top1 student", (S.argmax(-1) == torch.arange(256)).float().mean().item(), "teacher", (T.argmax(-1) == torch.arange(256)).float().mean().item(), "teacher p(pos)", (T/0.05).softmax(-1).diag().mean().item())
