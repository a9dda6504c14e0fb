"""Anthropic Messages to an Anthropic upstream: the client's bytes through.

Both sides speak the same format, so the body goes upstream as the client sent it (re-encoded
once only when the upstream's model name differs from the one the client named, or to drop the
gateway's routing hint from ``metadata``) and thinking
blocks with their signatures, ``cache_control``, citations and server tools arrive untouched.
The upstream gets the provider's own key and headers, and the client's ``anthropic-version``
and ``anthropic-beta`` (a beta the provider's config already sets is kept beside the client's).
Replies go back as received; stream events go back as complete ``event:``/``data:`` frames.
Each is parsed, to read the usage and so that a malformed event never reaches the client, but
never re-encoded. A stream that ends without ``message_stop`` is incomplete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway import jsonio
from gateway.errors import UpstreamBadResponse, UpstreamError
from gateway.providers import litellm_bridge as lb
from gateway.providers.anthropic import AnthropicProvider, anthropic_error, anthropic_reply_error
from gateway.providers.base import ChatRequest, Completion, UpstreamRequest, Usage
from gateway.routing import without_hint

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def upstream_headers(provider_headers: Mapping[str, str], client: Mapping[str, str] | None) -> Mapping[str, str]:
    """The provider's headers with the client's ``anthropic-version`` and ``anthropic-beta``."""
    if not client or not any(name in client for name in FORWARDED_HEADERS):
        return provider_headers
    merged = dict(provider_headers)
    version = client.get("anthropic-version")
    if version:
        merged["anthropic-version"] = version
    beta = client.get("anthropic-beta")
    if beta:
        configured = merged.get("anthropic-beta")
        merged["anthropic-beta"] = f"{configured},{beta}" if configured else beta
    return merged


def upstream_body(request: ChatRequest, model: str) -> bytes:
    """The client's bytes, unless the upstream's model name differs or the body carries the
    gateway's routing hint in ``metadata`` (Anthropic refuses metadata it does not know): then
    the client's JSON once re-encoded, with the upstream's name and without the hint."""
    source = request.source
    stripped = without_hint(source) if source is not None else None
    if source is None or (stripped is None and request.model == model):
        return request.raw
    return jsonio.dumps({**(stripped or source), "model": model})


def anthropic_usage(usage: Mapping[str, Any]) -> Usage:
    """Anthropic's usage as the gateway counts it: input includes what was cached (read or written)."""
    given, output, created, read = (_count(usage.get(name)) for name in _USAGE_FIELDS)
    return Usage(given + created + read, output, read)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class AnthropicMessagesTranslator:
    """One attempt of a Messages request on an Anthropic upstream: see the module docstring."""

    def __init__(self, provider: AnthropicProvider, request: ChatRequest, model: str) -> None:
        self.usage: Usage | None = None
        self._provider = provider
        self._request = request
        self._model = model
        self._upstream: UpstreamRequest | None = None
        self._usage: dict[str, Any] = {}  # cumulative: message_delta's usage leaves fields out
        self._finished = False

    def request(self) -> UpstreamRequest:
        if self._upstream is None:
            req = self._request
            self._upstream = UpstreamRequest(self._provider.url, upstream_headers(self._provider.headers, req.headers),
                                             upstream_body(req, self._model))
        return self._upstream

    def response(self, body: bytes) -> Completion:
        reply = lb.parse_json_object(body, "anthropic")
        if reply.get("type") == "error":
            raise anthropic_error(None, reply, {})
        if reply.get("type") != "message" or not isinstance(reply.get("content"), list):
            raise UpstreamBadResponse("malformed reply from anthropic: not a message")
        usage = reply.get("usage")
        self.usage = anthropic_usage(usage) if isinstance(usage, dict) else None
        stop = reply.get("stop_reason")
        return Completion(body, self.usage, _str(reply.get("id")), _str(reply.get("model")),
                          (stop,) if isinstance(stop, str) else ())

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        if not data.strip():
            return []
        chunk = lb.parse_json_object(data, "anthropic")
        kind = event or chunk.get("type")
        if not isinstance(kind, str):
            raise UpstreamBadResponse("malformed stream event from anthropic: no event type")
        if kind == "error":
            raise anthropic_error(None, chunk, {})
        if kind == "message_start":
            message = chunk.get("message")
            self._count(message.get("usage") if isinstance(message, dict) else None)
        elif kind == "message_delta":
            self._count(chunk.get("usage"))
        elif kind == "message_stop":
            self._finished = True
        if b"\n" in data:  # one data: line per line, as SSE frames a multi-line payload
            data = data.replace(b"\n", b"\ndata: ")
        return [b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"]

    def _count(self, usage: object) -> None:
        if isinstance(usage, dict):
            self._usage.update(usage)
            self.usage = anthropic_usage(self._usage)

    def stream_close(self) -> list[bytes]:
        if not self._finished:
            raise UpstreamBadResponse("upstream stream ended before completion")
        return []

    def error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return anthropic_reply_error(status, body, headers)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
