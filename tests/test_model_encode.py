"""`AdaModel.encode` and the public steps it chains: `tokenize` -> `embed_ids` -> `postprocess` (`encode_ids` is the
last two), and the helpers the server composes for long inputs (`truncate_ids`, `chunk` and its `chunk_ids`,
`mean_of_chunks`)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel

from conftest import TEXTS, offline_chunk_mean, tiny_config
from modeling_ada import CHUNK_LENGTH, AdaModel, chunk_ids, mean_of_chunks, postprocess, truncate_ids
from open_ada import DEFAULT_MODEL


@pytest.fixture(scope="module")
def loaded(model_folder):
    return AutoModel.from_pretrained(model_folder, trust_remote_code=True).eval()


def plain_forward(model, texts):
    """One text at a time through the plain forward: the reference the fast path must match."""
    tok = model.tokenizer
    rows = []
    with torch.no_grad():
        for text in texts:
            ids = tok(text, truncation=True, return_tensors="pt")
            rows.append(F.normalize(model(**ids).pooler_output, dim=-1)[0])
    return torch.stack(rows).numpy()


def mixed_texts(n=40, seed=0):
    rng = np.random.default_rng(seed)
    words = " ".join(TEXTS).split()
    return [" ".join(rng.choice(words, size=int(rng.integers(0, 25)))) for _ in range(n)]


def test_encode_matches_plain_forward_in_input_order(loaded):
    texts = mixed_texts()
    fast = loaded.encode(texts, batch_size=7, max_batch_tokens=64)
    np.testing.assert_allclose(fast, plain_forward(loaded, texts), atol=1e-5)
    # Reversing the input reverses the output: order is preserved, not sorted.
    np.testing.assert_allclose(loaded.encode(texts[::-1], batch_size=7)[::-1], fast, atol=1e-5)


def test_single_string_and_empty_list(loaded):
    one = loaded.encode("A man is playing a guitar.")
    assert one.shape == (loaded.config.hidden_size,)
    empty = loaded.encode([])
    assert isinstance(empty, np.ndarray) and empty.shape == (0, loaded.config.hidden_size)
    assert loaded.encode([""]).shape == (1, loaded.config.hidden_size)


@pytest.mark.parametrize("dimensions", [8, 16])
def test_dimensions_truncate_then_renormalise(loaded, dimensions):
    full = loaded.encode(TEXTS[:5], normalize=False)
    cut = loaded.encode(TEXTS[:5], dimensions=dimensions)
    assert cut.shape == (5, dimensions)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=-1), 1.0, atol=1e-6)
    expected = full[:, :dimensions] / np.linalg.norm(full[:, :dimensions], axis=-1, keepdims=True)
    np.testing.assert_allclose(cut, expected, atol=1e-6)


def test_convert_to_tensor(loaded):
    out = loaded.encode(TEXTS[:3], convert_to_numpy=False)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32


def test_long_input_truncated_visibly_or_rejected(loaded, caplog):
    long_text = "The quick brown fox jumps over the lazy dog. " * 40  # far over 64 tokens
    limit = loaded.config.max_position_embeddings
    out = loaded.encode([long_text, "short"])
    assert out.shape == (2, loaded.config.hidden_size)
    # Truncation keeps the EOS: the embedding equals that of the first limit-1 tokens plus EOS.
    ids = loaded.tokenizer(long_text)["input_ids"][: limit - 1] + [loaded.config.eos_token_id]
    with torch.no_grad():
        ref = F.normalize(loaded(input_ids=torch.tensor([ids])).pooler_output, dim=-1)[0].numpy()
    np.testing.assert_allclose(out[0], ref, atol=1e-5)
    with pytest.raises(ValueError, match="longer than max_length"):
        loaded.encode([long_text], long_inputs="reject")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"texts": [1, 2]}, TypeError, "strings"),
        ({"texts": None}, TypeError, "strings"),
        ({"texts": ["a"], "dimensions": 0}, ValueError, "dimensions"),
        ({"texts": ["a"], "dimensions": 10_000}, ValueError, "dimensions"),
        ({"texts": ["a"], "max_length": 100_000}, ValueError, "max_length"),
        ({"texts": ["a"], "batch_size": 0}, ValueError, "batch_size"),
        ({"texts": ["a"], "long_inputs": "split"}, ValueError, "long_inputs must be one of"),
        ({"texts": ["a"], "long_inputs": "chunk", "normalize": False}, ValueError, "needs normalize"),
    ],
)
def test_encode_bad_arguments(loaded, kwargs, error, message):
    with pytest.raises(error, match=message):
        loaded.encode(**kwargs)


# ---------------------------------------------------------------------------------------------------------------
# The steps the server composes for long inputs: full tokenization, EOS-keeping truncation, chunks and their mean


def test_tokenize_without_max_length_keeps_every_token(loaded):
    long_text = "The quick brown fox jumps over the lazy dog. " * 40
    full = loaded.tokenize([long_text, "short"], max_length=None)
    assert full == loaded.tokenizer([long_text, "short"])["input_ids"]
    assert len(full[0]) > loaded.context_length and full[0][-1] == loaded.config.eos_token_id
    assert loaded.tokenize([long_text], max_length=loaded.context_length)[0] == truncate_ids(
        full[0], loaded.context_length
    )


def test_truncate_and_chunk_ids_keep_the_eos():
    ids = list(range(10, 30)) + [2]  # 20 tokens of text, then the EOS
    assert truncate_ids(ids, 8) == [10, 11, 12, 13, 14, 15, 16, 2]
    assert truncate_ids(ids, 21) == ids
    chunks = chunk_ids(ids, 8)
    assert [len(c) for c in chunks] == [8, 8, 7]  # 7 + 7 + 6 tokens of text, each chunk with the EOS
    assert all(c[-1] == 2 for c in chunks)
    assert [t for c in chunks for t in c[:-1]] == ids[:-1]  # consecutive, nothing lost or repeated
    assert chunk_ids(ids, 21) == [ids] and chunk_ids([2], 8) == [[2]]
    with pytest.raises(ValueError, match="at least 2"):
        chunk_ids(ids, 1)


def test_chunk_ids_cut_after_the_strongest_break_in_the_second_half_of_each_window():
    line, sentence = {9}, {8}
    text = [10, 11, 12, 8, 13, 9, 14, 15, 8, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26]
    # windows of 7 tokens of text: the first cuts after its line end (index 5), not its sentence end (index 3); the
    # second's only break (index 8) is in its first half, so it runs to the window's end; the rest is the last.
    assert chunk_ids([*text, 2], 8, (line, sentence)) == [
        [10, 11, 12, 8, 13, 9, 2],
        [14, 15, 8, 16, 17, 18, 19, 2],
        [20, 21, 22, 23, 24, 25, 26, 2],
    ]
    # with no line end in the window, its sentence end
    assert chunk_ids([10, 11, 8, 12, 13, 14, 15, 2], 5, (line, sentence)) == [[10, 11, 8, 2], [12, 13, 14, 15, 2]]


def test_chunk_breaks_are_the_shipped_vocabularys_line_and_sentence_ends():
    model = AdaModel.from_pretrained(DEFAULT_MODEL)
    lines, sentences = model.chunk_breaks
    ids = {text: model.tokenizer.convert_tokens_to_ids(token) for text, token in [("\n", "Ċ"), (".", "."), ("?", "?")]}
    ids |= {text: model.tokenizer.convert_tokens_to_ids(token) for text, token in [(".)", ".)"), ("the", "Ġthe")]}
    assert ids["\n"] in lines and ids["the"] not in lines | sentences
    assert {ids["."], ids["?"], ids[".)"]} <= sentences and ids["\n"] not in sentences


def test_chunk_keeps_inputs_within_the_context_and_splits_longer_ones_at_sentence_ends(loaded):
    short = loaded.tokenize(["One short sentence."], max_length=None)[0]
    assert loaded.chunk(short) == [short]
    ids = loaded.tokenize(["The quick brown fox jumps over the lazy dog. " * 40], max_length=None)[0]
    chunks = loaded.chunk(ids)
    limit = min(CHUNK_LENGTH, loaded.context_length)
    assert len(chunks) > 2 and all(len(c) <= limit and c[-1] == ids[-1] for c in chunks)
    assert [t for c in chunks for t in c[:-1]] == ids[:-1]  # consecutive, nothing lost or repeated
    assert all(loaded.tokenizer.decode(c[:-1]).endswith("dog.") for c in chunks[:-1])  # whole sentences


def test_encode_with_long_inputs_chunk_embeds_long_texts_whole_as_their_chunk_mean(loaded):
    long_text, short = "The river rose over the old stone bridge after a week of rain. " * 20, "A short text."
    got = loaded.encode([long_text, short], long_inputs="chunk")
    np.testing.assert_allclose(got[0], offline_chunk_mean(loaded, long_text), atol=1e-5)
    assert float(got[0] @ loaded.encode(long_text)) < 0.9999  # not the truncated embedding
    np.testing.assert_allclose(got[1], loaded.encode(short), atol=1e-5)  # within the context: the text whole
    cut = loaded.encode(long_text, long_inputs="chunk", dimensions=8)
    np.testing.assert_allclose(cut, offline_chunk_mean(loaded, long_text, dimensions=8), atol=1e-5)
    assert loaded.encode([], long_inputs="chunk").shape == loaded.encode([]).shape


def test_long_inputs_chunk_under_a_max_length_cuts_chunks_of_at_most_max_length(loaded):
    text = "The dog ran. " * 4  # over 16 tokens, within the context
    ids = loaded.tokenizer(text)["input_ids"]
    assert 16 < len(ids) <= loaded.context_length
    chunks = loaded.chunk(ids, max_length=16)
    assert len(chunks) > 1 and all(len(c) <= 16 for c in chunks)
    assert [t for c in chunks for t in c[:-1]] == ids[:-1]  # consecutive, nothing lost or repeated
    expected = np.average(loaded.encode_ids(chunks), axis=0, weights=[len(c) - 1 for c in chunks])
    got = loaded.encode(text, long_inputs="chunk", max_length=16)
    np.testing.assert_allclose(got, expected / np.linalg.norm(expected), atol=1e-5)
    np.testing.assert_allclose(loaded.encode(text, long_inputs="chunk"), loaded.encode(text), atol=1e-6)  # whole


def test_mean_of_chunks_is_the_token_weighted_mean_renormalised(loaded):
    long_text = "The quick brown fox jumps over the lazy dog. " * 20
    chunks = chunk_ids(loaded.tokenize([long_text], max_length=None)[0], loaded.context_length)
    assert len(chunks) > 2
    # Each chunk embedded on its own through the plain forward, then OpenAI's recipe written out with numpy.
    rows = []
    with torch.no_grad():
        for chunk in chunks:
            rows.append(F.normalize(loaded(input_ids=torch.tensor([chunk])).pooler_output, dim=-1)[0].numpy())
    expected = np.average(np.stack(rows), axis=0, weights=[len(c) - 1 for c in chunks])
    expected /= np.linalg.norm(expected)
    got = mean_of_chunks(loaded.encode_ids(chunks, convert_to_numpy=False), chunks)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)
    assert abs(float(got.norm()) - 1.0) < 1e-6


def test_postprocess_cuts_then_normalises():
    x = torch.tensor([[3.0, 4.0, 12.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(postprocess(x, 2).numpy(), [[0.6, 0.8], [1.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(postprocess(x, normalize=False).numpy(), x.numpy())
    np.testing.assert_allclose(postprocess(x).numpy(), (x / x.norm(dim=-1, keepdim=True)).numpy(), atol=1e-7)


def test_encode_ids_is_embed_ids_then_postprocess(loaded):
    ids = loaded.tokenize(mixed_texts(12), max_length=loaded.context_length)
    raw = loaded.embed_ids(ids, batch_size=5, max_batch_tokens=64)
    assert raw.dtype == torch.float32 and raw.shape == (len(ids), loaded.config.hidden_size)
    with torch.no_grad():  # raw pooled outputs, in input order, neither cut nor normalised
        plain = torch.cat([loaded(input_ids=torch.tensor([x])).pooler_output for x in ids])
    torch.testing.assert_close(raw, plain, atol=1e-5, rtol=0)
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(len(ids)))
    got = loaded.encode_ids(ids, batch_size=5, dimensions=8, max_batch_tokens=64, convert_to_numpy=False)
    torch.testing.assert_close(got, postprocess(raw, 8), atol=1e-6, rtol=0)


# Long inputs


def test_long_input_encode_equals_plain_forward():
    torch.manual_seed(0)
    model = AdaModel(tiny_config(max_position_embeddings=2048)).eval()
    eos = model.config.eos_token_id
    ids = [torch.randint(3, 300, (n - 1,)).tolist() + [eos] for n in (2048, 700, 700, 5)]
    fast = model.encode_ids(ids, normalize=False, max_batch_tokens=4096, convert_to_numpy=False)
    with torch.no_grad():
        plain = torch.cat([model(input_ids=torch.tensor([x])).pooler_output for x in ids])
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=0)


def test_single_long_string_is_truncated_with_a_warning(model_folder, caplog):
    model = AdaModel.from_pretrained(model_folder).eval()
    long_text = "The quick brown fox jumps over the lazy dog. " * 40  # far over the 64-token limit
    caplog.set_level("WARNING")
    one = model.encode(long_text)
    assert one.shape == (model.config.hidden_size,)
    assert "truncated" in caplog.text
    np.testing.assert_allclose(one, model.encode([long_text, "short"])[0], atol=1e-6)
    with pytest.raises(ValueError, match="longer than max_length"):
        model.encode(long_text, long_inputs="reject")
