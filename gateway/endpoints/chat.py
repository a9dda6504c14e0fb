"""``POST /v1/chat/completions``: OpenAI's chat format, which every provider adapter speaks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.responses import Response

from gateway import api_docs as docs
from gateway import streaming
from gateway.endpoints import StreamFormat, off_loop, openai_error_response, wrong_mode
from gateway.errors import GatewayError
from gateway.providers.base import ChatRequest, Translator
from gateway.wire import parse_chat_request

if TYPE_CHECKING:
    from gateway.catalog import KeySpec
    from gateway.registry import Deployment

PATH = "/v1/chat/completions"
OPENAI_SSE = StreamFormat(streaming.frame, streaming.DONE, streaming.error_event)


class ChatEndpoint:
    name = "chat"
    path = PATH
    operation = "chat"
    sse = OPENAI_SSE
    doc = docs.CHAT_COMPLETIONS

    async def parse(self, raw: bytes, headers: Mapping[str, str], key: KeySpec | None) -> ChatRequest:
        return await off_loop(parse_chat_request, raw)

    def refusal(self, deployment: Deployment, request: ChatRequest) -> GatewayError | None:
        return wrong_mode(deployment, PATH) if deployment.model.mode != "chat" else None

    def translator(self, deployment: Deployment, request: ChatRequest) -> Translator:
        return deployment.provider.translator(request, deployment.model.upstream_model)

    def error_response(self, exc: GatewayError, headers: Mapping[str, str]) -> Response:
        return openai_error_response(exc, headers)

    def finished(self, request: ChatRequest, translator: Translator) -> None:
        return None


CHAT = ChatEndpoint()
