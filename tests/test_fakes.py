"""The fake providers, over real HTTP on loopback: wire shapes, stream framing, knobs, control API."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from pydantic import ValidationError

from gateway import jsonio
from gateway.fakes import FakeState, Knobs, create_openai_app
from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes, main, start_fakes
from gateway.fakes.replies import IMAGE_TOKENS, Prompt, make_reply, split_words

ANTHROPIC_HEADERS = {"x-api-key": "ak", "anthropic-version": "2023-06-01"}
GEMINI_MODEL = "gemini-2.0-flash"
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
PROVIDERS = ("openai", "anthropic", "gemini")


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with start_fakes() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(fakes: Fakes) -> None:
    fakes.reset()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def oai(fakes: Fakes) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{fakes.openai.url}/v1", api_key="sk-test", max_retries=0) as client:
        yield client


# --- helpers ----------------------------------------------------------------------


def sse(raw: str) -> list[tuple[str | None, str]]:
    """(event name, data) per SSE event; accepts LF and CRLF framing."""
    events: list[tuple[str | None, str]] = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        events.append((name, "\n".join(data)))
    return events


Call = tuple[str, dict[str, str], dict[str, Any]]


def stream_call(fakes: Fakes, provider: str, text: str = "hello there my good friend") -> Call:
    if provider == "openai":
        body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": text}]}
        return f"{fakes.openai.url}/v1/chat/completions", {"authorization": "Bearer sk"}, body
    if provider == "anthropic":
        body = {"model": "claude-x", "max_tokens": 500, "stream": True, "messages": [{"role": "user", "content": text}]}
        return f"{fakes.anthropic.url}/v1/messages", ANTHROPIC_HEADERS, body
    url = f"{fakes.gemini.url}/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse"
    return url, {"x-goog-api-key": "gk"}, {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def send(client: httpx.Client, call: Call) -> httpx.Response:
    url, headers, body = call
    return client.post(url, headers=headers, json=body)


def plain_call(fakes: Fakes, provider: str) -> Call:
    url, headers, body = stream_call(fakes, provider)
    body = {k: v for k, v in body.items() if k != "stream"}
    return url.replace(":streamGenerateContent?alt=sse", ":generateContent"), headers, body


def state_of(fakes: Fakes, provider: str) -> FakeState:
    return getattr(fakes, provider).state  # type: ignore[no-any-return]


def ends_cleanly(provider: str, events: list[tuple[str | None, str]]) -> bool:
    if not events:
        return False
    name, data = events[-1]
    if provider == "openai":
        return data == "[DONE]"
    if provider == "anthropic":
        return name == "message_stop"
    try:
        return "finishReason" in jsonio.loads(data)["candidates"][0]
    except (jsonio.JSONDecodeError, KeyError):
        return False


def read_until_broken(
    http: httpx.Client, url: str, headers: dict[str, str], body: dict[str, Any]
) -> tuple[str, Exception | None]:
    received = b""
    try:
        with http.stream("POST", url, headers=headers, json=body) as response:
            assert response.status_code == 200
            for piece in response.iter_raw():
                received += piece
    except httpx.HTTPError as exc:
        return received.decode(), exc
    return received.decode(), None


def openai_text(client: openai.OpenAI, **kw: Any) -> str:
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], **kw)
    return r.choices[0].message.content or ""


# --- replies ----------------------------------------------------------------------


def _prompt(**kw: Any) -> Prompt:
    base: dict[str, Any] = dict(
        provider="openai", model="m", last_user_text="hi", tool_result=None, chars=2, images=0, tool_name=None
    )
    return Prompt(**{**base, **kw})


def test_split_words_concatenates_back_exactly() -> None:
    for text in ["", "   ", "one", "  lead and  double  spaces ", "a\nb\tc d e f g h"]:
        assert "".join(split_words(text)) == text
    assert len(split_words("one two three four five six seven")) == 3


def test_reply_truncated_by_max_tokens_and_stop_sequences() -> None:
    long = make_reply(_prompt(last_user_text="x" * 100, max_tokens=3), Knobs())
    assert (long.finish, long.output_tokens, long.text) == ("length", 3, "Hello from f")
    stopped = make_reply(_prompt(last_user_text="apple STOP banana", stop=("banana", "STOP")), Knobs())
    assert stopped.finish == "stop_sequence" and stopped.stop_sequence == "STOP"
    assert stopped.text.endswith("apple ")


def test_reply_override_and_json_mode() -> None:
    assert make_reply(_prompt(), Knobs(reply="fixed")).text == "fixed"
    assert jsonio.loads(make_reply(_prompt(json_mode=True), Knobs(reply="fixed")).text) == {"reply": "fixed"}
    assert make_reply(_prompt(json_mode=True), Knobs(reply='{"a": 1}')).text == '{"a": 1}'
    assert make_reply(_prompt(images=2, chars=8), Knobs()).input_tokens == 2 + 2 * IMAGE_TOKENS


# --- knob state -------------------------------------------------------------------


def test_model_knobs_overlay_the_default_field_by_field() -> None:
    state = FakeState()
    state.set(latency_ms=5, status=503)
    state.set("slow", latency_ms=50)
    assert state.knobs_for("slow") == Knobs(latency_ms=50, status=503)
    assert state.knobs_for("other") == Knobs(latency_ms=5, status=503)
    state.set(status=None)
    assert state.knobs_for("slow").status is None
    with pytest.raises(ValidationError):
        state.set(no_such_knob=1)
    with pytest.raises(ValidationError):
        state.set(status=200)
    state.reset()
    assert state.knobs_for("slow") == Knobs()


def test_fail_times_counts_down_per_owner() -> None:
    state = FakeState()
    state.set(status=500, fail_times=1)
    state.set("m", fail_times=2)
    knobs = state.knobs_for("m")
    assert [state.admit_fault("m", knobs) for _ in range(3)] == [True, True, False]
    default = state.knobs_for(None)
    assert [state.admit_fault(None, default) for _ in range(2)] == [True, False]


# --- OpenAI -----------------------------------------------------------------------


def test_openai_non_stream_shape(fakes: Fakes, http: httpx.Client) -> None:
    r = http.post(
        f"{fakes.openai.url}/v1/chat/completions",
        json={
            "model": "gpt-4o",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "ping"}],
        },
    )
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"].startswith("req_")
    body = r.json()
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert isinstance(body["created"], int) and body["model"] == "gpt-4o" and body["system_fingerprint"]
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["logprobs"] is None and choice["finish_reason"] == "stop"
    message = choice["message"]
    assert message["role"] == "assistant" and message["refusal"] is None and "tool_calls" not in message
    assert message["content"] == "Hello from fake-openai (gpt-4o). You said: ping"
    usage = body["usage"]
    assert usage["prompt_tokens"] == 3  # "be brief" + "ping": 12 chars
    assert usage["completion_tokens"] == -(-len(message["content"]) // 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


def test_openai_stream_framing_with_usage(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = stream_call(fakes, "openai")
    r = http.post(url, headers=headers, json={**body, "stream_options": {"include_usage": True}})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse(r.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [jsonio.loads(data) for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and "usage" in c for c in chunks)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    final, usage_chunk = chunks[-2], chunks[-1]
    assert final["choices"][0]["delta"] == {} and final["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == [] and usage_chunk["usage"]["total_tokens"] > 0
    assert len({c["id"] for c in chunks}) == 1
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    plain = send(http, plain_call(fakes, "openai")).json()
    assert streamed == plain["choices"][0]["message"]["content"]
    assert usage_chunk["usage"] == plain["usage"]
    assert len(chunks) > 5  # the text really is split into several deltas


def test_openai_stream_without_include_usage_has_no_usage_field(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = stream_call(fakes, "openai")
    chunks = [jsonio.loads(d) for _, d in sse(http.post(url, headers=headers, json=body).text)[:-1]]
    assert all("usage" not in c for c in chunks) and all(c["choices"] for c in chunks)


def test_openai_sdk_sync_stream_equals_non_stream(oai: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "tell me something"}]
    plain = oai.chat.completions.create(model="gpt-4o", messages=messages)
    stream = oai.chat.completions.create(
        model="gpt-4o", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-1].usage == plain.usage
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_openai_sdk_async(fakes: Fakes) -> None:
    async def run() -> tuple[str | None, str]:
        async with openai.AsyncOpenAI(base_url=f"{fakes.openai.url}/v1", api_key="k", max_retries=0) as client:
            plain = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "yo"}]
            )
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "yo"}], stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream])
            return plain.choices[0].message.content, text

    plain, streamed = asyncio.run(run())
    assert plain == streamed == "Hello from fake-openai (gpt-4o-mini). You said: yo"


def test_openai_tool_call_non_stream_and_stream(fakes: Fakes, oai: openai.OpenAI) -> None:
    fakes.openai.state.set(tool_arguments={"city": "Oslo", "unit": "C"})
    messages: Any = [{"role": "user", "content": "weather?"}]
    plain = oai.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    choice = plain.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert jsonio.loads(call.function.arguments) == {"city": "Oslo", "unit": "C"}  # type: ignore[union-attr]

    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL], stream=True))
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].type == "function"
    assert deltas[0].function and deltas[0].function.name == "get_weather"
    assert all(d.index == 0 for d in deltas) and all(d.id is None for d in deltas[1:])
    arguments = "".join(d.function.arguments or "" for d in deltas)  # type: ignore[union-attr]
    assert len(deltas) > 2 and jsonio.loads(arguments) == {"city": "Oslo", "unit": "C"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_text_after_tool_result_and_with_tool_choice_none(oai: openai.OpenAI) -> None:
    messages: Any = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
    ]
    after = oai.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER_TOOL])
    assert after.choices[0].finish_reason == "stop"
    assert after.choices[0].message.content == "Hello from fake-openai (gpt-4o). Tool said: sunny, 21C"
    none = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert none.choices[0].message.tool_calls is None


def test_openai_json_mode_max_tokens_stop_and_images(oai: openai.OpenAI) -> None:
    assert jsonio.loads(openai_text(oai, response_format={"type": "json_object"})) == {
        "reply": "Hello from fake-openai (gpt-4o). You said: hi"
    }
    short = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    assert short.choices[0].finish_reason == "length" and short.usage and short.usage.completion_tokens == 2
    assert short.choices[0].message.content == "Hello fr"
    stream = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=2, stream=True
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello fr"
    assert chunks[-1].choices[0].finish_reason == "length"
    assert openai_text(oai, stop=["openai"]) == "Hello from fake-"
    image: Any = [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
    ]
    with_image = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": image}])
    assert with_image.usage and with_image.usage.prompt_tokens == 1 + IMAGE_TOKENS


def test_openai_forced_error_with_retry_after(fakes: Fakes, oai: openai.OpenAI) -> None:
    fakes.openai.state.set(status=429, retry_after=2)
    with pytest.raises(openai.RateLimitError) as caught:
        openai_text(oai)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.response.headers["retry-after-ms"] == "2000"
    error = caught.value.response.json()["error"]
    assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded" and error["param"] is None
    fakes.openai.state.set(status=503, error_message="down for a bit", retry_after=None)
    with pytest.raises(openai.InternalServerError) as unavailable:
        openai_text(oai)
    assert unavailable.value.status_code == 503 and "retry-after" not in unavailable.value.response.headers
    assert unavailable.value.response.json()["error"]["message"] == "down for a bit"


def test_openai_fail_times_then_success(fakes: Fakes, oai: openai.OpenAI) -> None:
    fakes.openai.state.set(status=500, fail_times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            openai_text(oai)
    assert openai_text(oai).startswith("Hello")
    assert fakes.openai.state.counters["errors"] == 2 and fakes.openai.state.counters["completed"] == 1


def test_openai_fail_times_alone_fails_with_500(fakes: Fakes, http: httpx.Client) -> None:
    fakes.openai.state.set(fail_times=1)
    url, headers, body = plain_call(fakes, "openai")
    assert [http.post(url, json=body).status_code for _ in range(2)] == [500, 200]


def test_openai_api_key(fakes: Fakes, http: httpx.Client) -> None:
    fakes.openai.state.set(api_key="sk-right")
    with openai.OpenAI(base_url=f"{fakes.openai.url}/v1", api_key="sk-wrong-123", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            openai_text(wrong)
    error = caught.value.response.json()["error"]
    assert "sk-wrong-123" in error["message"] and error["code"] == "invalid_api_key"
    missing = http.post(f"{fakes.openai.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert missing.status_code == 401 and "didn't provide an API key" in missing.json()["error"]["message"]
    with openai.OpenAI(base_url=f"{fakes.openai.url}/v1", api_key="sk-right", max_retries=0) as right:
        assert openai_text(right).startswith("Hello")
        assert [m.id for m in right.models.list()][:2] == ["gpt-4o", "gpt-4o-mini"]


def test_openai_request_validation(fakes: Fakes, http: httpx.Client) -> None:
    url = f"{fakes.openai.url}/v1/chat/completions"
    bad = http.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and "could not parse the JSON body" in bad.json()["error"]["message"]
    missing = http.post(url, json={"model": "gpt-4o"}).json()["error"]
    assert missing["param"] == "messages" and missing["code"] == "missing_required_parameter"
    assert http.post(url, json={"model": "gpt-4o", "messages": []}).json()["error"]["code"] == "empty_array"
    assert http.post(url, json={"messages": [{"role": "user", "content": "x"}]}).status_code == 400


def test_openai_models_and_context_window(fakes: Fakes, oai: openai.OpenAI) -> None:
    fakes.openai.state.set("tiny-model", context_window=2)
    assert "tiny-model" in [m.id for m in oai.models.list()]
    assert oai.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="tiny-model", messages=[{"role": "user", "content": "x" * 40}])
    assert caught.value.code == "context_length_exceeded"
    assert openai_text(oai).startswith("Hello")  # other models are unaffected


def test_openai_in_stream_error_raises_in_the_sdk(fakes: Fakes, oai: openai.OpenAI) -> None:
    fakes.openai.state.set(error_event_after_chunks=2, error_message="boom mid-stream")
    stream = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    seen = []
    with pytest.raises(openai.APIError, match="boom mid-stream"):
        for chunk in stream:
            seen.append(chunk)
    assert len(seen) == 2
    assert fakes.openai.state.counters["error_events"] == 1


def test_openai_cut_stream_breaks_the_sdk(fakes: Fakes, oai: openai.OpenAI) -> None:
    fakes.openai.state.set(cut_after_chunks=3)
    seen = []
    with pytest.raises((httpx.RemoteProtocolError, openai.APIConnectionError)):
        stream = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
        for chunk in stream:
            seen.append(chunk)
    assert len(seen) == 3


def test_reply_override_per_model(fakes: Fakes, oai: openai.OpenAI) -> None:
    fakes.openai.state.set("gpt-4o", reply="scripted answer")
    assert openai_text(oai) == "scripted answer"
    other = oai.chat.completions.create(model="other", messages=[{"role": "user", "content": "q"}])
    assert other.choices[0].message.content == "Hello from fake-openai (other). You said: q"


# --- Anthropic --------------------------------------------------------------------


def test_anthropic_non_stream_shape(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = plain_call(fakes, "anthropic")
    r = http.post(url, headers=headers, json={**body, "system": [{"type": "text", "text": "be nice"}]})
    assert r.status_code == 200 and r.headers["request-id"].startswith("req_")
    message = r.json()
    assert message["id"].startswith("msg_") and message["type"] == "message" and message["role"] == "assistant"
    assert message["model"] == "claude-x" and message["stop_reason"] == "end_turn" and message["stop_sequence"] is None
    assert message["content"] == [
        {"type": "text", "text": "Hello from fake-anthropic (claude-x). You said: hello there my good friend"}
    ]
    assert message["usage"]["input_tokens"] == -(-len("be nicehello there my good friend") // 4)
    assert message["usage"]["cache_creation_input_tokens"] == 0 and message["usage"]["cache_read_input_tokens"] == 0


def test_anthropic_stream_event_order_and_equality(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = stream_call(fakes, "anthropic")
    r = http.post(url, headers=headers, json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse(r.text)
    names = [name for name, _ in events]
    deltas = names.count("content_block_delta")
    assert deltas > 2
    assert names == ["message_start", "content_block_start", "ping", *["content_block_delta"] * deltas,
                     "content_block_stop", "message_delta", "message_stop"]
    payloads = [jsonio.loads(data) for _, data in events]
    assert all(p["type"] == name for p, name in zip(payloads, names))
    start = payloads[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert payloads[1]["content_block"] == {"type": "text", "text": ""}
    text = "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta")
    assert all(p["delta"]["type"] == "text_delta" for p in payloads if p["type"] == "content_block_delta")
    plain = send(http, plain_call(fakes, "anthropic")).json()
    assert text == plain["content"][0]["text"]
    assert start["usage"]["input_tokens"] == plain["usage"]["input_tokens"]
    assert payloads[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert payloads[-2]["usage"]["output_tokens"] == plain["usage"]["output_tokens"]


def test_anthropic_tool_use_and_tool_result(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = plain_call(fakes, "anthropic")
    tools = [{"name": "get_weather", "description": "d", "input_schema": {"type": "object"}}]
    message = http.post(url, headers=headers, json={**body, "tools": tools}).json()
    assert message["stop_reason"] == "tool_use"
    (block,) = message["content"]
    assert block["type"] == "tool_use" and block["id"].startswith("toolu_") and block["name"] == "get_weather"
    assert block["input"] == {"city": "Paris"}

    events = sse(http.post(url, headers=headers, json={**body, "tools": tools, "stream": True}).text)
    payloads = [jsonio.loads(d) for _, d in events]
    assert payloads[1]["content_block"]["type"] == "tool_use" and payloads[1]["content_block"]["input"] == {}
    partial = "".join(p["delta"]["partial_json"] for p in payloads if p["type"] == "content_block_delta")
    assert jsonio.loads(partial) == {"city": "Paris"}
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"

    followup = [
        *body["messages"],
        {"role": "assistant", "content": [{"type": "tool_use", "id": block["id"], "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "rainy"}]},
    ]
    after = http.post(url, headers=headers, json={**body, "tools": tools, "messages": followup}).json()
    assert after["stop_reason"] == "end_turn" and after["content"][0]["text"].endswith("Tool said: rainy")
    none = http.post(url, headers=headers, json={**body, "tools": tools, "tool_choice": {"type": "none"}}).json()
    assert none["content"][0]["type"] == "text"


def test_anthropic_limits_stops_and_images(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = plain_call(fakes, "anthropic")
    short = http.post(url, headers=headers, json={**body, "max_tokens": 3}).json()
    assert short["stop_reason"] == "max_tokens" and short["usage"]["output_tokens"] == 3
    stopped = http.post(url, headers=headers, json={**body, "stop_sequences": ["good"]}).json()
    assert stopped["stop_reason"] == "stop_sequence" and stopped["stop_sequence"] == "good"
    assert stopped["content"][0]["text"].endswith("hello there my ")
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}
    content = [image, {"type": "text", "text": "what"}]
    pic = http.post(url, headers=headers, json={**body, "messages": [{"role": "user", "content": content}]})
    assert pic.json()["usage"]["input_tokens"] == 1 + IMAGE_TOKENS


def test_anthropic_request_errors(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = plain_call(fakes, "anthropic")
    no_version = http.post(url, headers={"x-api-key": "k"}, json=body)
    assert no_version.status_code == 400
    err = no_version.json()
    assert err["type"] == "error"
    assert err["error"] == {"type": "invalid_request_error", "message": "anthropic-version: header is required"}
    assert err["request_id"] == no_version.headers["request-id"]
    no_max = http.post(url, headers=headers, json={k: v for k, v in body.items() if k != "max_tokens"})
    assert no_max.status_code == 400 and no_max.json()["error"]["message"] == "max_tokens: Field required"
    fakes.anthropic.state.set(api_key="sk-ant-right")
    wrong = http.post(url, headers={**headers, "x-api-key": "sk-ant-wrong"}, json=body)
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"
    assert "sk-ant-wrong" in wrong.json()["error"]["message"]
    missing = http.post(url, headers={"anthropic-version": "2023-06-01"}, json=body)
    assert missing.status_code == 401
    assert http.post(url, headers={**headers, "x-api-key": "sk-ant-right"}, json=body).status_code == 200


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, "invalid_request_error"), (401, "authentication_error"), (403, "permission_error"),
     (404, "not_found_error"), (429, "rate_limit_error"), (500, "api_error"), (529, "overloaded_error")],
)
def test_anthropic_forced_errors(fakes: Fakes, http: httpx.Client, status: int, kind: str) -> None:
    fakes.anthropic.state.set(status=status, retry_after=7)
    r = send(http, plain_call(fakes, "anthropic"))
    assert r.status_code == status and r.headers["retry-after"] == "7"
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == kind


def test_anthropic_in_stream_error_event(fakes: Fakes, http: httpx.Client) -> None:
    fakes.anthropic.state.set(error_event_after_chunks=4)
    url, headers, body = stream_call(fakes, "anthropic")
    events = sse(http.post(url, headers=headers, json=body).text)
    assert [n for n, _ in events][:3] == ["message_start", "content_block_start", "ping"]
    assert len(events) == 5 and events[-1][0] == "error"
    error = jsonio.loads(events[-1][1])
    assert error == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


# --- Gemini -----------------------------------------------------------------------


def test_gemini_non_stream_shape(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = plain_call(fakes, "gemini")
    r = http.post(url, headers=headers, json={**body, "systemInstruction": {"parts": [{"text": "sys"}]}})
    assert r.status_code == 200
    data = r.json()
    (candidate,) = data["candidates"]
    assert candidate["content"]["role"] == "model" and candidate["finishReason"] == "STOP" and candidate["index"] == 0
    assert candidate["content"]["parts"] == [
        {"text": f"Hello from fake-gemini ({GEMINI_MODEL}). You said: hello there my good friend"}
    ]
    usage = data["usageMetadata"]
    assert usage["promptTokenCount"] == -(-len("syshello there my good friend") // 4)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert data["modelVersion"] == GEMINI_MODEL and data["responseId"]


def test_gemini_sse_stream(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = stream_call(fakes, "gemini")
    r = http.post(url, headers=headers, json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text.endswith("\r\n\r\n") and r.text.count("data: ") == r.text.count("\r\n\r\n")
    chunks = [jsonio.loads(d) for _, d in sse(r.text)]
    assert len(chunks) > 2
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert all("candidatesTokenCount" not in c["usageMetadata"] for c in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    text = "".join(p["text"] for c in chunks for p in c["candidates"][0]["content"]["parts"])
    plain = send(http, plain_call(fakes, "gemini")).json()
    assert text == plain["candidates"][0]["content"]["parts"][0]["text"]
    assert chunks[-1]["usageMetadata"] == plain["usageMetadata"]


def test_gemini_json_array_stream_without_alt_sse(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = stream_call(fakes, "gemini")
    r = http.post(url.replace("?alt=sse", ""), headers=headers, json=body)
    chunks = r.json()
    assert isinstance(chunks, list) and chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_gemini_keys(fakes: Fakes, http: httpx.Client) -> None:
    fakes.gemini.state.set(api_key="AIza-right")
    url, _, body = plain_call(fakes, "gemini")
    wrong = http.post(url, headers={"x-goog-api-key": "AIza-wrong"}, json=body)
    assert wrong.status_code == 400
    error = wrong.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == "API key not valid. Please pass a valid API key."
    assert error["details"][0]["reason"] == "API_KEY_INVALID"
    assert http.post(url, json=body).json()["error"]["status"] == "PERMISSION_DENIED"
    assert http.post(url, headers={"x-goog-api-key": "AIza-right"}, json=body).status_code == 200
    assert http.post(f"{url}?key=AIza-right", json=body).status_code == 200


def test_gemini_function_calls(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = plain_call(fakes, "gemini")
    tools = [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}]
    data = http.post(url, headers=headers, json={**body, "tools": tools}).json()
    candidate = data["candidates"][0]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
    s_url, _, s_body = stream_call(fakes, "gemini")
    streamed = http.post(s_url, headers=headers, json={**s_body, "tools": tools})
    (chunk,) = [jsonio.loads(d) for _, d in sse(streamed.text)]
    assert chunk["candidates"][0]["content"]["parts"][0]["functionCall"]["name"] == "get_weather"
    contents = [
        *body["contents"],
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp": 21}}}]},
    ]
    after = http.post(url, headers=headers, json={"contents": contents, "tools": tools}).json()
    assert after["candidates"][0]["content"]["parts"][0]["text"].endswith('Tool said: {"temp":21}')
    none = {"function_calling_config": {"mode": "NONE"}}
    plain = http.post(url, headers=headers, json={**body, "tools": tools, "tool_config": none}).json()
    assert "text" in plain["candidates"][0]["content"]["parts"][0]


def test_gemini_generation_config_snake_and_camel(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, body = plain_call(fakes, "gemini")
    short = http.post(url, headers=headers, json={**body, "generationConfig": {"maxOutputTokens": 2}}).json()
    assert short["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert short["usageMetadata"]["candidatesTokenCount"] == 2
    js = http.post(url, headers=headers, json={**body, "generation_config": {"response_mime_type": "application/json"}})
    assert "reply" in jsonio.loads(js.json()["candidates"][0]["content"]["parts"][0]["text"])
    image = {"inlineData": {"mimeType": "image/png", "data": "AA=="}}
    pic = http.post(url, headers=headers, json={"contents": [{"role": "user", "parts": [image, {"text": "what"}]}]})
    assert pic.json()["usageMetadata"]["promptTokenCount"] == 1 + IMAGE_TOKENS


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
def test_gemini_forced_errors(fakes: Fakes, http: httpx.Client, status: int, name: str) -> None:
    fakes.gemini.state.set(status=status, retry_after=3)
    url, headers, body = plain_call(fakes, "gemini")
    r = http.post(url, headers=headers, json=body)
    assert r.status_code == status and r.headers["retry-after"] == "3"
    error = r.json()["error"]
    assert error["code"] == status and error["status"] == name and error["message"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"} in error["details"]


def test_gemini_request_errors(fakes: Fakes, http: httpx.Client) -> None:
    url, headers, _ = plain_call(fakes, "gemini")
    missing = http.post(url, headers=headers, json={})
    assert missing.status_code == 400 and "contents is not specified" in missing.json()["error"]["message"]
    unknown = http.post(url.replace(":generateContent", ":fly"), headers=headers, json={})
    assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"


def test_gemini_in_stream_error(fakes: Fakes, http: httpx.Client) -> None:
    fakes.gemini.state.set(error_event_after_chunks=1)
    events = sse(send(http, stream_call(fakes, "gemini")).text)
    assert len(events) == 2
    assert jsonio.loads(events[-1][1])["error"]["status"] == "UNAVAILABLE"


# --- fault knobs on every provider ------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cut_stream_is_a_broken_response(fakes: Fakes, http: httpx.Client, provider: str) -> None:
    url, headers, body = stream_call(fakes, provider)
    whole = sse(http.post(url, headers=headers, json=body).text)
    assert ends_cleanly(provider, whole)
    state_of(fakes, provider).set(cut_after_chunks=2)
    received, error = read_until_broken(http, url, headers, body)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert len(sse(received)) == 2 and not ends_cleanly(provider, sse(received))
    # Past the end: everything but the terminal event, then the break.
    state_of(fakes, provider).set(cut_after_chunks=1000)
    received, error = read_until_broken(http, url, headers, body)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert len(sse(received)) == len(whole) - 1 and not ends_cleanly(provider, sse(received))
    assert state_of(fakes, provider).counters["cuts"] == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cut_non_stream_body_is_incomplete(fakes: Fakes, http: httpx.Client, provider: str) -> None:
    state_of(fakes, provider).set(cut_after_chunks=0)
    url, headers, body = plain_call(fakes, provider)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(url, headers=headers, json=body)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_chunk(fakes: Fakes, http: httpx.Client, provider: str) -> None:
    url, headers, body = stream_call(fakes, provider)
    clean = sse(http.post(url, headers=headers, json=body).text)
    state_of(fakes, provider).set(malformed_chunk_at=1)
    events = sse(http.post(url, headers=headers, json=body).text)
    assert len(events) == len(clean) + 1 and ends_cleanly(provider, events)
    broken = []
    for index, (_, data) in enumerate(events):
        try:
            jsonio.loads(data)
        except jsonio.JSONDecodeError:
            broken.append(index)
    expected = [1, len(events) - 1] if provider == "openai" else [1]  # "[DONE]" is not JSON either
    assert broken == expected
    plain_url, _, plain_body = plain_call(fakes, provider)
    with pytest.raises(jsonio.JSONDecodeError):
        jsonio.loads(http.post(plain_url, headers=headers, json=plain_body).content)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_hang_ends_when_the_client_leaves(fakes: Fakes, provider: str) -> None:
    state = state_of(fakes, provider)
    state.set(hang=True)
    url, headers, body = plain_call(fakes, provider)
    with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        client.post(url, headers=headers, json=body)
    assert state.wait_for(lambda: state.counters.get("disconnects", 0) == 1)
    assert state.counters["hangs"] == 1


def test_latency_wait_stops_when_the_client_leaves(fakes: Fakes) -> None:
    state = fakes.anthropic.state
    state.set(latency_ms=60_000)
    with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
        send(client, plain_call(fakes, "anthropic"))
    assert state.wait_for(lambda: state.counters.get("disconnects", 0) == 1)


def test_stream_delays_stop_when_the_client_leaves(fakes: Fakes, http: httpx.Client) -> None:
    state = fakes.gemini.state
    state.set(chunk_interval_ms=60_000)
    url, headers, body = stream_call(fakes, "gemini")
    with http.stream("POST", url, headers=headers, json=body) as response:
        first = next(response.iter_lines())
    assert first.startswith("data: ")
    assert state.wait_for(lambda: state.counters.get("disconnects", 0) == 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_ttft_delays_the_first_chunk_not_the_headers(fakes: Fakes, http: httpx.Client, provider: str) -> None:
    state_of(fakes, provider).set(ttft_ms=300)
    url, headers, body = stream_call(fakes, provider)
    with http.stream("POST", url, headers=headers, json=body) as response:
        headers_at = time.monotonic()
        next(response.iter_raw())
        first_at = time.monotonic()
    assert first_at - headers_at >= 0.25


def test_latency_and_chunk_interval(fakes: Fakes, http: httpx.Client) -> None:
    fakes.openai.state.set(latency_ms=150)
    started = time.monotonic()
    send(http, plain_call(fakes, "openai"))
    assert time.monotonic() - started >= 0.15
    fakes.openai.state.set(latency_ms=0, chunk_interval_ms=30)
    url, headers, body = stream_call(fakes, "openai")
    started = time.monotonic()
    events = sse(http.post(url, headers=headers, json=body).text)
    assert time.monotonic() - started >= 0.03 * (len(events) - 1)


# --- control API and runner -------------------------------------------------------


def test_control_api(fakes: Fakes, http: httpx.Client) -> None:
    base = fakes.gemini.url
    set_knobs = http.post(f"{base}/_fake/knobs", json={"model": GEMINI_MODEL, "status": 429, "fail_times": 1})
    assert set_knobs.status_code == 200 and set_knobs.json()["knobs"]["status"] == 429
    url, headers, body = plain_call(fakes, "gemini")
    assert [http.post(url, headers=headers, json=body).status_code for _ in range(2)] == [429, 200]
    recorded = http.get(f"{base}/_fake/requests").json()
    assert len(recorded["requests"]) == 2 and recorded["counters"]["errors"] == 1
    first = recorded["requests"][0]
    assert first["method"] == "POST" and first["path"] == f"/v1beta/models/{GEMINI_MODEL}:generateContent"
    assert first["body"] == body and first["headers"]["x-goog-api-key"] == "gk"
    assert http.post(f"{base}/_fake/knobs", json={"latency_ms": -1}).status_code == 400
    assert http.post(f"{base}/_fake/knobs", json={"bogus": 1}).status_code == 400
    assert http.post(f"{base}/_fake/knobs", content=b"[").status_code == 400
    assert http.post(f"{base}/_fake/reset").status_code == 200
    assert http.get(f"{base}/_fake/requests").json() == {"requests": [], "counters": {}}


def test_requests_are_recorded_with_headers_and_body(fakes: Fakes, oai: openai.OpenAI) -> None:
    openai_text(oai, temperature=0.5)
    (request,) = fakes.openai.state.requests
    assert request.path == "/v1/chat/completions" and request.headers["authorization"] == "Bearer sk-test"
    assert request.body["temperature"] == 0.5 and request.body["model"] == "gpt-4o"


def test_start_fakes_serves_three_providers_and_stops() -> None:
    with start_fakes() as running:
        urls = [f.url for f in running.all()]
        assert len(set(urls)) == 3
        assert httpx.get(f"{running.openai.url}/v1/models").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{urls[0]}/v1/models")


def test_app_factory_makes_its_own_state_and_answers_keep_alive_requests_promptly() -> None:
    app = create_openai_app()
    state = app.state.fake
    assert isinstance(state, FakeState)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    with BackgroundServer(app) as server, httpx.Client() as client:
        client.post(f"{server.url}/v1/chat/completions", json=body)
        started = time.monotonic()
        for _ in range(20):
            assert client.post(f"{server.url}/v1/chat/completions", json=body).status_code == 200
        # Without TCP_NODELAY each keep-alive response waits ~40 ms for a delayed ACK.
        assert time.monotonic() - started < 0.5
    assert state.counters["completed"] == 21


def test_run_main_prints_the_base_urls(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    stop.set()
    main(["--ports", "0", "0", "0"], stop=stop)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["openai", "anthropic", "gemini"]
    assert all(line.split()[1].startswith("http://127.0.0.1:") for line in lines[:3])
    assert lines[0].endswith("/v1")
