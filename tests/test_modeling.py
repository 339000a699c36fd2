import math

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_config
from modeling_ada import AdaModel, eos_pool, length_batches


def random_batch(lengths, vocab=300, padding_side="right", seed=0):
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(3, vocab, (n,), generator=g) for n in lengths]
    width = max(lengths)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        sl = slice(width - len(s), width) if padding_side == "left" else slice(0, len(s))
        ids[i, sl], mask[i, sl] = s, 1
    return seqs, ids, mask


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_batch_equals_single(model, padding_side):
    seqs, ids, mask = random_batch([5, 12, 1, 9], padding_side=padding_side)
    with torch.no_grad():
        batched = model(input_ids=ids, attention_mask=mask).pooler_output
        singles = torch.cat([model(input_ids=s[None]).pooler_output for s in seqs])
    torch.testing.assert_close(batched, singles, atol=1e-5, rtol=0)


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pooled_output_equals_forward_pooler_output(model, padding_side):
    # pooled_output runs the last block at the EOS only; every row must still see exactly its own tokens.
    _, ids, mask = random_batch([5, 12, 1, 9], padding_side=padding_side)
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask).pooler_output
        fast = model.pooled_output(ids, mask)
    torch.testing.assert_close(fast, full, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.pooled_output(ids + 10_000, mask)


def test_left_and_right_padding_agree_on_hidden_states(model):
    _, right_ids, right_mask = random_batch([4, 10], padding_side="right")
    _, left_ids, left_mask = random_batch([4, 10], padding_side="left")
    with torch.no_grad():
        right = model(input_ids=right_ids, attention_mask=right_mask).last_hidden_state
        left = model(input_ids=left_ids, attention_mask=left_mask).last_hidden_state
    torch.testing.assert_close(right[0, :4], left[0, 6:], atol=1e-5, rtol=0)
    torch.testing.assert_close(right[1], left[1], atol=1e-5, rtol=0)


def test_causality(model):
    ids = torch.randint(3, 300, (1, 10), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[0, 6] = (ids[0, 6] + 1) % 300
    with torch.no_grad():
        a = model(input_ids=ids).last_hidden_state
        b = model(input_ids=changed).last_hidden_state
    torch.testing.assert_close(a[0, :6], b[0, :6], atol=1e-6, rtol=0)
    assert not torch.allclose(a[0, 6:], b[0, 6:])


def eager_reference(model: AdaModel, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A plain re-implementation: explicit softmax attention with the key/value head repeated per query head."""
    cfg = model.config
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    x = model.embed_tokens(ids) + model.embed_positions(positions)
    B, T, _ = x.shape
    allowed = torch.ones(T, T, dtype=torch.bool).tril() & mask.bool()[:, None, None, :]
    for layer in model.layers:
        attn = layer.self_attn
        h = layer.input_layernorm(x)
        q = (h @ attn.q_proj.weight.T).view(B, T, cfg.num_attention_heads, cfg.head_dim).transpose(1, 2)
        k = (h @ attn.k_proj.weight.T).view(B, T, cfg.num_key_value_heads, cfg.head_dim).transpose(1, 2)
        v = (h @ attn.v_proj.weight.T).view(B, T, cfg.num_key_value_heads, cfg.head_dim).transpose(1, 2)
        group = cfg.num_attention_heads // cfg.num_key_value_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(cfg.head_dim)
        scores = scores.masked_fill(~allowed, float("-inf")).softmax(-1).nan_to_num(0.0)
        x = x + (scores @ v).transpose(1, 2).reshape(B, T, -1) @ attn.o_proj.weight.T
        h = layer.post_attention_layernorm(x)
        mlp = layer.mlp
        x = (
            x
            + (F.gelu(h @ mlp.gate_proj.weight.T, approximate="tanh") * (h @ mlp.up_proj.weight.T))
            @ mlp.down_proj.weight.T
        )
    return model.norm(x)


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("kv_heads", [1, 2])
def test_sdpa_matches_eager_reference(padding_side, kv_heads):
    torch.manual_seed(0)
    model = AdaModel(tiny_config(num_key_value_heads=kv_heads)).eval()
    _, ids, mask = random_batch([7, 3, 11], padding_side=padding_side)
    with torch.no_grad():
        ours = model(input_ids=ids, attention_mask=mask).last_hidden_state
        ref = eager_reference(model, ids, mask)
    keep = mask.bool()
    torch.testing.assert_close(ours[keep], ref[keep], atol=1e-5, rtol=1e-5)


def test_multi_query_parameter_shapes(model, config):
    attn = model.layers[0].self_attn
    assert attn.q_proj.weight.shape == (config.num_attention_heads * config.head_dim, config.hidden_size)
    assert attn.k_proj.weight.shape == (config.head_dim, config.hidden_size)  # one key head
    assert attn.v_proj.weight.shape == (config.head_dim, config.hidden_size)  # one value head
    mlp = model.layers[0].mlp
    assert mlp.gate_proj.weight.shape == mlp.up_proj.weight.shape == (config.intermediate_size, config.hidden_size)
    assert model.config._attn_implementation == "sdpa"


def test_gradient_checkpointing_gives_same_gradients(config):
    torch.manual_seed(0)
    model = AdaModel(config).train()
    _, ids, mask = random_batch([6, 9], padding_side="left")

    def grads():
        model.zero_grad()
        model(input_ids=ids, attention_mask=mask).pooler_output.pow(2).sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain = grads()
    model.activation_checkpointing_enable({"use_reentrant": False})
    assert all(layer.gradient_checkpointing for layer in model.layers)
    checkpointed = grads()
    assert plain.keys() == checkpointed.keys() and len(plain) > 0
    for name in plain:
        torch.testing.assert_close(plain[name], checkpointed[name], atol=1e-6, rtol=1e-5)


def test_save_load_round_trip_is_bit_identical(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    loaded = AdaModel.from_pretrained(tmp_path).eval()
    _, ids, mask = random_batch([5, 8])
    with torch.no_grad():
        assert torch.equal(
            model(input_ids=ids, attention_mask=mask).pooler_output,
            loaded(input_ids=ids, attention_mask=mask).pooler_output,
        )


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_loading(model, tmp_path, dtype):
    model.save_pretrained(tmp_path)
    loaded = AdaModel.from_pretrained(tmp_path, dtype=dtype).eval()
    assert loaded.dtype == dtype
    _, ids, mask = random_batch([5, 8], padding_side="left")
    with torch.no_grad():
        half = loaded(input_ids=ids, attention_mask=mask).pooler_output.float()
        full = model(input_ids=ids, attention_mask=mask).pooler_output
    assert half.dtype == torch.float32 and torch.isfinite(half).all()
    assert F.cosine_similarity(half, full).min() > 0.99


def test_weights_are_initialised_not_left_empty(model):
    # Models are built on the meta device in Transformers 5: every parameter must be initialised by post_init.
    for name, p in model.named_parameters():
        assert torch.isfinite(p).all(), name
    assert model.embed_tokens.weight.std().item() == pytest.approx(model.config.initializer_range, rel=0.2)
    assert torch.all(model.layers[0].input_layernorm.weight == 1)


def test_output_hidden_states_and_tuple_return(model):
    ids = torch.tensor([[5, 6, 7, 2]])
    out = model(input_ids=ids, output_hidden_states=True)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    as_tuple = model(input_ids=ids, return_dict=False)
    assert torch.equal(as_tuple[0], out.last_hidden_state) and torch.equal(as_tuple[1], out.pooler_output)


def test_eos_pool_finds_last_attended_token():
    hidden = torch.arange(2 * 4, dtype=torch.float32).view(2, 4, 1)
    mask = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1]])
    assert eos_pool(hidden, mask).flatten().tolist() == [1.0, 7.0]


def test_position_ids_follow_the_mask(model):
    # Left padding must not shift positions: explicit position_ids counted over tokens give the same result.
    _, ids, mask = random_batch([3, 6], padding_side="left")
    with torch.no_grad():
        implicit = model(input_ids=ids, attention_mask=mask).pooler_output
        explicit = model(
            input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)
        ).pooler_output
    torch.testing.assert_close(implicit, explicit)


def test_inputs_embeds_equals_input_ids(model):
    ids = torch.tensor([[5, 6, 7, 2]])
    with torch.no_grad():
        a = model(input_ids=ids).pooler_output
        b = model(inputs_embeds=model.embed_tokens(ids)).pooler_output
    torch.testing.assert_close(a, b)


# --- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"input_ids": torch.tensor([[5, 300]])}, ValueError, "outside the vocabulary"),
        ({"input_ids": torch.tensor([[-1, 5]])}, ValueError, "outside the vocabulary"),
        (
            {"input_ids": torch.tensor([[5, 6]]), "attention_mask": torch.ones(1, 3)},
            ValueError,
            "attention_mask has shape",
        ),
        (
            {"input_ids": torch.tensor([[5, 6]]), "attention_mask": torch.tensor([[0, 0]])},
            ValueError,
            "attend to no token",
        ),
        ({"input_ids": torch.tensor([[5, 6]]), "attention_mask": torch.tensor([[2, 1]])}, ValueError, "only hold 0"),
        ({"input_ids": torch.ones(1, 65, dtype=torch.long)}, ValueError, "exceeds max_position_embeddings"),
        ({"input_ids": torch.zeros(0, 4, dtype=torch.long)}, ValueError, "empty batch"),
        ({"input_ids": torch.zeros(2, 0, dtype=torch.long)}, ValueError, "length 0"),
        ({"input_ids": torch.tensor([[1.0, 2.0]])}, TypeError, "integer token ids"),
        ({"input_ids": [[1, 2]]}, TypeError, "torch.Tensor"),
        ({"input_ids": torch.tensor([1, 2])}, ValueError, r"shape \(batch, seq_len\)"),
        ({}, ValueError, "exactly one of input_ids and inputs_embeds"),
    ],
)
def test_bad_input_raises_clear_error(model, kwargs, error, message):
    with pytest.raises(error, match=message):
        model(**kwargs)


def test_length_batches_respects_both_budgets():
    lengths = [5, 50, 3, 20, 20, 7, 1]
    batches = length_batches(lengths, batch_size=3, max_batch_tokens=60)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3
        assert len(b) * max(lengths[i] for i in b) <= 60 or len(b) == 1


@pytest.mark.parametrize("causal", [True, False])
def test_zero_stride_shared_head_equals_enable_gqa(causal):
    """The CUDA fp32 path hands SDPA zero-stride views of the one key/value head instead of `enable_gqa`: the
    same attention, with or without an explicit mask."""
    torch.manual_seed(0)
    q = torch.randn(2, 6, 9, 16)
    k, v = torch.randn(2, 1, 9, 16), torch.randn(2, 1, 9, 16)
    mask = None if causal else torch.randn(2, 1, 9, 9)
    shared = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=True)
    views = F.scaled_dot_product_attention(
        q, k.expand(-1, 6, -1, -1), v.expand(-1, 6, -1, -1), attn_mask=mask, is_causal=causal
    )
    assert k.expand(-1, 6, -1, -1).stride(1) == 0  # a view, not a copy per head
    torch.testing.assert_close(views, shared, rtol=1e-5, atol=1e-6)


def test_mlp_in_place_inference_equals_autograd_path():
    from modeling_ada import AdaMLP

    torch.manual_seed(0)
    mlp = AdaMLP(tiny_config())
    x = torch.randn(3, 5, mlp.gate_proj.in_features)
    with torch.no_grad():
        in_place = mlp(x)
    expected = mlp(x)  # grad enabled: the out-of-place branch that training runs
    assert expected.requires_grad and not in_place.requires_grad
    torch.testing.assert_close(in_place, expected.detach(), rtol=0, atol=0)
