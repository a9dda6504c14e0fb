"""The provider adapter contract.

A ``Provider`` is built once per configured upstream (base URL, key). For each
attempt it hands out a ``Translator`` that owns that attempt's state: it builds
the upstream request (idempotently, so a retry can rebuild it), turns the
upstream's reply or stream into OpenAI's format, and maps upstream errors into
the gateway's error tree. Translators do no I/O; the pipeline sends the bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from gateway.errors import UpstreamError


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated request of one of the gateway's endpoints. Never mutate ``body`` or ``source``.

    For chat completions ``body`` is the parsed JSON and ``raw`` its bytes. For the other
    endpoints (``endpoint`` names it: ``gateway.endpoints``) ``raw`` is the client's bytes,
    ``source`` their parsed JSON, and ``body`` a chat-shaped view of it (model, messages' text,
    tools, limits, temperature, user) that routing, limits and telemetry read as they read chat.
    """

    body: dict[str, Any]
    raw: bytes
    model: str
    stream: bool
    include_usage: bool
    endpoint: str = "chat"
    source: dict[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    """The client's request headers (lower-case names), for an endpoint that forwards some of them
    (Messages: ``anthropic-version``, ``anthropic-beta``); None where no endpoint asked for them."""


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0


@dataclass(slots=True)
class Completion:
    """A non-streamed reply already in OpenAI's ``chat.completion`` format."""

    body: bytes
    usage: Usage | None = None
    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: tuple[str, ...] = field(default_factory=tuple)


class Translator(Protocol):
    usage: Usage | None
    """Usage seen so far in a stream (complete after ``stream_close``)."""

    def request(self) -> UpstreamRequest:
        """The upstream HTTP request (always POST). Idempotent."""

    def response(self, body: bytes) -> Completion:
        """A 2xx non-stream upstream body → OpenAI chat.completion. Raises UpstreamBadResponse."""

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        """One upstream SSE event → zero or more OpenAI ``chat.completion.chunk`` JSON payloads
        (without the ``data: `` framing). Raises UpstreamError for an error event or a malformed
        chunk."""

    def stream_close(self) -> list[bytes]:
        """The upstream stream ended: trailing payloads (the usage chunk when the client asked
        for it). Raises UpstreamBadResponse if the stream ended before it was complete."""

    def error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        """A non-2xx upstream reply → the matching error of the gateway's tree."""


class Provider(Protocol):
    kind: ClassVar[str]

    def translator(self, request: ChatRequest, upstream_model: str) -> Translator: ...
