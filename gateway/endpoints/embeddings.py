"""``POST /v1/embeddings``: OpenAI's embeddings API, for the catalog's embedding models.

Served by models of ``mode: embedding`` only; a chat model named here is a 400 naming it and
the endpoint it serves (and the chat endpoints refuse embedding models the same way). OpenAI-
compatible upstreams get the client's bytes (``providers.openai_embeddings``), Gemini ones a
translation (``providers.gemini_embeddings``): an explicit table by provider kind; Anthropic has
no embedding models. A route of embedding models falls back between models of one vector length
(the catalog checks it), before the reply, as every endpoint does.

Checked before anything is sent: the body (``input`` in OpenAI's four shapes, at most 2048
inputs; ``encoding_format`` float or base64; ``dimensions`` at least 1), then, per deployment of
the chain (``refusal``), whether it can take the input: each input within the model's
``context_window``, which for an embedding model is its limit per input (a token array's length
exactly, text by the gateway's estimate), ``dimensions`` within the model's, and a shape its
provider kind takes (Gemini: text, at most 100 inputs). Deployments that cannot are left out of
the chain; when none can, the first one's reason is the 400. The chat-shaped view routing and
limits read holds the inputs as one user message and ``max_tokens: 1``, so the token-rate reservation is the inputs' estimate; the upstream's count
(or, for Gemini, which gives none, the estimate) settles it and prices the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from gateway.api_docs import CHAT_HEADERS
from gateway.endpoints import no_such_api, openai_error_response, wrong_mode
from gateway.endpoints.chat import OPENAI_SSE
from gateway.endpoints.inputs import Inputs, inputs_of, parse_inputs
from gateway.endpoints.inputs import SCHEMA as INPUT_SCHEMA
from gateway.errors import GatewayError, InvalidRequest
from gateway.openapi import Operation
from gateway.providers.base import ChatRequest, Translator
from gateway.providers.gemini import GeminiProvider
from gateway.providers.gemini_embeddings import MAX_BATCH, GeminiEmbeddingsTranslator
from gateway.providers.openai_compat import OpenAICompatProvider
from gateway.providers.openai_embeddings import OpenAIEmbeddingsTranslator
from gateway.telemetry.names import OPERATION_EMBEDDINGS
from gateway.wire import read_validated

if TYPE_CHECKING:
    from gateway.catalog import KeySpec
    from gateway.registry import Deployment

PATH = "/v1/embeddings"
MAX_INPUTS = 2048  # OpenAI's limit per request


class EmbeddingsRequest(BaseModel):
    """OpenAI's embeddings request as the gateway checks it; other fields go upstream as sent."""

    model_config = ConfigDict(strict=True, extra="allow")
    model: Annotated[str, Field(min_length=1, max_length=256)]
    input: Any = Field(description="a string, an array of strings, an array of token ids, or an array of "
                       "token arrays; at most 2048 inputs", json_schema_extra=INPUT_SCHEMA)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(ge=1)] | None = None
    user: str | None = None


@dataclass(frozen=True, slots=True)
class _Ask:
    """What every deployment of the chain is checked against, computed once per request."""

    request: ChatRequest
    inputs: Inputs
    tokens: list[int]
    """Each input's tokens."""
    dimensions: int | None


def _openai(deployment: Deployment, ask: _Ask) -> Translator:
    provider = deployment.provider
    assert isinstance(provider, OpenAICompatProvider)
    return OpenAIEmbeddingsTranslator(provider, ask.request, deployment.model.upstream_model, sum(ask.tokens))


def _gemini(deployment: Deployment, ask: _Ask) -> Translator:
    provider = deployment.provider
    assert isinstance(provider, GeminiProvider)
    model = deployment.model
    base64_format = (ask.request.source or {}).get("encoding_format") == "base64"
    return GeminiEmbeddingsTranslator(provider, ask.inputs.texts, model.upstream_model,
                                      ask.dimensions or model.dimensions, base64_format, sum(ask.tokens))


def _any_input(deployment: Deployment, ask: _Ask) -> InvalidRequest | None:
    return None


def _gemini_input(deployment: Deployment, ask: _Ask) -> InvalidRequest | None:
    where = f"The model '{deployment.model.id}' is served by a gemini provider, which"
    if ask.inputs.token_arrays:
        return InvalidRequest(f"{where} embeds text, not token ids: send 'input' as text.", param="input",
                              code="invalid_type")
    if ask.inputs.count > MAX_BATCH:
        return InvalidRequest(f"{where} takes at most {MAX_BATCH} inputs per request; this one has "
                              f"{ask.inputs.count}.", param="input", code="invalid_value")
    return None


@dataclass(frozen=True, slots=True)
class _Kind:
    translator: Callable[[Deployment, _Ask], Translator]
    refusal: Callable[[Deployment, _Ask], InvalidRequest | None]
    """Why the kind cannot take this request's input, or None."""


KINDS: Mapping[str, _Kind] = {
    "openai-compatible": _Kind(_openai, _any_input),
    "gemini": _Kind(_gemini, _gemini_input),
}
"""Provider kind → how it serves embeddings; a kind not here has no embedding models."""


class EmbeddingsEndpoint:
    name = "embeddings"
    path = PATH
    operation = OPERATION_EMBEDDINGS
    sse = OPENAI_SSE  # never used: embeddings do not stream
    doc = Operation(
        "Create embeddings",
        "OpenAI-compatible. `model` is an embedding model (`mode: embedding` in the catalog) or a route of "
        "them. OpenAI-compatible upstreams get the request as sent; Gemini ones a translation, with the "
        "vectors returned as floats or base64 as asked. The `x-grove-*` headers say what served.",
        body=EmbeddingsRequest, reply={"type": "object", "required": ["object", "data", "model", "usage"]},
        headers=CHAT_HEADERS,
        tags=("embeddings",), errors=(400, 404, 410, 413, 429, 502, 503, 504),
    )

    async def parse(self, raw: bytes, headers: Mapping[str, str], key: KeySpec | None) -> ChatRequest:
        body, parsed = read_validated(raw, EmbeddingsRequest, required="input")
        inputs = parse_inputs(body["input"], "input", empty_text=False, max_items=MAX_INPUTS)
        view: dict[str, Any] = {"model": parsed.model, "messages": inputs.view_messages(), "max_tokens": 1}
        if parsed.user:
            view["user"] = parsed.user
        return ChatRequest(body=view, raw=raw, model=parsed.model, stream=False, include_usage=False,
                           endpoint=self.name, source=body)

    def refusal(self, deployment: Deployment, request: ChatRequest) -> GatewayError | None:
        """A chat model or a provider kind without embeddings; then whether the deployment can take
        this request's input: each input within the model's limit per input, ``dimensions``
        within the model's, a shape the provider kind takes (so a route falls back to one that
        can, and when none can the client gets the first one's 400 naming the field)."""
        if deployment.model.mode != "embedding":
            return wrong_mode(deployment, PATH)
        if deployment.provider_kind not in KINDS:
            return no_such_api(deployment, "embedding models", "name an embedding model")
        return _unfit(deployment, self._ask(request))

    def translator(self, deployment: Deployment, request: ChatRequest) -> Translator:
        return KINDS[deployment.provider_kind].translator(deployment, self._ask(request))

    @staticmethod
    def _ask(request: ChatRequest) -> _Ask:
        source = request.source or {}
        inputs = inputs_of(source.get("input"))
        dimensions = source.get("dimensions")
        return _Ask(request, inputs, inputs.item_tokens(), dimensions if isinstance(dimensions, int) else None)

    def error_response(self, exc: GatewayError, headers: Mapping[str, str]) -> Response:
        return openai_error_response(exc, headers)

    def finished(self, request: ChatRequest, translator: Translator) -> None:
        return None


EMBEDDINGS = EmbeddingsEndpoint()


def _unfit(deployment: Deployment, ask: _Ask) -> InvalidRequest | None:
    model = deployment.model
    if ask.dimensions is not None and model.dimensions is not None and ask.dimensions > model.dimensions:
        return InvalidRequest(f"Invalid value for 'dimensions': the model '{model.id}' makes vectors of at most "
                              f"{model.dimensions} dimensions.", param="dimensions", code="invalid_value")
    longest = max(ask.tokens)
    if longest > model.context_window:
        at = ask.tokens.index(longest)
        which = "The input" if ask.inputs.count == 1 else f"Input {at} ('input[{at}]')"
        counted = "is" if ask.inputs.token_arrays else "is about"  # token ids are counted, text estimated
        return InvalidRequest(f"{which} {counted} {longest:,} tokens; the model '{model.id}' takes at most "
                              f"{model.context_window:,} tokens per input.", param="input",
                              code="context_length_exceeded")
    return KINDS[deployment.provider_kind].refusal(deployment, ask)

