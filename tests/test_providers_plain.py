"""Plain-text chat, translated by the gateway itself, equals litellm's translation: the same
upstream request (URL, headers, body) for every plain request of a generated corpus on several
models and provider settings, and the same OpenAI reply (body, usage, finish reasons) for every
upstream reply it takes on; what it does not take on goes to litellm unchanged."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from gateway.errors import UpstreamBadResponse
from gateway.providers import litellm_bridge as lb
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.gemini import GeminiProvider
from gateway.providers.plain import is_plain
from gateway.wire import parse_chat_request

ANTHROPIC_MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-3-5-haiku-20241022", "claude-haiku-4-5",
                    "claude-3-7-sonnet-latest", "claude-unknown-to-litellm"]
GEMINI_MODELS = ["gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "gemini-3-pro-preview",
                 "gemini-unknown-to-litellm"]


def _content(rng: random.Random, text: str) -> object:
    if rng.random() < 0.6:
        return text
    return [{"type": "text", "text": f"{text} part {i}"} for i in range(rng.randint(1, 2))]


def _plain_bodies(n: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(7)
    for i in range(n):
        messages: list[dict[str, Any]] = [{"role": "system", "content": _content(rng, f"rule {s}")}
                                          for s in range(rng.randint(0, 2))]
        roles = ["user"] + [rng.choice(["user", "assistant"]) for _ in range(rng.randint(0, 4))] + ["user"]
        messages += [{"role": role, "content": _content(rng, f"{role} {i}.{j} ends with space ")}
                     for j, role in enumerate(roles)]
        body: dict[str, Any] = {"model": "any", "messages": messages}
        for key, values in (("temperature", [0, 0.7, 1.0, 1.5]), ("top_p", [0.5, 1]),
                            ("stop", ["END", ["a", "b"], ["x", "y", "z"]]), ("user", ["user_42", "Ab-9"])):
            if rng.random() < 0.35:
                body[key] = rng.choice(values)
        limit = rng.choice([None, "max_tokens", "max_completion_tokens"])
        if limit:
            body[limit] = rng.choice([1, 100, 8000])
        if rng.random() < 0.3:
            body["stream"] = True
            if rng.random() < 0.5:
                body["stream_options"] = {"include_usage": True}
        yield body


NOT_PLAIN = [
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]},
    {"response_format": {"type": "json_object"}},
    {"n": 1}, {"seed": 3}, {"max_tokens": 5, "max_completion_tokens": 6},
    {"user": "someone@example.com"}, {"user": "+1 555 0100 200"}, {"user": "1234567"}, {"stop": [" "]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "late"},
                  {"role": "user", "content": "b"}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "prefill"}]},
    {"messages": [{"role": "assistant", "content": "first"}, {"role": "user", "content": "b"}]},
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]}]},
    {"messages": [{"role": "user", "content": "a", "name": "bob"}]},
    {"messages": [{"role": "user", "content": "  "}]},
]


def _request(body: dict[str, Any]) -> Any:
    return parse_chat_request(orjson.dumps(body))


def _same_upstream(fast: Any, slow: Any) -> None:
    assert fast.url == slow.url and dict(fast.headers) == dict(slow.headers)
    assert orjson.loads(fast.body) == orjson.loads(slow.body)


@pytest.fixture(scope="module")
def bridge() -> lb.Bridge:
    return lb.load()


@pytest.mark.parametrize("default_max_tokens", [4096, 1000])
def test_anthropic_requests_equal_litellms(bridge: lb.Bridge, default_max_tokens: int) -> None:
    fast = AnthropicProvider("http://up", "k", default_max_tokens, bridge=bridge)
    slow = AnthropicProvider("http://up", "k", default_max_tokens, bridge=bridge, own_plain=False)
    bodies = list(_plain_bodies(150))
    for i, body in enumerate(bodies):
        assert is_plain(body), body
        req, model = _request(body), ANTHROPIC_MODELS[i % len(ANTHROPIC_MODELS)]
        _same_upstream(fast.translator(req, model).request(), slow.translator(req, model).request())


@pytest.mark.parametrize("default_max_tokens", [None, 2048])
def test_gemini_requests_equal_litellms(bridge: lb.Bridge, default_max_tokens: int | None) -> None:
    fast = GeminiProvider("http://up", "k", default_max_tokens, bridge=bridge)
    slow = GeminiProvider("http://up", "k", default_max_tokens, bridge=bridge, own_plain=False)
    for i, body in enumerate(_plain_bodies(150)):
        req, model = _request(body), GEMINI_MODELS[i % len(GEMINI_MODELS)]
        _same_upstream(fast.translator(req, model).request(), slow.translator(req, model).request())


def test_a_model_skips_litellm_only_once_both_agree_on_it(bridge: lb.Bridge) -> None:
    anthropic = AnthropicProvider("http://up", "k", bridge=bridge)
    gemini = GeminiProvider("http://up", "k", bridge=bridge)
    assert anthropic.plain_for("claude-sonnet-4-5") and gemini.plain_for("gemini-2.5-flash")
    # litellm folds the system prompt into the first turn for Gemini models it does not know,
    # and sends them temperature 1.0: the gateway leaves those to litellm.
    assert not gemini.plain_for("gemini-unknown-to-litellm") and not gemini.plain_for("gemini-2.0-flash")
    assert not AnthropicProvider("http://up", "k", bridge=bridge, own_plain=False).plain_for("claude-sonnet-4-5")


@pytest.mark.parametrize("extra", NOT_PLAIN)
def test_what_is_not_plain_goes_to_litellm(extra: dict[str, Any]) -> None:
    body = {"model": "any", "messages": [{"role": "user", "content": "hi"}], **extra}
    assert not is_plain(body)


def _anthropic_replies() -> Iterator[dict[str, Any]]:
    text = [{"type": "text", "text": "The grove "}, {"type": "text", "text": "is quiet."}]
    usages: list[dict[str, Any]] = [
        {"input_tokens": 6, "output_tokens": 18},
        {"input_tokens": 6, "output_tokens": 18, "cache_creation_input_tokens": 4, "cache_read_input_tokens": 9},
        {"input_tokens": 6, "output_tokens": 18, "cache_creation_input_tokens": None, "cache_read_input_tokens": 0,
         "service_tier": "standard"},
        {"input_tokens": 2, "output_tokens": 3, "iterations": [{"input_tokens": 1, "output_tokens": 1}]},
    ]
    for stop in ["end_turn", "max_tokens", "stop_sequence", "refusal", "pause_turn", None]:
        for content in (text, [], [{"type": "thinking", "thinking": "hm", "signature": "s"}, *text],
                        [*text, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]):
            for usage in usages:
                yield {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-x",
                       "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}


def _same_completion(fast: Any, slow: Any) -> None:
    a, b = orjson.loads(fast.body), orjson.loads(slow.body)
    for body in (a, b):
        body.pop("created")
        for choice in body["choices"]:
            for call in choice["message"].get("tool_calls") or ():
                call["id"] = "call"  # litellm makes one up for Gemini's calls
    assert a == b
    assert (fast.usage, fast.response_id, fast.response_model, fast.finish_reasons) == \
        (slow.usage, slow.response_id, slow.response_model, slow.finish_reasons)


def test_anthropic_replies_equal_litellms(bridge: lb.Bridge) -> None:
    fast = AnthropicProvider("http://up", "k", bridge=bridge)
    slow = AnthropicProvider("http://up", "k", bridge=bridge, own_plain=False)
    req = _request({"model": "any", "messages": [{"role": "user", "content": "hi"}]})
    taken = 0
    for reply in _anthropic_replies():
        data = orjson.dumps(reply)
        fast_tr, slow_tr = fast.translator(req, "claude-sonnet-4-5"), slow.translator(req, "claude-sonnet-4-5")
        _same_completion(fast_tr.response(data), slow_tr.response(data))
        assert fast_tr.usage == slow_tr.usage
        taken += reply["stop_reason"] in ("end_turn", "max_tokens", "stop_sequence") and \
            all(block["type"] == "text" for block in reply["content"]) and "iterations" not in reply["usage"]
    assert taken == 3 * 2 * 3  # stop reasons × (text, empty) × usages without iterations


def _gemini_replies() -> Iterator[dict[str, Any]]:
    usages: list[dict[str, Any]] = [
        {"promptTokenCount": 6, "candidatesTokenCount": 18, "totalTokenCount": 24},
        {"promptTokenCount": 6, "candidatesTokenCount": 18, "totalTokenCount": 40, "thoughtsTokenCount": 16,
         "cachedContentTokenCount": 4, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 6}]},
        {"promptTokenCount": 6, "totalTokenCount": 6},
        {"promptTokenCount": 6, "candidatesTokenCount": 1, "totalTokenCount": 7, "toolUsePromptTokenCount": 3},
    ]
    parts_variants: list[list[dict[str, Any]]] = [
        [{"text": "The grove "}, {"text": "is quiet."}], [],
        [{"text": "thinking...", "thought": True}, {"text": "answer"}],
        [{"functionCall": {"name": "f", "args": {"a": 1}}}],
    ]
    for finish in ["STOP", "MAX_TOKENS", "SAFETY", "OTHER", None]:
        for parts in parts_variants:
            for usage in usages:
                candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
                if finish:
                    candidate["finishReason"] = finish
                yield {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-x",
                       "responseId": "resp-1"}
    two = {"content": {"role": "model", "parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1}
    yield {"candidates": [{"content": {"role": "model", "parts": [{"text": "a"}]}, "finishReason": "STOP",
                           "index": 0}, two], "usageMetadata": usages[0], "responseId": "resp-2"}


def test_gemini_replies_equal_litellms(bridge: lb.Bridge) -> None:
    fast = GeminiProvider("http://up", "k", bridge=bridge)
    slow = GeminiProvider("http://up", "k", bridge=bridge, own_plain=False)
    req = _request({"model": "any", "messages": [{"role": "user", "content": "hi"}]})
    for reply in _gemini_replies():
        data = orjson.dumps(reply)
        fast_tr, slow_tr = fast.translator(req, "gemini-2.5-flash"), slow.translator(req, "gemini-2.5-flash")
        _same_completion(fast_tr.response(data), slow_tr.response(data))
        assert fast_tr.usage == slow_tr.usage


def _chunks(payloads: list[bytes]) -> list[dict[str, Any]]:
    """Stream chunks without what each translator makes up (``created``, Gemini's call ids)."""
    out = []
    for payload in payloads:
        chunk = orjson.loads(payload) | {"created": 0}
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or ():
                call["id"] = "call"
        out.append(chunk)
    return out


def _close(translator: Any) -> list[dict[str, Any]] | str:
    """The stream's last chunks, or the error of a stream that never finished."""
    try:
        return _chunks(translator.stream_close())
    except UpstreamBadResponse as exc:
        return str(exc)


def _ev(kind: str, **fields: Any) -> tuple[str, bytes]:
    return kind, orjson.dumps({"type": kind, **fields})


def _anthropic_streams() -> Iterator[tuple[list[tuple[str | None, bytes]], bool]]:
    """Anthropic SSE streams, each with whether the gateway reads it without litellm."""
    text_block = [_ev("content_block_start", index=0, content_block={"type": "text", "text": ""}),
                  _ev("content_block_delta", index=0, delta={"type": "text_delta", "text": "The grove "}),
                  _ev("content_block_delta", index=0, delta={"type": "text_delta", "text": "is quiet."}),
                  _ev("content_block_stop", index=0)]
    others: dict[str, list[tuple[str, bytes]]] = {
        "thinking": [_ev("content_block_start", index=1, content_block={"type": "thinking", "thinking": ""}),
                     _ev("content_block_delta", index=1, delta={"type": "thinking_delta", "thinking": "hm"}),
                     _ev("content_block_delta", index=1, delta={"type": "signature_delta", "signature": "s"}),
                     _ev("content_block_stop", index=1)],
        "tool": [_ev("content_block_start", index=1,
                     content_block={"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}),
                 _ev("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": '{"a": 1}'}),
                 _ev("content_block_stop", index=1)],
        "citation": [_ev("content_block_delta", index=0, delta={"type": "citations_delta", "citation": {"x": 1}})],
        "second text": [_ev("content_block_start", index=1, content_block={"type": "text", "text": "Then "}),
                        _ev("content_block_delta", index=1, delta={"type": "text_delta", "text": "more."}),
                        _ev("content_block_stop", index=1)],
        "unknown event": [_ev("future_event", index=0)],
        "none": [],
    }
    start_usages: list[dict[str, Any] | None] = [
        {"input_tokens": 6, "output_tokens": 1},
        {"input_tokens": 6, "output_tokens": 1, "cache_creation_input_tokens": 4, "cache_read_input_tokens": 9,
         "service_tier": "standard"},
        {"input_tokens": 6, "cache_creation_input_tokens": None, "cache_read_input_tokens": 0},
        None,
    ]
    delta_usages: list[dict[str, Any] | None] = [
        {"output_tokens": 19},
        {"input_tokens": 7, "output_tokens": 19, "cache_read_input_tokens": 2},
        {"output_tokens": 3, "iterations": [{"input_tokens": 1, "output_tokens": 1}]},
        None,
    ]
    for stop in ["end_turn", "max_tokens", "stop_sequence", "refusal", "tool_use", None]:
        for other, blocks in others.items():
            for start_usage in start_usages:
                for delta_usage in delta_usages:
                    message: dict[str, Any] = {"id": "msg_1", "type": "message", "role": "assistant",
                                               "model": "claude-x", "content": [], "stop_reason": None}
                    if start_usage is not None:
                        message["usage"] = start_usage
                    delta: dict[str, Any] = {"type": "message_delta",
                                             "delta": {"stop_reason": stop, "stop_sequence": None}}
                    if delta_usage is not None:
                        delta["usage"] = delta_usage
                    events = [_ev("message_start", message=message), *text_block, ("ping", b'{"type": "ping"}'),
                              *blocks, ("message_delta", orjson.dumps(delta)), _ev("message_stop")]
                    plain = stop in ("end_turn", "max_tokens", "stop_sequence") and other in ("second text", "none") \
                        and (delta_usage is None or "iterations" not in delta_usage)
                    yield events, plain


def _same_streams(fast: Any, slow: Any, model: str, streams: Iterator[tuple[list[tuple[str | None, bytes]], bool]],
                  include_usage: bool) -> int:
    """Runs each stream through both providers' translators, event by event: the same chunks and
    usage, the same end; and the fast one skipped litellm exactly for the streams marked plain.
    Returns how many were."""
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    req = _request({"model": "any", "messages": [{"role": "user", "content": "hi"}], "stream": True, **options})
    taken = 0
    for events, plain in streams:
        fast_tr, slow_tr = fast.translator(req, model), slow.translator(req, model)
        for kind, data in events:
            a, b = fast_tr.stream_event(kind, data), slow_tr.stream_event(kind, data)
            assert _chunks(a) == _chunks(b)
            assert fast_tr.usage == slow_tr.usage
        assert _close(fast_tr) == _close(slow_tr)
        assert (fast_tr._parser is None) == plain, events  # noqa: SLF001 - which way it went
        taken += plain
    return taken


@pytest.mark.parametrize("include_usage", [False, True])
def test_anthropic_streams_equal_litellms(bridge: lb.Bridge, include_usage: bool) -> None:
    """A stream that leaves the plain shape midway goes on through litellm from there, as if
    litellm had read it from the start."""
    fast = AnthropicProvider("http://up", "k", bridge=bridge)
    slow = AnthropicProvider("http://up", "k", bridge=bridge, own_plain=False)
    taken = _same_streams(fast, slow, "claude-sonnet-4-5", _anthropic_streams(), include_usage)
    assert taken == 3 * 2 * 4 * 3  # stop reasons × (one text block, two) × start usages × delta usages


def _gemini_streams() -> Iterator[tuple[list[tuple[str | None, bytes]], bool]]:
    """Gemini SSE streams (each event's data), each with whether the gateway reads it without litellm."""
    def chunk(parts: list[dict[str, Any]] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
        candidate: dict[str, Any] = {"index": 0}
        if parts is not None:
            candidate["content"] = {"role": "model", "parts": parts}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "modelVersion": "gemini-x", "responseId": "resp-1",
                "usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 3, "totalTokenCount": 9}, **extra}

    text = [chunk([{"text": "The grove "}]), chunk([{"text": "is "}, {"text": "quiet."}])]
    middles: dict[str, list[dict[str, Any]]] = {
        "none": [],
        "empty text": [chunk([{"text": ""}])],
        "thought": [chunk([{"text": "hm", "thought": True}])],
        "call": [chunk([{"functionCall": {"name": "f", "args": {"a": 1}}}])],
        "no content": [chunk(None)],
        "ratings": [{**chunk([{"text": "x"}]), "candidates": [
            {"content": {"role": "model", "parts": [{"text": "x"}]}, "index": 0,
             "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]}]}],
        "two candidates": [{**chunk([{"text": "a"}]), "candidates": [
            {"content": {"role": "model", "parts": [{"text": "a"}]}, "index": 0},
            {"content": {"role": "model", "parts": [{"text": "b"}]}, "index": 1}]}],
        "grounding": [{**chunk([{"text": "x"}]), "candidates": [
            {"content": {"role": "model", "parts": [{"text": "x"}]}, "index": 0,
             "groundingMetadata": {"webSearchQueries": ["grove"]}}]}],
    }
    for finish in ["STOP", "MAX_TOKENS", "SAFETY", None]:
        for middle, chunks in middles.items():
            last = chunk([{"text": "End."}], finish)
            plain = finish != "SAFETY" and middle in ("none", "empty text", "no content")
            yield [(None, orjson.dumps(c)) for c in (*text, *chunks, last)], plain
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 6},
               "modelVersion": "gemini-x", "responseId": "resp-2"}
    yield [(None, orjson.dumps(blocked))], False


@pytest.mark.parametrize("include_usage", [False, True])
def test_gemini_streams_equal_litellms(bridge: lb.Bridge, include_usage: bool) -> None:
    fast = GeminiProvider("http://up", "k", bridge=bridge)
    slow = GeminiProvider("http://up", "k", bridge=bridge, own_plain=False)
    taken = _same_streams(fast, slow, "gemini-2.5-flash", _gemini_streams(), include_usage)
    assert taken == 3 * 3  # (STOP, MAX_TOKENS, none yet) × middles of text only
