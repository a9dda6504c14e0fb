"""Plain-text chat translated by the gateway itself, for Anthropic and Gemini upstreams.

Most chat requests are text in, text out: system, user and assistant messages of text and a few
sampling parameters. For those litellm's translation costs ~60 µs a request and ~80-100 µs a
reply (pydantic objects, model-map lookups), more than the rest of the gateway's path together
(``python -m bench``). Here they are a few dictionary moves.

Promises:
- ``is_plain(body)`` is true only for the shape this module handles; anything else (tools,
  images, JSON mode, thinking, other parameters, a system message after the conversation
  started, a conversation that does not end with the user) goes through litellm.
- For a plain request, the upstream body equals litellm's (tested against litellm on a corpus
  of requests, models and replies, tests/test_providers_plain.py); a reply this module does not
  know for certain (another stop reason, a non-text block, usage it does not read) returns None
  and litellm translates it.
- A plain request's Anthropic stream is read here event by event (``AnthropicStream``; litellm's
  parser builds pydantic objects per event: an Anthropic stream cost ~2.4x the CPU through it,
  ``python -m bench.compete --model claude-bench-stream``). At the first event it does not know
  for certain, litellm's parser takes the stream over (brought up to date: the events before but
  text deltas, which leave it as it was); chunks and usage equal litellm's event by event
  (tests/test_providers_plain.py). Likewise a Gemini stream's chunks of text
  (``gemini_stream_chunk``). litellm's stream parsers do not depend on the model, so no
  per-model probe is needed for them.
- litellm treats some models specially (Gemini models it does not know get ``temperature: 1.0``
  and their system messages folded into the first user turn, for instance). So a provider uses
  this module for a model only once ``agrees`` found both translations equal on ``PROBES``, a
  few plain requests and replies run through both, once per model.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from gateway import jsonio
from gateway.providers.base import ChatRequest, Completion, Translator, Usage
from gateway.providers.litellm_bridge import usage_json
from gateway.wire import parse_chat_request

_PLAIN_KEYS = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
                         "stop", "stream", "stream_options", "user"})
_USER_ID = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9_-]+")
_ROLES = frozenset({"system", "user", "assistant"})
_ANTHROPIC_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
_GEMINI_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}
_GEMINI_USAGE = frozenset({"promptTokenCount", "candidatesTokenCount", "totalTokenCount", "thoughtsTokenCount",
                           "cachedContentTokenCount", "promptTokensDetails", "candidatesTokensDetails",
                           "cacheTokensDetails", "thoughtsTokensDetails"})


Way = Literal["auto", "plain", "litellm"]
"""How a translator translates: ``plain`` when the request is plain and its provider found
``agrees`` for the model (auto), or always this module's way for a plain request, or litellm's."""

PROBES: tuple[dict[str, Any], ...] = (
    {"model": "probe", "messages": [{"role": "user", "content": "hi"}]},
    {"model": "probe", "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "system", "content": [{"type": "text", "text": "A"}]},
        {"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c "}, {"role": "user", "content": "d"}],
     "temperature": 0.5, "top_p": 0.9, "stop": ["x", "y"], "max_completion_tokens": 99, "user": "probe_1"},
    {"model": "probe", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 7, "stop": "z"},
)
"""Plain requests both translations must agree on before a model's requests skip litellm."""
PROBE_REPLIES: dict[str, tuple[dict[str, Any], ...]] = {
    "anthropic": tuple(
        {"id": "msg_probe", "type": "message", "role": "assistant", "model": "probe", "stop_reason": stop,
         "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
         "usage": {"input_tokens": 3, "output_tokens": 5, "cache_read_input_tokens": 2,
                   "cache_creation_input_tokens": 1}}
        for stop in _ANTHROPIC_FINISH),
    "gemini": tuple(
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "a"}, {"text": "b"}]},
                         "finishReason": finish, "index": 0}], "responseId": "probe", "modelVersion": "probe",
         "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 5, "thoughtsTokenCount": 2,
                           "cachedContentTokenCount": 1, "totalTokenCount": 10}}
        for finish in _GEMINI_FINISH),
}
"""Plain replies (every stop reason this module maps) both translations must read alike."""


def agrees(kind: str, fast: Callable[[ChatRequest], Translator], slow: Callable[[ChatRequest], Translator]) -> bool:
    """Whether translators made by ``fast`` (this module's way) and ``slow`` (litellm's) build the
    same upstream requests for ``PROBES`` and read ``PROBE_REPLIES[kind]`` alike."""
    try:
        for body in PROBES:
            req = parse_chat_request(jsonio.dumps(body))
            a, b = fast(req).request(), slow(req).request()
            if (a.url, dict(a.headers), jsonio.loads(a.body)) != (b.url, dict(b.headers), jsonio.loads(b.body)):
                return False
        req = parse_chat_request(jsonio.dumps(PROBES[0]))
        for reply in PROBE_REPLIES[kind]:
            data = jsonio.dumps(reply)
            x, y = fast(req).response(data), slow(req).response(data)
            bodies = [{k: v for k, v in jsonio.loads(c.body).items() if k != "created"} for c in (x, y)]
            if bodies[0] != bodies[1] or (x.usage, x.finish_reasons) != (y.usage, y.finish_reasons):
                return False
    except Exception:  # noqa: BLE001 - whatever litellm makes of a model, it is not "the same"
        return False
    return True


class Agreement:
    """Per model, whether a provider's plain-text chat skips litellm: ``agrees`` on translators
    made ``make(request, model, way)``, asked once per model; never when not ``enabled``."""

    def __init__(self, kind: str, enabled: bool, make: Callable[[ChatRequest, str, Way], Translator]) -> None:
        self.kind = kind
        self.enabled = enabled
        self._make = make
        self._models: dict[str, bool] = {}

    def __call__(self, model: str) -> bool:
        known = self._models.get(model)
        if known is None:
            make = self._make
            known = self._models[model] = self.enabled and agrees(
                self.kind, lambda req: make(req, model, "plain"), lambda req: make(req, model, "litellm"))
        return known


def is_plain(body: Mapping[str, Any]) -> bool:
    if not _PLAIN_KEYS.issuperset(body):
        return False
    if "max_tokens" in body and "max_completion_tokens" in body:
        return False
    stop = body.get("stop")
    if stop is not None and not (_text(stop) or (isinstance(stop, list) and all(_text(s) for s in stop))):
        return False
    user = body.get("user")
    if user is not None and not (isinstance(user, str) and _USER_ID.fullmatch(user)):
        return False  # litellm drops ids that look like an email or a phone number; it decides those
    messages = body.get("messages")
    if not isinstance(messages, list):
        return False
    started = False
    for message in messages:
        if not isinstance(message, dict) or not {"role", "content"}.issuperset(message) \
                or message.get("role") not in _ROLES or not _texts(message.get("content")):
            return False
        if message["role"] == "system":
            if started:
                return False
        elif not started:
            if message["role"] != "user":
                return False
            started = True
    return started and messages[-1]["role"] == "user"


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _texts(content: object) -> bool:
    if isinstance(content, list):
        return bool(content) and all(isinstance(part, dict) and part.keys() == {"type", "text"}
                                     and part["type"] == "text" and _text(part["text"]) for part in content)
    return _text(content)


def _parts(content: str | list[dict[str, str]]) -> list[str]:
    return [content] if isinstance(content, str) else [part["text"] for part in content]


def _turns(messages: list[dict[str, Any]]) -> tuple[list[list[str]], list[tuple[str, list[str]]]]:
    """The system messages' texts, and the conversation with consecutive messages of one role merged."""
    system: list[list[str]] = []
    turns: list[tuple[str, list[str]]] = []
    for message in messages:
        role, texts = message["role"], _parts(message["content"])
        if role == "system":
            system.append(texts)
        elif turns and turns[-1][0] == role:
            turns[-1][1].extend(texts)
        else:
            turns.append((role, texts))
    return system, turns


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    return value if isinstance(value, int) else None


def _stop(body: Mapping[str, Any]) -> list[str] | None:
    stop = body.get("stop")
    return [stop] if isinstance(stop, str) else stop


# --- Anthropic Messages ---------------------------------------------------------------------


def anthropic_request(body: Mapping[str, Any], model: str, default_max_tokens: int) -> dict[str, Any]:
    system, turns = _turns(body["messages"])
    data: dict[str, Any] = {
        "model": model,
        "messages": [{"role": role, "content": [{"type": "text", "text": t} for t in texts]} for role, texts in turns],
    }
    if (stop := _stop(body)) is not None:
        data["stop_sequences"] = stop
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            data[key] = body[key]
    data["max_tokens"] = _max_tokens(body) or default_max_tokens
    if body.get("user") is not None:
        data["metadata"] = {"user_id": body["user"]}
    if system:
        data["system"] = [{"type": "text", "text": t} for texts in system for t in texts]
    return data


def anthropic_completion(reply: Mapping[str, Any], model: str, response_id: str) -> Completion | None:
    finish = _ANTHROPIC_FINISH.get(reply.get("stop_reason"))  # type: ignore[arg-type]
    content = reply.get("content")
    usage = reply.get("usage")
    if finish is None or not isinstance(content, list) or not isinstance(usage, dict):
        return None
    if not all(isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
               for block in content):
        return None
    counted = _anthropic_usage(usage)
    if counted is None:
        return None
    text = "".join(block["text"] for block in content) if content else None
    return _completion(response_id, model, text, finish, counted)


def _anthropic_usage(usage: Mapping[str, Any]) -> Usage | None:
    """An Anthropic usage object as the gateway counts it; None for one it does not know for certain."""
    if "iterations" in usage:
        return None
    counts = _counts(usage, ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                             "cache_read_input_tokens"))
    if counts is None:
        return None
    given, output, created, read = counts
    return Usage(given + created + read, output, read)


class AnthropicStream:
    """One plain-text Anthropic stream read event by event: what each event adds to the one
    OpenAI choice (text, finish reason) and the usage so far, or None for an event this does not
    know for certain (another kind of block or delta, another stop reason, a malformed event);
    the translator then gives the rest of the stream to litellm's parser."""

    __slots__ = ("_usage",)

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}  # cumulative, as Anthropic's message_delta usage omits fields

    def event(self, kind: str | None, chunk: Mapping[str, Any]) -> tuple[str, str | None, Usage | None] | None:
        if kind == "content_block_delta":
            delta = chunk.get("delta")
            text = delta.get("text") if isinstance(delta, dict) and delta.get("type") == "text_delta" else None
            return (text, None, None) if isinstance(text, str) else None
        if kind in ("content_block_stop", "message_stop"):
            return "", None, None
        if kind == "content_block_start":
            block = chunk.get("content_block")
            text = block.get("text") if isinstance(block, dict) and block.get("type") == "text" else None
            return (text, None, None) if isinstance(text, str) else None
        if kind == "message_start":
            message = chunk.get("message")
            if not isinstance(message, dict):
                return None
            return self._with_usage(message, None)
        if kind == "message_delta":
            delta = chunk.get("delta")
            if not isinstance(delta, dict) or not {"stop_reason", "stop_sequence"}.issuperset(delta):
                return None
            finish = _ANTHROPIC_FINISH.get(delta.get("stop_reason"))  # type: ignore[arg-type]
            return None if finish is None else self._with_usage(chunk, finish)
        return None

    def _with_usage(self, holder: Mapping[str, Any], finish: str | None) -> tuple[str, str | None, Usage | None] | None:
        if "usage" not in holder:
            return "", finish, None
        usage = holder["usage"]
        if not isinstance(usage, dict):
            return None
        self._usage = {**self._usage, **usage}
        counted = _anthropic_usage(self._usage)
        return None if counted is None else ("", finish, counted)


# --- Gemini generateContent -----------------------------------------------------------------


def gemini_request(body: Mapping[str, Any], default_max_tokens: int | None) -> dict[str, Any]:
    system, turns = _turns(body["messages"])
    data: dict[str, Any] = {"contents": [{"role": "model" if role == "assistant" else "user",
                                          "parts": [{"text": t} for t in texts]} for role, texts in turns]}
    if system:  # one part per system message, its texts joined (as litellm does)
        data["systemInstruction"] = {"parts": [{"text": "".join(texts)} for texts in system]}
    config: dict[str, Any] = {}
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    if (max_tokens := _max_tokens(body) or default_max_tokens) is not None:
        config["maxOutputTokens"] = max_tokens
    if (stop := _stop(body)) is not None:
        config["stopSequences"] = stop
    if config:
        data["generationConfig"] = config
    return data


def gemini_completion(reply: Mapping[str, Any], model: str, response_id: str) -> Completion | None:
    candidates = reply.get("candidates")
    usage = reply.get("usageMetadata")
    if not isinstance(candidates, list) or len(candidates) != 1 or not isinstance(candidates[0], dict) \
            or reply.get("promptFeedback") or not isinstance(usage, dict) or not _GEMINI_USAGE.issuperset(usage):
        return None
    candidate = candidates[0]
    finish = _GEMINI_FINISH.get(candidate.get("finishReason"))  # type: ignore[arg-type]
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if finish is None or candidate.get("index", 0) != 0 or not isinstance(parts, list) or not all(
            isinstance(part, dict) and part.keys() == {"text"} and isinstance(part["text"], str) for part in parts):
        return None
    counts = _counts(usage, ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount",
                             "cachedContentTokenCount"))
    if counts is None:
        return None
    prompt, candidates_tokens, thoughts, cached = counts
    text = "".join(part["text"] for part in parts) if parts else None
    return _completion(response_id, model, text, finish, Usage(prompt, candidates_tokens + thoughts, cached))


_GEMINI_CHUNK = frozenset({"candidates", "modelVersion", "responseId"})
_GEMINI_CANDIDATE = frozenset({"content", "finishReason", "index"})


def gemini_stream_chunk(chunk: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """A Gemini stream chunk (its ``usageMetadata`` taken out) of one candidate's text: the text
    and the finish reason, if any; None for any other chunk, which litellm's parser reads."""
    candidates = chunk.get("candidates")
    if not _GEMINI_CHUNK.issuperset(chunk) or not isinstance(candidates, list) or len(candidates) != 1:
        return None
    candidate = candidates[0]
    if not isinstance(candidate, dict) or not _GEMINI_CANDIDATE.issuperset(candidate) \
            or candidate.get("index", 0) != 0:
        return None
    finish = None
    if "finishReason" in candidate and (finish := _GEMINI_FINISH.get(candidate["finishReason"])) is None:
        return None
    content = candidate.get("content", {})  # a last chunk may bring its finish reason alone
    parts = content.get("parts", []) if isinstance(content, dict) and {"role", "parts"}.issuperset(content) else None
    if not isinstance(parts, list) or not all(
            isinstance(part, dict) and part.keys() == {"text"} and isinstance(part["text"], str) for part in parts):
        return None
    return "".join(part["text"] for part in parts), finish


def _counts(usage: Mapping[str, Any], keys: tuple[str, ...]) -> list[int] | None:
    """The token counts under ``keys`` (a missing or null one is 0); None if one is not an int."""
    counts = [usage.get(k) for k in keys]
    if not all(c is None or (isinstance(c, int) and not isinstance(c, bool)) for c in counts):
        return None
    return [c or 0 for c in counts]


def _completion(response_id: str, model: str, text: str | None, finish: str, usage: Usage) -> Completion:
    body = {
        "id": response_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "logprobs": None, "finish_reason": finish}],
        "usage": usage_json(usage),
    }
    return Completion(body=jsonio.dumps(body), usage=usage, response_id=response_id, response_model=model,
                      finish_reasons=(finish,))
