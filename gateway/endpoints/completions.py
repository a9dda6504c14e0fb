"""``POST /v1/completions``: OpenAI's legacy completions, for OpenAI-compatible upstreams that serve them.

Only OpenAI-compatible providers have the legacy endpoint: their models get the client's bytes
(``providers.openai_completions``), streams relayed as ``data:`` events and ``[DONE]``. Any other
model (Anthropic, Gemini, an embedding model) is a 400 that says which endpoint to use. Whether an
OpenAI-compatible model serves legacy completions is the upstream's to say (OpenAI's chat models
do not): its answer goes back as it came.

The chat-shaped view routing and limits read holds the prompt(s) as one user message, and
``max_tokens`` as the client sent it or OpenAI's default of 16, with the sampling fields and
``user``; the stream rules are chat's (``stream_options`` only with ``stream``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from gateway.api_docs import CHAT_HEADERS
from gateway.endpoints import no_such_api, openai_error_response, wrong_mode
from gateway.endpoints.chat import OPENAI_SSE
from gateway.endpoints.inputs import parse_inputs
from gateway.endpoints.inputs import SCHEMA as INPUT_SCHEMA
from gateway.errors import GatewayError, InvalidRequest
from gateway.openapi import Operation
from gateway.providers.base import ChatRequest, Translator
from gateway.providers.openai_compat import OpenAICompatProvider
from gateway.providers.openai_completions import OpenAICompletionsTranslator
from gateway.telemetry.names import OPERATION_TEXT_COMPLETION
from gateway.wire import read_validated

if TYPE_CHECKING:
    from gateway.catalog import KeySpec
    from gateway.registry import Deployment

PATH = "/v1/completions"
DEFAULT_MAX_TOKENS = 16  # OpenAI's default for legacy completions
_VIEW_FIELDS = ("temperature", "top_p", "n", "stop", "user")


class _StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")
    include_usage: bool | None = None


class CompletionsRequest(BaseModel):
    """OpenAI's legacy completions request as the gateway checks it; other fields go upstream as sent."""

    model_config = ConfigDict(strict=True, extra="allow")
    model: Annotated[str, Field(min_length=1, max_length=256)]
    prompt: Any = Field(description="a string, an array of strings, an array of token ids, or an array of "
                        "token arrays", json_schema_extra=INPUT_SCHEMA)
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    stream: bool | None = None
    stream_options: _StreamOptions | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: Annotated[int, Field(ge=1, le=128)] | None = None
    stop: str | list[str] | None = None
    echo: bool | None = None
    suffix: str | None = None
    user: str | None = None


class CompletionsEndpoint:
    name = "completions"
    path = PATH
    operation = OPERATION_TEXT_COMPLETION
    sse = OPENAI_SSE
    doc = Operation(
        "Create a completion (legacy)",
        "OpenAI-compatible legacy completions, for models of OpenAI-compatible providers that serve them; "
        "any other model is a 400 naming the endpoint to use. A stream falls back only before its first chunk.",
        body=CompletionsRequest,
        reply={"type": "object", "required": ["id", "object", "created", "model", "choices"],
               "properties": {"object": {"const": "text_completion"}}},
        more_media={"text/event-stream": {"type": "string", "description": "With stream: true, 'data: "
                                          "<text_completion JSON>' events, then 'data: [DONE]'."}},
        headers=CHAT_HEADERS,
        tags=("completions",), errors=(400, 404, 410, 413, 429, 502, 503, 504),
    )

    async def parse(self, raw: bytes, headers: Mapping[str, str], key: KeySpec | None) -> ChatRequest:
        body, parsed = read_validated(raw, CompletionsRequest, required="prompt")
        prompts = parse_inputs(body["prompt"], "prompt", empty_text=True)
        if parsed.stream_options is not None and not parsed.stream:
            raise InvalidRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                                 param="stream_options", code="invalid_value")
        stream = bool(parsed.stream)
        include_usage = bool(stream and parsed.stream_options and parsed.stream_options.include_usage)
        view: dict[str, Any] = {"model": parsed.model, "messages": prompts.view_messages(),
                                "max_tokens": parsed.max_tokens or DEFAULT_MAX_TOKENS}
        view.update((name, body[name]) for name in _VIEW_FIELDS if body.get(name) is not None)
        if stream:
            view["stream"] = True
        return ChatRequest(body=view, raw=raw, model=parsed.model, stream=stream, include_usage=include_usage,
                           endpoint=self.name, source=body)

    def refusal(self, deployment: Deployment, request: ChatRequest) -> GatewayError | None:
        if deployment.model.mode != "chat":
            return wrong_mode(deployment, PATH)
        if not isinstance(deployment.provider, OpenAICompatProvider):
            return no_such_api(deployment, "legacy completions endpoint", "use POST /v1/chat/completions")
        return None

    def translator(self, deployment: Deployment, request: ChatRequest) -> Translator:
        provider = deployment.provider
        assert isinstance(provider, OpenAICompatProvider)
        return OpenAICompletionsTranslator(provider, request, deployment.model.upstream_model)

    def error_response(self, exc: GatewayError, headers: Mapping[str, str]) -> Response:
        return openai_error_response(exc, headers)

    def finished(self, request: ChatRequest, translator: Translator) -> None:
        return None


COMPLETIONS = CompletionsEndpoint()

