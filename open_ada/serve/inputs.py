"""From a request's `input` to the token ids the model embeds: OpenAI's limits, cl100k token arrays, long inputs.

Cheap checks come first, so that a hostile input is refused before any tokenizer sees it: the count of inputs, a
string's length in characters, its Unicode, an array's length; then a string's cl100k_base tokens (OpenAI's count,
and what clients count with), the request's total, and only then the model's own tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass

from modeling_ada import LongInputs, truncate_ids
from open_ada.limits import MAX_INPUT_CHARS, MAX_INPUT_TOKENS, MAX_INPUTS, MAX_REQUEST_TOKENS
from open_ada.serve.config import ServeConfig, TokenIds
from open_ada.serve.schema import APIError

TIKTOKEN_ENV = "TIKTOKEN_CACHE_DIR"


def load_cl100k():
    """tiktoken's `cl100k_base` encoding (its rank file from `$TIKTOKEN_CACHE_DIR` when it is there).

    Raises:
        RuntimeError: tiktoken is missing, or the rank file is neither cached nor downloadable.
    """
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base")
    except Exception as err:  # ImportError, or whatever failed downloading the rank file
        raise RuntimeError(
            f"cannot load tiktoken's cl100k_base ({type(err).__name__}: {err}). Install it with "
            f"`pip install 'open-ada[serve]'`; without a network, put the cl100k_base rank file in a folder and point "
            f"{TIKTOKEN_ENV} at it (docs/serve.md)"
        ) from err


@dataclass
class TokenizedInputs:
    """A request's inputs as the model embeds them."""

    chunks: list[list[list[int]]]  # per input, its chunks of token ids, each ending in EOS (one unless chunked)
    tokens: int  # the model's tokens embedded, every chunk's EOS included: the response's `usage`
    chunked: int = 0  # inputs embedded as the token-weighted mean of their chunks
    truncated: int = 0  # inputs cut to the model's context


class InputTokenizer:
    """Turns a request's `input` into the model's token ids, enforcing OpenAI's limits.

    Args:
        model: The `AdaModel` whose tokenizer, vocabulary and context define what is embedded.
        cl100k: tiktoken's `cl100k_base` encoding: it counts a string's tokens as OpenAI does and decodes token-id
            arrays when `token_ids` is `cl100k`.
        token_ids: `cl100k` (token-id arrays are OpenAI's ids, decoded to text) or `native` (the model's own ids).
        long_inputs: `chunk`, `truncate` or `reject` inputs longer than the model's context.
    """

    def __init__(
        self,
        model,
        cl100k,
        token_ids: TokenIds = ServeConfig.token_ids,
        long_inputs: LongInputs = ServeConfig.long_inputs,
    ):
        self.model, self.cl100k = model, cl100k
        self.token_ids, self.long_inputs = token_ids, long_inputs
        self.context = model.context_length
        self.vocab_size = model.config.vocab_size
        self.eos_token_id = model.config.eos_token_id
        if long_inputs == "chunk":  # a pass over the vocabulary: once, at start-up, not on the first long request
            _ = model.chunk_breaks

    def __call__(self, input: str | list[str] | list[int] | list[list[int]]) -> TokenizedInputs:
        """The token ids of each input, in input order.

        Raises:
            APIError: 400 for empty or too many inputs, invalid Unicode, ids outside the vocabulary, an input or
                request over OpenAI's token limits, or (with `long_inputs="reject"`) an input over the context.
        """
        single = isinstance(input, str) or (bool(input) and isinstance(input[0], int))
        items = [input] if single else input
        if not items:
            raise APIError(400, "'input' must not be empty", param="input")
        if len(items) > MAX_INPUTS:
            raise APIError(
                400, f"'input' has {len(items)} items, more than the maximum of {MAX_INPUTS}", param="input"
            )
        names = ["'input'"] if single else [f"'input[{i}]'" for i in range(len(items))]
        texts, ids, total = {}, {}, 0
        for i, (item, name) in enumerate(zip(items, names, strict=True)):
            if isinstance(item, str):
                count, texts[i] = self.check_text(item, name, empty_ok=single)
            elif self.token_ids == "cl100k":
                count, texts[i] = len(item), self.decode(item, name)
            else:
                count, ids[i] = len(item), self.native_ids(item, name)
            total += count
            if total > MAX_REQUEST_TOKENS:
                raise APIError(
                    400,
                    f"The request has more than {MAX_REQUEST_TOKENS} tokens (counted as OpenAI does, in cl100k_base "
                    f"tokens), the maximum per request; send its inputs in several requests",
                    param="input",
                )
        if texts:
            ids.update(zip(texts, self.model.tokenize(list(texts.values()), max_length=None), strict=True))
        out = TokenizedInputs(chunks=[], tokens=0)
        for i, name in enumerate(names):
            chunks = self.fit(ids[i], name)
            out.chunks.append(chunks)
            out.tokens += sum(len(c) for c in chunks)
            out.chunked += len(chunks) > 1
            out.truncated += len(chunks) == 1 and len(chunks[0]) < len(ids[i])
        return out

    def check_text(self, text: str, name: str, empty_ok: bool) -> tuple[int, str]:
        """`(cl100k_base tokens, text)` of a string input, checked from the cheapest test to the dearest."""
        if not text and not empty_ok:  # OpenAI embeds `input=""` but refuses an empty string in a list
            raise APIError(400, f"{name} is an empty string; every input in a list must be non-empty", param="input")
        if len(text) > MAX_INPUT_CHARS:
            raise APIError(
                400,
                f"{name} has {len(text)} characters, more than any input of at most {MAX_INPUT_TOKENS} tokens can "
                f"have ({MAX_INPUT_CHARS}); shorten it",
                param="input",
                code="context_length_exceeded",
            )
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as err:
                raise APIError(
                    400,
                    f"{name} is not valid Unicode: it holds a lone surrogate (U+{ord(text[err.start]):04X}) at "
                    f"character {err.start}; send UTF-8 text",
                    param="input",
                    code="invalid_unicode",
                ) from None
        count = len(self.cl100k.encode_ordinary(text))
        if count > MAX_INPUT_TOKENS:
            raise APIError(
                400,
                f"{name} has {count} tokens (cl100k_base, as OpenAI counts them), over the maximum of "
                f"{MAX_INPUT_TOKENS} per input; shorten it",
                param="input",
                code="context_length_exceeded",
            )
        return count, text

    def decode(self, ids: list[int], name: str) -> str:
        """The text of an array of cl100k_base ids (broken UTF-8 at its ends becomes U+FFFD, as tiktoken decodes)."""
        self.check_length(ids, name)
        bad = next((t for t in ids if not 0 <= t < self.cl100k.n_vocab), None)
        if bad is None:
            try:
                return self.cl100k.decode_bytes(ids).decode("utf-8", errors="replace")
            except KeyError:  # one of the few unused ids inside the range
                bad = next(t for t in ids if not self.is_cl100k_token(t))
        raise APIError(
            400,
            f"{name} holds token id {bad}, which is not a cl100k_base token (this server reads token ids as OpenAI's "
            "cl100k_base ids, as OpenAI clients send them)",
            param="input",
            code="invalid_token_id",
        )

    def is_cl100k_token(self, token: int) -> bool:
        try:
            self.cl100k.decode_single_token_bytes(token)
        except KeyError:
            return False
        return True

    def native_ids(self, ids: list[int], name: str) -> list[int]:
        """An array of the model's own ids, ending in EOS (appended when it does not)."""
        self.check_length(ids, name)
        bad = next((t for t in ids if not 0 <= t < self.vocab_size), None)
        if bad is not None:
            raise APIError(
                400,
                f"{name} holds token id {bad}, outside this model's vocabulary [0, {self.vocab_size - 1}] (this "
                "server reads token ids as the model's own: --token-ids native)",
                param="input",
                code="invalid_token_id",
            )
        return ids if ids[-1] == self.eos_token_id else [*ids, self.eos_token_id]

    def check_length(self, ids: list[int], name: str) -> None:
        if not ids:
            raise APIError(400, f"{name} is an empty list of token ids", param="input")
        if len(ids) > MAX_INPUT_TOKENS:
            raise APIError(
                400,
                f"{name} has {len(ids)} tokens, over the maximum of {MAX_INPUT_TOKENS} per input; shorten it",
                param="input",
                code="context_length_exceeded",
            )

    def fit(self, ids: list[int], name: str) -> list[list[int]]:
        """An input's chunks: itself if within the context, else as `long_inputs` says (or a 400)."""
        if self.long_inputs == "chunk":
            return self.model.chunk(ids)  # itself if within the context
        if len(ids) <= self.context:
            return [ids]
        if self.long_inputs == "truncate":
            return [truncate_ids(ids, self.context)]
        raise APIError(
            400,
            f"{name} has {len(ids)} of this model's tokens, over its context of {self.context}; shorten it (or "
            "start the server with --long-inputs chunk or truncate)",
            param="input",
            code="context_length_exceeded",
        )
