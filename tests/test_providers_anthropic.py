"""AnthropicProvider / AnthropicTranslator: OpenAI chat completions ↔ Anthropic Messages.

Wire samples follow Anthropic's Messages API reference (request body, the message object,
the SSE event sequence and the error object)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from gateway import jsonio
from gateway.errors import (
    ContextTooLong,
    InvalidRequest,
    UpstreamAuthFailed,
    UpstreamBadRequest,
    UpstreamBadResponse,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.providers import litellm_bridge
from gateway.providers.anthropic import AnthropicProvider, AnthropicTranslator
from gateway.providers.base import ChatRequest

MODEL = "claude-sonnet-4-5"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def bridge() -> litellm_bridge.Bridge:
    return litellm_bridge.load()


@pytest.fixture(scope="module")
def provider(bridge: litellm_bridge.Bridge) -> AnthropicProvider:
    return AnthropicProvider("http://127.0.0.1:9/", "sk-ant-test", bridge=bridge)


def chat(body: dict[str, Any]) -> ChatRequest:
    body = {"model": "alias", **body}
    options = body.get("stream_options") or {}
    return ChatRequest(
        body=body,
        raw=jsonio.dumps(body),
        model=body["model"],
        stream=bool(body.get("stream")),
        include_usage=bool(options.get("include_usage")),
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def sent(provider: AnthropicProvider, body: dict[str, Any], model: str = MODEL) -> dict[str, Any]:
    parsed: dict[str, Any] = jsonio.loads(provider.translator(chat(body), model).request().body)
    return parsed


# --- request translation ----------------------------------------------------------------------


def test_request_targets_messages_endpoint_with_constant_headers(provider: AnthropicProvider) -> None:
    upstream = provider.translator(chat({"messages": [user("hi")]}), MODEL).request()
    assert upstream.url == "http://127.0.0.1:9/v1/messages"
    assert dict(upstream.headers) == {
        "x-api-key": "sk-ant-test",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }
    body = jsonio.loads(upstream.body)
    assert body["model"] == MODEL
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert "stream" not in body


def test_max_tokens_defaults_to_provider_setting_and_client_value_wins(bridge: litellm_bridge.Bridge) -> None:
    provider = AnthropicProvider("http://h", None, default_max_tokens=1234, headers={"X-Team": "a"}, bridge=bridge)
    upstream = provider.translator(chat({"messages": [user("hi")]}), MODEL).request()
    assert jsonio.loads(upstream.body)["max_tokens"] == 1234
    assert "x-api-key" not in upstream.headers and upstream.headers["x-team"] == "a"
    assert sent(provider, {"messages": [user("hi")], "max_tokens": 77})["max_tokens"] == 77
    assert sent(provider, {"messages": [user("hi")], "max_completion_tokens": 88})["max_tokens"] == 88
    unset = AnthropicProvider("http://h", None, default_max_tokens=None, bridge=bridge)
    assert sent(unset, {"messages": [user("hi")]})["max_tokens"] == 4096


def test_system_messages_become_the_system_prompt(provider: AnthropicProvider) -> None:
    body = sent(provider, {"messages": [{"role": "system", "content": "Be terse."}, user("hi")]})
    assert body["system"] == [{"type": "text", "text": "Be terse."}]
    assert [m["role"] for m in body["messages"]] == ["user"]


def test_multi_turn_conversation_keeps_order_and_roles(provider: AnthropicProvider) -> None:
    messages = [user("one"), {"role": "assistant", "content": "two"}, user("three")]
    body = sent(provider, {"messages": messages})
    assert [(m["role"], m["content"][0]["text"]) for m in body["messages"]] == [
        ("user", "one"),
        ("assistant", "two"),
        ("user", "three"),
    ]


def test_tools_tool_calls_and_tool_results(provider: AnthropicProvider) -> None:
    messages = [
        user("Weather in Paris?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C and sunny"},
    ]
    body = sent(provider, {"messages": messages, "tools": [WEATHER_TOOL], "tool_choice": "required"})
    assert body["tools"][0]["name"] == "get_weather"
    assert body["tools"][0]["input_schema"] == WEATHER_TOOL["function"]["parameters"]  # type: ignore[index]
    assert body["tool_choice"] == {"type": "any"}
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
    }
    assert body["messages"][2]["role"] == "user"
    assert body["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C and sunny"}


def test_data_url_image_becomes_base64_block_and_https_goes_by_reference(provider: AnthropicProvider) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
    ]
    parts = sent(provider, {"messages": [{"role": "user", "content": content}]})["messages"][0]["content"]
    assert parts[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert parts[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


@pytest.mark.parametrize("url", ["http://example.com/cat.jpg", "gs://bucket/cat.jpg", "data:x;http://example.com/a"])
def test_image_references_that_would_need_a_download_are_refused(provider: AnthropicProvider, url: str) -> None:
    content = [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(InvalidRequest, match="data: or https"):
        provider.translator(chat({"messages": [{"role": "user", "content": content}]}), MODEL).request()


def test_sampling_and_stop_parameters(provider: AnthropicProvider) -> None:
    body = sent(provider, {"messages": [user("hi")], "temperature": 0.2, "top_p": 0.9, "stop": "END", "user": "u-1"})
    assert (body["temperature"], body["top_p"], body["stop_sequences"]) == (0.2, 0.9, ["END"])
    assert body["metadata"] == {"user_id": "u-1"}
    assert sent(provider, {"messages": [user("hi")], "stop": ["a", "b"]})["stop_sequences"] == ["a", "b"]


def test_json_schema_uses_native_structured_output_when_the_model_has_it(provider: AnthropicProvider) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    upstream = provider.translator(chat({"messages": [user("hi")], "response_format": fmt}), MODEL).request()
    body = jsonio.loads(upstream.body)
    assert body["output_format"]["type"] == "json_schema"
    assert body["output_format"]["schema"]["properties"] == schema["properties"]
    assert "structured-outputs" in upstream.headers["anthropic-beta"]
    assert "json_mode" not in body


def test_json_schema_becomes_a_forced_tool_on_older_models(provider: AnthropicProvider) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    body = sent(provider, {"messages": [user("hi")], "response_format": fmt}, model="claude-3-5-sonnet-20241022")
    assert body["tools"][0]["name"] == "json_tool_call"
    assert body["tool_choice"] == {"type": "tool", "name": "json_tool_call"}


def test_json_object_becomes_a_forced_open_schema_tool(provider: AnthropicProvider) -> None:
    translator = provider.translator(chat({"messages": [user("hi")], "response_format": {"type": "json_object"}}), MODEL)
    body = jsonio.loads(translator.request().body)
    assert body["tools"] == [
        {"name": "json_tool_call", "input_schema": {"type": "object", "properties": {}, "additionalProperties": True}}
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "json_tool_call"}
    reply = {**MESSAGE, "content": [{"type": "tool_use", "id": "toolu_3", "name": "json_tool_call", "input": {"ok": True}}]}
    parsed = ChatCompletion.model_validate_json(translator.response(jsonio.dumps(reply)).body)
    assert jsonio.loads(parsed.choices[0].message.content or "") == {"ok": True}
    assert parsed.choices[0].message.tool_calls is None
    # With the client's own tools the model must stay free to call them: nothing is forced.
    with_tools = sent(provider, {"messages": [user("hi")], "response_format": {"type": "json_object"}, "tools": [WEATHER_TOOL]})
    assert [t["name"] for t in with_tools["tools"]] == ["get_weather", "json_tool_call"]
    assert "tool_choice" not in with_tools


def test_stream_flag_is_sent_and_request_is_idempotent(provider: AnthropicProvider) -> None:
    translator = provider.translator(chat({"messages": [user("hi")], "stream": True}), MODEL)
    first = translator.request()
    assert translator.request() is first
    assert jsonio.loads(first.body)["stream"] is True
    again = provider.translator(chat({"messages": [user("hi")], "stream": True}), MODEL).request()
    assert again.body == first.body


def test_translation_leaves_the_client_request_untouched(provider: AnthropicProvider) -> None:
    body = {"messages": [{"role": "system", "content": "s"}, user("hi")], "tools": [WEATHER_TOOL]}
    request = chat(body)
    before = jsonio.dumps(request.body)
    provider.translator(request, MODEL).request()
    assert jsonio.dumps(request.body) == before


def test_untranslatable_request_is_invalid_request(provider: AnthropicProvider) -> None:
    with pytest.raises(InvalidRequest, match="cannot be translated for anthropic") as caught:
        provider.translator(chat({"messages": [{"role": "wizard", "content": "hi"}]}), MODEL).request()
    assert caught.value.status == 400
    # Model-specific limits come from litellm's model map: opus 4.7 fixes temperature at 1.
    with pytest.raises(InvalidRequest, match="temperature") as caught:
        provider.translator(chat({"messages": [user("hi")], "temperature": 0.5}), "claude-opus-4-7").request()
    assert "litellm" not in caught.value.message


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("translation tried to use the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_translation_never_touches_the_network(provider: AnthropicProvider, no_network: None) -> None:
    content = [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    translator = provider.translator(chat({"messages": [{"role": "user", "content": content}], "tools": [WEATHER_TOOL]}), MODEL)
    translator.request()
    translator.response(jsonio.dumps(MESSAGE))


# --- non-stream responses ------------------------------------------------------------------------

MESSAGE: dict[str, Any] = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [{"type": "text", "text": "Hi! My name is Claude."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 2095, "output_tokens": 503, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0},
}


def respond(provider: AnthropicProvider, reply: dict[str, Any], body: dict[str, Any] | None = None) -> Any:
    translator = provider.translator(chat(body or {"messages": [user("hi")]}), MODEL)
    completion = translator.response(jsonio.dumps(reply))
    return translator, completion, ChatCompletion.model_validate_json(completion.body)


def test_text_response_in_openai_shape(provider: AnthropicProvider) -> None:
    translator, completion, parsed = respond(provider, MESSAGE)
    assert parsed.object == "chat.completion"
    assert parsed.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF" == completion.response_id
    assert parsed.model == "claude-sonnet-4-5-20250929" == completion.response_model
    assert parsed.choices[0].message.role == "assistant"
    assert parsed.choices[0].message.content == "Hi! My name is Claude."
    assert parsed.choices[0].message.tool_calls is None
    assert parsed.choices[0].finish_reason == "stop" and completion.finish_reasons == ("stop",)
    # Anthropic counts cached prompt tokens apart; OpenAI's prompt_tokens includes them.
    assert parsed.usage is not None
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens, parsed.usage.total_tokens) == (2195, 503, 2698)
    assert parsed.usage.prompt_tokens_details is not None and parsed.usage.prompt_tokens_details.cached_tokens == 100
    assert completion.usage == translator.usage
    assert (completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.cached_input_tokens) == (2195, 503, 100)
    raw = jsonio.loads(completion.body)
    assert set(raw) == {"id", "object", "created", "model", "choices", "usage"}
    assert "provider_specific_fields" not in raw["choices"][0]["message"]


def test_tool_use_becomes_tool_calls(provider: AnthropicProvider) -> None:
    reply = {
        **MESSAGE,
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
    }
    _, completion, parsed = respond(provider, reply, {"messages": [user("hi")], "tools": [WEATHER_TOOL]})
    message = parsed.choices[0].message
    assert message.content == "Let me check."
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert (call.id, call.type, call.function.name) == ("toolu_01A09q90qw90lq917835lq9", "function", "get_weather")
    # Compact, as upstreams stream it: a streamed and a whole answer spell arguments alike.
    assert call.function.arguments == '{"city":"Paris"}'
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert "index" not in jsonio.loads(completion.body)["choices"][0]["message"]["tool_calls"][0]


def test_tool_names_anthropic_rejects_are_renamed_and_restored(provider: AnthropicProvider) -> None:
    tool = {"type": "function", "function": {"name": "ns.get/weather", "parameters": {"type": "object", "properties": {}}}}
    body = {"messages": [user("hi")], "tools": [tool]}
    translator = provider.translator(chat(body), MODEL)
    upstream_name = jsonio.loads(translator.request().body)["tools"][0]["name"]
    assert upstream_name == "ns_get_weather"
    reply = {**MESSAGE, "content": [{"type": "tool_use", "id": "toolu_7", "name": upstream_name, "input": {}}], "stop_reason": "tool_use"}
    parsed = ChatCompletion.model_validate_json(translator.response(jsonio.dumps(reply)).body)
    calls = parsed.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "ns.get/weather" and calls[0].function.arguments == "{}"


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter")],
)
def test_finish_reasons_map_to_openai(provider: AnthropicProvider, stop_reason: str, finish_reason: str) -> None:
    _, completion, parsed = respond(provider, {**MESSAGE, "stop_reason": stop_reason})
    assert parsed.choices[0].finish_reason == finish_reason
    assert completion.finish_reasons == (finish_reason,)


def test_json_mode_tool_answer_becomes_content(provider: AnthropicProvider) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}
    translator = provider.translator(chat({"messages": [user("hi")], "response_format": fmt}), "claude-3-5-sonnet-20241022")
    reply = {
        **MESSAGE,
        "content": [{"type": "tool_use", "id": "toolu_9", "name": "json_tool_call", "input": {"a": 1}}],
        "stop_reason": "tool_use",
    }
    parsed = ChatCompletion.model_validate_json(translator.response(jsonio.dumps(reply)).body)
    assert jsonio.loads(parsed.choices[0].message.content or "") == {"a": 1}
    assert parsed.choices[0].message.tool_calls is None
    assert parsed.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", jsonio.dumps({"id": "msg_1", "type": "message", "usage": {}})])
def test_malformed_response_is_bad_upstream_response(provider: AnthropicProvider, body: bytes) -> None:
    with pytest.raises(UpstreamBadResponse):
        provider.translator(chat({"messages": [user("hi")]}), MODEL).response(body)


def test_error_object_in_a_2xx_body_is_mapped(provider: AnthropicProvider) -> None:
    body = jsonio.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    with pytest.raises(UpstreamUnavailable, match="Overloaded"):
        provider.translator(chat({"messages": [user("hi")]}), MODEL).response(body)


# --- streams ---------------------------------------------------------------------------------------


def event(kind: str, **fields: Any) -> tuple[str, bytes]:
    return kind, jsonio.dumps({"type": kind, **fields})


def text_stream(*pieces: str, stop_reason: str = "end_turn") -> list[tuple[str, bytes]]:
    events = [
        event(
            "message_start",
            message={
                "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "claude-sonnet-4-5-20250929",
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 25, "output_tokens": 1},
            },
        ),
        event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        event("ping"),
    ]
    events += [event("content_block_delta", index=0, delta={"type": "text_delta", "text": p}) for p in pieces]
    events += [
        event("content_block_stop", index=0),
        event("message_delta", delta={"stop_reason": stop_reason, "stop_sequence": None}, usage={"output_tokens": 15}),
        event("message_stop"),
    ]
    return events


def run(translator: AnthropicTranslator, events: list[tuple[str, bytes]]) -> list[ChatCompletionChunk]:
    payloads = [p for kind, data in events for p in translator.stream_event(kind, data)]
    payloads += translator.stream_close()
    return [ChatCompletionChunk.model_validate_json(p) for p in payloads]


def streaming(provider: AnthropicProvider, include_usage: bool = False, **body: Any) -> AnthropicTranslator:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    return provider.translator(chat({"messages": [user("hi")], "stream": True, **options, **body}), MODEL)


def test_text_stream_becomes_openai_chunks(provider: AnthropicProvider) -> None:
    translator = streaming(provider)
    chunks = run(translator, text_stream("Hello", ", ", "world!"))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello, world!"
    assert {c.id for c in chunks} == {"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"}
    assert len({c.created for c in chunks}) == 1
    assert {c.model for c in chunks} == {"claude-sonnet-4-5-20250929"}
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert [c.choices[0].delta.role for c in chunks] == ["assistant", None, None, None]
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, None, "stop"]
    # No usage chunk unless asked, but the translator still knows the usage.
    assert all(c.choices for c in chunks)
    assert translator.usage is not None
    assert (translator.usage.input_tokens, translator.usage.output_tokens) == (25, 15)


def test_usage_chunk_only_when_asked(provider: AnthropicProvider) -> None:
    chunks = run(streaming(provider, include_usage=True), text_stream("Hi", stop_reason="max_tokens"))
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (25, 15, 40)
    assert chunks[-2].choices[0].finish_reason == "length"
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_tool_call_stream_carries_argument_deltas(provider: AnthropicProvider) -> None:
    events = text_stream("Checking.", stop_reason="tool_use")
    tool_events = [
        event("content_block_start", index=1, content_block={"type": "tool_use", "id": "toolu_01T1x", "name": "get_weather", "input": {}}),
        event("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}),
        event("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": '{"city": "Pa'}),
        event("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": 'ris"}'}),
        event("content_block_stop", index=1),
    ]
    events[5:5] = tool_events  # after the text block's content_block_stop
    chunks = run(streaming(provider, tools=[WEATHER_TOOL]), events)
    calls = [call for c in chunks for call in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id == "toolu_01T1x" and calls[0].function is not None and calls[0].function.name == "get_weather"
    assert all(call.index == 0 for call in calls)
    assert all(call.id is None for call in calls[1:])
    arguments = "".join((call.function.arguments or "") if call.function else "" for call in calls)
    assert jsonio.loads(arguments) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[0].choices[0].delta.content == "Checking."


def test_json_mode_stream_turns_the_tool_into_content(provider: AnthropicProvider) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}
    translator = provider.translator(
        chat({"messages": [user("hi")], "stream": True, "response_format": fmt}), "claude-3-5-sonnet-20241022"
    )
    events = [
        text_stream()[0],
        event("content_block_start", index=0, content_block={"type": "tool_use", "id": "toolu_2", "name": "json_tool_call", "input": {}}),
        event("content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": '{"a": '}),
        event("content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": "1}"}),
        event("content_block_stop", index=0),
        event("message_delta", delta={"stop_reason": "tool_use", "stop_sequence": None}, usage={"output_tokens": 5}),
        event("message_stop"),
    ]
    chunks = run(translator, events)
    assert jsonio.loads("".join(c.choices[0].delta.content or "" for c in chunks)) == {"a": 1}
    assert all(not c.choices[0].delta.tool_calls for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_empty_reply_still_sends_role_with_the_finish(provider: AnthropicProvider) -> None:
    chunks = run(streaming(provider), text_stream())
    assert len(chunks) == 1
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("overloaded_error", UpstreamUnavailable),
        ("api_error", UpstreamBadResponse),
        ("rate_limit_error", UpstreamRateLimited),
        ("invalid_request_error", UpstreamBadRequest),
    ],
)
def test_error_event_in_stream_raises_mapped_error(provider: AnthropicProvider, error_type: str, expected: type) -> None:
    translator = streaming(provider)
    for kind, data in text_stream("Hel")[:4]:
        translator.stream_event(kind, data)
    with pytest.raises(expected, match="boom"):
        translator.stream_event("error", jsonio.dumps({"type": "error", "error": {"type": error_type, "message": "boom"}}))


def test_stream_that_ends_early_is_an_error(provider: AnthropicProvider) -> None:
    translator = streaming(provider, include_usage=True)
    for kind, data in text_stream("Hello")[:-1]:  # everything but message_stop
        translator.stream_event(kind, data)
    with pytest.raises(UpstreamBadResponse, match="ended before completion"):
        translator.stream_close()


@pytest.mark.parametrize(
    "data",
    [
        b'{"type": "content_block_delta", "index": 0, "delta": {"type": "text_del',
        b'"just a string"',
        jsonio.dumps({"type": "content_block_delta", "index": 0}),
        jsonio.dumps({"type": "message_start"}),
    ],
)
def test_malformed_chunk_is_bad_upstream_response(provider: AnthropicProvider, data: bytes) -> None:
    translator = streaming(provider)
    with pytest.raises(UpstreamBadResponse):
        translator.stream_event(None, data)


def test_keepalives_produce_nothing(provider: AnthropicProvider) -> None:
    translator = streaming(provider)
    assert translator.stream_event("ping", jsonio.dumps({"type": "ping"})) == []
    assert translator.stream_event(None, b"  ") == []


# --- error replies ---------------------------------------------------------------------------------


def anthropic_error(kind: str, message: str) -> bytes:
    return jsonio.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011"})


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (400, anthropic_error("invalid_request_error", "messages: field required"), UpstreamBadRequest, "invalid_request"),
        (400, anthropic_error("invalid_request_error", "prompt is too long: 208656 tokens > 200000 maximum"), ContextTooLong, "context_length_exceeded"),
        (404, anthropic_error("not_found_error", "model: claude-nope"), UpstreamBadRequest, "model_not_found"),
        (413, anthropic_error("request_too_large", "Request exceeds the maximum allowed number of bytes."), UpstreamBadRequest, "invalid_request"),
        (500, anthropic_error("api_error", "Internal server error"), UpstreamBadResponse, "bad_upstream_response"),
        (529, anthropic_error("overloaded_error", "Overloaded"), UpstreamUnavailable, "upstream_unavailable"),
        (503, b"<html>Service Unavailable</html>", UpstreamUnavailable, "upstream_unavailable"),
        (504, b"", UpstreamTimeout, "upstream_timeout"),
        (502, b"not json at all", UpstreamUnavailable, "upstream_unavailable"),
    ],
)
def test_error_replies_map_into_the_error_tree(
    provider: AnthropicProvider, status: int, body: bytes, expected: type, code: str
) -> None:
    error = provider.translator(chat({"messages": [user("hi")]}), MODEL).error(status, body, {})
    assert type(error) is expected
    assert error.code == code
    upstream_message = jsonio.loads(body)["error"]["message"] if body.startswith(b"{") else ""
    assert upstream_message in error.message


@pytest.mark.parametrize("status", [401, 403])
def test_credential_errors_never_echo_the_upstream_text(provider: AnthropicProvider, status: int) -> None:
    kind = "authentication_error" if status == 401 else "permission_error"
    body = anthropic_error(kind, "invalid x-api-key sk-ant-test")
    error = provider.translator(chat({"messages": [user("hi")]}), MODEL).error(status, body, {})
    assert isinstance(error, UpstreamAuthFailed)
    assert "sk-ant" not in error.message and "anthropic" in error.message
    assert error.status == 502 and error.retryable


def test_rate_limit_carries_retry_after(provider: AnthropicProvider) -> None:
    body = anthropic_error("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
    error = provider.translator(chat({"messages": [user("hi")]}), MODEL).error(429, body, {"Retry-After": "12"})
    assert isinstance(error, UpstreamRateLimited)
    assert error.retry_after == 12.0 and error.headers["retry-after"] == "12"
    assert "per-minute rate limit" in error.message

