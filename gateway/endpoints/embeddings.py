"""``POST /v1/embeddings``: OpenAI's embeddings API, for the catalog's embedding models.

Served by models of ``mode: embedding`` only; a chat model named here is a 400 naming it and
the endpoint it serves (and the chat endpoints refuse embedding models the same way). OpenAI-
compatible upstreams get the client's bytes (``providers.openai_embeddings``), Gemini ones a
translation (``providers.gemini_embeddings``): an explicit table by provider kind; Anthropic has
no embedding models. A route of embedding models falls back between models of one vector length
(the catalog checks it), before the reply, as every endpoint does.

Checked before anything is sent: the body (``input`` in OpenAI's four shapes, at most 2048
inputs; ``encoding_format`` float or base64; ``dimensions`` at least 1 and at most the model's
configured ``dimensions``), and each input against the model's ``context_window``, which for an
embedding model is its limit per input (a token array's length exactly, text by the gateway's
estimate). The chat-shaped view routing and limits read holds the inputs as one user message and
``max_tokens: 1``, so the token-rate reservation is the inputs' estimate; the upstream's count
(or, for Gemini, which gives none, the estimate) settles it and prices the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from gateway.endpoints import openai_error_response
from gateway.endpoints.chat import OPENAI_SSE
from gateway.endpoints.inputs import Inputs, inputs_of, parse_inputs
from gateway.errors import GatewayError, InvalidRequest
from gateway.openapi import Operation
from gateway.providers.base import ChatRequest, Translator
from gateway.providers.gemini import GeminiProvider
from gateway.providers.gemini_embeddings import MAX_BATCH, GeminiEmbeddingsTranslator
from gateway.providers.openai_compat import OpenAICompatProvider
from gateway.providers.openai_embeddings import OpenAIEmbeddingsTranslator
from gateway.telemetry.names import OPERATION_EMBEDDINGS
from gateway.wire import invalid_request, json_object

if TYPE_CHECKING:
    from gateway.registry import Deployment

PATH = "/v1/embeddings"
MAX_INPUTS = 2048  # OpenAI's limit per request


class EmbeddingsRequest(BaseModel):
    """OpenAI's embeddings request as the gateway checks it; other fields go upstream as sent."""

    model_config = ConfigDict(strict=True, extra="allow")
    model: Annotated[str, Field(min_length=1, max_length=256)]
    input: Any = Field(description="a string, an array of strings, an array of token ids, or an array of "
                       "token arrays; at most 2048 inputs", json_schema_extra={"anyOf": [
                           {"type": "string"}, {"type": "array", "items": {"type": "string"}},
                           {"type": "array", "items": {"type": "integer"}},
                           {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}]})
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Field(ge=1)] | None = None
    user: str | None = None


def _openai(deployment: Deployment, req: ChatRequest, inputs: Inputs, dimensions: int | None) -> Translator:
    provider = deployment.provider
    assert isinstance(provider, OpenAICompatProvider)
    return OpenAIEmbeddingsTranslator(provider, req, deployment.model.upstream_model, sum(inputs.item_tokens()))


def _gemini(deployment: Deployment, req: ChatRequest, inputs: Inputs, dimensions: int | None) -> Translator:
    provider = deployment.provider
    assert isinstance(provider, GeminiProvider)
    model = deployment.model
    if inputs.token_arrays:
        raise InvalidRequest(f"The model '{model.id}' is served by a gemini provider, which embeds text, not "
                             "token ids: send 'input' as text.", param="input", code="invalid_type")
    if inputs.count > MAX_BATCH:
        raise InvalidRequest(f"The model '{model.id}' is served by a gemini provider, which takes at most "
                             f"{MAX_BATCH} inputs per request; this one has {inputs.count}.", param="input",
                             code="invalid_value")
    base64_format = (req.source or {}).get("encoding_format") == "base64"
    return GeminiEmbeddingsTranslator(provider, inputs.texts, model.upstream_model, dimensions or model.dimensions,
                                      base64_format, sum(inputs.item_tokens()))


TranslatorFactory = Callable[["Deployment", ChatRequest, Inputs, "int | None"], Translator]
TRANSLATORS: Mapping[str, TranslatorFactory] = {
    "openai-compatible": _openai,
    "gemini": _gemini,
}
"""Provider kind → the translator of an embeddings attempt; a kind not here has no embeddings."""


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
        headers=("x-grove-request-id", "x-grove-decision-id", "x-grove-route", "x-grove-model",
                 "x-grove-attempts", "x-grove-cost-usd", "x-grove-trace-id", "traceparent", "retry-after"),
        tags=("embeddings",), errors=(400, 404, 410, 413, 429, 502, 503, 504),
    )

    async def parse(self, raw: bytes) -> ChatRequest:
        body = json_object(raw)
        try:
            parsed = EmbeddingsRequest.model_validate(body)
        except ValidationError as exc:
            raise invalid_request(exc) from None
        if "input" not in body:
            raise InvalidRequest("Missing required parameter: 'input'.", param="input",
                                 code="missing_required_parameter")
        inputs = parse_inputs(body["input"], "input", empty_text=False, max_items=MAX_INPUTS)
        view: dict[str, Any] = {"model": parsed.model, "messages": inputs.view_messages(), "max_tokens": 1}
        if parsed.user:
            view["user"] = parsed.user
        return ChatRequest(body=view, raw=raw, model=parsed.model, stream=False, include_usage=False,
                           endpoint=self.name, source=body)

    def refusal(self, deployment: Deployment) -> str | None:
        model = deployment.model
        if model.mode != "embedding":
            return (f"The model '{model.id}' is a {model.mode} model; it serves POST /v1/chat/completions "
                    f"(and the other text endpoints), not {PATH}.")
        if deployment.provider_kind not in TRANSLATORS:
            return (f"The model '{model.id}' is served by {_a(deployment.provider_kind)} provider, which has no "
                    "embedding models.")
        return None

    def translator(self, deployment: Deployment, request: ChatRequest) -> Translator:
        source = request.source or {}
        inputs = inputs_of(source.get("input"))
        model = deployment.model
        dimensions = source.get("dimensions")
        if isinstance(dimensions, int) and model.dimensions is not None and dimensions > model.dimensions:
            raise InvalidRequest(f"Invalid value for 'dimensions': the model '{model.id}' makes vectors of at most "
                                 f"{model.dimensions} dimensions.", param="dimensions", code="invalid_value")
        counts = inputs.item_tokens()
        longest = max(counts)
        if longest > model.context_window:
            at = counts.index(longest)
            which = "The input" if inputs.count == 1 else f"Input {at} ('input[{at}]')"
            raise InvalidRequest(f"{which} is about {longest:,} tokens; the model '{model.id}' takes at most "
                                 f"{model.context_window:,} tokens per input.", param="input",
                                 code="context_length_exceeded")
        return TRANSLATORS[deployment.provider_kind](deployment, request, inputs, dimensions)

    def error_response(self, exc: GatewayError, headers: Mapping[str, str]) -> Response:
        return openai_error_response(exc, headers)

    def finished(self, request: ChatRequest, translator: Translator) -> None:
        return None


EMBEDDINGS = EmbeddingsEndpoint()


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word
