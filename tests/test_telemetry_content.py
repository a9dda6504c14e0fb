"""Opt-in content capture: OpenAI messages in the GenAI conventions' message format."""

from __future__ import annotations

import json

from gateway.telemetry import content


def test_input_messages_with_parts_tools_and_tool_results() -> None:
    body = {"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy"},
        "not a message",
    ]}
    assert json.loads(content.input_messages(body) or "") == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "what is this?"}, {"type": "image_url"}]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy"}]},
    ]
    assert "base64" not in (content.input_messages(body) or "")  # media is named, never copied
    assert content.input_messages({"messages": "nope"}) is None


def test_output_messages_of_a_completion() -> None:
    body = json.dumps({"choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"},
        {"index": 1, "message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
         "finish_reason": "tool_calls"},
        "junk",
    ]}).encode()
    assert json.loads(content.output_messages(body) or "") == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hello"}], "finish_reason": "stop"},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c", "name": "f", "arguments": "{}"}],
         "finish_reason": "tool_calls"},
    ]
    assert content.output_messages(b"not json") is None
    assert content.output_messages(b'{"choices": 3}') is None


def test_streamed_output_is_assembled_per_choice() -> None:
    streamed = content.StreamedOutput()
    for chunk in (
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"index": 1, "delta": {"content": "Bon"}}, {"index": 0, "delta": {"content": "lo"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"},
                     {"index": 1, "delta": {"content": "jour"}, "finish_reason": "length"}]},
        {"choices": [], "usage": {"prompt_tokens": 1}},
    ):
        streamed.add(json.dumps(chunk).encode())
    streamed.add(b"garbage")
    streamed.add(b'{"choices": ["x"]}')
    assert streamed.finish_reasons() == ["stop", "length"]
    assert json.loads(streamed.messages()) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"},
        {"role": "assistant", "parts": [{"type": "text", "content": "Bonjour"}], "finish_reason": "length"},
    ]
