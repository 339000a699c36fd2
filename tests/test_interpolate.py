"""`open-ada interpolate` (`open_ada/interpolate.py`): the weight mix of a model and its fine-tuned descendant, the
last step of the shipped recipe, and `open-ada soup` (`open_ada/soup.py`), the mean of sibling fine-tunes, on tiny
saved folders."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel

from conftest import build_tokenizer, tiny_config
from modeling_ada import AdaModel
from open_ada.cli import main as cli
from open_ada.folder import save_model_folder
from open_ada.interpolate import interpolate
from open_ada.soup import soup


def saved(tmp_path, tokenizer, name: str, seed: int, **config) -> tuple:
    torch.manual_seed(seed)
    model = AdaModel(tiny_config(**config)).eval()
    return save_model_folder(model, tokenizer, tmp_path / name), model.state_dict()


@pytest.fixture
def pair(tmp_path, tokenizer):
    """A start model and a "tuned" one of the same architecture and tokenizer, with different weights."""
    return saved(tmp_path, tokenizer, "start", 0), saved(tmp_path, tokenizer, "tuned", 1)


@pytest.mark.parametrize("alpha", [0.0, 0.25, 1.0])
def test_every_tensor_is_the_alpha_mix_of_the_two_models(pair, tmp_path, alpha):
    (start, a), (tuned, b) = pair
    mixed = load_file(interpolate(start, tuned, tmp_path / "mix", alpha) / "model.safetensors")
    assert mixed.keys() == b.keys()
    for k in b:
        torch.testing.assert_close(mixed[k], (1 - alpha) * a[k] + alpha * b[k])


def test_the_mix_is_a_loadable_copy_of_the_tuned_folder_from_the_command_line(pair, tmp_path):
    (start, a), (tuned, b) = pair
    output = tmp_path / "mix"
    assert cli(["interpolate", str(start), str(tuned), "--output", str(output)]) == 0  # alpha 0.5 by default
    assert sorted(p.name for p in output.iterdir()) == sorted(p.name for p in tuned.iterdir())
    model = AutoModel.from_pretrained(output, trust_remote_code=True)
    key = "embed_tokens.weight"
    torch.testing.assert_close(model.state_dict()[key], (a[key] + b[key]) / 2)


def test_a_grown_position_table_keeps_the_tuned_rows_the_start_lacks(tmp_path, tokenizer):
    start, a = saved(tmp_path, tokenizer, "start", 0)
    tuned, b = saved(tmp_path, tokenizer, "tuned", 1, max_position_embeddings=128)
    spec = json.loads((tuned / "tokenizer.json").read_text())  # a long stage saves its longer truncation length
    spec["truncation"] = {"direction": "Right", "max_length": 128, "strategy": "LongestFirst", "stride": 0}
    (tuned / "tokenizer.json").write_text(json.dumps(spec))
    mixed = load_file(interpolate(start, tuned, tmp_path / "mix") / "model.safetensors")["embed_positions.weight"]
    key = "embed_positions.weight"
    torch.testing.assert_close(mixed[:64], (a[key] + b[key][:64]) / 2)
    torch.testing.assert_close(mixed[64:], b[key][64:])


def test_a_tuned_model_that_reads_text_its_own_way_mixes_and_the_mix_reads_as_it_does(tmp_path, tokenizer):
    """A stage that gave the tokenizer a prefix space (or made it uncased) trains the same token rows: the mix is
    allowed and keeps the tuned folder's tokenizer."""
    import copy

    from transformers import AutoTokenizer

    from tokenizer.train_tokenizer import make_prefix_space

    spaced = copy.deepcopy(tokenizer)
    make_prefix_space(spaced)
    start, a = saved(tmp_path, tokenizer, "start", 0)
    tuned, b = saved(tmp_path, spaced, "tuned", 1)
    output = interpolate(start, tuned, tmp_path / "mix")
    torch.testing.assert_close(
        load_file(output / "model.safetensors")["embed_tokens.weight"],
        (a["embed_tokens.weight"] + b["embed_tokens.weight"]) / 2,
    )
    assert tokenizer("fox")["input_ids"] != tokenizer(" fox")["input_ids"]
    assert AutoTokenizer.from_pretrained(output)("fox")["input_ids"] == tokenizer(" fox")["input_ids"]


def test_models_that_cannot_be_mixed_are_refused_with_the_reason(pair, tmp_path, tokenizer):
    (start, _), (tuned, _) = pair
    wider, _ = saved(tmp_path, tokenizer, "wider", 2, intermediate_size=128)
    with pytest.raises(ValueError, match="do not hold the same tensors"):
        interpolate(start, wider, tmp_path / "mix")
    other_tokenizer = build_tokenizer(["Other words make other tokens entirely."] * 50, vocab_size=300)
    other, _ = saved(tmp_path, other_tokenizer, "other-tokenizer", 1)  # same shapes, other token ids
    with pytest.raises(ValueError, match="different tokenizers"):
        interpolate(start, other, tmp_path / "mix")
    with pytest.raises(ValueError, match=r"must be in \[0, 1\], got 1.5"):
        interpolate(start, tuned, tmp_path / "mix", alpha=1.5)
    with pytest.raises(ValueError, match="has no model.safetensors"):
        interpolate(tmp_path, tuned, tmp_path / "mix")
    assert not (tmp_path / "mix").exists()  # nothing written for a refused mix


def test_an_output_that_would_destroy_an_input_or_other_files_is_refused_and_nothing_is_removed(pair, tmp_path):
    """`--output` the tuned folder itself once deleted it before copying it: every input and foreign file survives."""
    (start, _), (tuned, _) = pair
    weights = {folder: (folder / "model.safetensors").read_bytes() for folder in (start, tuned)}
    for output in (tuned, start, tmp_path, start / "mix"):  # an input, one holding both, one inside an input
        with pytest.raises(ValueError, match=f"output {output} overlaps its input"):
            interpolate(start, tuned, output)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("not a model")
    with pytest.raises(ValueError, match="exists and is not a model folder: nothing was replaced"):
        soup([start, tuned], notes)
    assert (notes / "todo.txt").read_text() == "not a model"
    assert all((folder / "model.safetensors").read_bytes() == data for folder, data in weights.items())
    earlier = interpolate(start, tuned, tmp_path / "mix", alpha=0.0)  # an earlier mix is a model folder: replaced
    mixed = load_file(interpolate(start, tuned, earlier, alpha=1.0) / "model.safetensors")
    torch.testing.assert_close(
        mixed["embed_tokens.weight"], load_file(tuned / "model.safetensors")["embed_tokens.weight"]
    )


def test_the_mix_leaves_the_tuned_models_results_and_card_behind(pair, tmp_path):
    """An evaluation or comparison kept next to the tuned model, or a shipped folder's card, describes that model: a
    copy in the mix would report numbers the mix never scored."""
    (start, _), (tuned, _) = pair
    described = {"eval.json", "eval.md", "compare-v12.md", "README.md"}
    for name in described:
        (tuned / name).write_text("the tuned model's")
    output = interpolate(start, tuned, tmp_path / "mix")
    assert not described & {p.name for p in output.iterdir()}
    assert (output / "tokenizer.json").read_text() == (tuned / "tokenizer.json").read_text()


def test_the_soup_is_the_mean_of_its_models_from_the_command_line(tmp_path, tokenizer):
    siblings = [saved(tmp_path, tokenizer, f"seed{seed}", seed) for seed in (1, 2, 3)]
    output = tmp_path / "soup"
    assert cli(["soup", *(str(folder) for folder, _ in siblings), "--output", str(output)]) == 0
    model = AutoModel.from_pretrained(output, trust_remote_code=True)
    for k, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, sum(weights[k] for _, weights in siblings) / 3)


def test_a_soup_of_fewer_than_two_or_of_unlike_models_is_refused(pair, tmp_path, tokenizer):
    (start, _), (tuned, _) = pair
    with pytest.raises(ValueError, match="two or more model folders, got 1"):
        soup([start], tmp_path / "soup")
    with pytest.raises(ValueError, match="names a folder twice"):
        soup([start, tuned, start], tmp_path / "soup")  # start would weigh two thirds
    wider, _ = saved(tmp_path, tokenizer, "wider", 2, intermediate_size=128)
    with pytest.raises(ValueError, match="do not hold the same tensors"):
        soup([start, tuned, wider], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()
