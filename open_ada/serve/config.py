"""`ServeConfig`: how `open-ada serve` behaves, the one copy of every default its flags show."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, get_args

from modeling_ada import ENCODE_BATCH_SIZE, ENCODE_BATCH_TOKENS, LONG_INPUTS, LongInputs
from open_ada.cli import FromArgs
from open_ada.limits import MAX_BODY_BYTES
from open_ada.model import DEFAULT_DTYPE, DEFAULT_MODEL, add_model_arguments

API_KEY_ENV = "OPEN_ADA_API_KEY"
TokenIds = Literal["cl100k", "native"]
TOKEN_IDS = get_args(TokenIds)


@dataclass
class ServeConfig(FromArgs):
    """What the server serves, where it listens, what it accepts, how it batches and what bounds it keeps.

    Attributes:
        model: The model folder (or Hub repo id) to serve; its name in the API is the folder's name.
        api_key: Required as `Authorization: Bearer KEY` on /v1 routes; None (or '') leaves them open.
        long_inputs: What happens to an input longer than the model's context (within OpenAI's 8191 tokens):
            `chunk` embeds it as the token-weighted mean of its chunks (`AdaModel.chunk`: up to 128 tokens, cut at
            line or sentence ends), `truncate` cuts it keeping its EOS, `reject` answers 400
            `context_length_exceeded`.
        token_ids: What a token-id array means: `cl100k` ids (what OpenAI clients send), decoded with tiktoken and
            re-tokenized, or `native` ids of the model's own vocabulary.
        max_queue: Most embedding requests admitted at once (read, tokenized, queued or embedding); more are
            answered 429 with `Retry-After`.
        max_body_bytes: Largest request body; a larger one is answered 413 without being read.
        body_timeout_s: Longest a client may take to send its body; a slower one is answered 408.
    """

    model: str = str(DEFAULT_MODEL)
    dtype: str = DEFAULT_DTYPE
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    long_inputs: LongInputs = "chunk"
    token_ids: TokenIds = "cl100k"
    batch_size: int = ENCODE_BATCH_SIZE
    max_batch_tokens: int = ENCODE_BATCH_TOKENS
    max_wait_ms: float = 5.0
    max_queue: int = 256
    max_body_bytes: int = MAX_BODY_BYTES
    body_timeout_s: float = 60.0
    log_level: str = "info"

    def __post_init__(self):
        self.api_key = self.api_key or None  # `--api-key ''` means no key
        if self.long_inputs not in LONG_INPUTS or self.token_ids not in TOKEN_IDS:
            raise ValueError(
                f"long_inputs must be one of {LONG_INPUTS} and token_ids one of {TOKEN_IDS}, "
                f"got {self.long_inputs!r} and {self.token_ids!r}"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535] (0: any free port), got {self.port}")
        sizes = (self.batch_size, self.max_batch_tokens, self.max_queue, self.max_body_bytes, self.body_timeout_s)
        if min(sizes) <= 0 or self.max_wait_ms < 0:
            raise ValueError(
                "batch_size, max_batch_tokens, max_queue, max_body_bytes and body_timeout_s must be positive and "
                f"max_wait_ms non-negative, got {', '.join(map(str, sizes))} and {self.max_wait_ms}"
            )


def add_arguments(p) -> None:
    """Flags of `open-ada serve`; their defaults are `ServeConfig`'s."""
    add_model_arguments(p, ServeConfig)
    p.add_argument("--host", default=ServeConfig.host, help="interface to listen on (default loopback only)")
    p.add_argument("--port", type=int, default=ServeConfig.port)
    p.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"require `Authorization: Bearer KEY` on /v1 routes (default: ${API_KEY_ENV}; unset = open)",
    )
    p.add_argument(
        "--long-inputs",
        choices=LONG_INPUTS,
        default=ServeConfig.long_inputs,
        help="inputs longer than the model's context: cut them keeping the EOS, embed the token-weighted mean of "
        "their chunks (default), or answer 400",
    )
    p.add_argument(
        "--truncate",
        dest="long_inputs",
        action="store_const",
        const="truncate",
        help="the same as --long-inputs truncate",
    )
    p.add_argument(
        "--token-ids",
        choices=TOKEN_IDS,
        default=ServeConfig.token_ids,
        help="token-id inputs are OpenAI's cl100k_base ids, decoded and re-tokenized (default, what OpenAI clients "
        "send), or ids of the model's own vocabulary (native)",
    )
    p.add_argument("--batch-size", type=int, default=ServeConfig.batch_size, help="most inputs per forward pass")
    p.add_argument(
        "--max-batch-tokens",
        type=int,
        default=ServeConfig.max_batch_tokens,
        help="token budget of one micro-batch, and most padded tokens per forward pass",
    )
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=ServeConfig.max_wait_ms,
        help="how long the first queued request waits for others to join its micro-batch",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=ServeConfig.max_queue,
        help="most embedding requests in progress at once; more are answered 429 with Retry-After",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=ServeConfig.max_body_bytes,
        help="largest request body (default 16 MiB, room for a 300,000-token request); larger ones get 413",
    )
    p.add_argument(
        "--body-timeout-s",
        type=float,
        default=ServeConfig.body_timeout_s,
        help="most seconds a client may take to send its request body; slower ones get 408",
    )
    p.add_argument(
        "--log-level", default=ServeConfig.log_level, choices=["critical", "error", "warning", "info", "debug"]
    )
