"""OpenAI-compatible upstreams: a byte-level pass-through.

The client's body goes upstream untouched unless the model name must change (or the
gateway needs usage from a stream); replies and stream chunks go back as the
upstream sent them. Only the usage is read, for accounting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from gateway import jsonio
from gateway.errors import (
    ContextTooLong,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.providers.base import ChatRequest, Completion, UpstreamRequest, Usage
from gateway.providers.errormap import retry_after_s, safe_message

_DONE = b"[DONE]"


class OpenAICompatProvider:
    kind: ClassVar[str] = "openai-compatible"

    def __init__(self, base_url: str, api_key: str | None, headers: Mapping[str, str] | None = None,
                 responses_api: bool = False) -> None:
        self.name = base_url
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.responses_url = base_url.rstrip("/") + "/responses" if responses_api else None
        """Where it serves the Responses API natively (``gateway.providers.responses_native``)."""
        self.headers = {"content-type": "application/json", **(headers or {})}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"

    def translator(self, request: ChatRequest, upstream_model: str) -> OpenAICompatTranslator:
        return OpenAICompatTranslator(self, request, upstream_model)


class OpenAICompatTranslator:
    def __init__(self, provider: OpenAICompatProvider, request: ChatRequest, upstream_model: str) -> None:
        self.provider = provider
        self.req = request
        self.upstream_model = upstream_model
        self.usage: Usage | None = None
        self._done = False

    def request(self) -> UpstreamRequest:
        req = self.req
        # Ask for usage on every stream (we account for it) and hide the extra chunk
        # from clients that did not ask for it.
        need_usage = req.stream and not req.include_usage
        if req.model == self.upstream_model and not need_usage:
            body = req.raw
        else:
            patched: dict[str, Any] = {**req.body, "model": self.upstream_model}
            if need_usage:
                patched["stream_options"] = {**(req.body.get("stream_options") or {}), "include_usage": True}
            body = jsonio.dumps(patched)
        return UpstreamRequest(self.provider.url, self.provider.headers, body)

    def response(self, body: bytes) -> Completion:
        try:
            data = jsonio.loads(body)
        except jsonio.JSONDecodeError:
            raise UpstreamBadResponse("upstream returned a body that is not JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamBadResponse("upstream returned a body that is not a chat completion")
        self.usage = _usage(data.get("usage"))
        finish = tuple(str(c.get("finish_reason")) for c in data["choices"] if isinstance(c, dict))
        return Completion(body, self.usage, data.get("id"), data.get("model"), finish)

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        if data == _DONE:
            self._done = True
            return []
        # Forwarded byte for byte, but parsed: a malformed chunk must not reach the client.
        try:
            chunk = jsonio.loads(data)
        except jsonio.JSONDecodeError:
            raise UpstreamBadResponse("upstream sent a malformed stream chunk") from None
        if not isinstance(chunk, dict):
            raise UpstreamBadResponse("upstream sent a stream chunk that is not an object")
        if isinstance(chunk.get("error"), dict):
            raise self._mapped(502, chunk["error"], {})
        usage = _usage(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
            if not self.req.include_usage and not chunk.get("choices"):
                return []
        return [data]

    def stream_close(self) -> list[bytes]:
        if not self._done:
            raise UpstreamBadResponse("upstream stream ended before completion")
        return []

    def error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        try:
            data = jsonio.loads(body)
        except jsonio.JSONDecodeError:
            data = None
        err = data.get("error") if isinstance(data, dict) else None
        return self._mapped(status, err if isinstance(err, dict) else {}, headers)

    def _mapped(self, status: int, err: dict[str, Any], headers: Mapping[str, str]) -> UpstreamError:
        message = safe_message(err.get("message"))
        code = err.get("code")
        where = "upstream openai-compatible"
        if status in (401, 403):
            return UpstreamAuthFailed(f"{where} refused the gateway's credentials (HTTP {status})")
        if code == "context_length_exceeded" or "maximum context length" in message:
            return ContextTooLong(message or "the prompt is too long for this model")
        if status == 429:
            return UpstreamRateLimited(
                f"{where} is rate limiting: {message}" if message else f"{where} is rate limiting",
                retry_after=retry_after_s(headers),
            )
        if status in (400, 404, 409, 413, 422):
            return UpstreamBadRequest(message or f"{where} rejected the request (HTTP {status})",
                                      param=err.get("param") if isinstance(err.get("param"), str) else None,
                                      code=code if isinstance(code, str) else None)
        if status == 504 or status == 408:
            return UpstreamTimeout(f"{where} timed out (HTTP {status})")
        if status == 503:
            return UpstreamUnavailable(f"{where} is unavailable: {message}" if message else f"{where} is unavailable",
                                       retry_after=retry_after_s(headers))
        return UpstreamBadResponse(f"{where} failed (HTTP {status})" + (f": {message}" if message else ""))


def _usage(raw: object) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cached_input_tokens=int(cached or 0),
    )
