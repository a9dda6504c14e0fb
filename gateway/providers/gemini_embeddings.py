"""Gemini (Google AI Studio) embeddings, translated from and to OpenAI's ``/v1/embeddings``.

The request is ``POST {base_url}/v1beta/models/{model}:batchEmbedContents``, its body built by
litellm's transformation (``litellm_bridge.gemini_embed_request``): one ``EmbedContentRequest``
per input, with ``outputDimensionality`` always set (the client's ``dimensions``, else the
model's configured ``dimensions``), so a route's vectors have one length whichever model served.
litellm reads an input that is a ``data:`` URI, a ``gs://`` URL or a Gemini file reference as
media, as Gemini's multimodal embeddings take them. Text only: token-id inputs are the
endpoint's to refuse.

The reply (``{"embeddings": [{"values": [...]}]}``) becomes OpenAI's ``list`` of ``embedding``
objects, the vectors as floats or, for ``encoding_format: base64``, as base64 of float32
little-endian bytes, which is what OpenAI sends and its SDK decodes. Gemini reports no token
counts: usage is the gateway's estimate of the inputs (``gateway.routing.tokens``), and cost
follows from it. Errors map as Gemini chat's do (``providers.gemini.gemini_error``).
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from gateway import jsonio
from gateway.errors import UpstreamBadResponse, UpstreamError
from gateway.providers import litellm_bridge as lb
from gateway.providers.base import Completion, UpstreamRequest, Usage
from gateway.providers.errormap import safe_message
from gateway.providers.gemini import GeminiProvider, gemini_error

MAX_BATCH = 100
"""Inputs per ``batchEmbedContents`` call: Gemini refuses more."""


class GeminiEmbeddingsTranslator:
    def __init__(self, provider: GeminiProvider, texts: Sequence[str], model: str, dimensions: int | None,
                 base64_format: bool, estimate: int) -> None:
        self._provider = provider
        self._texts = texts
        self._model = model.removeprefix("models/")
        self._dimensions = dimensions
        self._base64 = base64_format
        self._estimate = estimate
        self.usage: Usage | None = None
        self._upstream: UpstreamRequest | None = None

    def request(self) -> UpstreamRequest:
        if self._upstream is None:
            params = {} if self._dimensions is None else {"dimensions": self._dimensions}
            with lb.translating_request("gemini"):
                body = lb.gemini_embed_request()(list(self._texts), self._model, params)
            url = f"{self._provider.url_prefix}{quote(self._model, safe='')}:batchEmbedContents"
            self._upstream = UpstreamRequest(url, self._provider.headers, jsonio.dumps(body))
        return self._upstream

    def response(self, body: bytes) -> Completion:
        data = lb.parse_json_object(body, "gemini")
        vectors = data.get("embeddings")
        if not isinstance(vectors, list) or len(vectors) != len(self._texts):
            raise UpstreamBadResponse(f"malformed reply from gemini: expected {len(self._texts)} embeddings")
        items = []
        for index, vector in enumerate(vectors):
            values = vector.get("values") if isinstance(vector, dict) else None
            if not isinstance(values, list):
                raise UpstreamBadResponse(f"malformed reply from gemini: embedding {index} has no values")
            items.append({"object": "embedding", "index": index,
                          "embedding": _float32_base64(values) if self._base64 else values})
        metadata = data.get("usageMetadata")
        counted = metadata.get("promptTokenCount") if isinstance(metadata, dict) else None
        tokens = counted if isinstance(counted, int) and not isinstance(counted, bool) else self._estimate
        self.usage = Usage(input_tokens=tokens)
        reply = {"object": "list", "data": items, "model": self._model,
                 "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        return Completion(jsonio.dumps(reply), self.usage, None, self._model)

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        raise UpstreamBadResponse("gemini streamed an embeddings reply")

    def stream_close(self) -> list[bytes]:
        return []

    def error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        try:
            parsed: Any = jsonio.loads(body)
        except jsonio.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            snippet = safe_message(body[:200].decode("utf-8", "replace"))
            parsed = {"error": {"message": snippet}} if snippet else {}
        return gemini_error(status, parsed, headers)


def _float32_base64(values: list[Any]) -> str:
    try:
        packed = array("f", values)
    except TypeError:
        raise UpstreamBadResponse("malformed reply from gemini: an embedding value is not a number") from None
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
