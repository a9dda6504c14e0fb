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

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from starlette.responses import Response

from gateway.errors import GatewayError, InvalidRequest
from gateway.openapi import Operation
from gateway.providers.base import ChatRequest, Translator

if TYPE_CHECKING:
    from gateway.catalog import KeySpec
    from gateway.registry import Deployment

JSON = "application/json"
LARGE_BODY = 256 * 1024
"""Bodies from this size on are parsed and read in a worker thread: 100,000 messages (4.7 MB) took
~0.5 s to validate, and on the event loop every other request would have waited that long."""
T = TypeVar("T")


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

    async def parse(self, raw: bytes, headers: Mapping[str, str], key: KeySpec | None) -> ChatRequest:
        """The client's bytes (its headers by lower-case name, its authenticated key) → a validated
        request; ``InvalidRequest`` naming the field otherwise. Async, so that an endpoint may read
        the store (a stored conversation, which must be the key's own)."""
        ...

    def refusal(self, deployment: Deployment, request: ChatRequest) -> GatewayError | None:
        """Why ``deployment`` cannot serve ``request`` on this endpoint (a model of another mode, a
        provider without the API, an input over the model's limit), as the 4xx the client gets
        when no deployment of its chain can; None when it can."""
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


async def off_loop(work: Callable[[bytes], T], raw: bytes) -> T:
    """``work(raw)``: at once for an ordinary body, in a worker thread for a large one (the loop
    then gets the interpreter in turns, ``sys.setswitchinterval``, and keeps serving)."""
    if len(raw) < LARGE_BODY:
        return work(raw)
    return await asyncio.to_thread(work, raw)


def openai_error_response(exc: GatewayError, headers: Mapping[str, str] | None = None) -> Response:
    """OpenAI's error shape ``{"error": {"message", "type", "param", "code"}}`` and the error's status."""
    return Response(exc.body(), status_code=exc.status, media_type=JSON, headers={**(headers or {}), **exc.headers})


def servable(endpoint: Endpoint, chain: tuple[Deployment, ...], request: ChatRequest) -> tuple[Deployment, ...]:
    """The deployments of ``chain`` that can serve ``request``, in order. None at all is the
    client's mistake (a chat model named on the embeddings endpoint, say): the first one's
    refusal, before anything is sent or any breaker's probe is taken."""
    refusal = endpoint.refusal
    for deployment in chain:
        if refusal(deployment, request) is not None:
            break
    else:
        return chain  # the common case: every deployment can, nothing to build
    usable: list[Deployment] = []
    first: GatewayError | None = None
    for deployment in chain:
        problem = refusal(deployment, request)
        if problem is None:
            usable.append(deployment)
        elif first is None:
            first = problem
    if not usable and first is not None:
        raise first
    return tuple(usable)


_SERVES = {"chat": "POST /v1/chat/completions, /v1/responses, /v1/messages or /v1/completions",
           "embedding": "POST /v1/embeddings"}


def wrong_mode(deployment: Deployment, path: str) -> InvalidRequest:
    """The refusal of a model whose mode another endpoint serves."""
    model = deployment.model
    return InvalidRequest(f"The model '{model.id}' is {article(model.mode)} model; it serves {_SERVES[model.mode]}, "
                          f"not {path}.", param="model", code="model_not_supported")


def no_such_api(deployment: Deployment, what: str, instead: str) -> InvalidRequest:
    """The refusal of a model whose provider kind has no ``what``."""
    return InvalidRequest(f"The model '{deployment.model.id}' is served by {article(deployment.provider_kind)} "
                          f"provider, which has no {what}; {instead}.", param="model", code="model_not_supported")


def article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word
