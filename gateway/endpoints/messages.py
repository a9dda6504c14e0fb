"""``POST /v1/messages``: Anthropic's Messages API as a front door of the gateway.

The Anthropic SDK works unchanged with its ``base_url`` at the gateway: the client key comes as
``x-api-key`` (or ``Authorization: Bearer``), errors and stream events are Anthropic's own
(``anthropic_shape``). Which translator an attempt gets depends on the deployment's provider
kind (``TRANSLATORS``): an Anthropic upstream gets the client's bytes
(``providers.messages_passthrough``), the others a translation through OpenAI chat
(``providers.messages_translated``, litellm's adapter). Embedding models cannot serve it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING

from starlette.responses import Response

from gateway.endpoints import anthropic_shape, no_such_api, off_loop, wrong_mode
from gateway.endpoints.messages_docs import MESSAGES
from gateway.endpoints.messages_wire import parse_messages_request
from gateway.errors import GatewayError
from gateway.providers import litellm_bridge as lb
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import ChatRequest, Translator
from gateway.providers.messages_passthrough import AnthropicMessagesTranslator
from gateway.providers.messages_translated import MessagesViaChat

if TYPE_CHECKING:
    from gateway.catalog import KeySpec
    from gateway.registry import Deployment, Registry

PATH = "/v1/messages"


def _passthrough(deployment: Deployment, request: ChatRequest) -> Translator:
    provider = deployment.provider
    assert isinstance(provider, AnthropicProvider)
    return AnthropicMessagesTranslator(provider, request, deployment.model.upstream_model)


TRANSLATORS: Mapping[str, Callable[[Deployment, ChatRequest], Translator]] = MappingProxyType({
    "anthropic": _passthrough,
    "openai-compatible": MessagesViaChat,
    "gemini": MessagesViaChat,
})
"""The translator of a Messages attempt, by the deployment's provider kind."""
NEEDS_LITELLM = frozenset({"openai-compatible", "gemini"})


class MessagesEndpoint:
    name = "messages"
    path = PATH
    operation = "chat"
    sse = anthropic_shape.ANTHROPIC_SSE
    doc = MESSAGES

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._loading: asyncio.Task[object] | None = None  # litellm's import started here, if it was

    async def parse(self, raw: bytes, headers: Mapping[str, str], key: KeySpec | None) -> ChatRequest:
        # anthropic-version and anthropic-beta go on to Anthropic upstreams (ChatRequest.headers).
        request = await off_loop(partial(parse_messages_request, headers=headers), raw)
        await self._litellm_ready()
        return request

    async def _litellm_ready(self) -> None:
        """A Messages request to a deployment that is not Anthropic's is translated by litellm.
        A catalog with Anthropic or Gemini models has it loading from the start (the pipeline
        waits for that only when the chain holds one of them); one with only OpenAI-compatible
        models loads it here, in a worker thread, on the first Messages request."""
        if lb.loaded():
            return
        snapshot = self._registry.snapshot
        if not any(d.provider_kind in NEEDS_LITELLM for d in snapshot.deployments.values()):
            return
        loading = self._registry.bridge_loading or self._loading
        if loading is None:  # one import for all the requests that wait for it
            loading = self._loading = asyncio.get_running_loop().create_task(asyncio.to_thread(lb.load))
        await asyncio.shield(loading)

    def refusal(self, deployment: Deployment, request: ChatRequest) -> GatewayError | None:
        if deployment.model.mode != "chat":
            return wrong_mode(deployment, PATH)
        if deployment.provider_kind not in TRANSLATORS:
            return no_such_api(deployment, "Messages API", "use POST /v1/chat/completions")
        return None

    def translator(self, deployment: Deployment, request: ChatRequest) -> Translator:
        return TRANSLATORS[deployment.provider_kind](deployment, request)

    def error_response(self, exc: GatewayError, headers: Mapping[str, str]) -> Response:
        return anthropic_shape.error_response(exc, headers)

    def finished(self, request: ChatRequest, translator: Translator) -> None:
        return None
