"""The data readers (`open_ada.data`): STS-B, the out-of-domain tasks held out of every training pool, and the
training filter's denylist, on the tiny copy of the shared data layout that test_pools.py builds (and, for the
denylist, on the real shared data)."""

import re

import pytest
from test_pools import ARTICLES, LISTED, article, data_dir, texts_of  # noqa: F401  (data_dir: the fixture)

from open_ada.data import read_ood_task, read_stsb, training_filter
from open_ada.pools import build


def test_read_stsb_gives_scored_pairs_and_refuses_unknown_splits(data_dir):  # noqa: F811
    pairs = read_stsb("train", data_dir)
    assert [(p.sentence1, p.score) for p in pairs[:2]] == [
        ("A man plays guitar number 0.", 3.0),
        ("A man plays guitar number 1.", 3.0),
    ]
    assert pairs[-1].sentence1 == LISTED and pairs[-1].score == 2.0
    with pytest.raises(ValueError, match="STS-B split"):
        read_stsb("validation", data_dir)


def test_held_out_articles_are_the_news_task_and_never_trained_on(data_dir):  # noqa: F811
    task = read_ood_task("news-titles", data_dir)
    held = [i for i in range(ARTICLES) if article(i)[0] in task.queries.values()]
    assert 0 < len(held) < ARTICLES / 3
    for query_id, title in task.queries.items():
        (doc_id,) = task.qrels[query_id]
        i = int(re.search(r"number (\d+)", title).group(1))
        assert task.corpus[doc_id].startswith(f"Sentence 0 of article {i} ")
    training = " ".join(texts_of(build("text", data_dir)) + texts_of(build("passages", data_dir)))
    for i in range(ARTICLES):
        assert (f"article {i} " in training) == (i not in held), i
    assert read_ood_task("news-titles", data_dir) == task  # deterministic


def test_scitail_is_held_out_whole_and_squad_by_its_last_rows(data_dir):  # noqa: F811
    scitail = read_ood_task("scitail-claims", data_dir)
    assert list(scitail.queries.values()) == ["Plants use sunlight to make food."]
    assert not [t for t in texts_of(build("pairs", data_dir)) if "Plants" in t]
    squad = read_ood_task("squad-sentences", data_dir)
    assert sorted(squad.queries.values())[0] == "question number 0 of squad?"  # fewer rows than the block: all
    assert not [t for t in texts_of(build("qa", data_dir)) if "of squad" in t]


def test_the_real_denylist_lists_sts_b_test_sentences_under_the_project_key():
    """The project's key function matches the shared list: STS-B test sentences (listed there) are refused."""
    sentences = [s for p in read_stsb("test")[:30] for s in (p.sentence1, p.sentence2) if len(s.split()) >= 3]
    refused = [s for s in sentences if not training_filter().allows(s)]
    assert len(refused) == len(sentences)
