"""The Messages translators without a network: the pass-through's bytes, headers, frames and usage,
and the translation of OpenAI chat chunks into Anthropic's event sequence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gateway import jsonio
from gateway.endpoints.messages_wire import parse_messages_request
from gateway.errors import UpstreamBadResponse, UpstreamRateLimited, UpstreamUnavailable
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Usage
from gateway.providers.messages_passthrough import AnthropicMessagesTranslator
from gateway.providers.messages_translated import _EventWriter, message_from_chat

BODY = {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}],
        "stream": True}


def _translator(body: dict[str, Any] = BODY, model: str = "claude-sonnet-4-5",
                headers: dict[str, str] | None = None) -> AnthropicMessagesTranslator:
    request = parse_messages_request(jsonio.dumps(body))
    if headers is not None:
        request = replace(request, headers=headers)
    provider = AnthropicProvider("http://upstream.invalid", "sk-provider", headers={"anthropic-beta": "b1"})
    return AnthropicMessagesTranslator(provider, request, model)


def _frame(kind: str, data: dict[str, Any]) -> tuple[str, bytes]:
    return kind, jsonio.dumps(data)


def test_the_clients_bytes_go_through_unless_the_model_differs() -> None:
    raw = jsonio.dumps(BODY)
    same = AnthropicMessagesTranslator(AnthropicProvider("http://u.invalid", None),
                                       parse_messages_request(raw), "claude-sonnet-4-5")
    assert same.request().body is raw
    swapped = _translator(model="claude-sonnet-4-5-20250929").request()
    assert jsonio.loads(swapped.body) == {**BODY, "model": "claude-sonnet-4-5-20250929"}
    assert swapped.url == "http://upstream.invalid/v1/messages"


def test_the_clients_version_and_beta_are_forwarded_beside_the_providers() -> None:
    request = _translator(headers={"anthropic-version": "2099-01-01", "anthropic-beta": "b2",
                                   "authorization": "Bearer client-key"}).request()
    assert request.headers["anthropic-version"] == "2099-01-01"
    assert request.headers["anthropic-beta"] == "b1,b2"
    assert request.headers["x-api-key"] == "sk-provider" and "authorization" not in request.headers
    assert _translator().request().headers["anthropic-version"] == "2023-06-01"


def test_stream_events_are_relayed_as_frames_and_counted() -> None:
    translator = _translator()
    start = {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 10,
                                                                           "cache_read_input_tokens": 4,
                                                                           "output_tokens": 1}}}
    out = translator.stream_event(*_frame("message_start", start))
    assert out == [b"event: message_start\ndata: " + jsonio.dumps(start) + b"\n\n"]
    assert translator.usage == Usage(14, 1, 4)
    translator.stream_event(*_frame("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                                      "usage": {"output_tokens": 7}}))
    assert translator.usage == Usage(14, 7, 4)
    with pytest.raises(UpstreamBadResponse):  # ended without message_stop
        translator.stream_close()
    translator.stream_event(*_frame("message_stop", {"type": "message_stop"}))
    assert translator.stream_close() == []


def test_malformed_and_error_events_never_reach_the_client() -> None:
    translator = _translator()
    with pytest.raises(UpstreamBadResponse):
        translator.stream_event("content_block_delta", b'{"type": "content_block_delta", "delta": {')
    with pytest.raises(UpstreamUnavailable):
        translator.stream_event(*_frame("error", {"type": "error", "error": {"type": "overloaded_error",
                                                                             "message": "Overloaded"}}))
    error = translator.error(429, b'{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}',
                             {"retry-after": "3"})
    assert isinstance(error, UpstreamRateLimited) and error.retry_after == 3


def _events(payloads: list[bytes]) -> list[dict[str, Any]]:
    events = []
    for frame in payloads:
        kind, data = frame.split(b"\n")[0:2]
        parsed = jsonio.loads(data.removeprefix(b"data: "))
        assert kind == b"event: " + parsed["type"].encode()
        events.append(parsed)
    return events


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return jsonio.dumps({"id": "chatcmpl-1", "model": "gpt-x", "choices": choices})


def test_chat_chunks_become_anthropics_event_sequence() -> None:
    writer = _EventWriter("gpt-x", {"short": "a_very_long_tool_name"})
    payloads = writer.chunks([
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"reasoning_content": "hmm"}),
        _chunk({"content": "Hel"}), _chunk({"content": "lo"}),
        _chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "short", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        _chunk({}, "tool_calls"),
    ])
    payloads += writer.close(Usage(20, 9, 5))
    events = _events(payloads)
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_stop",  # thinking
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",  # text
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",  # tool_use
        "message_delta", "message_stop"]
    assert events[0]["message"]["id"] == "msg_chatcmpl-1" and events[0]["message"]["model"] == "gpt-x"
    assert [e["index"] for e in events if e["type"] == "content_block_start"] == [0, 1, 2]
    assert events[8]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "a_very_long_tool_name",
                                          "input": {}}
    assert "".join(e["delta"].get("partial_json", "") for e in events[9:11]) == '{"a":1}'
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"] == {"input_tokens": 15, "cache_creation_input_tokens": 0,
                                   "cache_read_input_tokens": 5, "output_tokens": 9}


def test_a_chat_completion_becomes_a_message() -> None:
    completion = {"id": "chatcmpl-2", "model": "gpt-x", "choices": [{"index": 0, "finish_reason": "length", "message": {
        "role": "assistant", "content": "Hi", "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"x": 2}'}}]}}]}
    message = message_from_chat(completion, {}, Usage(3, 4, 0))
    assert message["content"] == [{"type": "text", "text": "Hi"},
                                  {"type": "tool_use", "id": "call_9", "name": "f", "input": {"x": 2}}]
    assert (message["stop_reason"], message["id"], message["usage"]["output_tokens"]) == ("max_tokens",
                                                                                          "msg_chatcmpl-2", 4)
    bad = {**completion, "choices": [{"index": 0, "message": {"tool_calls": [{"function": {"arguments": "[1]"}}]}}]}
    with pytest.raises(UpstreamBadResponse):
        message_from_chat(bad, {}, None)
