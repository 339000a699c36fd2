"""The open-ada text-embedding model: a GPT-style decoder with multi-query attention and a GEGLU feed-forward.

The text embedding is the final hidden state at the EOS token that the tokenizer appends to every text
(`pooler_output`). This file and `configuration_ada.py` are what a Hub repository carries next to
`config.json`; they import only the standard library, torch and transformers.

Layout: the blocks (attention, feed-forward, decoder layer) and EOS pooling; `AdaModel` (init, forward and the
pooled-only forward `encode` uses); its inference side in `AdaInferenceMixin` (tokenizer, `tokenize` ->
`embed_ids` -> `postprocess`, `encode`); at the bottom, the input checks and the inference steps' pure helpers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Sequence
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerFast
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.utils import logging

try:  # relative when loaded as remote code or from a package, absolute from the project root
    from .configuration_ada import AdaConfig
except ImportError:
    from configuration_ada import AdaConfig

logger = logging.get_logger(__name__)


# Texts per `encode` batch. Smaller batches of length-sorted texts waste less on padding: on 2 CPU cores, 32 encoded
# mixed-length text 7-16% faster than 64.
ENCODE_BATCH_SIZE = 32
# Most padded tokens per `encode` forward pass: bounds the memory of long inputs.
ENCODE_BATCH_TOKENS = 16384
# Most tokens (EOS included) of a chunk when an input longer than the context is split (`AdaInferenceMixin.chunk`):
# v13's documents nDCG@10 rose 1.6-3.0 points at 1k-8k tokens with 128-token chunks cut at line, then sentence ends,
# over the context's 256-token windows (experiments/2026-12-06-chunk-breaks).
CHUNK_LENGTH = 128
SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s*$")  # a token ending a sentence: its stop, closing quotes, brackets
# What can happen to an input longer than the tokens allowed: cut keeping its EOS, embedded whole as the mean of its
# chunks, or refused (`encode`'s `long_inputs`, and `open-ada serve --long-inputs`).
LongInputs = Literal["truncate", "chunk", "reject"]
LONG_INPUTS = get_args(LongInputs)


class AdaAttention(nn.Module):
    """Causal self-attention with `num_attention_heads` query heads sharing `num_key_value_heads` key/value heads."""

    def __init__(self, config: AdaConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.num_key_value_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.dropout = config.attention_dropout
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.num_key_value_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.num_key_value_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        query_positions: torch.Tensor | None = None,
        query_scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attention over `hidden_states` `(B, T, hidden)` -> `(B, T, hidden)`.

        With `query_positions` `(B, Q)`, only those queries of each row: the output is `(B, Q, hidden)` and
        `attention_mask` (required then) is their `(B, 1, Q, T)` mask over the keys. `query_scale` `(B, T, 1)`
        multiplies each row's query (log-n scaling, `AdaModel.query_scale`).
        """
        batch_size = hidden_states.shape[0]
        k = self._heads(self.k_proj(hidden_states), self.num_key_value_heads)
        v = self._heads(self.v_proj(hidden_states), self.num_key_value_heads)
        if query_positions is not None:
            hidden_states = gather_positions(hidden_states, query_positions)
            query_scale = None if query_scale is None else gather_positions(query_scale, query_positions)
        q = self._heads(self.q_proj(hidden_states), self.num_heads)
        if query_scale is not None:
            q = q * query_scale[:, None].to(q.dtype)
        # q: (B, H, T, D); k, v: (B, KV, T, D). enable_gqa lets the kernel share each key/value head across its
        # query heads instead of materialising a copy per head. Without a mask the causal flash kernel runs.
        enable_gqa = self.num_key_value_heads != self.num_heads
        if enable_gqa and self.num_key_value_heads == 1 and q.is_cuda and q.dtype == torch.float32:
            # CUDA's flash kernel has no fp32 and its memory-efficient kernel does not take enable_gqa, so SDPA
            # would fall back to the math kernel and its T x T scores; zero-stride views of the one shared head
            # (no copy) are accepted by the memory-efficient kernel.
            k, v = k.expand(-1, self.num_heads, -1, -1), v.expand(-1, self.num_heads, -1, -1)
            enable_gqa = False
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attention_mask,
            dropout_p=self.dropout if self.training else 0.0,
            is_causal=attention_mask is None,
            enable_gqa=enable_gqa,
        )
        return self.o_proj(out.transpose(1, 2).reshape(batch_size, q.shape[2], -1))

    def _heads(self, x: torch.Tensor, num_heads: int) -> torch.Tensor:
        """`(B, T, heads * head_dim) -> (B, heads, T, head_dim)`."""
        return x.view(x.shape[0], x.shape[1], num_heads, self.head_dim).transpose(1, 2)


class AdaMLP(nn.Module):
    """GEGLU feed-forward: `down(act(gate(x)) * up(x))`."""

    def __init__(self, config: AdaConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)
        self.act_fn = ACT2FN[config.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.act_fn(self.gate_proj(x))
        if torch.is_grad_enabled():
            return self.down_proj(hidden * self.up_proj(x))
        # Without autograd, multiply into the activation's buffer: one activation-sized allocation and write fewer
        # (measured ~5% of CPU encode time).
        return self.down_proj(hidden.mul_(self.up_proj(x)))


class AdaDecoderLayer(GradientCheckpointingLayer):
    """Pre-LayerNorm block: `x + attn(ln(x))`, then `x + mlp(ln(x))`."""

    def __init__(self, config: AdaConfig, layer_idx: int):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.self_attn = AdaAttention(config, layer_idx)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = AdaMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        query_positions: torch.Tensor | None = None,
        query_scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`(B, T, hidden) -> (B, T, hidden)`, or `(B, Q, hidden)` at `query_positions` `(B, Q)` only."""
        residual = hidden_states if query_positions is None else gather_positions(hidden_states, query_positions)
        hidden_states = residual + self.dropout(
            self.self_attn(self.input_layernorm(hidden_states), attention_mask, query_positions, query_scale)
        )
        return hidden_states + self.dropout(self.mlp(self.post_attention_layernorm(hidden_states)))


def last_token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """`(batch,)` index of each row's last attended token (the EOS), for left or right padding."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (positions * attention_mask.bool()).argmax(dim=-1)


def gather_positions(hidden_states: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """`(B, T, hidden)` at `(B, Q)` positions of each row -> `(B, Q, hidden)`."""
    return hidden_states[torch.arange(hidden_states.shape[0], device=hidden_states.device)[:, None], positions]


def eos_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Final hidden state at each row's last attended token (the EOS), for left or right padding.

    Args:
        hidden_states: `(batch, seq_len, hidden)` final hidden states.
        attention_mask: `(batch, seq_len)`, 1 for tokens, 0 for padding; every row attends to some token.

    Returns:
        `(batch, hidden)` embeddings.
    """
    return gather_positions(hidden_states, last_token_positions(attention_mask)[:, None])[:, 0]


class AdaPreTrainedModel(PreTrainedModel):
    config_class = AdaConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["AdaDecoderLayer"]

    def _init_weights(self, module: nn.Module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


# ---------------------------------------------------------------------------------------------------------------
# Inference: tokenize -> embed ids -> postprocess, the steps `encode` chains and the server, the command line and
# the benchmark call one by one. (The mixin precedes `AdaModel` only because Python needs a base class defined
# first; its helper functions are at the bottom of the file.)


class AdaInferenceMixin:
    """The inference side of `AdaModel`: its tokenizer, `encode` and the public steps `encode` is made of.

    `tokenize` (texts -> ids ending in EOS, truncated keeping the EOS) -> `embed_ids` (ids -> raw float32 EOS
    embeddings in input order, length-sorted batches inside) -> `postprocess` (Matryoshka cut, L2 normalisation).
    `encode_ids` is the last two, `encode` all three.
    """

    @property
    def tokenizer(self):
        """The fast tokenizer saved next to the weights (loaded on first use from `name_or_path`)."""
        if self._tokenizer is None:
            # The fast tokenizer class directly: AutoTokenizer would also read config.json and its auto_map.
            self._tokenizer = PreTrainedTokenizerFast.from_pretrained(self.name_or_path)
        return self._tokenizer

    @tokenizer.setter
    def tokenizer(self, value):
        self._tokenizer, self._chunk_breaks = value, None

    @property
    def chunk_breaks(self) -> tuple[frozenset[int], frozenset[int]]:
        """Ids of the tokenizer's tokens that end a line, and of those that end a sentence (`SENTENCE_END`): where
        `chunk` prefers to cut, in that order."""
        if self._chunk_breaks is None:
            texts = self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))])
            self._chunk_breaks = (
                frozenset(i for i, t in enumerate(texts) if "\n" in t),
                frozenset(i for i, t in enumerate(texts) if SENTENCE_END.search(t)),
            )
        return self._chunk_breaks

    @property
    def context_length(self) -> int:
        """Most tokens one forward pass embeds per input, EOS included: the tokenizer's `model_max_length` capped by
        `max_position_embeddings`. Longer inputs are truncated (`truncate_ids`) or split (`chunk`)."""
        return min(self.tokenizer.model_max_length, self.config.max_position_embeddings)

    def chunk(self, ids: Sequence[int], max_length: int | None = None) -> list[list[int]]:
        """An input's ids (ending in EOS) as the chunks that embed it: itself if within `max_length` tokens (default:
        the context), else chunks of at most `CHUNK_LENGTH` tokens (`max_length` if shorter), each cut after the
        last line end in the second half of its window, else the last sentence end there, else at the window's end
        (`chunk_ids`). Combine the chunks' embeddings with `mean_of_chunks`."""
        max_length = max_length or self.context_length
        if len(ids) <= max_length:
            return [list(ids)]
        return chunk_ids(ids, min(CHUNK_LENGTH, max_length), self.chunk_breaks)

    def tokenize(
        self, texts: Sequence[str], max_length: int | None, long_inputs: LongInputs = "truncate"
    ) -> list[list[int]]:
        """Token ids of each text, ending in EOS. A text over `max_length` tokens is cut to it, keeping its EOS, with
        a warning (`long_inputs="truncate"`, see `truncate_ids`), rejected with `ValueError` (`"reject"`), or kept
        whole for `chunk` to split (`"chunk"`). With `max_length=None` every text keeps all its tokens."""
        if max_length is None or long_inputs == "chunk":
            return self.tokenizer(list(texts), verbose=False)["input_ids"]  # verbose: no warning past the context
        # Tokenize one token past the limit: enough to tell which texts are too long, cheap for huge texts.
        ids = self.tokenizer(list(texts), truncation=True, max_length=max_length + 1)["input_ids"]
        too_long = [i for i, x in enumerate(ids) if len(x) > max_length]
        if too_long and long_inputs == "reject":
            raise ValueError(
                f"{len(too_long)} text(s) are longer than max_length={max_length} tokens (first: index "
                f"{too_long[0]}); shorten them, or pass long_inputs='truncate' or 'chunk'"
            )
        if too_long:
            logger.warning(f"{len(too_long)} text(s) longer than {max_length} tokens were truncated (EOS kept)")
            for i in too_long:
                ids[i] = truncate_ids(ids[i], max_length)
        return ids

    @torch.inference_mode()
    def encode(
        self,
        texts: str | Sequence[str],
        batch_size: int = ENCODE_BATCH_SIZE,
        max_length: int | None = None,
        normalize: bool = True,
        dimensions: int | None = None,
        show_progress_bar: bool = False,
        convert_to_numpy: bool = True,
        long_inputs: LongInputs = "truncate",
        max_batch_tokens: int = ENCODE_BATCH_TOKENS,
    ):
        """Embeds texts with the model's own tokenizer, batching them by length.

        Texts are tokenized once, sorted by length and grouped into right-padded batches of at most `batch_size`
        texts and `max_batch_tokens` padded tokens, so little compute goes to padding; results come back in input
        order.

        Args:
            texts: A string or a sequence of strings (the empty string embeds its lone EOS token).
            batch_size: Most texts per forward pass (see `ENCODE_BATCH_SIZE`).
            max_length: Most tokens per text (per chunk with `long_inputs="chunk"`), EOS included; default (and
                upper bound) the tokenizer's `model_max_length` capped by `max_position_embeddings`.
            normalize: L2-normalise the embeddings (after any `dimensions` truncation).
            dimensions: Keep only the first `dimensions` values (Matryoshka truncation), between 1 and
                `hidden_size`.
            show_progress_bar: Show a tqdm bar over batches.
            convert_to_numpy: Return a float32 `numpy.ndarray` (default) rather than a `torch.Tensor`.
            long_inputs: What happens to a text longer than `max_length` (one of `LONG_INPUTS`): `truncate` cuts
                it to `max_length` tokens, keeping the final EOS, with a warning (default); `chunk` embeds it whole,
                as the token-weighted mean of its chunks' unit embeddings, renormalised (`chunk`, `mean_of_chunks`:
                chunks of up to `CHUNK_LENGTH` tokens cut at line or sentence ends), the vector `open-ada serve`
                returns (needs `normalize`); `reject` raises `ValueError`.
            max_batch_tokens: Most padded tokens per forward pass, the memory bound of long inputs.

        Returns:
            `(len(texts), dimensions or hidden_size)` float32 array (or tensor); a single string gives `(hidden,)`.

        Raises:
            TypeError: `texts` is not a string or a sequence of strings.
            ValueError: Bad `dimensions`, `max_length`, `batch_size` or `long_inputs`, a text over `max_length`
                with `long_inputs="reject"`, or `"chunk"` with `normalize=False`.
        """
        single = isinstance(texts, str)
        texts = [texts] if single else texts
        max_length = self._check_encode_arguments(
            texts, max_length, dimensions, batch_size, max_batch_tokens, long_inputs, normalize
        )
        ids = self.tokenize(texts, max_length, long_inputs) if texts else []
        chunks = [self.chunk(x, max_length) for x in ids]  # one chunk per text unless `long_inputs="chunk"`
        flat = [c for text_chunks in chunks for c in text_chunks]
        rows = self.encode_ids(flat, batch_size, normalize, dimensions, show_progress_bar, False, max_batch_tokens)
        out = pool_chunks(rows, chunks)
        out = out[0] if single else out
        return out.numpy() if convert_to_numpy else out

    @torch.inference_mode()
    def encode_ids(
        self,
        ids: Sequence[Sequence[int]],
        batch_size: int = ENCODE_BATCH_SIZE,
        normalize: bool = True,
        dimensions: int | None = None,
        show_progress_bar: bool = False,
        convert_to_numpy: bool = True,
        max_batch_tokens: int = ENCODE_BATCH_TOKENS,
    ):
        """Embeds already tokenized texts (each a list of ids ending in EOS): `embed_ids`, then `postprocess`.

        Returns:
            `(len(ids), dimensions or hidden_size)` float32 array (or tensor), in input order.
        """
        out = self.embed_ids(ids, batch_size, max_batch_tokens, show_progress_bar)
        out = postprocess(out, dimensions, normalize)
        return out.numpy() if convert_to_numpy else out

    @torch.inference_mode()
    def embed_ids(
        self,
        ids: Sequence[Sequence[int]],
        batch_size: int = ENCODE_BATCH_SIZE,
        max_batch_tokens: int = ENCODE_BATCH_TOKENS,
        show_progress_bar: bool = False,
    ) -> torch.Tensor:
        """The batching core of `encode`: the raw EOS embeddings (`pooled_output`) of tokenized texts, computed in
        length-sorted right-padded batches of at most `batch_size` texts and `max_batch_tokens` padded tokens.

        Returns:
            `(len(ids), hidden_size)` float32 CPU tensor in input order, neither cut nor normalised (`postprocess`).
        """
        out = torch.empty(len(ids), self.config.hidden_size, dtype=torch.float32)
        batches = length_batches([len(x) for x in ids], batch_size, max_batch_tokens)
        if show_progress_bar:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="Encoding", unit="batch")
        for batch in batches:
            input_ids, attention_mask = self._pad([ids[i] for i in batch])
            out[batch] = self.pooled_output(input_ids, attention_mask).float().cpu()
        return out

    def _pad(self, ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pads a batch: `(input_ids, attention_mask)` on the model's device."""
        length = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), length), self.config.pad_token_id or 0, dtype=torch.long)
        attention_mask = torch.zeros((len(ids), length), dtype=torch.long)
        for row, x in enumerate(ids):
            input_ids[row, : len(x)] = torch.tensor(x)
            attention_mask[row, : len(x)] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    def _check_encode_arguments(
        self,
        texts: Sequence[str],
        max_length: int | None,
        dimensions: int | None,
        batch_size: int,
        max_batch_tokens: int,
        long_inputs: LongInputs,
        normalize: bool,
    ) -> int:
        """Validates `encode`'s arguments; returns `max_length` (default: the context length)."""
        if not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a string or a sequence (list, tuple) of strings")
        limit = self.context_length
        max_length = limit if max_length is None else max_length
        if not isinstance(max_length, int) or not 1 <= max_length <= limit:
            raise ValueError(f"max_length must be an integer in [1, {limit}], got {max_length!r}")
        if dimensions is not None and (
            not isinstance(dimensions, int) or not 1 <= dimensions <= self.config.hidden_size
        ):
            raise ValueError(f"dimensions must be an integer in [1, {self.config.hidden_size}], got {dimensions!r}")
        if batch_size < 1 or max_batch_tokens < 1:
            raise ValueError(f"batch_size and max_batch_tokens must be positive, got {batch_size}, {max_batch_tokens}")
        if long_inputs not in LONG_INPUTS or (long_inputs == "chunk" and not normalize):
            raise ValueError(
                f"long_inputs must be one of {LONG_INPUTS}, and 'chunk' (a mean of unit vectors) needs normalize "
                f"true, got long_inputs={long_inputs!r}, normalize={normalize!r}"
            )
        return max_length


class AdaModel(AdaInferenceMixin, AdaPreTrainedModel):
    """The bare open-ada decoder. `pooler_output` is the text embedding (hidden state at the EOS token); `encode`
    and its steps come from `AdaInferenceMixin`.

    Args:
        config: The model configuration; every size comes from it.
    """

    def __init__(self, config: AdaConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layers = nn.ModuleList(AdaDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self._tokenizer = self._chunk_breaks = None  # see `AdaInferenceMixin.tokenizer` and `.chunk_breaks`
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding):
        self.embed_tokens = value

    def get_position_embeddings(self) -> nn.Embedding:
        return self.embed_positions

    @torch.no_grad()
    def resize_position_embeddings(self, new_num_position_embeddings: int):
        """Grows (or cuts) the learned position table to `new_num_position_embeddings` rows and updates
        `config.max_position_embeddings` and the tokenizer's `model_max_length` to match.

        New rows repeat the trained ones in order (row `i` starts as row `i % old`), Longformer's initialisation of
        longer learned positions: every new position starts from a vector the layers already read as a position, and
        training on long inputs then tells them apart. (Measured against the alternatives in the model card.)
        """
        old = self.embed_positions.weight
        if new_num_position_embeddings < 1:
            raise ValueError(f"new_num_position_embeddings must be positive, got {new_num_position_embeddings}")
        rows = torch.arange(new_num_position_embeddings, device=old.device) % old.shape[0]
        self.embed_positions = nn.Embedding.from_pretrained(old[rows].clone(), freeze=False)
        self.config.max_position_embeddings = new_num_position_embeddings
        if self._tokenizer is not None or self.name_or_path:  # a loaded model's tokenizer would keep the old limit
            self.tokenizer.model_max_length = new_num_position_embeddings

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        """Encodes a batch; `pooler_output` holds the embedding of each sequence.

        Args:
            input_ids: `(batch, seq_len)` token ids in `[0, vocab_size)`.
            attention_mask: `(batch, seq_len)`, 1 for tokens and 0 for padding (left or right); default all ones.
            position_ids: `(batch, seq_len)`; by default counted over attended tokens only, so left padding does
                not shift positions.
            inputs_embeds: `(batch, seq_len, hidden_size)` token embeddings instead of `input_ids`.
            output_hidden_states: Also return the embedding output and every block's output.
            return_dict: Return a `BaseModelOutputWithPooling` (default) rather than a tuple.

        Returns:
            `BaseModelOutputWithPooling` with `last_hidden_state` `(batch, seq_len, hidden_size)` (after the final
            LayerNorm), `pooler_output` `(batch, hidden_size)` and, if asked, `hidden_states`.

        Raises:
            ValueError: Out-of-vocabulary ids, a mask of the wrong shape or with a row of no attended token, an
                empty batch, or more tokens than `max_position_embeddings`.
            TypeError: Non-integer `input_ids` or a non-tensor input.
        """
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        attention_mask = check_inputs(self.config, input_ids, attention_mask, position_ids, inputs_embeds)
        position_ids = self.attended_positions(attention_mask) if position_ids is None else position_ids
        hidden_states = self._embed(input_ids, position_ids, inputs_embeds)
        mask, scale = self._attention_mask(attention_mask, hidden_states.dtype), self.query_scale(position_ids)
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask, query_scale=scale)
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
        hidden_states = self.norm(hidden_states)
        if output_hidden_states:
            all_hidden_states = all_hidden_states[:-1] + (hidden_states,)

        output = BaseModelOutputWithPooling(
            last_hidden_state=hidden_states,
            pooler_output=eos_pool(hidden_states, attention_mask),
            hidden_states=all_hidden_states,
        )
        return output if return_dict else output.to_tuple()

    def pooled_output(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`forward(...).pooler_output` alone, `(batch, hidden_size)`: the last block runs only at each row's EOS,
        since pooling discards its other outputs (with 4 blocks, about a fifth fewer FLOPs). Used by `encode`."""
        attention_mask = check_inputs(self.config, input_ids, attention_mask, None, None)
        position_ids = self.attended_positions(attention_mask)
        hidden_states = self._embed(input_ids, position_ids)
        mask, scale = self._attention_mask(attention_mask, hidden_states.dtype), self.query_scale(position_ids)
        for layer in self.layers[:-1]:
            hidden_states = layer(hidden_states, mask, query_scale=scale)
        last = last_token_positions(attention_mask)
        keys = torch.arange(attention_mask.shape[1], device=attention_mask.device)
        eos_mask = ((keys <= last[:, None]) & attention_mask.bool())[:, None, None, :]  # (B, 1, 1, T)
        return self.norm(self.layers[-1](hidden_states, eos_mask, last[:, None], scale)[:, 0])

    def prefix_embeddings(
        self,
        input_ids: torch.LongTensor,
        prefix_lengths: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The embeddings of several prefixes of each row in one pass, `(batch, K, hidden_size)` (not normalised).

        For each of the `(batch, K)` `prefix_lengths` p, the same as `pooler_output` of the row's first p attended
        tokens with the EOS appended. The text runs once under the causal kernel; each prefix gets an EOS of its own,
        an extra query at position p that sees that prefix's keys and itself only (under causal attention no text
        token sees it). One forward over a long document so trains its embedding at several depths
        (`open_ada.train.PrefixDistillationLoss`).

        Raises:
            ValueError: A prefix length outside 1..(the row's attended tokens - 1), or `prefix_lengths` not
                `(batch, K)` integers; and whatever `forward` refuses.
        """
        attention_mask = check_inputs(self.config, input_ids, attention_mask, None, None)
        attended = attention_mask.sum(-1, keepdim=True)
        if prefix_lengths.dim() != 2 or len(prefix_lengths) != len(input_ids) or prefix_lengths.is_floating_point():
            raise ValueError(
                f"prefix_lengths must be (batch, K) integers with batch={len(input_ids)}, got "
                f"{prefix_lengths.dtype} of shape {tuple(prefix_lengths.shape)}"
            )
        if bool(((prefix_lengths < 1) | (prefix_lengths >= attended)).any()):
            raise ValueError(
                f"prefix_lengths must lie in 1..(attended tokens - 1) of their row ({attended.flatten().tolist()} "
                f"attended tokens), got {prefix_lengths.tolist()}"
            )
        position_ids = self.attended_positions(attention_mask)
        hidden_states = self._embed(input_ids, position_ids)
        eos = self.embed_tokens(torch.full_like(prefix_lengths, self.config.eos_token_id))
        eos = self.dropout(eos + self.embed_positions(prefix_lengths))  # (B, K, H), each after its prefix
        batch_size, seq_len, k = *input_ids.shape, prefix_lengths.shape[1]
        keys = torch.arange(seq_len, device=input_ids.device)
        start = (attention_mask.cumsum(-1) == 0).sum(-1, keepdim=True)  # leading padding, (B, 1)
        sees_text = (keys >= start[..., None]) & (keys < (start + prefix_lengths)[..., None])  # (B, K, T)
        sees_itself = torch.eye(k, dtype=torch.bool, device=keys.device).expand(batch_size, k, k)
        eos_mask = torch.cat([sees_text, sees_itself], -1)[:, None]  # (B, 1, K, T + K)
        queries = (seq_len + torch.arange(k, device=keys.device)).expand(batch_size, k)
        mask, scale = self._attention_mask(attention_mask, hidden_states.dtype), self.query_scale(position_ids)
        eos_scale = self.query_scale(torch.cat([position_ids, prefix_lengths], 1))
        for i, layer in enumerate(self.layers):
            eos = layer(torch.cat([hidden_states, eos], 1), eos_mask, queries, eos_scale)
            if i < len(self.layers) - 1:  # the last block's text outputs are not needed
                hidden_states = layer(hidden_states, mask, query_scale=scale)
        return self.norm(eos)

    @staticmethod
    def attended_positions(attention_mask: torch.Tensor) -> torch.Tensor:
        """`(B, T)` positions counted over attended tokens only, so left padding shifts nothing."""
        return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)

    def query_scale(self, position_ids: torch.Tensor) -> torch.Tensor | None:
        """`(B, T, 1)` log-n factor on the query at each position: `log(p + 1) / log(L)` from the config's
        `logn_attention_length` L on, exactly 1 before it; None when the config sets no L."""
        length = self.config.logn_attention_length
        if length is None:
            return None
        scale = torch.log1p(position_ids.float()) / math.log(length)
        return torch.where(position_ids < length, 1.0, scale)[..., None]

    def _embed(
        self, input_ids: torch.Tensor | None, position_ids: torch.Tensor, inputs_embeds: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Token plus position embeddings."""
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        return self.dropout(inputs_embeds + self.embed_positions(position_ids))

    @staticmethod
    def _attention_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
        """The mask passed to every layer: None (causal kernel) when no token sees padding, else `(B, 1, T, T)`.

        Under causal attention, right padding is invisible to every real token, so unpadded and right-padded
        batches take the memory-linear causal kernel; only left padding needs an explicit mask.
        """
        if bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all()):
            return None
        seq_len = attention_mask.shape[1]
        keep = attention_mask.bool()
        causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=keep.device).tril()
        # Padding queries may look anywhere: their outputs are never used, and a fully masked row would be NaN.
        allowed = (causal & keep[:, None, None, :]) | ~keep[:, None, :, None]  # (B, 1, T, T)
        return torch.zeros(allowed.shape, dtype=dtype, device=keep.device).masked_fill(
            ~allowed, torch.finfo(dtype).min
        )


# ---------------------------------------------------------------------------------------------------------------
# Input checks and the inference steps' helpers


def check_inputs(
    config: AdaConfig,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
) -> torch.Tensor:
    """Validates a forward pass's inputs once, at its top; returns the attention mask (all ones if none was given)."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids and inputs_embeds")
    if input_ids is not None:
        if not isinstance(input_ids, torch.Tensor):
            raise TypeError(f"input_ids must be a torch.Tensor of integer token ids, got {type(input_ids).__name__}")
        if input_ids.is_floating_point() or input_ids.is_complex() or input_ids.dtype == torch.bool:
            raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}")
        shape = tuple(input_ids.shape)
    else:
        if not isinstance(inputs_embeds, torch.Tensor) or inputs_embeds.dim() != 3:
            raise ValueError("inputs_embeds must be a tensor of shape (batch, seq_len, hidden_size)")
        if inputs_embeds.shape[-1] != config.hidden_size:
            raise ValueError(
                f"inputs_embeds has width {inputs_embeds.shape[-1]}, expected hidden_size={config.hidden_size}"
            )
        shape = tuple(inputs_embeds.shape[:2])
    batch_size, seq_len = shape
    if batch_size == 0:
        raise ValueError("empty batch: input has batch size 0")
    if seq_len == 0:
        raise ValueError("empty sequences: input has length 0 (the tokenizer always appends an EOS token)")
    if seq_len > config.max_position_embeddings:
        raise ValueError(
            f"sequence length {seq_len} exceeds max_position_embeddings={config.max_position_embeddings}; "
            "truncate the input (the tokenizer's truncation=True keeps the final EOS)"
        )
    if input_ids is not None:
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= config.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"token id {bad} is outside the vocabulary [0, {config.vocab_size})")
    device = input_ids.device if input_ids is not None else inputs_embeds.device
    if attention_mask is None:
        return torch.ones(shape, dtype=torch.long, device=device)
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError(f"attention_mask must be a torch.Tensor, got {type(attention_mask).__name__}")
    if tuple(attention_mask.shape) != shape:
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)}, expected {shape} (batch, seq_len) like the input"
        )
    if not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ValueError("attention_mask may only hold 0 (padding) and 1 (token)")
    empty = (attention_mask.sum(-1) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"attention_mask rows {empty} attend to no token; every sequence needs at least its EOS")
    if position_ids is not None and tuple(position_ids.shape) != shape:
        raise ValueError(f"position_ids has shape {tuple(position_ids.shape)}, expected {shape}")
    if position_ids is not None and int(position_ids.max()) >= config.max_position_embeddings:
        raise ValueError(f"position_ids must be < max_position_embeddings={config.max_position_embeddings}")
    return attention_mask


def length_batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Groups indices sorted by length (longest first) into batches bounded in count and padded tokens."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches, batch = [], []
    for i in order:
        # The first (longest) text of a batch sets its padded width.
        width = lengths[batch[0]] if batch else lengths[i]
        if batch and (len(batch) >= batch_size or (len(batch) + 1) * width > max_batch_tokens):
            batches.append(batch)
            batch, width = [], lengths[i]
        batch.append(i)
    if batch:
        batches.append(batch)
    return batches


def postprocess(embeddings: torch.Tensor, dimensions: int | None = None, normalize: bool = True) -> torch.Tensor:
    """The last step of `encode`: keep the first `dimensions` values (Matryoshka), then L2-normalise the rows."""
    if dimensions is not None:
        embeddings = embeddings[..., :dimensions]
    return F.normalize(embeddings, p=2, dim=-1) if normalize else embeddings


def truncate_ids(ids: Sequence[int], max_length: int) -> list[int]:
    """`ids` (ending in EOS) cut to `max_length` tokens, keeping the EOS: the first `max_length - 1` ids and the last."""
    return list(ids) if len(ids) <= max_length else [*ids[: max_length - 1], ids[-1]]


def chunk_ids(ids: Sequence[int], max_length: int, breaks: Sequence[Container[int]] = ()) -> list[list[int]]:
    """`ids` (ending in EOS) split into consecutive chunks of at most `max_length` tokens, each ending in that EOS.

    Each chunk ends after the last id of `breaks[0]` (e.g. line ends) in the second half of its window, else after
    the last id of `breaks[1]` (e.g. sentence ends) there, and so on, else at the window's end: so chunks hold whole
    paragraphs or sentences where the text allows. An input within `max_length` is its own one chunk. Embed the
    chunks and combine them with `mean_of_chunks` to embed an input longer than the model's context (OpenAI's
    recipe for long inputs).

    Raises:
        ValueError: `max_length` < 2 (a chunk needs one token of the text besides its EOS).
    """
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 (one token and the EOS), got {max_length}")
    if len(ids) <= max_length:
        return [list(ids)]
    text, eos, step = ids[:-1], ids[-1], max_length - 1
    chunks, start = [], 0
    while start < len(text):
        end = min(start + step, len(text))
        if end < len(text):
            second_half = range(end - 1, start + step // 2 - 1, -1)
            end = next((j + 1 for ends in breaks for j in second_half if text[j] in ends), end)
        chunks.append([*text[start:end], eos])
        start = end
    return chunks


def mean_of_chunks(embeddings: torch.Tensor, chunks: Sequence[Sequence[int]]) -> torch.Tensor:
    """One input's embedding from its chunks' `(n_chunks, dim)` unit embeddings: their mean weighted by each
    chunk's tokens of the text (its EOS not counted), renormalised to unit length. Returns `(dim,)`."""
    weights = torch.tensor([len(c) - 1 for c in chunks], dtype=embeddings.dtype, device=embeddings.device)
    return F.normalize(weights @ embeddings / weights.sum(), p=2, dim=-1)


def pool_chunks(rows: torch.Tensor, chunks: Sequence[Sequence[Sequence[int]]]) -> torch.Tensor:
    """Each input's embedding from `rows`, the unit embeddings of every input's chunks in order (`chunks[i]`: input
    `i`'s chunks): its one row, or its chunks' token-weighted mean (`mean_of_chunks`). Returns `(len(chunks), dim)`."""
    if len(rows) == len(chunks):  # no input was chunked: one row per input
        return rows
    pooled, row = [], 0
    for input_chunks in chunks:
        part = rows[row : row + len(input_chunks)]
        pooled.append(part[0] if len(input_chunks) == 1 else mean_of_chunks(part, input_chunks))
        row += len(input_chunks)
    return torch.stack(pooled)


AdaConfig.register_for_auto_class()
AdaModel.register_for_auto_class("AutoModel")

__all__ = [
    "AdaPreTrainedModel",
    "AdaInferenceMixin",
    "AdaModel",
    "check_inputs",
    "chunk_ids",
    "eos_pool",
    "last_token_positions",
    "length_batches",
    "mean_of_chunks",
    "pool_chunks",
    "postprocess",
    "truncate_ids",
]
