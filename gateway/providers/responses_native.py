"""The Responses API to an OpenAI-compatible upstream that serves it natively: bytes through.

The client's body goes upstream untouched unless the model name must change or the gateway
expanded a ``previous_response_id`` (the conversation is the gateway's, so every replica and
every provider can continue it: the upstream gets the whole input and no id it never saw).
Replies and stream events go back as the upstream sent them, each event checked as JSON (a
malformed one must not reach the client) and only the final response read, for its usage; an
expanded request's responses get the client's ``previous_response_id`` back.
Errors map as for chat (``openai_compat``); an ``error`` or ``response.failed`` event raises,
so before the first event it falls back and after it ends the stream with the error event.
"""

from __future__ import annotations

from typing import Any

from gateway import jsonio
from gateway.errors import UpstreamBadResponse
from gateway.providers.base import ChatRequest, Completion, UpstreamRequest, Usage
from gateway.providers.openai_compat import OpenAICompatProvider, OpenAICompatTranslator

_FINAL = frozenset({"response.completed", "response.incomplete"})
_FAILED = frozenset({"error", "response.failed"})


class NativeResponsesTranslator(OpenAICompatTranslator):
    """``error`` (the status mapping) is chat's; the rest speaks the Responses API."""

    def __init__(self, provider: OpenAICompatProvider, request: ChatRequest, upstream_model: str,
                 conversation: list[dict[str, Any]] | None) -> None:
        super().__init__(provider, request, upstream_model)
        self.conversation = conversation
        """The whole input when the gateway expanded ``previous_response_id``; None otherwise."""
        self.final: dict[str, Any] | None = None
        self._previous = request.source.get("previous_response_id") if request.source is not None else None

    def request(self) -> UpstreamRequest:
        req = self.req
        url = self.provider.responses_url
        assert url is not None
        if req.model == self.upstream_model and self.conversation is None:
            body = req.raw
        else:
            assert req.source is not None
            patched: dict[str, Any] = {**req.source, "model": self.upstream_model}
            if self.conversation is not None:
                patched["input"] = self.conversation
                patched.pop("previous_response_id", None)
            body = jsonio.dumps(patched)
        return UpstreamRequest(url, self.provider.headers, body)

    def response(self, body: bytes) -> Completion:
        try:
            data = jsonio.loads(body)
        except jsonio.JSONDecodeError:
            raise UpstreamBadResponse("upstream returned a body that is not JSON") from None
        if not isinstance(data, dict) or data.get("object") != "response":
            raise UpstreamBadResponse("upstream returned a body that is not a Response")
        if self.conversation is not None:  # the upstream never saw the id the client continued
            data["previous_response_id"] = self._previous
            body = jsonio.dumps(data)
        self.final = data
        self.usage = response_usage(data.get("usage"))
        return Completion(body, self.usage, data.get("id"), data.get("model"), (str(data.get("status")),))

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        try:
            payload = jsonio.loads(data)
        except jsonio.JSONDecodeError:
            raise UpstreamBadResponse("upstream sent a malformed stream event") from None
        if not isinstance(payload, dict):
            raise UpstreamBadResponse("upstream sent a stream event that is not an object")
        kind = event or payload.get("type")
        if kind in _FAILED:
            error = payload.get("error")
            if not isinstance(error, dict):
                response = payload.get("response")
                error = response.get("error") if isinstance(response, dict) else None
            if not isinstance(error, dict):
                error = {"message": payload.get("message"), "code": payload.get("code")}
            raise self._mapped(502, error, {})
        response = payload.get("response")
        if self.conversation is not None and isinstance(response, dict):
            response["previous_response_id"] = self._previous
            data = jsonio.dumps(payload)
        if kind in _FINAL:
            if isinstance(response, dict):
                self.final = response
                self.usage = response_usage(response.get("usage"))
            self._done = True
        return [b"event: " + str(kind).encode() + b"\ndata: " + data + b"\n\n"]

    def stream_close(self) -> list[bytes]:
        if not self._done:
            raise UpstreamBadResponse("upstream stream ended before the response was complete")
        return []


def response_usage(raw: object) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(input_tokens=int(raw.get("input_tokens") or 0), output_tokens=int(raw.get("output_tokens") or 0),
                 cached_input_tokens=int(cached or 0))
