"""``ResponsesViaChat`` on chat streams the fakes do not produce: text then several tool calls,
a reply cut by max_output_tokens (``response.incomplete``), and the Response built from a
non-stream chat completion. The inner translator is the real OpenAI-compatible one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway import jsonio
from gateway.endpoints.responses_chat import ResponsesViaChat, chat_body, inner_request
from gateway.errors import UpstreamBadResponse
from gateway.providers.base import ChatRequest
from gateway.providers.openai_compat import OpenAICompatProvider

SOURCE = {"model": "m", "input": "hi", "instructions": "Be brief.", "max_output_tokens": 9}


def _translator(stream: bool) -> ResponsesViaChat:
    body = chat_body(SOURCE, [{"role": "user", "content": "hi"}], "m", stream)
    outer = ChatRequest(body={}, raw=b"", model="m", stream=stream, include_usage=False, endpoint="responses",
                        source=SOURCE)
    inner = OpenAICompatProvider("http://127.0.0.1:1/v1", None).translator(inner_request(outer, body), "m")
    return ResponsesViaChat(inner, SOURCE, "m")


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return jsonio.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m-2025", "choices": choices,
                         "usage": usage})


def _events(frames: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for frame in frames:
        kind, data = frame.decode().rstrip("\n").split("\n")
        payload = json.loads(data.removeprefix("data: "))
        assert kind == f"event: {payload['type']}"
        out.append(payload)
    return out


def test_text_then_two_tool_calls_stream_as_three_items() -> None:
    t = _translator(stream=True)
    frames: list[bytes] = []
    for chunk in (
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Let me check."}),
        _chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "g", "arguments": "{}"}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]}),
        _chunk({}, "tool_calls"),
        _chunk(usage={"prompt_tokens": 5, "completion_tokens": 7}),
    ):
        frames += t.stream_event(None, chunk)
    frames += t.stream_event(None, b"[DONE]") + t.stream_close()
    events = _events(frames)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    added = [(e["output_index"], e["item"]["type"]) for e in events if e["type"] == "response.output_item.added"]
    assert added == [(0, "message"), (1, "function_call"), (2, "function_call")]
    final = events[-1]
    assert final["type"] == "response.completed"
    response = final["response"]
    assert response["model"] == "m-2025" and response["instructions"] == "Be brief."
    assert response["usage"]["input_tokens"] == 5 and response["usage"]["output_tokens"] == 7
    message, first, second = response["output"]
    assert message["content"][0]["text"] == "Let me check."
    assert (first["call_id"], first["name"], first["arguments"]) == ("call_a", "f", '{"x": 1}')
    assert (second["call_id"], second["name"], second["arguments"]) == ("call_b", "g", "{}")
    assert t.final == response


def test_a_reply_cut_by_max_output_tokens_is_incomplete() -> None:
    t = _translator(stream=True)
    frames = t.stream_event(None, _chunk({"content": "abc"}))
    frames += t.stream_event(None, _chunk({}, "length"))
    frames += t.stream_event(None, b"[DONE]") + t.stream_close()
    final = _events(frames)[-1]
    assert final["type"] == "response.incomplete"
    assert final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_stream_that_ends_early_raises() -> None:
    t = _translator(stream=True)
    t.stream_event(None, _chunk({"content": "abc"}))
    with pytest.raises(UpstreamBadResponse):
        t.stream_close()


def test_a_non_stream_completion_becomes_a_response() -> None:
    t = _translator(stream=False)
    body = jsonio.dumps({"id": "c", "object": "chat.completion", "model": "m-2025", "choices": [{
        "index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "On it.", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 2}}})
    completion = t.response(body)
    response = json.loads(completion.body)
    assert response["object"] == "response" and response["status"] == "completed"
    assert [i["type"] for i in response["output"]] == ["message", "function_call"]
    assert response["usage"] == {"input_tokens": 3, "input_tokens_details": {"cached_tokens": 2}, "output_tokens": 4,
                                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 7}
    assert response["max_output_tokens"] == 9 and response["tool_choice"] == "auto"
    assert completion.response_id == response["id"] and completion.usage is not None


def test_the_chat_body() -> None:
    body = chat_body({**SOURCE, "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
                      "tool_choice": "required", "reasoning": {"effort": "high"}, "temperature": 0.2},
                     [{"role": "user", "content": "hi"}], "upstream-m", stream=True)
    assert body["model"] == "upstream-m" and body["max_tokens"] == 9 and body["temperature"] == 0.2
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    assert body["tools"][0]["function"]["name"] == "f" and body["tool_choice"] == "required"
    assert body["reasoning_effort"] == "high"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
