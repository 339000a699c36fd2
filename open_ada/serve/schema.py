"""The request and response of `POST /v1/embeddings`, and errors in OpenAI's format."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Literal

import numpy as np
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError

#: Clients that hard-code OpenAI's model name keep working: only their base URL changes.
ADA_ALIAS = "text-embedding-ada-002"


class APIError(Exception):
    """An error answered with OpenAI's body: `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type, param, code
        self.headers = headers

    def response(self) -> Response:
        return error_response(self.status, self.message, self.type, self.param, self.code, self.headers)


def error_response(
    status: int,
    message: str,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """OpenAI's error body. ASCII-escaped JSON: a message that quotes client text with a lone surrogate stays valid."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


class EmbeddingRequest(BaseModel):
    """OpenAI's `POST /v1/embeddings` body; unknown fields are rejected, as OpenAI does."""

    model_config = ConfigDict(extra="forbid")

    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]
    model: StrictStr
    encoding_format: Literal["float", "base64"] | None = None  # None (or absent): float, as OpenAI
    dimensions: StrictInt | None = None
    user: StrictStr | None = None


INPUT_HINT = "'input' must be a string, a list of strings, a list of token ids or a list of token-id lists"


def parse_request(body: bytes, content_type: str | None) -> EmbeddingRequest:
    """The request in `body`.

    Raises:
        APIError: 400 for a body that is not JSON (by its content type or its bytes) or not a valid request.
    """
    if content_type and "json" not in content_type:
        raise APIError(
            400, f"The request body must be JSON, sent with `Content-Type: application/json` (got {content_type})"
        )
    if not body.strip():
        raise APIError(400, "The request body must be a JSON object with 'model' and 'input'; it was empty")
    try:
        data = json.loads(body)
    except ValueError as err:  # json.JSONDecodeError, or UnicodeDecodeError for bytes that are not UTF-8
        raise APIError(400, f"We could not parse the JSON body of your request: {err}") from None
    try:
        return EmbeddingRequest.model_validate(data)
    except ValidationError as err:
        message, param = validation_message(err.errors())
        raise APIError(400, message, param=param) from None


def validation_message(errors: Sequence[dict]) -> tuple[str, str | None]:
    """A readable message and the offending parameter from pydantic's errors of the request body."""
    first = errors[0]
    loc = [str(x) for x in first.get("loc", ())]
    if not loc:
        return f"The request body must be a JSON object with 'model' and 'input': {first.get('msg')}", None
    param = loc[0]
    if first.get("type") == "missing":
        return f"Missing required parameter: '{param}'", param
    if param == "input":
        return INPUT_HINT, param
    if first.get("type") == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}", param
    return f"Invalid value for '{'.'.join(loc)}': {first.get('msg')}", param


def encode_embedding(vector: np.ndarray, encoding_format: str | None) -> list[float] | str:
    """One embedding as OpenAI sends it: a list of floats, or base64 of little-endian float32."""
    if encoding_format == "base64":  # anything else (float, None) is a list of floats
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector.tolist()


def response_body(embeddings: np.ndarray, model: str, encoding_format: str | None, tokens: int) -> bytes:
    """OpenAI's response: one `embedding` object per input, in input order, and the tokens embedded."""
    data = [
        {"object": "embedding", "index": i, "embedding": encode_embedding(row, encoding_format)}
        for i, row in enumerate(embeddings)
    ]
    body = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return json.dumps(body, separators=(",", ":")).encode()
