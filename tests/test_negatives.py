"""Teacher-mined hard negatives: which candidate is chosen, the cache and its filter, and training on the triplets."""

import json

import numpy as np
import pytest

import open_ada.negatives
import open_ada.teacher
from open_ada.data import read_stsb, training_filter
from open_ada.negatives import MineConfig, load_triplets, mine, mine_pair_set, negatives_path
from open_ada.pools import build


def along(scores: list[float]) -> np.ndarray:
    """Unit vectors whose cosine with (1, 0) is each of `scores`."""
    return np.array([[s, np.sqrt(1 - s * s)] for s in scores], dtype=np.float32)


def test_the_hardest_candidate_below_the_ratio_is_chosen():
    """Anchor 0 scores 0.9 with its own positive: 0.88 is too close to be a negative (above 0.95 x 0.9), 0.8 is the
    hardest that qualifies; 0.5 is easier."""
    anchors = ["a0", "a1", "a2", "a3"]
    positives = ["p0", "p1", "p2", "p3"]
    anchor_emb = along([1.0, 1.0, 1.0, 1.0])
    chosen = mine(anchors, positives, anchor_emb, along([0.9, 0.88, 0.8, 0.5]), max_ratio=0.95)
    assert chosen[0] == 2
    assert chosen[3] is None  # 0.5 is its own positive's score: every other candidate scores higher


def test_a_positive_of_the_same_anchor_text_is_never_its_negative():
    """ "q" has two answers, rows 0 and 1: the second is no negative of the first, however it scores; row 2's is."""
    anchors = ["q", "q", "r"]
    positives = ["right", "also right", "other"]
    chosen = mine(anchors, positives, along([1.0, 1.0, 1.0]), along([0.9, 0.7, 0.6]), max_ratio=0.95)
    assert chosen[0] == 2 and chosen[1] == 2


def test_a_row_the_teacher_ranks_low_keeps_a_negative_further_down():
    """Row 0's positive scores 0.3, below four other positives: its negative is the best of those under 0.285."""
    scores = [0.3, 0.9, 0.8, 0.7, 0.6, 0.25, 0.1]
    anchors = [f"a{i}" for i in range(len(scores))]
    chosen = mine(anchors, [f"p{i}" for i in range(len(scores))], along([1.0] * len(scores)), along(scores), 0.95)
    assert chosen[0] == 5


def test_cached_triplets_the_filter_refuses_are_not_trained_on(tmp_path, monkeypatch):
    """A triplet whose negative became an evaluation text (an STS-B test sentence) after mining is dropped at load."""
    monkeypatch.setattr(open_ada.teacher, "CACHE_ROOT", tmp_path)
    listed = read_stsb("test")[0].sentence1
    assert not training_filter().allows(listed)
    path = negatives_path("all-MiniLM-L6-v2", "qa")
    path.parent.mkdir(parents=True)
    records = [
        {"anchor": "Who built it ?", "positive": "A clean answer about bridges.", "negative": listed, "source": "x"},
        {"anchor": "Who ran it ?", "positive": "A clean answer about trains.", "negative": "Cars.", "source": "x"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert load_triplets("all-MiniLM-L6-v2", "qa") == [("Who ran it ?", "A clean answer about trains.", "Cars.")]
    with pytest.raises(ValueError, match="run `open-ada mine-negatives --pair-set keywords`"):
        load_triplets("all-MiniLM-L6-v2", "keywords")


def test_hard_negatives_must_name_minable_pair_sets_of_the_run():
    from open_ada.train import TrainConfig

    assert TrainConfig(pair_sets=["qa", "nli"], hard_negatives=["qa"]).hard_negatives == ["qa"]
    with pytest.raises(ValueError, match=r"hard_negatives \['keywords'\].*of \['qa'\]"):
        TrainConfig(pair_sets=["qa", "nli"], hard_negatives=["keywords"])  # not trained on
    with pytest.raises(ValueError, match=r"hard_negatives \['nli'\]"):
        TrainConfig(pair_sets=["qa", "nli"], hard_negatives=["nli"])  # its triplets carry their contradictions


def test_mined_qa_triplets_train_the_contrastive_objective(tmp_path, monkeypatch):
    """Mines 48 (question, answer) pairs with the teacher, then trains on the triplets: every negative is another
    row's answer that the teacher scores below 0.95 x the row's own, and after 24 steps the student ranks each
    question's answer above its mined negative far more clearly than before."""
    from test_train import TINY
    from transformers import AutoModel

    import open_ada.train
    from open_ada.train import TrainConfig, train

    monkeypatch.setattr(open_ada.teacher, "CACHE_ROOT", tmp_path / "cache")
    rows = build("qa")[:48]
    monkeypatch.setattr(open_ada.negatives, "build", lambda name: rows)
    path = mine_pair_set(MineConfig(pair_set="qa"))
    records = [json.loads(line) for line in path.open()]
    answers = {fields[1] for fields, _ in rows}
    assert len(records) >= 44
    assert all(r["negative"] in answers and r["negative"] != r["positive"] for r in records)
    assert all(r["teacher_negative"] < 0.95 * r["teacher_positive"] + 1e-3 for r in records)

    texts = sorted(answers)  # the run's distillation pool
    open_ada.teacher.embed_pool("all-MiniLM-L6-v2", "sentences", texts, ["qa"] * len(texts))
    monkeypatch.setattr(open_ada.train, "build", lambda name: pytest.fail("triplets come from the mined cache"))
    config = TrainConfig(
        **{**TINY, "pair_sets": ["qa"], "pair_repeats": {"qa": 32}, "learning_rate": 5e-4, "gist_mini_batch": 8},
        hard_negatives=["qa"],
        output_dir=str(tmp_path / "run"),
        max_steps=24,
    )
    final = train(config, resume=False)

    def margin(folder) -> float:
        model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        q, a, n = (model.encode([r[k] for r in records]) for k in ("anchor", "positive", "negative"))
        return float(((q * a).sum(-1) - (q * n).sum(-1)).mean())

    before, after = margin(tmp_path / "run" / "init"), margin(final)
    assert after > before + 0.2, (before, after)
