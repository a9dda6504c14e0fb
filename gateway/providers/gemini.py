"""Gemini (Google AI Studio) upstreams, translated from and to OpenAI chat completions by litellm
(plain-text chat by ``plain.py``).

``GeminiProvider`` holds one upstream's constant parts (URL prefix, headers). Each attempt gets a
``GeminiTranslator``: it builds ``POST {base_url}/v1beta/models/{model}:generateContent`` (or
``:streamGenerateContent?alt=sse``) with litellm's Gemini request transformer, reads replies and
SSE chunks with its response transformer and stream parser, and maps Gemini's error bodies, in
a reply or in the stream, into the gateway's error tree. The body uses the camelCase field
names of Google's REST reference (litellm emits snake_case, which Gemini also accepts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import quote

from gateway import jsonio
from gateway.errors import (
    ContextTooLong,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.providers import litellm_bridge as lb
from gateway.providers import plain
from gateway.providers.base import ChatRequest, Completion, UpstreamRequest, Usage
from gateway.providers.plain import Way
from gateway.providers.errormap import retry_after_s, safe_message

_TOO_LONG = ("exceeds the maximum number of tokens", "input token count", "exceeds the context window")
_AUTH_STATUSES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED"})


class GeminiProvider:
    kind: ClassVar[str] = "gemini"

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        default_max_tokens: int | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        bridge: lb.Bridge | None = None,
        own_plain: bool = True,
    ) -> None:
        """``own_plain``: translate plain-text chat without litellm (``plain.py``); tests turn it
        off to compare with litellm's own translation."""
        self.url_prefix = base_url.rstrip("/") + "/v1beta/models/"
        self.plain_for = plain.Agreement("gemini", own_plain,
                                         lambda req, model, way: GeminiTranslator(self, req, model, way))
        """Whether plain-text chat for a model skips litellm."""
        constant = {"content-type": "application/json"}
        if api_key:
            constant["x-goog-api-key"] = api_key
        constant.update({k.lower(): v for k, v in (headers or {}).items()})
        self.headers: Mapping[str, str] = MappingProxyType(constant)
        self.default_max_tokens = default_max_tokens
        self._bridge = bridge
        self._supported: dict[str, tuple[str, ...]] = {}

    @property
    def bridge(self) -> lb.Bridge:
        """litellm's pieces: loaded by the registry in a worker thread before a request needs them."""
        return self._bridge or lb.load()

    def supported_params(self, model: str) -> tuple[str, ...]:
        """The OpenAI parameters litellm maps for ``model``; a scan of its model map, so kept."""
        params = self._supported.get(model)
        if params is None:
            params = self._supported[model] = tuple(self.bridge.gemini_config.get_supported_openai_params(model))
        return params

    def translator(self, request: ChatRequest, upstream_model: str) -> GeminiTranslator:
        return GeminiTranslator(self, request, upstream_model.removeprefix("models/"))


@dataclass(frozen=True, slots=True)
class _Prepared:
    upstream: UpstreamRequest
    params: dict[str, Any]
    plain: bool = False


class GeminiTranslator:
    """One attempt against one Gemini upstream: see the module docstring."""

    def __init__(self, provider: GeminiProvider, request: ChatRequest, model: str, way: Way = "auto") -> None:
        self._way = way
        self._usage: Usage | None = None
        self._usage_metadata: Any = None
        self._provider = provider
        self._request = request
        self._model = model
        self._prepared: _Prepared | None = None
        self._parser: Any = None
        self._shaper = lb.ChunkShaper(model=model, include_usage=request.include_usage)
        self._finished = False

    @property
    def usage(self) -> Usage | None:
        """Usage seen so far. Gemini repeats its running usage on every chunk; litellm's usage
        arithmetic costs a third of a chunk's translation, so it runs once, when read."""
        if self._usage_metadata is not None:
            metadata, self._usage_metadata = self._usage_metadata, None
            with lb.translating_reply("gemini"):
                self._usage = lb.usage_from(self._provider.bridge.gemini_usage({"usageMetadata": metadata}))
        return self._usage

    def request(self) -> UpstreamRequest:
        return self._prepare().upstream

    def _prepare(self) -> _Prepared:
        if self._prepared is None:
            with lb.translating_request("gemini"):
                self._prepared = self._translate()
        return self._prepared

    def _translate(self) -> _Prepared:
        method = ":streamGenerateContent?alt=sse" if self._request.stream else ":generateContent"
        url = self._provider.url_prefix + quote(self._model, safe="") + method
        if self._way != "litellm" and plain.is_plain(self._request.body) and (
                self._way == "plain" or self._provider.plain_for(self._model)):
            data = plain.gemini_request(self._request.body, self._provider.default_max_tokens)
            return _Prepared(UpstreamRequest(url, self._provider.headers, jsonio.dumps(data)), {}, plain=True)
        bridge = self._provider.bridge
        config = bridge.gemini_config
        # A private copy: litellm edits the messages and parameters it is given.
        body = jsonio.loads(jsonio.dumps(self._request.body))
        messages = body.get("messages")
        for _, url in lb.media_urls(messages):
            # Only Files API URIs go by reference; litellm would download anything else here.
            if not url.startswith(bridge.gemini_files_prefix) or url.count("://") != 1:
                raise InvalidRequest(
                    f"gemini models take media as data: URLs or Files API URIs, not {url[:80]!r}", param="messages"
                )
        params = lb.openai_params(body, self._provider.supported_params(self._model))
        if self._provider.default_max_tokens and not ({"max_tokens", "max_completion_tokens"} & params.keys()):
            params["max_tokens"] = self._provider.default_max_tokens
        optional = config.map_openai_params(dict(params), {}, self._model, False)
        optional.pop("stream", None)
        data = bridge.gemini_request_body(messages, self._model, optional, "gemini", {}, None)
        return _Prepared(
            upstream=UpstreamRequest(
                url=url,
                headers=self._provider.headers,
                body=jsonio.dumps(camel_body(data)),
            ),
            params=params,
        )

    def response(self, body: bytes) -> Completion:
        prepared = self._prepare()
        bridge = self._provider.bridge
        reply = lb.parse_json_object(body, "gemini")
        if "error" in reply:
            raise gemini_error(None, reply, {})
        if not reply.get("candidates") and not (reply.get("promptFeedback") or {}).get("blockReason"):
            raise UpstreamBadResponse("malformed reply from gemini: no candidates")
        completion = plain.gemini_completion(reply, str(reply.get("modelVersion") or self._model),
                                             str(reply.get("responseId") or lb.new_id())) if prepared.plain else None
        if completion is not None:
            self._usage, self._usage_metadata = completion.usage, None
            return completion
        with lb.translating_reply("gemini"):
            result = bridge.gemini_config.transform_google_generate_content_to_openai_model_response(
                reply, bridge.model_response(), self._model, lb.LoggingStub(prepared.params), lb.RawResponseStub()
            )
            completion = lb.completion_from(
                result,
                response_id=str(reply.get("responseId") or lb.new_id()),
                model=str(reply.get("modelVersion") or self._model),
            )
        self._usage, self._usage_metadata = completion.usage, None
        return completion

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        if not data.strip():
            return []
        chunk = lb.parse_json_object(data, "gemini")
        if "error" in chunk:
            raise gemini_error(None, chunk, {})
        metadata = chunk.pop("usageMetadata", None)
        if isinstance(metadata, dict):
            self._usage_metadata = metadata
        if self._parser is None and self._prepare().plain and (read := plain.gemini_stream_chunk(chunk)) is not None:
            text, finish = read
            self._shaper.identify(chunk.get("responseId"), chunk.get("modelVersion"))
            self._finished = self._finished or finish is not None
            payload = self._shaper.chunk(0, {"content": text} if text else {}, finish)
            return [] if payload is None else [payload]
        with lb.translating_reply("gemini"):
            parsed = (self._parser or self._litellm_parser()).chunk_parser(chunk)
            self._shaper.identify(chunk.get("responseId"), chunk.get("modelVersion"))
            candidates = chunk.get("candidates") or []
            # litellm reports "stop" on every chunk; only a candidate's finishReason ends it.
            finished = {c.get("index", i) for i, c in enumerate(candidates) if c.get("finishReason")}
            blocked = bool((chunk.get("promptFeedback") or {}).get("blockReason"))
            self._finished = self._finished or bool(finished) or blocked
            out: list[bytes] = []
            for choice in parsed.choices:
                index = choice.index or 0
                finish = choice.finish_reason if (blocked or index in finished) else None
                payload = self._shaper.chunk(index, lb.delta_json(choice.delta, whole_tool_calls=True), finish or None)
                if payload is not None:
                    out.append(payload)
        return out

    def _litellm_parser(self) -> Any:
        """litellm's stream parser, from where the plain reading stopped. It carries state only
        across tool calls (their running index, whether one was seen), which a plain chunk never
        has, so it needs none of the chunks before."""
        logging = lb.LoggingStub(self._prepare().params)
        self._parser = self._provider.bridge.gemini_stream(None, sync_stream=True, logging_obj=logging)
        return self._parser

    def stream_close(self) -> list[bytes]:
        if not self._finished:
            raise UpstreamBadResponse("upstream stream ended before completion")
        return [self._shaper.usage_chunk(self.usage)] if self._request.include_usage else []

    def error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        try:
            parsed: object = jsonio.loads(body)
        except jsonio.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list) and parsed:
            parsed = parsed[0]  # streamed errors sometimes arrive as a one-element JSON array
        if not isinstance(parsed, dict):
            snippet = safe_message(body[:200].decode("utf-8", "replace"))
            parsed = {"error": {"message": snippet}} if snippet else {}
        return gemini_error(status, parsed, headers)


def gemini_error(status: int | None, body: Mapping[str, Any], headers: Mapping[str, str]) -> UpstreamError:
    """A Google error body (``{"error":{"code","message","status","details"}}``) → the gateway's
    error. ``status`` is None for an error chunk inside a stream: the body's code decides."""
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    message = safe_message(error.get("message"))
    kind = str(error.get("status") or "")
    if status is None:
        code = error.get("code")
        status = code if isinstance(code, int) else 500
    details = [d for d in error.get("details") or () if isinstance(d, dict)]
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    text = f"gemini: {message or kind or f'HTTP {status}'}"
    if status in (401, 403) or kind in _AUTH_STATUSES or "API_KEY_INVALID" in reasons or _key_refused(message):
        # Never repeat the upstream's words here: they may quote our key.
        return UpstreamAuthFailed(f"upstream gemini refused the gateway's credentials (HTTP {status})")
    if status == 429 or kind == "RESOURCE_EXHAUSTED":
        wait = retry_after_s(headers)
        return UpstreamRateLimited(text, retry_after=wait if wait is not None else _retry_delay(details))
    if status in (408, 504) or kind == "DEADLINE_EXCEEDED":
        return UpstreamTimeout(text)
    if status == 404:
        return UpstreamBadRequest(text, code="model_not_found")
    if 400 <= status < 500:
        if any(marker in message.lower() for marker in _TOO_LONG):
            return ContextTooLong(text)
        return UpstreamBadRequest(text)
    if status == 500 or status < 400:
        return UpstreamBadResponse(text)
    return UpstreamUnavailable(text, retry_after=retry_after_s(headers))


def _key_refused(message: str) -> bool:
    lowered = message.lower()
    return "api key" in lowered and any(word in lowered for word in ("not valid", "invalid", "expired"))


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    """google.rpc.RetryInfo's ``retryDelay`` ("37s") in seconds."""
    for detail in details:
        delay = detail.get("retryDelay")
        if str(detail.get("@type", "")).endswith("RetryInfo") and isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None


# --- camelCase field names ------------------------------------------------------------------
# Only the protocol's own keys are renamed, level by level; values that hold the client's data
# (function arguments, schemas, responses) are left exactly as they are.


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _keys(value: Any) -> Any:
    return {_camel(k): v for k, v in value.items()} if isinstance(value, dict) else value


def _part(part: Any) -> Any:
    part = _keys(part)
    if isinstance(part, dict):
        for key in ("inlineData", "fileData", "functionCall", "functionResponse", "videoMetadata"):
            if key in part:
                part[key] = _keys(part[key])
    return part


def _content(content: Any) -> Any:
    content = _keys(content)
    if isinstance(content, dict) and isinstance(content.get("parts"), list):
        content["parts"] = [_part(p) for p in content["parts"]]
    return content


def camel_body(data: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = _keys(dict(data))
    body["contents"] = [_content(c) for c in body.get("contents") or ()]
    if "systemInstruction" in body:
        body["systemInstruction"] = _content(body["systemInstruction"])
    if isinstance(body.get("tools"), list):
        tools = [_keys(t) for t in body["tools"]]
        for tool in tools:
            if isinstance(tool, dict) and isinstance(tool.get("functionDeclarations"), list):
                tool["functionDeclarations"] = [_keys(f) for f in tool["functionDeclarations"]]
        body["tools"] = tools
    if isinstance(body.get("toolConfig"), dict):
        body["toolConfig"] = config = _keys(body["toolConfig"])
        if "functionCallingConfig" in config:
            config["functionCallingConfig"] = _keys(config["functionCallingConfig"])
    if isinstance(body.get("generationConfig"), dict):
        body["generationConfig"] = generation = _keys(body["generationConfig"])
        for key in ("thinkingConfig", "speechConfig", "imageConfig"):
            if key in generation:
                generation[key] = _keys(generation[key])
    if isinstance(body.get("safetySettings"), list):
        body["safetySettings"] = [_keys(s) for s in body["safetySettings"]]
    return body
