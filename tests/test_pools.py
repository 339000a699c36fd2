"""The training pools and pair sets (`open_ada.pools`) on a tiny copy of the shared data layout: every builder drops
a listed evaluation sentence wherever it hides, and passages follow the `.src` documents. (The data readers and the
held-out out-of-domain tasks, `open_ada.data`, are tested in test_data.py on the same layout.)"""

import hashlib
import re
from pathlib import Path

import pytest

from open_ada.pools import PAIR_SETS, POOLS, build, build_crops, subject_name

LISTED = "The listed evaluation sentence must never be trained on."
ARTICLES = 40  # one in ten is held out by a hash of its title, so a few are
# Lines of WordNet's data.noun (Debian's wordnet-base): licence header, an instance and a common noun
WORDNET_NOUNS = [
    "  1 This software and database is being provided to you, the LICENSEE, by",
    "00000001 18 n 02 Wilfrid_Laurier 0 Laurier 0 001 @i 00000002 n 0000 | Canadian statesman who was the first "
    "French Canadian to be prime minister of Canada (1841-1919)",
    '00000002 18 n 01 statesman 0 000 | a man who is a respected leader in national or international affairs; "he '
    'was a statesman of the old school"',
    "00000003 18 n 01 sir 0 000 | a title",
]


def denylist_key(text: str) -> str:
    """The key as `../shared/data/README.md` writes it (not the project's own function)."""
    return hashlib.sha1(re.sub(r"[^0-9a-z]+", " ", text.lower()).strip().encode()).hexdigest()[:16]


def write_sourced(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{text}\n" for text, _ in rows), encoding="utf-8")
    Path(f"{path}.src").write_text("".join(f"{source}\n" for _, source in rows), encoding="utf-8")


def river_sentence(i: int) -> str:
    """The answer sentences of a training SQuAD article, 17 words each: `answers` joins them into passages."""
    return f"the river passes town number {i} on its long way down from the high hills to the sea."


def article(i: int) -> tuple[str, list[str]]:
    title = f"Company number {i} reports results for quarter {i}"
    body = [f"Sentence {j} of article {i} tells what the company number {i} did in its year." for j in range(12)]
    return title, body


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A tiny data folder in the shared layout, with `LISTED` hidden in every file, alone and inside a longer text,
    and listed in its denylist."""
    root = tmp_path_factory.mktemp("data")
    inside = f"Something happened first. {LISTED} Then something else happened."
    news = []
    for i in range(ARTICLES):
        title, body = article(i)
        news += [(title, "reuters21578_title")] + [(line, "reuters21578_body") for line in body]
        if i == 3:
            news += [(LISTED, "reuters21578_body"), (inside, "reuters21578_body")]
    write_sourced(root / "text" / "news.txt", news)
    forum = [(f"forum comment number {i} says something rude", "goemotions_reddit") for i in range(10)]
    write_sourced(root / "text" / "forum.txt", forum + [(LISTED, "goemotions_reddit"), (inside, "goemotions_reddit")])
    wiki = ["Golo Mann (1909 - 1994) was the third child of novelist Thomas Mann.", "Brown was a Republican."]
    wiki += ["He was a master carpenter and a soldier.", f"Listed Town is a town of the test. {LISTED}"]
    write_sourced(root / "text" / "wiki.txt", [(line, "wikisplit_complex_sentence") for line in wiki])
    nli = [
        (f"A premise number {i} about a dog.\tThe dog number {i} exists.\tentailment", "snli_dev") for i in range(6)
    ]
    nli += [
        (f"A premise number {i} about a dog.\tThere is no dog at all.\tcontradiction", "snli_dev") for i in range(6)
    ]
    nli += [
        (f"A premise number 9 about a cat.\t{LISTED}\tentailment", "snli_dev"),
        ("A premise number 9 about a cat.\tThere is no cat at all.\tcontradiction", "snli_dev"),
        ("Plants make food from light.\tPlants use sunlight to make food.\tentailment", "scitail_dev"),
    ]
    write_sourced(root / "nli" / "nli.tsv", nli)
    qa = [(f"what is item number {i}?\titem number {i} is a thing we sell.", "wikiqa_train") for i in range(6)]
    qa += [(f"what is the listed thing?\t{LISTED}", "wikiqa_train")]
    qa += [
        (f"question number {i} of squad?\tanswer number {i} of squad.", "squad_v1.1_sentence(nqg_test)")
        for i in range(4)
    ]
    river = [
        (f"where does the river pass town {i}?\t{river_sentence(i)}", "squad_v1.1_sentence(nqg_dev)")
        for i in range(20)
    ]
    river.insert(10, (f"what is listed in the river article?\t{LISTED}", "squad_v1.1_sentence(nqg_dev)"))
    write_sourced(root / "qa" / "qa.tsv", qa + river)
    dupq = [(f"Can I take pill number {i} daily?\tIs pill number {i} safe every day?\t1", "mqp") for i in range(20)]
    write_sourced(root / "qa" / "dupq.tsv", dupq + [(f"Is this one listed or not?\t{LISTED}\t1", "mqp")])
    para = [(f"He said thing number {i}.\tThing number {i} was said by him.\t1", "msrp_train") for i in range(4)]
    write_sourced(root / "qa" / "para.tsv", para + [(f"{inside}\tA paraphrase of it.\t1", "msrp_train")])
    (root / "stsb").mkdir()
    rows = [f"g\tf\ty\t{i:04d}\t3.0\tA man plays guitar number {i}.\tA man plays a guitar {i}." for i in range(3)]
    rows.append(f"g\tf\ty\t0009\t2.0\t{LISTED}\tA woman plays a flute.")
    (root / "stsb" / "sts-train.csv").write_text("\n".join(rows) + "\n")
    (root / "pairs").mkdir()
    sick = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n"
    (root / "pairs" / "sick-train.tsv").write_text(sick + f"1\tA kid is playing outside\t{LISTED}\t4.5\tNEUTRAL\n")
    (root / "pairs" / "sick-trial.tsv").write_text(
        sick + "2\tA kid is playing inside\tA kid is not outside\t4.0\tNEUTRAL\n"
    )
    (root / "pairs" / "msrp-train.tsv").write_text(
        "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tMsrp sentence one is here.\tMsrp sentence two is here.\n"
    )
    (root / "pairs" / "trecqa-train.csv").write_text(f'qtext,label,atext\n"Who wrote it ?",1,"{LISTED}"\n')
    (root / "pairs" / "wiki-sentences-12k.txt").write_text(f"A wiki sentence about rivers and lakes.\n{inside}\n")
    (root / "denylist").mkdir()
    (root / "denylist" / "eval-texts.sha1").write_text(denylist_key(LISTED) + "\n")
    (root / "wordnet").mkdir()
    nouns = [
        *WORDNET_NOUNS,
        f"00000004 04 n 01 listed_thing 0 000 | {LISTED}",
        f"00000005 04 n 01 other_thing 0 001 @i 00000002 n 0000 | a thing that hides it; {LISTED}",  # an instance
    ]
    (root / "wordnet" / "data.noun").write_text("".join(f"{line}  \n" for line in nouns))
    return root


def texts_of(rows) -> list[str]:
    return [text for fields, _ in rows for text in fields]


@pytest.mark.parametrize("name", [*POOLS, *PAIR_SETS])
def test_every_pool_and_pair_set_drops_a_listed_sentence_alone_and_inside_a_text(data_dir, name):
    bases = {
        "crops": texts_of(build("text", data_dir)) + [LISTED, f"{LISTED} joined"],
        "prefixes": texts_of(build("long", data_dir)) + [f"{LISTED}\n" + "\n".join(["Some other line here."] * 9)],
    }.get(name)
    rows = build(name, data_dir, bases=bases)
    assert rows, name
    assert not [t for t in texts_of(rows) if LISTED.lower()[:-1] in t.lower()], name


def test_the_listed_sentence_reaches_every_pool_without_the_filter(data_dir, monkeypatch):
    """The test above is not vacuous: with an empty denylist the same builders keep the sentence."""
    empty = data_dir.parent / "no-denylist"
    if not empty.exists():
        import shutil

        shutil.copytree(data_dir, empty)
        (empty / "denylist" / "eval-texts.sha1").write_text("")
    for name in "pairs text passages long qa answers nli definitions entities subjects keywords digests".split():
        assert [t for t in texts_of(build(name, empty)) if LISTED.lower()[:-1] in t.lower()], name


def test_passages_join_the_lines_of_one_article_and_start_with_its_title(data_dir):
    passages = [fields[0] for fields, source in build("passages", data_dir) if source == "reuters21578_body"]
    assert passages
    for passage in passages:
        numbers = set(re.findall(r"article (\d+)", passage))
        assert len(numbers) == 1, passage  # never two articles in one passage
        assert 25 <= len(passage.split()) <= 150
    starts = [p for p in passages if p.startswith("Company number")]
    assert starts and all(re.match(r"Company number (\d+) .* Sentence 0 of article \1 ", p) for p in starts)
    forum = [fields[0] for fields, source in build("passages", data_dir) if source == "goemotions_reddit"]
    assert forum == []  # comments are unrelated lines: never joined


def test_answers_pair_each_squad_question_with_the_answer_sentences_around_its_own(data_dir):
    from open_ada.pools import PASSAGE_WORDS

    rows = build("answers", data_dir)
    assert rows == build("answers", data_dir)  # deterministic for a seed
    around = " ".join(river_sentence(i) for i in range(20))  # the article's answer sentences, in file order
    starts = set()
    for (question, passage), source in rows:
        town = int(question.removeprefix("where does the river pass town ").removesuffix("?"))
        assert river_sentence(town) in passage and passage in around, question  # consecutive whole sentences
        assert PASSAGE_WORDS[0] <= len(passage.split()) < PASSAGE_WORDS[1] + 17 and source.endswith("(nqg_dev)")
        starts.add(passage.startswith(river_sentence(town)))
    assert starts == {True, False}  # the answer sits anywhere in its passage
    # the listed question's passage and those that reached over the listed sentence are dropped whole, not cut around it
    assert 0 < len(rows) < 20


def test_nli_triplets_pair_each_entailment_with_a_contradiction_of_the_same_premise(data_dir):
    rows = build("nli", data_dir)
    assert len(rows) == 6
    for (premise, entailed, contradicted), _ in rows:
        number = re.search(r"number (\d+)", premise).group(1)
        assert entailed == f"The dog number {number} exists." and contradicted == "There is no dog at all."


def test_crops_are_new_spans_or_joins_of_the_pool():
    from open_ada.data import read_stsb

    texts = sorted({s for p in read_stsb("train")[:300] for s in (p.sentence1, p.sentence2)})
    crops = build_crops(texts, seed=0)
    lowered = {t.lower() for t in texts}
    assert len(crops) > 0.9 * len(texts)  # about one per text; only duplicates are dropped
    assert len({c.lower() for c in crops}) == len(crops)
    assert not lowered & {c.lower() for c in crops}
    spans = joins = 0
    for crop in crops:
        if any(crop in t for t in texts):
            spans += 1
            assert len(crop.split()) >= 3
        else:
            assert any(crop.startswith(t + " ") and crop[len(t) + 1 :] in texts for t in texts), crop
            joins += 1
    assert spans > 0.3 * len(crops) and joins > 0.3 * len(crops)
    assert build_crops(texts, seed=0) == crops  # seeded
    assert build_crops(texts, seed=1) != crops


def test_queries_are_short_spans_or_keyword_lists_of_one_line(data_dir):
    lines = [line for path in (data_dir / "text").glob("*.txt") for line in path.read_text().splitlines()]
    queries = [fields[0] for fields, _ in build("queries", data_dir)]
    assert queries
    for query in queries:
        words = query.split()
        assert 2 <= len(words) <= 8, query
        # the words occur in this order in one line (a span, or content words with others left out)
        assert any(re.search(".*".join(map(re.escape, words)), line) for line in lines), query


def test_keywords_pair_a_query_cut_from_one_sentence_with_its_whole_passage(data_dir):
    from open_ada.pools import STOPWORDS

    passages = {fields[0]: source for fields, source in build("passages", data_dir)}
    rows = build("keywords", data_dir)
    assert len(rows) >= len(passages) // 2  # at most one a passage: the rest had too few content words
    for (query, passage), source in rows:
        assert passages[passage] == source  # a passage of the pool, whole, with its source
        words = query.split()
        assert 2 <= len(words) <= 8 and len([w for w in words if w.lower() not in STOPWORDS]) >= 2, query
        sentences = re.split(r"(?<=[.!?])\s+", passage)
        assert any(re.search(".*".join(map(re.escape, words)), s) for s in sentences), (query, passage)


def test_digests_join_whole_training_articles_and_ask_for_one_of_their_titles(data_dir):
    from open_ada.data import held_out
    from open_ada.pools import LONG_WORDS

    training = [i for i in range(ARTICLES) if not held_out(article(i)[0]) and i != 3]  # 3 hides the listed sentence
    rows = build("digests", data_dir)
    assert rows
    for (title, digest), source in rows:
        numbers = [int(n) for n in re.findall(r"of article (\d+) ", digest)]
        articles = sorted(set(numbers))
        start = training.index(articles[0])
        assert articles == training[start : start + len(articles)]  # consecutive training articles, in order
        assert numbers == sorted(numbers) and all(numbers.count(i) == 12 for i in articles)  # each whole, once
        assert title in {article(i)[0] for i in articles} and "Company number" not in digest  # bodies only
        assert len(digest.split()) >= LONG_WORDS[0] and source == "news_digest"


def test_headlines_pair_each_training_title_with_the_lead_of_its_own_body(data_dir):
    from open_ada.data import held_out
    from open_ada.pools import MAX_TEXT_WORDS

    rows = build("headlines", data_dir)
    training = {article(i)[0]: article(i)[1] for i in range(ARTICLES) if not held_out(article(i)[0]) and i != 3}
    assert {title for (title, _), _ in rows} == set(training)  # every training article; held-out ones never
    for (title, lead), source in rows:
        body = training[title]
        assert all(len(line.split()) == 15 for line in body)
        assert lead == " ".join(body[: MAX_TEXT_WORDS // 15]) and source == "news_headline"  # whole paragraphs


@pytest.fixture(autouse=True)
def wordnet(data_dir, monkeypatch):
    """WordNet from the tiny data folder, not the machine's (CI has none)."""
    monkeypatch.setattr("open_ada.pools.WORDNET_DIR", data_dir / "wordnet")


def test_definitions_pair_a_name_with_its_gloss_without_examples(data_dir):
    rows = {fields: source for fields, source in build("definitions", data_dir)}
    assert rows == {
        (
            "Wilfrid Laurier",
            "Canadian statesman who was the first French Canadian to be prime minister of Canada (1841-1919)",
        ): "wordnet_instance",
        ("statesman", "a man who is a respected leader in national or international affairs"): "wordnet_noun",
    }  # "sir": a gloss under 3 words says too little; "listed thing", "other thing": their glosses hold a listed text


def test_entities_are_the_named_instances_among_the_definitions(data_dir):
    assert build("entities", data_dir) == [
        (
            (
                "Wilfrid Laurier",
                "Canadian statesman who was the first French Canadian to be prime minister of Canada (1841-1919)",
            ),
            "wordnet_instance",
        )
    ]  # not "statesman", a common noun


def test_subjects_pair_a_name_with_the_wikipedia_sentence_that_defines_it(data_dir):
    assert build("subjects", data_dir) == [
        (
            ("Golo Mann", "Golo Mann (1909 - 1994) was the third child of novelist Thomas Mann."),
            "wikisplit_complex_sentence",
        )
    ]  # not the surname "Brown", the pronoun "He", or the sentence hiding a listed text


@pytest.mark.parametrize(
    "sentence, name",
    [
        ('"Aubrey" is a song written by David Gates.', "Aubrey"),
        ("The Hamilton Nationals are a men's field lacrosse team.", "The Hamilton Nationals"),
        ("Jericho Brown (born 1976) is an American poet.", "Jericho Brown"),
        ("A common test of intelligence is the detour test.", None),  # lower-case words: not a name
        ("Randall was born in Cincinnati, Ohio in 1909.", None),  # no definition follows
        ("They were a band of brothers.", None),
    ],
)
def test_subject_name_reads_only_a_name_that_opens_a_definition(sentence, name):
    assert subject_name(sentence) == name


def test_definitions_without_wordnet_say_what_to_install(data_dir, monkeypatch):
    monkeypatch.setattr("open_ada.pools.WORDNET_DIR", data_dir / "no-wordnet")
    with pytest.raises(ValueError, match="apt-get install wordnet-base"):
        build("definitions", data_dir)


@pytest.fixture(autouse=True)
def system_documents(monkeypatch):
    """Debian's READMEs and manual pages differ between machines: the long pool gets one fixed README instead, which
    hides the listed sentence too."""
    paragraphs = [f"Paragraph {i} of the readme explains how option number {i} of the tool works." for i in range(60)]
    paragraphs.insert(30, LISTED)
    monkeypatch.setattr("open_ada.pools._system_documents", lambda max_docs, seed: [(paragraphs, "debian_doc")])


def test_long_documents_join_whole_articles_and_fit_their_word_range(data_dir):
    from open_ada.pools import LONG_WORDS

    rows = build("long", data_dir)
    digests = [fields[0] for fields, source in rows if source == "reuters21578"]
    assert digests and {source for _, source in rows} == {"reuters21578", "debian_doc"}
    for digest in digests:
        assert LONG_WORDS[0] <= len(digest.split()) <= LONG_WORDS[1] * 1.2
        lines = digest.split("\n")
        assert lines[0].startswith("Company number")  # a digest starts at a title, never mid-article
        first = int(re.search(r"number (\d+)", lines[0]).group(1))
        assert lines[1] == f"Sentence 0 of article {first} tells what the company number {first} did in its year."
    readme = [fields[0] for fields, source in rows if source == "debian_doc"]
    assert len(readme) == 1 and "Paragraph 59 " in readme[0] and LISTED not in readme[0]  # the paragraph, not the doc
