"""Configuration of the open-ada text-embedding model (a GPT-style decoder with multi-query attention)."""

from __future__ import annotations

from transformers import PretrainedConfig


class AdaConfig(PretrainedConfig):
    r"""Configuration of an [`AdaModel`]: a decoder-only transformer whose text embedding is the final hidden
    state at the EOS token the tokenizer appends.

    The seed project's names are accepted as aliases: `max_seq_len` (`max_position_embeddings`), `embd_dim`
    (`hidden_size`), `num_layers` (`num_hidden_layers`) and `num_heads` (`num_attention_heads`); `dropout` sets
    both dropout fields and `mlp_ratio` sets `intermediate_size = round(mlp_ratio * hidden_size)`.

    Args:
        vocab_size: Number of tokens in the vocabulary.
        hidden_size: Width of the residual stream and of the output embedding.
        num_hidden_layers: Number of pre-LayerNorm transformer blocks.
        num_attention_heads: Number of query heads.
        num_key_value_heads: Number of key/value heads shared by the query heads; 1 is multi-query attention.
        intermediate_size: Width of the GEGLU feed-forward (each of its gate and up projections).
        hidden_act: Activation of the GEGLU gate, a key of `transformers.activations.ACT2FN`.
        max_position_embeddings: Number of learned positions, the longest input the model accepts.
        logn_attention_length: Log-n attention scaling past this many tokens: the query at position `p >=
            logn_attention_length` has its attention logits multiplied by `log(p + 1) / log(logn_attention_length)`,
            so attention over a long input stays about as sharp as over the length the model was trained on (Qwen's
            `use_logn_attn`). Inputs within this length embed exactly as without it. None (the default) scales
            nothing.
        layer_norm_eps: Epsilon of every LayerNorm.
        hidden_dropout_prob: Dropout on the embeddings and on each block's residual branches.
        attention_dropout: Dropout on the attention probabilities.
        initializer_range: Standard deviation of the normal initialisation of Linear and Embedding weights.
        pad_token_id: Padding token; never attended to.
        bos_token_id: Beginning-of-sequence token (not inserted by the tokenizer; kept for tooling).
        eos_token_id: End-of-sequence token appended to every text; its final hidden state is the embedding.

    Raises:
        ValueError: If a size is not positive, `hidden_size` is not divisible by `num_attention_heads`,
            `num_attention_heads` is not divisible by `num_key_value_heads`, or `logn_attention_length` is below 2.

    Example:
        ```python
        >>> from configuration_ada import AdaConfig
        >>> config = AdaConfig(vocab_size=100000, max_seq_len=8192, embd_dim=1536, num_layers=6, num_heads=16,
        ...                    dropout=0.1, mlp_ratio=4.0, layer_norm_eps=1e-5)
        >>> config.hidden_size, config.intermediate_size, config.head_dim
        (1536, 6144, 96)
        ```
    """

    model_type = "ada"
    # The integer sizes that shape the weights; each must be positive.
    size_fields = (
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "intermediate_size",
        "max_position_embeddings",
    )
    attribute_map = {
        "max_seq_len": "max_position_embeddings",
        "embd_dim": "hidden_size",
        "num_layers": "num_hidden_layers",
        "num_heads": "num_attention_heads",
    }

    vocab_size: int = 32768
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 6
    num_key_value_heads: int = 1
    intermediate_size: int = 1024
    hidden_act: str = "gelu_pytorch_tanh"
    max_position_embeddings: int = 8192
    logn_attention_length: int | None = None
    layer_norm_eps: float = 1e-5
    hidden_dropout_prob: float = 0.0
    attention_dropout: float = 0.0
    initializer_range: float = 0.02
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2

    def __post_init__(self, **kwargs):
        if (dropout := kwargs.pop("dropout", None)) is not None:
            self.hidden_dropout_prob = self.attention_dropout = float(dropout)
        if (mlp_ratio := kwargs.pop("mlp_ratio", None)) is not None:
            hidden_size = kwargs.get("embd_dim", self.hidden_size)
            self.intermediate_size = int(round(mlp_ratio * hidden_size))
        super().__post_init__(**kwargs)
        self.validate_sizes()

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate_sizes(self):
        """Raises `ValueError` naming the offending values if the sizes cannot form a model."""
        for name in self.size_fields:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"AdaConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"num_attention_heads ({self.num_attention_heads}) must be divisible by num_key_value_heads "
                f"({self.num_key_value_heads})"
            )
        for name in ("hidden_dropout_prob", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"AdaConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")
        length = self.logn_attention_length
        if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 2):
            raise ValueError(
                f"AdaConfig.logn_attention_length must be None or an integer of at least 2, got {length!r}"
            )
        if self.layer_norm_eps <= 0:
            raise ValueError(f"AdaConfig.layer_norm_eps must be positive, got {self.layer_norm_eps!r}")


__all__ = ["AdaConfig"]
