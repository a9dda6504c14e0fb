"""GeminiProvider / GeminiTranslator: OpenAI chat completions ↔ Gemini generateContent.

Wire samples follow Google's Gemini API reference (GenerateContentRequest/Response, the
``alt=sse`` stream of GenerateContentResponse objects, and google.rpc error bodies)."""

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
from gateway.providers.base import ChatRequest
from gateway.providers.gemini import GeminiProvider, GeminiTranslator, camel_body

MODEL = "gemini-2.5-flash"
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
def provider(bridge: litellm_bridge.Bridge) -> GeminiProvider:
    return GeminiProvider("http://127.0.0.1:9", "AIza-test-key", bridge=bridge)


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


def sent(provider: GeminiProvider, body: dict[str, Any], model: str = MODEL) -> dict[str, Any]:
    parsed: dict[str, Any] = jsonio.loads(provider.translator(chat(body), model).request().body)
    return parsed


# --- request translation ----------------------------------------------------------------------


def test_request_targets_generate_content_with_constant_headers(provider: GeminiProvider) -> None:
    upstream = provider.translator(chat({"messages": [user("hi")]}), MODEL).request()
    assert upstream.url == "http://127.0.0.1:9/v1beta/models/gemini-2.5-flash:generateContent"
    assert dict(upstream.headers) == {"x-goog-api-key": "AIza-test-key", "content-type": "application/json"}
    assert jsonio.loads(upstream.body) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_streaming_uses_stream_generate_content_sse(provider: GeminiProvider) -> None:
    translator = provider.translator(chat({"messages": [user("hi")], "stream": True}), "models/gemini-2.5-pro")
    first = translator.request()
    assert first.url == "http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert translator.request() is first
    assert "stream" not in jsonio.loads(first.body)


def test_system_message_becomes_system_instruction(provider: GeminiProvider) -> None:
    body = sent(provider, {"messages": [{"role": "system", "content": "Be terse."}, user("hi")]})
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert [c["role"] for c in body["contents"]] == ["user"]


def test_multi_turn_uses_model_role_for_the_assistant(provider: GeminiProvider) -> None:
    body = sent(provider, {"messages": [user("one"), {"role": "assistant", "content": "two"}, user("three")]})
    assert [(c["role"], c["parts"][0]["text"]) for c in body["contents"]] == [
        ("user", "one"),
        ("model", "two"),
        ("user", "three"),
    ]


def test_tools_function_calls_and_function_responses(provider: GeminiProvider) -> None:
    messages = [
        user("Weather in Paris?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    body = sent(provider, {"messages": messages, "tools": [WEATHER_TOOL], "tool_choice": "required"})
    declaration = body["tools"][0]["functionDeclarations"][0]
    assert declaration["name"] == "get_weather"
    assert declaration["parameters"]["properties"] == {"city": {"type": "string"}}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["contents"][1] == {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}
    response = body["contents"][2]["parts"][0]["functionResponse"]
    assert body["contents"][2]["role"] == "user"
    assert response["name"] == "get_weather" and "18C and sunny" in jsonio.dumps(response["response"]).decode()


def test_data_url_image_becomes_inline_data(provider: GeminiProvider) -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]
    parts = sent(provider, {"messages": [{"role": "user", "content": content}]})["contents"][0]["parts"]
    assert parts == [{"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/cat.png",
        "http://example.com/cat.png",
        "gs://bucket/cat",
        "data:gs://bucket/cat;base64,AAAA",
        "https://generativelanguage.googleapis.com/v1beta/files/gs://bucket/cat",
    ],
)
def test_media_references_that_would_need_a_download_are_refused(provider: GeminiProvider, url: str) -> None:
    content = [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": url}}]
    with pytest.raises(InvalidRequest, match="data: URLs or Files API"):
        provider.translator(chat({"messages": [{"role": "user", "content": content}]}), MODEL).request()


def test_files_api_uris_go_by_reference(provider: GeminiProvider) -> None:
    uri = "https://generativelanguage.googleapis.com/v1beta/files/abc-123"
    content = [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": uri, "format": "image/png"}}]
    parts = sent(provider, {"messages": [{"role": "user", "content": content}]})["contents"][0]["parts"]
    assert parts[1] == {"fileData": {"mimeType": "image/png", "fileUri": uri}}


def test_generation_parameters(provider: GeminiProvider) -> None:
    body = sent(
        provider,
        {"messages": [user("hi")], "temperature": 0.2, "top_p": 0.9, "max_tokens": 50, "stop": "END", "n": 2, "seed": 7},
    )
    assert body["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
        "candidateCount": 2,
        "seed": 7,
    }
    assert sent(provider, {"messages": [user("hi")], "max_completion_tokens": 9})["generationConfig"] == {"maxOutputTokens": 9}


def test_default_max_tokens_applies_only_when_the_client_sets_none(bridge: litellm_bridge.Bridge) -> None:
    provider = GeminiProvider("http://h/", None, default_max_tokens=321, headers={"X-Extra": "1"}, bridge=bridge)
    upstream = provider.translator(chat({"messages": [user("hi")]}), MODEL).request()
    assert jsonio.loads(upstream.body)["generationConfig"] == {"maxOutputTokens": 321}
    assert "x-goog-api-key" not in upstream.headers and upstream.headers["x-extra"] == "1"
    assert sent(provider, {"messages": [user("hi")], "max_tokens": 5})["generationConfig"] == {"maxOutputTokens": 5}


def test_json_modes_set_response_mime_type_and_schema(provider: GeminiProvider) -> None:
    assert sent(provider, {"messages": [user("hi")], "response_format": {"type": "json_object"}})["generationConfig"] == {
        "responseMimeType": "application/json"
    }
    schema = {"type": "object", "properties": {"a_b": {"type": "integer"}}, "required": ["a_b"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    config = sent(provider, {"messages": [user("hi")], "response_format": fmt})["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    # The schema is the client's data: its snake_case property names stay as they are.
    assert config["responseJsonSchema"]["properties"] == {"a_b": {"type": "integer"}}


def test_camel_body_renames_protocol_keys_only() -> None:
    body = camel_body(
        {
            "contents": [{"role": "user", "parts": [{"function_response": {"name": "f", "response": {"snake_key": 1}}}]}],
            "system_instruction": {"parts": [{"text": "s"}]},
            "generationConfig": {"max_output_tokens": 3, "thinking_config": {"thinking_budget": 0}},
            "tools": [{"function_declarations": [{"name": "f", "parameters": {"properties": {"snake_key": {}}}}]}],
        }
    )
    assert body == {
        "contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"snake_key": 1}}}]}],
        "systemInstruction": {"parts": [{"text": "s"}]},
        "generationConfig": {"maxOutputTokens": 3, "thinkingConfig": {"thinkingBudget": 0}},
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"properties": {"snake_key": {}}}}]}],
    }


def test_untranslatable_request_is_invalid_request(provider: GeminiProvider) -> None:
    with pytest.raises(InvalidRequest, match="cannot be translated for gemini") as caught:
        provider.translator(chat({"messages": [{"role": "wizard", "content": "hi"}]}), MODEL).request()
    assert "File an issue" not in caught.value.message


def test_translation_leaves_the_client_request_untouched(provider: GeminiProvider) -> None:
    request = chat({"messages": [{"role": "system", "content": "s"}, user("hi")], "tools": [WEATHER_TOOL]})
    before = jsonio.dumps(request.body)
    provider.translator(request, MODEL).request()
    assert jsonio.dumps(request.body) == before


def test_translation_never_touches_the_network(provider: GeminiProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("translation tried to use the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    translator = provider.translator(chat({"messages": [user("hi")], "tools": [WEATHER_TOOL]}), MODEL)
    translator.request()
    translator.response(jsonio.dumps(RESPONSE))


# --- non-stream responses ------------------------------------------------------------------------

RESPONSE: dict[str, Any] = {
    "candidates": [
        {
            "content": {"parts": [{"text": "Hello! How can I help?"}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}],
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 8,
        "candidatesTokenCount": 12,
        "totalTokenCount": 20,
        "cachedContentTokenCount": 4,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "mfJVaK3hBoWpz7IPzuSP0Qc",
}


def respond(provider: GeminiProvider, reply: dict[str, Any], body: dict[str, Any] | None = None) -> Any:
    translator = provider.translator(chat(body or {"messages": [user("hi")]}), MODEL)
    completion = translator.response(jsonio.dumps(reply))
    return translator, completion, ChatCompletion.model_validate_json(completion.body)


def test_text_response_in_openai_shape(provider: GeminiProvider) -> None:
    translator, completion, parsed = respond(provider, RESPONSE)
    assert parsed.object == "chat.completion"
    assert parsed.id == "mfJVaK3hBoWpz7IPzuSP0Qc" == completion.response_id
    assert parsed.model == "gemini-2.5-flash" == completion.response_model
    assert parsed.choices[0].message.content == "Hello! How can I help?"
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.usage is not None
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens, parsed.usage.total_tokens) == (8, 12, 20)
    assert parsed.usage.prompt_tokens_details is not None and parsed.usage.prompt_tokens_details.cached_tokens == 4
    assert translator.usage == completion.usage
    assert (completion.usage.input_tokens, completion.usage.output_tokens, completion.usage.cached_input_tokens) == (8, 12, 4)
    raw = jsonio.loads(completion.body)
    assert set(raw) == {"id", "object", "created", "model", "choices", "usage"}
    assert set(raw["choices"][0]["message"]) == {"role", "content", "refusal"}


def test_function_call_becomes_tool_calls(provider: GeminiProvider) -> None:
    reply = {
        **RESPONSE,
        "candidates": [
            {
                "content": {"parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
    }
    _, completion, parsed = respond(provider, reply, {"messages": [user("hi")], "tools": [WEATHER_TOOL]})
    message = parsed.choices[0].message
    assert message.content is None
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.id and call.type == "function" and call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"Paris"}'

    assert parsed.choices[0].finish_reason == "tool_calls" and completion.finish_reasons == ("tool_calls",)


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")],
)
def test_finish_reasons_map_to_openai(provider: GeminiProvider, finish: str, expected: str) -> None:
    candidate = {**RESPONSE["candidates"][0], "finishReason": finish}
    _, _, parsed = respond(provider, {**RESPONSE, "candidates": [candidate]})
    assert parsed.choices[0].finish_reason == expected


def test_blocked_prompt_is_a_content_filter_finish(provider: GeminiProvider) -> None:
    reply = {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash",
    }
    _, _, parsed = respond(provider, reply)
    assert parsed.choices[0].finish_reason == "content_filter" and parsed.choices[0].message.content is None


def test_several_candidates_become_several_choices(provider: GeminiProvider) -> None:
    second = {"content": {"parts": [{"text": "Hi there."}], "role": "model"}, "finishReason": "MAX_TOKENS", "index": 1}
    _, completion, parsed = respond(provider, {**RESPONSE, "candidates": [RESPONSE["candidates"][0], second]})
    assert [(c.index, c.message.content, c.finish_reason) for c in parsed.choices] == [
        (0, "Hello! How can I help?", "stop"),
        (1, "Hi there.", "length"),
    ]
    assert completion.finish_reasons == ("stop", "length")


def test_thought_parts_are_kept_out_of_the_content(provider: GeminiProvider) -> None:
    parts = [{"text": "Let me think.", "thought": True}, {"text": "42."}]
    candidate = {**RESPONSE["candidates"][0], "content": {"parts": parts, "role": "model"}}
    _, completion, parsed = respond(provider, {**RESPONSE, "candidates": [candidate]})
    assert parsed.choices[0].message.content == "42."
    assert jsonio.loads(completion.body)["choices"][0]["message"]["reasoning_content"] == "Let me think."


@pytest.mark.parametrize(
    "body",
    [b"{oops", b'"text"', jsonio.dumps({"usageMetadata": {}}), jsonio.dumps({"candidates": [{"content": 5, "finishReason": "STOP"}]})],
)
def test_malformed_response_is_bad_upstream_response(provider: GeminiProvider, body: bytes) -> None:
    with pytest.raises(UpstreamBadResponse):
        provider.translator(chat({"messages": [user("hi")]}), MODEL).response(body)


# --- streams ---------------------------------------------------------------------------------------


def sse(text: str | None = None, finish: str | None = None, tokens: int = 1, **extra: Any) -> bytes:
    candidate: dict[str, Any] = {"index": 0}
    if text is not None:
        candidate["content"] = {"parts": [{"text": text}], "role": "model"}
    if finish:
        candidate["finishReason"] = finish
    usage = {"promptTokenCount": 8, "candidatesTokenCount": tokens, "totalTokenCount": 8 + tokens}
    return jsonio.dumps(
        {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-2.5-flash", "responseId": "r-42", **extra}
    )


def run(translator: GeminiTranslator, datas: list[bytes]) -> list[ChatCompletionChunk]:
    payloads = [p for data in datas for p in translator.stream_event(None, data)]
    payloads += translator.stream_close()
    return [ChatCompletionChunk.model_validate_json(p) for p in payloads]


def streaming(provider: GeminiProvider, include_usage: bool = False, **body: Any) -> GeminiTranslator:
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    return provider.translator(chat({"messages": [user("hi")], "stream": True, **options, **body}), MODEL)


def test_text_stream_becomes_openai_chunks(provider: GeminiProvider) -> None:
    translator = streaming(provider)
    chunks = run(translator, [sse("The"), sse(" capital", tokens=2), sse(" is Paris.", finish="STOP", tokens=5)])
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "The capital is Paris."
    assert {c.id for c in chunks} == {"r-42"} and len({c.created for c in chunks}) == 1
    assert [c.choices[0].delta.role for c in chunks] == ["assistant", None, None]
    # litellm marks every chunk "stop"; only the candidate's finishReason may end the choice.
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, "stop"]
    assert translator.usage is not None
    assert (translator.usage.input_tokens, translator.usage.output_tokens) == (8, 5)


def test_usage_chunk_only_when_asked(provider: GeminiProvider) -> None:
    chunks = run(streaming(provider, include_usage=True), [sse("Hi"), sse("", finish="MAX_TOKENS", tokens=3)])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (8, 3, 11)
    assert chunks[-2].choices[0].finish_reason == "length"
    assert all(c.usage is None for c in chunks[:-1])
    no_usage = run(streaming(provider), [sse("Hi"), sse("", finish="STOP")])
    assert all(c.choices for c in no_usage)


def test_function_call_stream(provider: GeminiProvider) -> None:
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    data = jsonio.dumps(
        {"candidates": [{"content": {"parts": [call], "role": "model"}, "finishReason": "STOP", "index": 0}], "responseId": "r-9"}
    )
    chunks = run(streaming(provider, tools=[WEATHER_TOOL]), [sse("Checking. "), data])
    calls = [c for chunk in chunks for c in (chunk.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1 and calls[0].index == 0 and calls[0].id and calls[0].type == "function"
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    assert calls[0].function.arguments == '{"city":"Paris"}'  # the same spelling as a whole reply
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_blocked_prompt_in_a_stream_ends_it_with_content_filter(provider: GeminiProvider) -> None:
    data = jsonio.dumps({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 8}})
    chunks = run(streaming(provider), [data])
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_error_chunk_in_stream_raises_mapped_error(provider: GeminiProvider) -> None:
    translator = streaming(provider)
    translator.stream_event(None, sse("Hel"))
    error = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}
    with pytest.raises(UpstreamRateLimited, match="Resource has been exhausted"):
        translator.stream_event(None, jsonio.dumps(error))
    with pytest.raises(UpstreamUnavailable, match="overloaded"):
        translator.stream_event(None, jsonio.dumps({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}))


def test_stream_that_ends_early_is_an_error(provider: GeminiProvider) -> None:
    translator = streaming(provider, include_usage=True)
    translator.stream_event(None, sse("The"))
    translator.stream_event(None, sse(" capital"))
    with pytest.raises(UpstreamBadResponse, match="ended before completion"):
        translator.stream_close()


@pytest.mark.parametrize("data", [b'{"candidates": [{"content": {"parts": [{"te', b"[1]", jsonio.dumps({"candidates": "nope"})])
def test_malformed_chunk_is_bad_upstream_response(provider: GeminiProvider, data: bytes) -> None:
    with pytest.raises(UpstreamBadResponse):
        streaming(provider).stream_event(None, data)


# --- error replies ---------------------------------------------------------------------------------


def google_error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return jsonio.dumps({"error": error})


API_KEY_INVALID = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
]


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (400, google_error(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified"), UpstreamBadRequest, "invalid_request"),
        (400, google_error(400, "INVALID_ARGUMENT", "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."), ContextTooLong, "context_length_exceeded"),
        (404, google_error(404, "NOT_FOUND", "models/gemini-nope is not found for API version v1beta"), UpstreamBadRequest, "model_not_found"),
        (500, google_error(500, "INTERNAL", "An internal error has occurred."), UpstreamBadResponse, "bad_upstream_response"),
        (503, google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."), UpstreamUnavailable, "upstream_unavailable"),
        (504, google_error(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."), UpstreamTimeout, "upstream_timeout"),
        (503, b"upstream connect error", UpstreamUnavailable, "upstream_unavailable"),
        (500, b"", UpstreamBadResponse, "bad_upstream_response"),
    ],
)
def test_error_replies_map_into_the_error_tree(
    provider: GeminiProvider, status: int, body: bytes, expected: type, code: str
) -> None:
    error = provider.translator(chat({"messages": [user("hi")]}), MODEL).error(status, body, {})
    assert type(error) is expected
    assert error.code == code
    if body.startswith(b"{"):
        assert jsonio.loads(body)["error"]["message"] in error.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", API_KEY_INVALID)),
        (400, google_error(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key AIza-test-key.")),
        (401, google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials AIza-test-key.")),
        (403, google_error(403, "PERMISSION_DENIED", "Permission denied on resource project AIza-test-key.")),
    ],
)
def test_credential_errors_never_echo_the_upstream_text(provider: GeminiProvider, status: int, body: bytes) -> None:
    error = provider.translator(chat({"messages": [user("hi")]}), MODEL).error(status, body, {})
    assert isinstance(error, UpstreamAuthFailed)
    assert "AIza" not in error.message and "gemini" in error.message


def test_rate_limit_takes_retry_after_from_header_or_retry_info(provider: GeminiProvider) -> None:
    details = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generate_content_free_tier_requests"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
    ]
    body = google_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", details)
    translator = provider.translator(chat({"messages": [user("hi")]}), MODEL)
    from_details = translator.error(429, body, {})
    assert isinstance(from_details, UpstreamRateLimited) and from_details.retry_after == 37.0
    assert "exceeded your current quota" in from_details.message
    from_header = translator.error(429, body, {"retry-after": "5"})
    assert from_header.retry_after == 5.0 and from_header.headers["retry-after"] == "5"


def test_error_body_sent_as_a_json_array_is_understood(provider: GeminiProvider) -> None:
    body = b"[" + google_error(503, "UNAVAILABLE", "The model is overloaded.") + b"]"
    error = provider.translator(chat({"messages": [user("hi")]}), MODEL).error(503, body, {})
    assert isinstance(error, UpstreamUnavailable) and "overloaded" in error.message
