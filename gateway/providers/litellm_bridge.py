"""The only module that imports litellm, and the shared half of the litellm-backed translators.

Promises:
- ``load()`` imports just litellm's provider translation (Anthropic and Gemini config classes and
  stream parsers) with the bundled cost map, so it never reaches the network; quiets litellm's
  logging and callbacks; and returns a ``Bridge`` holding those pieces, the same one on every
  call. The first call takes seconds: the registry makes it in a worker thread when a configured
  model needs it (``loaded()`` tells whether it has happened), never on the event loop.
- Nothing litellm raises escapes: ``translating_request`` turns it into ``InvalidRequest``,
  ``translating_reply`` into ``UpstreamBadResponse``.
- ``completion_from`` and ``ChunkShaper`` turn litellm's response and stream-chunk objects into
  OpenAI's exact ``chat.completion`` / ``chat.completion.chunk`` JSON, without litellm's extra
  fields, with one id and ``created`` per stream.
"""

from __future__ import annotations

import functools
import os
import re
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gateway import jsonio
from gateway.errors import GatewayError, InvalidRequest, UpstreamBadResponse
from gateway.providers.base import Completion, Usage

# OpenAI request fields a translator must never hand to litellm: the gateway sets streaming and
# headers itself, and a client must not choose the upstream's headers.
_NOT_FORWARDED = frozenset({"model", "messages", "stream", "stream_options", "extra_headers"})
_LITELLM_PREFIX = re.compile(r"^(litellm\.\w+:\s*)+")


@dataclass(frozen=True, slots=True)
class Bridge:
    """The litellm pieces the translators call. Build it with ``load()``."""

    anthropic_config: Any
    anthropic_stream: Any
    anthropic_tool_name_map_key: str
    json_tool_name: str
    gemini_config: Any
    gemini_request_body: Any
    gemini_stream: Any
    gemini_usage: Any
    gemini_files_prefix: str
    model_response: Any
    messages_adapter: Any = None
    """litellm's Anthropic Messages ⇄ OpenAI chat adapter (``LiteLLMAnthropicMessagesAdapter``)."""


def loaded() -> bool:
    return load.cache_info().currsize > 0


@functools.cache
def load() -> Bridge:
    """Import litellm's translation layer quietly and offline; see the module docstring."""
    # Both must be set before the import: litellm reads them while importing or on first use.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
    import logging

    import litellm
    from litellm.constants import RESPONSE_FORMAT_TOOL_NAME
    from litellm.llms.anthropic.chat import handler as anthropic_handler
    from litellm.llms.anthropic.chat import transformation as anthropic_tf
    from litellm.llms.anthropic.pass_through.adapters.transformation import LiteLLMAnthropicMessagesAdapter
    from litellm.llms.gemini.chat.transformation import GoogleAIStudioGeminiConfig
    from litellm.llms.vertex_ai.common_utils import GEMINI_FILES_API_URI_PREFIX
    from litellm.llms.vertex_ai.gemini import transformation as gemini_tf
    from litellm.llms.vertex_ai.gemini import vertex_and_google_ai_studio_gemini as gemini_chat
    from litellm.types.utils import ModelResponse

    # We own logging, retries and cost: litellm's own reporting only costs time and leaks
    # request contents into its log lines.
    litellm.suppress_debug_info = True
    litellm.turn_off_message_logging = True
    for name in ("callbacks", "success_callback", "failure_callback", "input_callback"):
        getattr(litellm, name).clear()
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    bridge = Bridge(
        anthropic_config=anthropic_tf.AnthropicConfig(),
        anthropic_stream=anthropic_handler.ModelResponseIterator,
        anthropic_tool_name_map_key=anthropic_tf.ANTHROPIC_TOOL_NAME_REVERSE_MAP_KEY,
        json_tool_name=RESPONSE_FORMAT_TOOL_NAME,
        gemini_config=GoogleAIStudioGeminiConfig(),
        gemini_request_body=gemini_tf.transform_request_body,
        gemini_stream=gemini_chat.ModelResponseIterator,
        gemini_usage=gemini_chat.VertexGeminiConfig.calculate_usage,
        gemini_files_prefix=GEMINI_FILES_API_URI_PREFIX,
        model_response=ModelResponse,
        messages_adapter=LiteLLMAnthropicMessagesAdapter(),
    )
    _warm_up(bridge)
    return bridge


def gemini_embed_request() -> Any:
    """litellm's OpenAI embeddings input → Gemini ``batchEmbedContents`` body transformation,
    ``(input, model, {"dimensions": n}) -> {"requests": [...]}``: a pure function. Its module is
    imported with litellm itself (``load()``), so this only looks it up."""
    load()
    from litellm.llms.vertex_ai.gemini_embeddings import batch_embed_content_transformation

    return batch_embed_content_transformation.transform_openai_input_gemini_content


def _warm_up(bridge: Bridge) -> None:
    """Run each translation once, so litellm's lazy set-up happens now and not in a request.

    Building some of litellm's pydantic types for the first time warns (a ``UserWarning`` about
    read-only TypedDict items) and fills caches; both belong to start-up."""
    message = {"role": "user", "content": "hi"}
    usage = {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}
    candidate = {"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP", "index": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anthropic = bridge.anthropic_config
        anthropic.transform_request("claude-sonnet-4-5", [dict(message)], {"max_tokens": 1}, {}, {})
        anthropic.transform_parsed_response(
            completion_response={
                "id": "msg_0",
                "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "hi"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
            raw_response=RawResponseStub(),
            model_response=bridge.model_response(),
        )
        parser = bridge.anthropic_stream(None, sync_stream=True)
        parser.chunk_parser({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}})
        gemini = bridge.gemini_config
        bridge.gemini_request_body([dict(message)], "gemini-2.5-flash", {}, "gemini", {}, None)
        gemini.transform_google_generate_content_to_openai_model_response(
            {"candidates": [candidate], "usageMetadata": usage},
            bridge.model_response(),
            "gemini-2.5-flash",
            LoggingStub(),
            RawResponseStub(),
        )
        stream = bridge.gemini_stream(None, sync_stream=True, logging_obj=LoggingStub())
        stream.chunk_parser({"candidates": [candidate]})
        bridge.gemini_usage({"usageMetadata": usage})
        bridge.messages_adapter.translate_anthropic_to_openai(
            {"model": "gpt-4.1-mini", "max_tokens": 1, "messages": [dict(message)]})


# litellm's price-table names for a model of each provider kind, most specific first.
_PRICE_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "openai-compatible": ("{m}", "openai/{m}"),
    "anthropic": ("{m}", "anthropic/{m}"),
    "gemini": ("gemini/{m}", "{m}"),
})
_PRICE_TABLE = "model_prices_and_context_window_backup.json"


def model_prices(model: str, kind: str) -> tuple[float, float, float | None] | None:
    """litellm's price for ``model`` (an upstream model name) as (input, output, cached input)
    USD per million tokens, or None if litellm does not know it.

    Reads ``litellm.model_cost`` when litellm is already imported; otherwise the price table
    bundled with the package, without importing litellm (which takes seconds). Meant for
    start-up and reloads, never for a request: the file read costs tens of milliseconds."""
    table = _price_table()
    for pattern in _PRICE_NAMES.get(kind, ("{m}",)):
        entry = table.get(pattern.format(m=model))
        if isinstance(entry, dict) and isinstance(entry.get("input_cost_per_token"), (int, float)):
            cached = entry.get("cache_read_input_token_cost")
            return (
                _per_mtok(entry["input_cost_per_token"]),
                _per_mtok(entry.get("output_cost_per_token") or 0),
                None if not isinstance(cached, (int, float)) else _per_mtok(cached),
            )
    return None


def _per_mtok(per_token: float) -> float:
    return round(float(per_token) * 1_000_000, 9)  # 4e-07 * 1e6 is 0.39999999999999997


def _price_table() -> Mapping[str, Any]:
    import sys

    loaded = sys.modules.get("litellm")
    if loaded is not None and isinstance(getattr(loaded, "model_cost", None), dict):
        return loaded.model_cost  # type: ignore[no-any-return]
    return bundled_price_table()


def bundled_price_table() -> Mapping[str, Any]:
    """The price table shipped inside the litellm package, read without importing litellm."""
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("litellm")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / _PRICE_TABLE
    try:
        data = jsonio.loads(path.read_bytes())
    except (OSError, jsonio.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class LoggingStub:
    """The least of litellm's logging object its transformers touch: no logging at all."""

    def __init__(self, optional_params: dict[str, Any] | None = None) -> None:
        self.optional_params = optional_params or {}

    def pre_call(self, *args: object, **kwargs: object) -> None:
        return None

    def post_call(self, *args: object, **kwargs: object) -> None:
        return None


class RawResponseStub:
    """Stands in for the httpx.Response litellm reads headers from; the body is already parsed."""

    status_code = 200
    headers: Mapping[str, str] = MappingProxyType({})
    text = ""


def openai_params(body: Mapping[str, Any], supported: Iterable[str]) -> dict[str, Any]:
    """The client's OpenAI parameters that litellm maps for this model (unsupported ones drop)."""
    return {
        k: body[k]
        for k in supported
        if k not in _NOT_FORWARDED and body.get(k) is not None
    }


def media_urls(messages: object) -> Iterator[tuple[str, str]]:
    """(part type, URL) for every remote reference in non-text message parts.

    litellm downloads some of these while translating; translators do no I/O, so each
    provider decides which ones it can pass on by reference and refuses the rest."""
    if not isinstance(messages, list):
        return
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") != "text":
                kind = str(part.get("type"))
                yield from ((kind, url) for url in _strings(part, 3) if _is_remote(url))


def _strings(value: object, depth: int) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif depth and isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth - 1)


def _is_remote(value: str) -> bool:
    # litellm tests for a scheme with ``in`` as often as with ``startswith``; data: URLs and
    # base64 never contain "://".
    return "://" in value


def _describe(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc or type(exc).__name__)
    # litellm appends the whole conversation to some messages (never echo that back), and
    # names its own classes and switches, which mean nothing to a gateway client.
    for tail in ("\nReceived Messages", " To drop unsupported params", " File an issue"):
        text = text.split(tail, 1)[0]
    text = _LITELLM_PREFIX.sub("", text).strip()
    return text if len(text) <= 300 else text[:297] + "..."


@contextmanager
def translating_request(provider: str) -> Iterator[None]:
    """Anything litellm raises while building a request becomes the client's ``InvalidRequest``."""
    try:
        yield
    except GatewayError:
        raise
    except Exception as exc:
        raise InvalidRequest(f"the request cannot be translated for {provider}: {_describe(exc)}") from exc


@contextmanager
def translating_reply(provider: str) -> Iterator[None]:
    """Anything litellm raises while reading a reply becomes ``UpstreamBadResponse``."""
    try:
        yield
    except GatewayError:
        raise
    except Exception as exc:
        raise UpstreamBadResponse(f"malformed reply from {provider}: {_describe(exc)}") from exc


def parse_json_object(data: bytes, provider: str) -> dict[str, Any]:
    try:
        parsed = jsonio.loads(data)
    except jsonio.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UpstreamBadResponse(f"malformed reply from {provider}: not a JSON object")
    return parsed


def new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _get(obj: object, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def usage_from(lusage: object) -> Usage | None:
    if lusage is None:
        return None
    cached = _get(_get(lusage, "prompt_tokens_details"), "cached_tokens")
    return Usage(
        input_tokens=int(_get(lusage, "prompt_tokens") or 0),
        output_tokens=int(_get(lusage, "completion_tokens") or 0),
        cached_input_tokens=int(cached or 0),
    )


def usage_json(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
    if usage.cached_input_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_input_tokens}
    return out


def _compact(arguments: object) -> object:
    # litellm serialises parsed arguments with spaces; upstreams stream them compact. One
    # spelling keeps a streamed and a whole answer to the same call byte-identical.
    if not isinstance(arguments, str):
        return arguments
    try:
        return jsonio.dumps(jsonio.loads(arguments)).decode()
    except (jsonio.JSONDecodeError, TypeError):
        return arguments


def _tool_calls(calls: object, *, streaming: bool, compact: bool = True) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for position, call in enumerate(calls if isinstance(calls, list) else ()):
        fn = _get(call, "function")
        function: dict[str, Any] = {}
        if (name := _get(fn, "name")) is not None:
            function["name"] = name
        arguments = _get(fn, "arguments")
        if compact and arguments:
            arguments = _compact(arguments)
        if streaming:
            # OpenAI streams the id, type and name once, then argument fragments alone.
            item: dict[str, Any] = {"index": _get(call, "index") if _get(call, "index") is not None else position}
            if (call_id := _get(call, "id")) is not None:
                item["id"] = call_id
                item["type"] = "function"
            function["arguments"] = arguments or ""
            item["function"] = function
        else:
            function["arguments"] = arguments or "{}"
            item = {"id": _get(call, "id") or f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": function}
        out.append(item)
    return out


def completion_from(mr: Any, *, response_id: str, model: str) -> Completion:
    """A litellm ModelResponse → OpenAI's chat.completion bytes and what the pipeline reads."""
    choices: list[dict[str, Any]] = []
    for position, choice in enumerate(mr.choices):
        message = choice.message
        out: dict[str, Any] = {"role": "assistant", "content": _get(message, "content"), "refusal": None}
        if tool_calls := _tool_calls(_get(message, "tool_calls"), streaming=False):
            out["tool_calls"] = tool_calls
        if reasoning := _get(message, "reasoning_content"):
            out["reasoning_content"] = reasoning
        index = _get(choice, "index")
        choices.append(
            {
                "index": index if isinstance(index, int) else position,
                "message": out,
                "logprobs": None,
                "finish_reason": choice.finish_reason or "stop",
            }
        )
    usage = usage_from(getattr(mr, "usage", None))
    body: dict[str, Any] = {
        "id": response_id,
        "object": "chat.completion",
        "created": int(getattr(mr, "created", 0) or time.time()),
        "model": model,
        "choices": choices,
        "usage": usage_json(usage or Usage()),
    }
    return Completion(
        body=jsonio.dumps(body),
        usage=usage,
        response_id=response_id,
        response_model=model,
        finish_reasons=tuple(c["finish_reason"] for c in choices),
    )


def delta_json(delta: object, *, whole_tool_calls: bool) -> dict[str, Any]:
    """The OpenAI fields of a litellm Delta that carry something. ``whole_tool_calls``: the
    upstream sends each call's arguments in one piece (Gemini), not as raw fragments."""
    out: dict[str, Any] = {}
    if content := _get(delta, "content"):
        out["content"] = content
    if reasoning := _get(delta, "reasoning_content"):
        out["reasoning_content"] = reasoning
    if tool_calls := _tool_calls(_get(delta, "tool_calls"), streaming=True, compact=whole_tool_calls):
        out["tool_calls"] = tool_calls
    return out


class ChunkShaper:
    """Builds one stream's OpenAI chunks: one id and ``created`` throughout, the role on each
    choice's first chunk, ``usage: null`` on every chunk and a closing usage chunk when asked."""

    def __init__(self, *, model: str, include_usage: bool) -> None:
        self.id: str | None = None
        self.model = model
        self.include_usage = include_usage
        self._created = 0
        self._roles_sent: set[int] = set()

    def identify(self, response_id: str | None, model: str | None) -> None:
        """Adopt the upstream's id and model, unless chunks have already gone out."""
        if self.id is None and response_id:
            self.id = response_id
        if not self._created and model:
            self.model = model

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        if not self._created:
            self._created = int(time.time())
            self.id = self.id or new_id()
        out: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            out["usage"] = None
        return out

    def chunk(self, index: int, delta: dict[str, Any], finish_reason: str | None) -> bytes | None:
        if not delta and not finish_reason:
            return None
        if index not in self._roles_sent:
            self._roles_sent.add(index)
            delta = {"role": "assistant", **delta}
            delta.setdefault("content", None if "tool_calls" in delta else "")
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return jsonio.dumps(self._envelope([choice]))

    def usage_chunk(self, usage: Usage | None) -> bytes:
        out = self._envelope([])
        out["usage"] = usage_json(usage or Usage())
        return jsonio.dumps(out)


@functools.cache
def responses_config() -> Any:
    """litellm's Responses-to-chat transformation (``LiteLLMCompletionResponsesConfig``, static
    methods only); loads litellm first, so call it off the event loop until ``loaded()``."""
    load()
    from litellm.responses.litellm_completion_transformation.transformation import (
        LiteLLMCompletionResponsesConfig,
    )

    return LiteLLMCompletionResponsesConfig
