"""The gateway's front doors: one ``Endpoint`` per API surface clients call.

Chat completions, the Responses API, Anthropic Messages, embeddings and legacy completions are
ingress formats, not separate gateways. Each endpoint parses its own wire format into the shared
``ChatRequest`` (its ``body`` a chat-shaped view that routing, limits and telemetry read), says
which deployments can serve it, hands the pipeline a translator per attempt for the pair
(endpoint, provider kind) — bytes through where both sides speak the same format — and answers
errors and stream events in its own shape. Routing, limits, breakers, the attempt loop,
telemetry and cost are the same code for all of them (``gateway.api``, ``gateway.pipeline``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.responses import Response

from gateway.errors import GatewayError, InvalidRequest
from gateway.openapi import Operation
from gateway.providers.base import ChatRequest, Translator

if TYPE_CHECKING:
    from gateway.registry import Deployment

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """How an endpoint's stream goes to the client: each translator payload framed, the closing
    bytes of a complete stream, and the event that ends a stream broken after its first byte."""

    frame: Callable[[bytes], bytes]
    done: bytes
    error_event: Callable[[GatewayError], bytes]


class Endpoint(Protocol):
    name: str
    """``chat``, ``responses``, ``messages``, ``embeddings``, ``completions``: the request's
    ``ChatRequest.endpoint``, and a dimension of its metrics and access log line."""
    path: str
    operation: str
    """``gen_ai.operation.name`` of its upstream attempts (``chat``, ``embeddings``, ...)."""
    sse: StreamFormat
    doc: Operation
    """The endpoint's OpenAPI operation."""

    async def parse(self, raw: bytes) -> ChatRequest:
        """The client's bytes → a validated request; ``InvalidRequest`` naming the field otherwise.
        Async, so that an endpoint may read the store (a stored conversation, say)."""
        ...

    # Optional, looked up with getattr by ``ModelAPI.serve`` after the key's allowed models were
    # checked: ``bind(request, key) -> ChatRequest``, the request as that client key sends it (or
    # a GatewayError): what the request refers to may belong to one key only (a stored response).

    def refusal(self, deployment: Deployment) -> str | None:
        """Why ``deployment`` cannot serve this endpoint (a sentence for the client), or None."""
        ...

    def translator(self, deployment: Deployment, request: ChatRequest) -> Translator:
        """A fresh translator for one attempt of ``request`` on ``deployment``."""
        ...

    def error_response(self, exc: GatewayError, headers: Mapping[str, str]) -> Response:
        """``exc`` in this endpoint's own error shape and status."""
        ...

    def finished(self, request: ChatRequest, translator: Translator) -> Awaitable[None] | None:
        """``request`` was served whole by the attempt of ``translator`` (a non-stream answer, or a
        stream that ended complete): what the endpoint keeps of it (a stored response, say). Must
        not block: store writes go in the background. It may return the write in flight: a
        non-stream answer waits for it, so that what the client got it can read back at once."""
        ...


def openai_error_response(exc: GatewayError, headers: Mapping[str, str] | None = None) -> Response:
    """OpenAI's error shape ``{"error": {"message", "type", "param", "code"}}`` and the error's status."""
    return Response(exc.body(), status_code=exc.status, media_type=JSON, headers={**(headers or {}), **exc.headers})


def servable(endpoint: Endpoint, chain: tuple[Deployment, ...]) -> tuple[Deployment, ...]:
    """The deployments of ``chain`` that can serve ``endpoint``, in order. None at all is the
    client's mistake (a chat model named on the embeddings endpoint, say): a 400 naming the
    first one and why, before anything is sent."""
    usable = tuple(d for d in chain if endpoint.refusal(d) is None)
    if not usable and chain:
        reason = endpoint.refusal(chain[0])
        raise InvalidRequest(reason or f"No model can serve {endpoint.path}.", param="model",
                             code="model_not_supported")
    return usable
