"""OpenAI-compatible upstreams' ``POST {base_url}/embeddings``: a byte-level pass-through.

The client's body goes upstream as sent, re-serialised only when the model name must change; the
reply goes back as the upstream sent it. An embeddings reply is large and only its ``usage``
matters to the gateway, so the reply is not parsed: ``usage`` (and ``model``) are read from the
tail, where OpenAI puts them and where no vector can hold a quote (100 inputs of 1536 floats:
3.3 MB, ~57 ms to parse, ~4 µs to read the tail). A reply without usage is counted by the inputs' token estimate. Errors
map as chat completions' do (``openai_compat``).
"""

from __future__ import annotations

from typing import Any

from gateway import jsonio
from gateway.errors import UpstreamBadResponse
from gateway.providers.base import ChatRequest, Completion, UpstreamRequest, Usage
from gateway.providers.openai_compat import OpenAICompatProvider, OpenAICompatTranslator

_CHAT_PATH = "/chat/completions"


def sibling_url(provider: OpenAICompatProvider, path: str) -> str:
    """Another endpoint of the provider's base URL (``/embeddings``, ``/completions``)."""
    return provider.url.removesuffix(_CHAT_PATH) + path


class OpenAIEmbeddingsTranslator(OpenAICompatTranslator):
    """One attempt; ``estimate`` is the inputs' token count, for a reply that reports none."""

    def __init__(self, provider: OpenAICompatProvider, request: ChatRequest, upstream_model: str,
                 estimate: int) -> None:
        super().__init__(provider, request, upstream_model)
        self.url = sibling_url(provider, "/embeddings")
        self.estimate = estimate

    def request(self) -> UpstreamRequest:
        req = self.req
        if req.model == self.upstream_model or req.source is None:
            body = req.raw
        else:
            body = jsonio.dumps({**req.source, "model": self.upstream_model})
        return UpstreamRequest(self.url, self.provider.headers, body)

    def response(self, body: bytes) -> Completion:
        if body[:64].lstrip()[:1] != b"{" or body[-64:].rstrip()[-1:] != b"}":  # no copy of the whole body
            raise UpstreamBadResponse("upstream returned an embeddings body that is not a JSON object")
        usage = _tail_object(body, b'"usage"')
        prompt_tokens = usage.get("prompt_tokens") if usage is not None else None
        if isinstance(prompt_tokens, int) and not isinstance(prompt_tokens, bool):
            self.usage = Usage(input_tokens=prompt_tokens)
        else:
            self.usage = Usage(input_tokens=self.estimate)
        return Completion(body, self.usage, None, _tail_string(body, b'"model"'))

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        raise UpstreamBadResponse("upstream streamed an embeddings reply")

    def stream_close(self) -> list[bytes]:
        return []


def _tail_object(body: bytes, key: bytes) -> dict[str, Any] | None:
    """The flat object that follows the last ``key`` in ``body``, or None."""
    at = body.rfind(key)
    start = body.find(b"{", at) if at >= 0 else -1
    end = body.find(b"}", start) if start >= 0 else -1
    if end < 0 or body[at + len(key):start].strip() != b":":
        return None
    try:
        found = jsonio.loads(body[start:end + 1])
    except jsonio.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def _tail_string(body: bytes, key: bytes) -> str | None:
    """The string value of the last ``key`` in ``body``, or None."""
    at = body.rfind(key)
    if at < 0:
        return None
    colon = body.find(b":", at + len(key))
    opening = body.find(b'"', colon)
    closing = body.find(b'"', opening + 1)
    if colon < 0 or opening < 0 or closing < 0 or body[at + len(key):colon].strip() or body[colon + 1:opening].strip():
        return None
    try:
        return body[opening + 1:closing].decode("utf-8")
    except UnicodeDecodeError:
        return None
