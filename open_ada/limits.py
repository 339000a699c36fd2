"""The request limits of `open-ada serve`: OpenAI's for its embedding models, plus the byte and character bounds
that refuse a hostile request before any tokenizer runs. `open-ada serve` enforces them, `open-ada loadtest` stays
within them.

Token counts are OpenAI's, because they are what clients count with: a string counts its `cl100k_base` tokens
(LangChain splits and batches texts by them with tiktoken), a token-id array its length.
"""

from __future__ import annotations

MAX_INPUTS = 2048  # inputs per request
MAX_INPUT_TOKENS = 8191  # tokens per input
MAX_REQUEST_TOKENS = 300_000  # tokens per request, all inputs together

# The longest cl100k_base token is 128 characters (a run of spaces), so a string longer than this certainly holds
# more than MAX_INPUT_TOKENS tokens: it is refused by its length alone, without tokenizing it.
CL100K_LONGEST_TOKEN_CHARS = 128
MAX_INPUT_CHARS = MAX_INPUT_TOKENS * CL100K_LONGEST_TOKEN_CHARS  # 1,048,448

# The default bound of a request body (`open-ada serve --max-body-bytes`): 16 MiB. A full 300,000-token request is
# about 1.4 MB as English JSON text and at most 2.4 MB as token-id arrays (six-digit ids, ", " between them);
# docs/serve.md has the measured sizes.
MAX_BODY_BYTES = 16 * 1024 * 1024
