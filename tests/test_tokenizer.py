import json
import random

import pytest
from transformers import AutoTokenizer

from tokenizer.train_tokenizer import main as train_tokenizer_main


def test_eos_appended_to_every_sequence(tokenizer):
    ids = tokenizer(["hello world", "A man is playing a guitar."])["input_ids"]
    assert all(row[-1] == tokenizer.eos_token_id for row in ids)


def test_eos_kept_after_truncation(tokenizer):
    long_text = "The quick brown fox jumps over the lazy dog. " * 30
    ids = tokenizer(long_text, truncation=True, max_length=16)["input_ids"]
    assert len(ids) == 16 and ids[-1] == tokenizer.eos_token_id
    # The default limit is model_max_length.
    ids = tokenizer(long_text, truncation=True)["input_ids"]
    assert len(ids) == tokenizer.model_max_length and ids[-1] == tokenizer.eos_token_id


def test_empty_string_is_just_eos(tokenizer):
    assert tokenizer("")["input_ids"] == [tokenizer.eos_token_id]


def test_pad_is_distinct_and_padding_is_right(tokenizer):
    assert tokenizer.pad_token_id not in (tokenizer.eos_token_id, tokenizer.bos_token_id)
    batch = tokenizer(["a", "a much longer text here"], padding=True)
    assert batch["input_ids"][0][-1] == tokenizer.pad_token_id
    assert batch["attention_mask"][0][-1] == 0


def test_no_unknown_tokens_and_decode_round_trips(tokenizer):
    rng = random.Random(0)
    samples = ["héllo wörld 🤖 日本語 \t\n ∑∫ \u2028 end", "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(200))]
    for text in samples:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.unk_token_id is None
        assert all(0 <= i < len(tokenizer) for i in ids)
        assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_command_trains_and_saves_a_loadable_tokenizer(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"sentence number {i} about topic {i % 7}" for i in range(500)))
    train_tokenizer_main(
        [str(corpus), "--output", str(tmp_path / "tok"), "--vocab-size", "400", "--model-max-length", "32"]
    )
    config = json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"  # readable by Transformers 4 and 5
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded.model_max_length == 32
    assert loaded("topic")["input_ids"][-1] == loaded.eos_token_id
    assert len(loaded) <= 400


def test_uncased_tokenizer_reads_every_case_alike():
    from conftest import TEXTS
    from tokenizer.train_tokenizer import build_tokenizer

    uncased = build_tokenizer(TEXTS, vocab_size=300, model_max_length=64, uncased=True)
    ids = [
        uncased(text)["input_ids"] for text in ("A MAN PLAYS A GUITAR", "A man plays a guitar", "a man plays a guitar")
    ]
    assert ids[0] == ids[1] == ids[2]
    assert uncased.decode(ids[0], skip_special_tokens=True) == "a man plays a guitar"


def test_make_uncased_lower_cases_a_trained_tokenizer_once(tokenizer, tmp_path):
    import copy

    from tokenizers import normalizers

    from tokenizer.train_tokenizer import make_uncased, save_tokenizer

    cased = copy.deepcopy(tokenizer)
    assert cased("PARIS")["input_ids"] != cased("paris")["input_ids"]
    assert make_uncased(cased) is True
    assert make_uncased(cased) is False  # already uncased: nothing to do
    assert cased("PARIS")["input_ids"] == cased("Paris")["input_ids"] == tokenizer("paris")["input_ids"]
    save_tokenizer(cased, tmp_path / "tok")  # the normaliser travels in tokenizer.json
    assert AutoTokenizer.from_pretrained(tmp_path / "tok")("PARIS")["input_ids"] == tokenizer("paris")["input_ids"]

    other = copy.deepcopy(tokenizer)
    other.backend_tokenizer.normalizer = normalizers.NFKC()
    with pytest.raises(ValueError, match="already has a normaliser"):
        make_uncased(other)


def test_prefix_space_reads_the_first_word_as_any_other():
    """A byte-level BPE sees `guitar` at a text's start without the space it has everywhere else, so it splits it into
    other (rarer) pieces; with add_prefix_space the first word is the same tokens as anywhere, and decoding drops the
    added space."""
    from conftest import TEXTS
    from tokenizer.train_tokenizer import build_tokenizer

    plain = build_tokenizer(TEXTS, vocab_size=300, model_max_length=64)
    spaced = build_tokenizer(TEXTS, vocab_size=300, model_max_length=64, add_prefix_space=True)
    for tok in (plain, spaced):
        assert tok.decode(tok("guitar vectors")["input_ids"], skip_special_tokens=True) == "guitar vectors"
    first, inside = plain("guitar")["input_ids"][:-1], plain("a guitar")["input_ids"][1:-1]
    assert first != inside
    assert spaced("guitar")["input_ids"][:-1] == spaced("a guitar")["input_ids"][1:-1]


def test_make_prefix_space_changes_a_trained_tokenizer_once(tokenizer, tmp_path):
    import copy

    from tokenizers import pre_tokenizers

    from tokenizer.train_tokenizer import make_prefix_space, save_tokenizer

    spaced = copy.deepcopy(tokenizer)
    assert make_prefix_space(spaced) is True
    assert make_prefix_space(spaced) is False  # already spaced: nothing to do
    assert spaced("quick fox")["input_ids"] == tokenizer(" quick fox")["input_ids"]  # vocabulary and merges kept
    assert spaced.decode(spaced("quick fox")["input_ids"], skip_special_tokens=True) == "quick fox"
    save_tokenizer(spaced, tmp_path / "tok")  # the pre-tokenizer and decoder travel in tokenizer.json
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert loaded("quick fox")["input_ids"] == tokenizer(" quick fox")["input_ids"]
    assert loaded.decode(loaded("quick fox")["input_ids"], skip_special_tokens=True) == "quick fox"

    other = copy.deepcopy(tokenizer)
    other.backend_tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    with pytest.raises(ValueError, match="needs a byte-level one"):
        make_prefix_space(other)


def test_add_prefix_space_copies_a_model_folder_with_only_the_reading_changed(tokenizer, tmp_path):
    from conftest import tiny_config
    from modeling_ada import AdaModel
    from open_ada.folder import save_model_folder
    from tokenizer.add_prefix_space import main as add_prefix_space_main

    folder = save_model_folder(AdaModel(tiny_config()), tokenizer, tmp_path / "model")
    (folder / "eval.json").write_text("{}")  # results of the model as it read text before
    add_prefix_space_main([str(folder), "--output", str(tmp_path / "spaced")])
    spaced = tmp_path / "spaced"
    assert (spaced / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    assert not (spaced / "eval.json").exists()
    loaded = AutoTokenizer.from_pretrained(spaced)
    assert tokenizer("fox")["input_ids"] != tokenizer(" fox")["input_ids"]
    assert loaded("fox")["input_ids"] == tokenizer(" fox")["input_ids"]
    with pytest.raises(ValueError, match="already reads the first word with a prefix space"):
        add_prefix_space_main([str(spaced), "--output", str(tmp_path / "again")])
    with pytest.raises(ValueError, match="overlaps its input"):  # in place would delete the folder it copies
        add_prefix_space_main([str(folder), "--output", str(folder)])
    assert (folder / "model.safetensors").read_bytes() == (spaced / "model.safetensors").read_bytes()


def test_the_shipped_tokenizer_reads_case_and_the_first_word_as_the_teacher_does():
    """The shipped model was distilled from an uncased teacher that reads every word alike wherever it stands."""
    from conftest import ROOT

    shipped = AutoTokenizer.from_pretrained(ROOT / "models" / "open-ada-small")
    ids = shipped("Causes of GOUT")["input_ids"]
    assert ids == shipped(" causes of gout")["input_ids"]
    assert shipped.convert_ids_to_tokens(ids[:1]) == ["Ġcauses"]
    assert shipped.decode(ids, skip_special_tokens=True) == "causes of gout"


def test_train_tokenizer_refuses_to_write_over_a_models_own_tokenizer(tokenizer, tmp_path, capsys):
    """Its docstring's example once wrote a fresh vocabulary into the shipped folder, whose weights it does not fit."""
    from conftest import tiny_config
    from modeling_ada import AdaModel
    from open_ada.folder import save_model_folder

    folder = save_model_folder(AdaModel(tiny_config()), tokenizer, tmp_path / "model")
    before = (folder / "tokenizer.json").read_text()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Some words to learn merges from.\n" * 20)
    with pytest.raises(SystemExit) as exit_info:
        train_tokenizer_main([str(corpus), "--output", str(folder), "--vocab-size", "300"])
    assert exit_info.value.code == 2 and "holds a model's weights" in capsys.readouterr().err
    assert (folder / "tokenizer.json").read_text() == before
