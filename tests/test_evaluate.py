"""The retrieval metrics on a synthetic BEIR-layout set whose answers are known."""

import json

import numpy as np
import pytest

from open_ada.data import read_retrieval
from open_ada.evaluate import markdown_table, retrieval_scores


@pytest.fixture
def tiny_beir(tmp_path):
    root = tmp_path / "retrieval" / "toy"
    (root / "qrels").mkdir(parents=True)
    docs = {f"d{i}": f"doc {i}" for i in range(150)}
    (root / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "title": "", "text": v}) for k, v in docs.items())
    )
    (root / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "query 1"}) + "\n" + json.dumps({"_id": "q2", "text": "unjudged"})
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td0\t3\nq1\td1\t1\nq1\td120\t1\n")
    return tmp_path


def encoder(order):
    """Embeds `doc i` so that its similarity to the query decreases with its rank in `order`."""
    rank = {doc: r for r, doc in enumerate(order)}

    def encode(texts):
        out = []
        for t in texts:
            if t.startswith("query") or t == "unjudged":
                out.append([1.0, 0.0])
            else:
                angle = 0.01 * rank[int(t.split()[1])]
                out.append([np.cos(angle), np.sin(angle)])
        return np.array(out)

    return encode


def test_perfect_ranking_scores_100(tiny_beir):
    order = [0, 1, 120, *[i for i in range(150) if i not in (0, 1, 120)]]
    scores = retrieval_scores(encoder(order), read_retrieval("toy", tiny_beir))
    assert scores == {
        "ndcg@10": pytest.approx(100.0),
        "recall@100": pytest.approx(100.0),
        "ndcg@10_by_query": {"q1": pytest.approx(100.0)},  # the unjudged q2 is not scored
    }


def test_graded_ndcg_and_recall_cutoff(tiny_beir):
    # The grade-1 document d1 first, the grade-3 d0 second, d120 beyond rank 100.
    order = [1, 0] + [i for i in range(2, 150) if i != 120] + [120]
    scores = retrieval_scores(encoder(order), read_retrieval("toy", tiny_beir))
    dcg = 1 / np.log2(2) + 3 / np.log2(3)
    ideal = 3 / np.log2(2) + 1 / np.log2(3) + 1 / np.log2(4)
    assert scores["ndcg@10"] == pytest.approx(100 * dcg / ideal)
    assert scores["ndcg@10_by_query"] == {"q1": pytest.approx(100 * dcg / ideal, abs=1e-4)}
    assert scores["recall@100"] == pytest.approx(100 * 2 / 3)


def test_markdown_table_lists_every_model():
    rows = [
        {
            "model": "a/ours",
            "parameters": 12.5e6,
            "stsb": {"dev": 80.0, "test": 75.0},
            "retrieval": {"toy": {"ndcg@10": 1.0, "recall@100": 2.0}},
            "ood": {"news-titles": {"ndcg@10": 3.0, "recall@100": 4.0}},
        },
        {"model": "teacher", "parameters": 22.7e6, "stsb": {"test": 82.0}, "retrieval": {}},
    ]
    table = markdown_table(rows)
    assert "| ours | 12.5M | 80.00 | 75.00 | 1.00 | 2.00 | 3.00 |" in table
    assert "| teacher | 22.7M | – | 82.00 | – | – | – |" in table
    assert "news-titles nDCG@10" in table.splitlines()[0]


def test_markdown_table_of_a_long_only_run_has_no_empty_sts_b_columns():
    rows = [{"model": "runs/long/final", "parameters": 22.1e6, "stsb": {}, "retrieval": {}, "long": {}}]
    assert markdown_table(rows).splitlines() == ["| model | params |", "|---|---|", "| long/final | 22.1M |"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"dimensions": [128, 0]}, r"dimensions must be >= 1.*got \[128, 0\]"),
        ({"long_docs": 0}, r"long_docs >= 1.*got \[\], 0"),
        ({"long_lengths": [32, 512]}, r"long_lengths >= 64 tokens.*\[32, 512\]"),
    ],
)
def test_evaluate_refuses_what_it_cannot_score_before_loading_a_model(values, message):
    from open_ada.evaluate import EvaluateConfig

    with pytest.raises(ValueError, match=message):
        EvaluateConfig(model="never-loaded", **values)


def test_a_width_wider_than_the_embeddings_is_refused_not_scored_as_the_full_width(monkeypatch):
    """`--dimensions 999` on 384-wide embeddings once scored all 384 under the label 999; 0 scored nothing (NaN)."""
    import open_ada.evaluate as evaluate_module

    monkeypatch.setattr(evaluate_module, "load_encoder", lambda name: (lambda texts: np.ones((len(texts), 8)), 1))
    with pytest.raises(ValueError, match=r"dimensions \[9\]: toy embeds in 8; give widths in \[1, 8\]"):
        evaluate_module.evaluate("toy", dimensions=(4, 9))
