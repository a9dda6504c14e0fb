"""Anthropic Messages upstreams, translated from and to OpenAI chat completions by litellm
(plain-text chat by ``plain.py``).

``AnthropicProvider`` holds one upstream's constant parts (URL, headers). Each attempt gets an
``AnthropicTranslator``: it builds ``POST {base_url}/v1/messages`` with litellm's
``AnthropicConfig`` (``max_tokens`` defaults to the provider's ``default_max_tokens``), reads
replies with its response transformer and SSE events with its stream chunk parser (a plain-text
stream's events: ``plain.AnthropicStream``, until one it does not know), and maps
Anthropic's error bodies, in a reply or in the stream, into the gateway's error tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

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

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096

# Anthropic names the error in the body; in a stream the type is all there is to go on.
_STATUS_OF_TYPE: Mapping[str, int] = MappingProxyType(
    {
        "invalid_request_error": 400,
        "authentication_error": 401,
        "permission_error": 403,
        "not_found_error": 404,
        "request_too_large": 413,
        "rate_limit_error": 429,
        "api_error": 500,
        "timeout_error": 504,
        "overloaded_error": 529,
    }
)
_TOO_LONG = ("prompt is too long", "exceed context limit", "exceeds the context window", "context length")


class AnthropicProvider:
    kind: ClassVar[str] = "anthropic"

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        default_max_tokens: int | None = 4096,
        headers: Mapping[str, str] | None = None,
        *,
        bridge: lb.Bridge | None = None,
        own_plain: bool = True,
    ) -> None:
        """``own_plain``: translate plain-text chat without litellm (``plain.py``); tests turn it
        off to compare with litellm's own translation."""
        self.url = base_url.rstrip("/") + "/v1/messages"
        self.plain_for = plain.Agreement("anthropic", own_plain,
                                         lambda req, model, way: AnthropicTranslator(self, req, model, way))
        """Whether plain-text chat for a model skips litellm."""
        constant = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            constant["x-api-key"] = api_key
        constant.update({k.lower(): v for k, v in (headers or {}).items()})
        self.headers: Mapping[str, str] = MappingProxyType(constant)
        # Anthropic requires max_tokens; a catalog entry without a max output still needs one.
        self.default_max_tokens = default_max_tokens or DEFAULT_MAX_TOKENS
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
            params = self._supported[model] = tuple(self.bridge.anthropic_config.get_supported_openai_params(model))
        return params

    def translator(self, request: ChatRequest, upstream_model: str) -> AnthropicTranslator:
        return AnthropicTranslator(self, request, upstream_model)


@dataclass(frozen=True, slots=True)
class _Prepared:
    upstream: UpstreamRequest
    json_mode: bool
    tool_names: dict[str, str] | None
    plain: bool = False


class AnthropicTranslator:
    """One attempt against one Anthropic upstream: see the module docstring."""

    def __init__(self, provider: AnthropicProvider, request: ChatRequest, model: str, way: Way = "auto") -> None:
        self.usage: Usage | None = None
        self._way = way
        self._provider = provider
        self._request = request
        self._model = model
        self._prepared: _Prepared | None = None
        self._parser: Any = None
        self._plain = plain.AnthropicStream()
        self._read: list[dict[str, Any]] = []  # the events litellm's parser must see if it takes over
        self._shaper = lb.ChunkShaper(model=model, include_usage=request.include_usage)
        self._finished = False

    def request(self) -> UpstreamRequest:
        return self._prepare().upstream

    def _prepare(self) -> _Prepared:
        if self._prepared is None:
            with lb.translating_request("anthropic"):
                self._prepared = self._translate()
        return self._prepared

    def _translate(self) -> _Prepared:
        body = self._request.body
        if self._way != "litellm" and plain.is_plain(body) and (
                self._way == "plain" or self._provider.plain_for(self._model)):
            data = plain.anthropic_request(body, self._model, self._provider.default_max_tokens)
            if self._request.stream:
                data["stream"] = True
            return _Prepared(UpstreamRequest(self._provider.url, self._provider.headers, jsonio.dumps(data)),
                             json_mode=False, tool_names=None, plain=True)
        config = self._provider.bridge.anthropic_config
        # A private copy: litellm edits the messages and parameters it is given.
        body = jsonio.loads(jsonio.dumps(self._request.body))
        messages = body.get("messages")
        for kind, url in lb.media_urls(messages):
            # https images go by reference; anything else litellm would download here.
            if not (kind == "image_url" and url.startswith("https://") and url.count("://") == 1):
                raise InvalidRequest(
                    f"anthropic models take images as data: or https URLs, not {url[:80]!r}", param="messages"
                )
        params = lb.openai_params(body, self._provider.supported_params(self._model))
        json_object = (params.get("response_format") or {}).get("type") == "json_object"
        if json_object:
            del params["response_format"]
        optional = config.map_openai_params(params, {}, self._model, False)
        optional.setdefault("max_tokens", self._provider.default_max_tokens)
        if json_object:
            self._add_json_object_tool(optional)
        json_mode = bool(optional.pop("json_mode", False))
        optional.pop("stream", None)
        litellm_params: dict[str, Any] = {}
        extra_headers: dict[str, Any] = {}
        data = config.transform_request(self._model, messages, optional, litellm_params, extra_headers)
        if self._request.stream:
            data["stream"] = True
        tool_names = litellm_params.get(self._provider.bridge.anthropic_tool_name_map_key)
        return _Prepared(
            upstream=UpstreamRequest(
                url=self._provider.url,
                headers=self._headers(extra_headers),
                body=jsonio.dumps(data),
            ),
            json_mode=json_mode,
            tool_names=tool_names if isinstance(tool_names, dict) else None,
        )

    def _add_json_object_tool(self, optional: dict[str, Any]) -> None:
        """OpenAI's ``json_object`` has no schema, and litellm drops it for Anthropic. Anthropic's
        own recipe: a tool with an open object schema, forced unless the client brought tools of
        its own or asked for thinking (which forbids forced tools). litellm's json mode turns
        that tool's input back into the message content."""
        name = self._provider.bridge.json_tool_name
        schema = {"type": "object", "properties": {}, "additionalProperties": True}
        tools = optional.get("tools") or []
        if not tools and "thinking" not in optional:
            optional["tool_choice"] = {"type": "tool", "name": name}
        optional["tools"] = [*tools, {"name": name, "input_schema": schema}]
        optional["json_mode"] = True

    def _headers(self, extra: Mapping[str, Any]) -> Mapping[str, str]:
        if not extra:
            return self._provider.headers
        merged = dict(self._provider.headers)
        for key, value in extra.items():
            key = key.lower()
            if key == "anthropic-beta" and merged.get(key):
                value = f"{merged[key]},{value}"
            merged[key] = str(value)
        return merged

    def response(self, body: bytes) -> Completion:
        prepared = self._prepare()
        bridge = self._provider.bridge
        reply = lb.parse_json_object(body, "anthropic")
        if reply.get("type") == "error":
            raise anthropic_error(None, reply, {})
        completion = plain.anthropic_completion(reply, str(reply.get("model") or self._model),
                                                str(reply.get("id") or lb.new_id())) if prepared.plain else None
        if completion is not None:
            self.usage = completion.usage
            return completion
        with lb.translating_reply("anthropic"):
            result = bridge.anthropic_config.transform_parsed_response(
                completion_response=reply,
                raw_response=lb.RawResponseStub(),
                model_response=bridge.model_response(),
                json_mode=prepared.json_mode,
                tool_name_reverse_map=prepared.tool_names,
            )
            completion = lb.completion_from(
                result,
                response_id=str(reply.get("id") or lb.new_id()),
                model=str(reply.get("model") or self._model),
            )
        self.usage = completion.usage
        return completion

    def stream_event(self, event: str | None, data: bytes) -> list[bytes]:
        if not data.strip():
            return []
        chunk = lb.parse_json_object(data, "anthropic")
        kind = chunk.get("type") or event
        if kind == "error":
            raise anthropic_error(None, chunk, {})
        if kind == "ping":
            return []
        if self._parser is None and self._prepare().plain:
            read = self._plain.event(kind, chunk)
            if read is not None:
                if kind != "content_block_delta":  # a text delta leaves litellm's parser as it was
                    self._read.append(chunk)
                text, finish, usage = read
                return self._emit(kind, chunk, usage, ((0, {"content": text} if text else {}, finish),))
        with lb.translating_reply("anthropic"):
            parsed = (self._parser or self._litellm_parser()).chunk_parser(chunk)
            return self._emit(kind, chunk, None if parsed.usage is None else lb.usage_from(parsed.usage), (
                (choice.index or 0, lb.delta_json(choice.delta, whole_tool_calls=False), choice.finish_reason or None)
                for choice in parsed.choices))

    def _litellm_parser(self) -> Any:
        """litellm's stream parser, brought up to where the plain reading left off (its state:
        the current block, the usage so far) by the events before but text deltas (which do not
        change it); what it makes of them went out already, the same."""
        prepared = self._prepare()
        self._parser = self._provider.bridge.anthropic_stream(
            None, sync_stream=True, json_mode=prepared.json_mode, tool_name_reverse_map=prepared.tool_names
        )
        for chunk in self._read:
            self._parser.chunk_parser(chunk)
        self._read = []
        return self._parser

    def _emit(self, kind: str | None, chunk: dict[str, Any], usage: Usage | None,
              choices: Iterable[tuple[int, dict[str, Any], str | None]]) -> list[bytes]:
        if kind == "message_start":
            message = chunk["message"]
            self._shaper.identify(message.get("id"), message.get("model"))
        elif kind == "message_stop":
            self._finished = True
        if usage is not None:
            self.usage = usage
        return [payload for index, delta, finish in choices
                if (payload := self._shaper.chunk(index, delta, finish)) is not None]

    def stream_close(self) -> list[bytes]:
        if not self._finished:
            raise UpstreamBadResponse("upstream stream ended before completion")
        return [self._shaper.usage_chunk(self.usage)] if self._request.include_usage else []

    def error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return anthropic_reply_error(status, body, headers)


def anthropic_reply_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """A non-2xx reply of an Anthropic upstream (its body as received) → the gateway's error."""
    try:
        parsed: object = jsonio.loads(body)
    except jsonio.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        snippet = safe_message(body[:200].decode("utf-8", "replace"))
        parsed = {"error": {"message": snippet}} if snippet else {}
    return anthropic_error(status, parsed, headers)


def anthropic_error(status: int | None, body: Mapping[str, Any], headers: Mapping[str, str]) -> UpstreamError:
    """An Anthropic error body (``{"type":"error","error":{"type","message"}}``) → the gateway's
    error. ``status`` is None for an error event inside a stream: the error type decides."""
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    kind = str(error.get("type") or "")
    message = safe_message(error.get("message"))
    if status is None:
        status = _STATUS_OF_TYPE.get(kind, 500)
    text = f"anthropic: {message or kind or f'HTTP {status}'}"
    wait = retry_after_s(headers)
    if status in (401, 403) or kind in ("authentication_error", "permission_error"):
        # Never repeat the upstream's words here: they may quote our key.
        return UpstreamAuthFailed(f"upstream anthropic refused the gateway's credentials (HTTP {status})")
    if status == 429:
        return UpstreamRateLimited(text, retry_after=wait)
    if status in (408, 504):
        return UpstreamTimeout(text)
    if status == 404:
        return UpstreamBadRequest(text, code="model_not_found")
    if 400 <= status < 500:
        if any(marker in message.lower() for marker in _TOO_LONG):
            return ContextTooLong(text)
        return UpstreamBadRequest(text)
    if status == 500 or status < 400:
        return UpstreamBadResponse(text)
    return UpstreamUnavailable(text, retry_after=wait)
