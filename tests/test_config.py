import pytest

from configuration_ada import AdaConfig


def test_seed_readme_example_runs_with_aliases():
    config = AdaConfig(
        vocab_size=100000, max_seq_len=8192, embd_dim=1536, num_layers=6, num_heads=16,
        dropout=0.1, mlp_ratio=4.0, layer_norm_eps=1e-5,
    )  # fmt: skip
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (1536, 6, 16)
    assert config.max_position_embeddings == 8192
    assert config.intermediate_size == 6144
    assert config.hidden_dropout_prob == config.attention_dropout == 0.1
    assert config.embd_dim == 1536 and config.num_layers == 6 and config.max_seq_len == 8192
    assert config.num_key_value_heads == 1  # multi-query by default


def test_defaults_follow_transformers_names():
    config = AdaConfig()
    assert config.model_type == "ada"
    assert config.max_position_embeddings == 8192
    assert config.num_key_value_heads == 1
    assert "gelu" in config.hidden_act
    assert config.head_dim * config.num_attention_heads == config.hidden_size


def test_round_trip_through_json(tmp_path):
    config = AdaConfig(hidden_size=64, num_attention_heads=8, num_key_value_heads=2, intermediate_size=96)
    config.save_pretrained(tmp_path)
    loaded = AdaConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_size": 100, "num_attention_heads": 6}, "divisible by num_attention_heads"),
        ({"num_attention_heads": 6, "num_key_value_heads": 4}, "divisible by num_key_value_heads"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"num_hidden_layers": -1}, "num_hidden_layers"),
        ({"intermediate_size": 0}, "intermediate_size"),
        ({"max_position_embeddings": 0}, "max_position_embeddings"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
    ],
)
def test_inconsistent_values_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdaConfig(**kwargs)
