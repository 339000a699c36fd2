"""`open-ada compare`: paired per-query differences between two `open-ada evaluate` records."""

import json

import pytest

from open_ada.cli import main
from open_ada.compare import CompareConfig, compare


def write_record(path, results):
    """An `open-ada evaluate` record with `results` as `[(model, {set: {query: nDCG@10}})]`."""
    path.write_text(
        json.dumps(
            {
                "command": "open-ada evaluate ...",
                "results": [
                    {
                        "model": model,
                        "retrieval": {
                            name: {"ndcg@10": sum(q.values()) / len(q), "ndcg@10_by_query": q}
                            for name, q in sets.items()
                        },
                        "ood": {},
                    }
                    for model, sets in results
                ],
            }
        )
    )
    return str(path)


BASE = {f"q{i}": float(40 + (i * 7) % 50) for i in range(40)}  # varied scores, 40 queries like dbpedia-5k


def test_a_shift_on_every_query_is_outside_the_noise(tmp_path):
    a = write_record(tmp_path / "a.json", [("base", {"toy": BASE})])
    b = write_record(tmp_path / "b.json", [("cand", {"toy": {q: v + 5 for q, v in BASE.items()}})])
    (d,) = compare(CompareConfig(base=a, candidate=b))
    assert (d.name, d.queries, d.up, d.down) == ("toy", 40, 40, 0)
    assert d.mean == pytest.approx(5.0)
    assert (d.low, d.high) == (pytest.approx(5.0), pytest.approx(5.0))
    assert d.verdict == "candidate higher"


def test_one_query_is_within_the_noise(tmp_path):
    # +10 on one query of 40 moves the mean by 0.25, but a resample leaves that query out 36% of the time.
    a = write_record(tmp_path / "a.json", [("base", {"toy": BASE})])
    b = write_record(tmp_path / "b.json", [("cand", {"toy": {**BASE, "q3": BASE["q3"] + 10}})])
    (d,) = compare(CompareConfig(base=a, candidate=b))
    assert d.mean == pytest.approx(0.25)
    assert d.low == pytest.approx(0.0) and d.high > 0.25
    assert (d.up, d.down, d.verdict) == (1, 0, "within noise")


def test_a_consistent_loss_says_base_higher(tmp_path):
    a = write_record(tmp_path / "a.json", [("base", {"toy": BASE})])
    worse = {q: v - 3 + (1 if i % 2 else -1) for i, (q, v) in enumerate(BASE.items())}  # every query 2-4 lower
    b = write_record(tmp_path / "b.json", [("cand", {"toy": worse})])
    (d,) = compare(CompareConfig(base=a, candidate=b))
    assert -4 < d.low < d.high < -2
    assert (d.up, d.down, d.verdict) == (0, 40, "base higher")


def test_models_of_one_record_are_chosen_by_name(tmp_path):
    record = write_record(
        tmp_path / "eval.json", [("ours", {"toy": BASE}), ("teacher", {"toy": {q: 100.0 for q in BASE}})]
    )
    (d,) = compare(CompareConfig(base=record, candidate=record, candidate_model="teacher"))
    assert d.verdict == "candidate higher" and d.candidate == pytest.approx(100.0)
    with pytest.raises(ValueError, match=r"no result for model 'student'.*\['ours', 'teacher'\]"):
        compare(CompareConfig(base=record, candidate=record, candidate_model="student"))


def test_refuses_records_it_cannot_pair(tmp_path):
    a = write_record(tmp_path / "a.json", [("base", {"toy": BASE})])
    fewer = write_record(tmp_path / "b.json", [("cand", {"toy": dict(list(BASE.items())[:30])})])
    with pytest.raises(ValueError, match="different queries"):
        compare(CompareConfig(base=a, candidate=fewer))
    other = write_record(tmp_path / "c.json", [("cand", {"other": BASE})])
    with pytest.raises(ValueError, match="no set in common"):
        compare(CompareConfig(base=a, candidate=other))
    old = tmp_path / "old.json"  # a record from before per-query scores
    old.write_text(json.dumps({"results": [{"model": "v9", "retrieval": {"toy": {"ndcg@10": 50.0}}}]}))
    with pytest.raises(ValueError, match=r"no per-query scores for \['toy'\].*run `open-ada evaluate` again"):
        compare(CompareConfig(base=str(old), candidate=a))
    bare = tmp_path / "bare.json"  # one model's scores, not an `open-ada evaluate` record
    bare.write_text(json.dumps({"model": "v9", "retrieval": {"toy": {"ndcg@10_by_query": BASE}}}))
    with pytest.raises(ValueError, match=r"bare\.json is not an `open-ada evaluate --output` record"):
        compare(CompareConfig(base=str(bare), candidate=a))
    with pytest.raises(ValueError, match="between 0 and 1"):
        CompareConfig(base=a, candidate=a, confidence=95)


def test_command_prints_and_writes_the_table(tmp_path, capsys):
    a = write_record(tmp_path / "a.json", [("base", {"toy": BASE})])
    b = write_record(tmp_path / "b.json", [("cand", {"toy": {q: v + 5 for q, v in BASE.items()}})])
    out = tmp_path / "compare.md"
    assert main(["compare", a, b, "--output", str(out)]) == 0
    row = "| toy | 40 | 64.00 | 69.00 | +5.00 | [+5.00, +5.00] | 40 / 0 | candidate higher |"
    assert row in capsys.readouterr().out
    assert row in out.read_text()
