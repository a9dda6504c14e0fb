"""OpenAI-compatible upstreams' legacy ``POST {base_url}/completions``: a byte-level pass-through.

The same rules as chat completions' pass-through (``openai_compat``), whose reply, stream and
error handling it reuses: a ``text_completion`` has ``choices`` and ``usage`` where a chat
completion has them. The body goes upstream as the client sent it unless the model name must
change or a stream must be asked for its usage (the gateway accounts for every stream); the
extra usage chunk is then hidden from a client that did not ask for it.
"""

from __future__ import annotations

from typing import Any

from gateway import jsonio
from gateway.providers.base import ChatRequest, UpstreamRequest
from gateway.providers.openai_compat import OpenAICompatProvider, OpenAICompatTranslator
from gateway.providers.openai_embeddings import sibling_url


class OpenAICompletionsTranslator(OpenAICompatTranslator):
    def __init__(self, provider: OpenAICompatProvider, request: ChatRequest, upstream_model: str) -> None:
        super().__init__(provider, request, upstream_model)
        self.url = sibling_url(provider, "/completions")

    def request(self) -> UpstreamRequest:
        req = self.req
        need_usage = req.stream and not req.include_usage
        if (req.model == self.upstream_model and not need_usage) or req.source is None:
            body = req.raw
        else:
            patched: dict[str, Any] = {**req.source, "model": self.upstream_model}
            if need_usage:
                patched["stream_options"] = {**(req.source.get("stream_options") or {}), "include_usage": True}
            body = jsonio.dumps(patched)
        return UpstreamRequest(self.url, self.provider.headers, body)
