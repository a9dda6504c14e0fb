"""``/v1/responses`` through the official openai client, on every provider kind: an upstream that
serves the Responses API natively (bytes through), a chat-only OpenAI-compatible server, Anthropic
and Gemini (through chat); tools, stored responses and ``previous_response_id``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory
from tests.responses_support import ANTHROPIC, CHAT_ONLY, EMBEDDING, GEMINI, MODELS, NATIVE, client, write_config

WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture
def gw(start_gateway: GatewayFactory, tmp_path: Path, fakes: Fakes) -> BackgroundServer:
    return start_gateway(write_config(tmp_path, fakes))


def _stream(sdk: openai.OpenAI, **kwargs: Any) -> tuple[list[Any], str]:
    events = list(sdk.responses.create(stream=True, **kwargs))
    return events, "".join(e.delta for e in events if e.type == "response.output_text.delta")


def _sent(fakes: Fakes) -> list[tuple[str, Any]]:
    return [(r.path, r.body) for fake in fakes.all() for r in fake.state.requests]


@pytest.mark.parametrize("model", MODELS)
def test_each_provider_kind_answers_streamed_and_not(gw: BackgroundServer, fakes: Fakes, model: str) -> None:
    sdk = client(gw)
    raw = sdk.responses.with_raw_response.create(model=model, input="Hello there", instructions="Be brief.")
    reply = raw.parse()
    assert raw.headers["x-grove-model"] == f"{model}@1" and raw.headers["x-grove-attempts"] == "1"
    assert reply.object == "response" and reply.status == "completed" and reply.id.startswith("resp_")
    assert "You said: Hello there" in reply.output_text
    assert reply.usage is not None and reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.usage.total_tokens == reply.usage.input_tokens + reply.usage.output_tokens
    assert [item.type for item in reply.output] == ["message"]

    events, text = _stream(sdk, model=model, input="Hello there", instructions="Be brief.")
    assert text == reply.output_text
    kinds = [e.type for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed" and "response.output_text.done" in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1].response
    assert completed.output_text == text and completed.usage == reply.usage and completed.status == "completed"


def test_each_kind_reaches_its_upstream_in_its_own_format(gw: BackgroundServer, fakes: Fakes) -> None:
    sdk = client(gw)
    sdk.responses.create(model=NATIVE, input="one")
    sdk.responses.create(model=CHAT_ONLY, input="two", instructions="Be brief.", max_output_tokens=50,
                         temperature=0.5, reasoning={"effort": "low"},
                         text={"format": {"type": "json_schema", "name": "reply", "strict": True,
                                          "schema": {"type": "object", "properties": {"reply": {"type": "string"}}}}})
    (native_path, native_body), (chat_path, chat_body) = _sent(fakes)
    assert native_path == "/v1/responses" and native_body == {"model": NATIVE, "input": "one"}  # bytes through
    assert chat_path == "/v1/chat/completions"
    assert chat_body["model"] == "served-llama"  # the deployment's upstream model
    assert chat_body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "two"}]
    assert chat_body["max_tokens"] == 50 and chat_body["temperature"] == 0.5 and chat_body["reasoning_effort"] == "low"
    assert chat_body["response_format"]["type"] == "json_schema"
    assert chat_body["response_format"]["json_schema"]["name"] == "reply"


def test_json_schema_output_on_a_translated_provider(gw: BackgroundServer) -> None:
    reply = client(gw).responses.create(
        model=CHAT_ONLY, input="hi",
        text={"format": {"type": "json_schema", "name": "reply", "schema": {"type": "object"}}})
    assert "reply" in json.loads(reply.output_text)


def test_images_and_messages_as_items(gw: BackgroundServer, fakes: Fakes) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    reply = client(gw).responses.create(model=CHAT_ONLY, input=[
        {"role": "user", "content": [{"type": "input_text", "text": "What is this?"},
                                     {"type": "input_image", "image_url": image}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A pixel."}]},
        {"role": "user", "content": "Sure?"},
    ])
    assert "You said: Sure?" in reply.output_text
    (_, body), = _sent(fakes)
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"][1]["image_url"]["url"] == image


@pytest.mark.parametrize("model", [NATIVE, CHAT_ONLY, ANTHROPIC, GEMINI])
def test_function_tool_round_trip(gw: BackgroundServer, model: str) -> None:
    sdk = client(gw)
    first = sdk.responses.create(model=model, input="Weather in Paris?", tools=[WEATHER],  # type: ignore[list-item]
                                 tool_choice={"type": "function", "name": "get_weather"})
    call, = first.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}

    events, _ = _stream(sdk, model=model, input="Weather in Paris?", tools=[WEATHER])
    streamed = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(streamed) == {"city": "Paris"}
    done, = (e for e in events if e.type == "response.output_item.done")
    assert done.item.type == "function_call" and done.item.arguments == streamed

    second = sdk.responses.create(model=model, tools=[WEATHER], input=[  # type: ignore[list-item]
        {"role": "user", "content": "Weather in Paris?"},
        *first.output,  # as apps send it back: the SDK's own output item
        {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21 C"},
    ])
    assert "Tool said: " in second.output_text and "Sunny, 21 C" in second.output_text  # Gemini wraps it in JSON


@pytest.mark.parametrize(("first_model", "next_model"), [(NATIVE, NATIVE), (NATIVE, ANTHROPIC), (GEMINI, CHAT_ONLY)])
def test_previous_response_id_continues_on_any_provider(gw: BackgroundServer, fakes: Fakes, first_model: str,
                                                        next_model: str) -> None:
    sdk = client(gw)
    first = sdk.responses.create(model=first_model, input="My name is Ada.", instructions="Be brief.")
    for fake in fakes.all():
        fake.state.reset()
    follow = sdk.responses.create(model=next_model, input="What is my name?", previous_response_id=first.id)
    assert "You said: What is my name?" in follow.output_text and follow.id != first.id
    (path, body), = _sent(fakes)
    if next_model == NATIVE:  # the whole conversation, and no id the upstream never saw
        assert path == "/v1/responses" and "previous_response_id" not in body
        assert [i.get("role") for i in body["input"]] == ["user", "assistant", "user"]
        assert body["input"][1]["content"][0]["text"] == first.output_text
    elif next_model == ANTHROPIC:
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        assert "system" not in body  # instructions are not carried over, as OpenAI does
    else:
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    # and a stream continues the follow-up
    assert follow.previous_response_id == first.id
    events, text = _stream(sdk, model=next_model, input="And again?", previous_response_id=follow.id)
    assert "You said: And again?" in text
    assert events[0].response.previous_response_id == events[-1].response.previous_response_id == follow.id


def test_get_delete_and_input_items(gw: BackgroundServer) -> None:
    sdk = client(gw)
    created = sdk.responses.create(model=ANTHROPIC, input=[
        {"role": "user", "content": "first"}, {"role": "user", "content": "second"}])
    got = sdk.responses.retrieve(created.id)
    assert got.id == created.id and got.output_text == created.output_text
    items = sdk.responses.input_items.list(created.id, order="asc")
    assert [i.content[0].text for i in items.data] == ["first", "second"]  # type: ignore[union-attr]
    assert all(i.id for i in items.data)
    newest = sdk.responses.input_items.list(created.id, limit=1)
    assert [i.content[0].text for i in newest.data] == ["second"] and newest.has_more  # type: ignore[union-attr]
    bad = httpx.get(f"{gw.url}/v1/responses/{created.id}/input_items?limit=0")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"
    sdk.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(created.id)


def test_a_streamed_response_is_stored_too(gw: BackgroundServer) -> None:
    sdk = client(gw)
    events, text = _stream(sdk, model=GEMINI, input="hi")
    response_id = events[-1].response.id
    assert sdk.responses.retrieve(response_id).output_text == text


def test_store_false_keeps_nothing(gw: BackgroundServer) -> None:
    sdk = client(gw)
    created = sdk.responses.create(model=NATIVE, input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.responses.create(model=NATIVE, input="hi", previous_response_id=created.id)
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_unknown_previous_response_id_is_a_404_naming_it(gw: BackgroundServer, fakes: Fakes) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(gw).responses.create(model=NATIVE, input="hi", previous_response_id="resp_nope")
    assert caught.value.status_code == 404
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert "resp_nope" in caught.value.message
    assert _sent(fakes) == []


@pytest.mark.parametrize(("body", "param"), [
    ({"model": NATIVE}, "input"),
    ({"input": "hi"}, "model"),
    ({"model": NATIVE, "input": 5}, "input"),
    ({"model": NATIVE, "input": []}, "input"),
    ({"model": NATIVE, "input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
    ({"model": NATIVE, "input": [{"role": "user"}]}, "input[0].content"),
    ({"model": NATIVE, "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"model": NATIVE, "input": [{"role": "user", "content": [{"type": "input_text", "text": 3}]}]},
     "input[0].content[0].text"),
    ({"model": NATIVE, "input": "hi", "tools": [{"type": "function"}]}, "tools[0].name"),
    ({"model": NATIVE, "input": "hi", "tool_choice": {"type": "function"}}, "tool_choice.name"),
    ({"model": NATIVE, "input": "hi", "max_output_tokens": "10"}, "max_output_tokens"),
    ({"model": NATIVE, "input": "hi", "temperature": 3}, "temperature"),
    ({"model": NATIVE, "input": "hi", "stream": "yes"}, "stream"),
    ({"model": NATIVE, "input": "hi", "text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"model": NATIVE, "input": "hi", "reasoning": {"effort": "max"}}, "reasoning.effort"),
    ({"model": NATIVE, "input": "hi", "previous_response_id": ""}, "previous_response_id"),
    ({"model": NATIVE, "input": "hi", "background": True}, "background"),
])
def test_bad_input_is_a_400_naming_the_field_and_nothing_goes_upstream(
        gw: BackgroundServer, fakes: Fakes, body: dict[str, Any], param: str) -> None:
    resp = httpx.post(f"{gw.url}/v1/responses", json=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and param in error["message"]
    assert _sent(fakes) == []


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b'{"model": "x", "input": "\xff"}'])
def test_malformed_bodies_are_a_400(gw: BackgroundServer, fakes: Fakes, raw: bytes) -> None:
    resp = httpx.post(f"{gw.url}/v1/responses", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json"
    assert _sent(fakes) == []


def test_the_sdk_raises_its_bad_request_error(gw: BackgroundServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(gw).responses.create(model=NATIVE, input="hi", max_output_tokens=0)
    assert caught.value.body["param"] == "max_output_tokens"  # type: ignore[index]


def test_an_embedding_model_is_refused(gw: BackgroundServer, fakes: Fakes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(gw).responses.create(model=EMBEDDING, input="hi")
    assert caught.value.body["param"] == "model" and caught.value.code == "model_not_supported"  # type: ignore[index]
    assert "embedding model" in caught.value.message
    assert _sent(fakes) == []


def test_unknown_model_is_a_404(gw: BackgroundServer, fakes: Fakes) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(gw).responses.create(model="no-such-model", input="hi")
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    assert _sent(fakes) == []


def test_the_fake_speaks_the_responses_wire_format(fakes: Fakes) -> None:
    """The official SDK straight against the fake: the format the native path relays."""
    sdk = openai.OpenAI(base_url=f"{fakes.openai.url}/v1", api_key="x", max_retries=0)
    reply = sdk.responses.create(model="gpt-4o", input="hi", instructions="Be brief.")
    assert reply.output_text == "Hello from fake-openai (gpt-4o). You said: hi" and reply.usage is not None
    events, text = _stream(sdk, model="gpt-4o", input="hi", instructions="Be brief.")
    assert text == reply.output_text and events[-1].response.usage == reply.usage
    call = sdk.responses.create(model="gpt-4o", input="hi", tools=[WEATHER]).output[0]  # type: ignore[list-item]
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}
    fakes.openai.state.set(error_event_after_chunks=2)
    events = list(sdk.responses.create(model="gpt-4o", input="hi", stream=True))
    assert [e.type for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1].type == "error" and events[-1].message and len(events) == 3  # the documented event


@pytest.mark.parametrize("model", MODELS)
def test_the_sdks_stream_helper_assembles_the_events(gw: BackgroundServer, model: str) -> None:
    """``responses.stream`` checks the event sequence as it builds its snapshot (items, parts)."""
    sdk = client(gw)
    with sdk.responses.stream(model=model, input="hello there") as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert final.output_text == deltas and "You said: hello there" in deltas
    with sdk.responses.stream(model=model, input="Weather?", tools=[WEATHER]) as stream:  # type: ignore[list-item]
        call, = stream.get_final_response().output
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "Paris"}


class _Reply(BaseModel):
    reply: str


@pytest.mark.parametrize("model", [NATIVE, CHAT_ONLY, GEMINI])  # (the Anthropic fake has no JSON mode)
def test_structured_output_through_the_sdks_parse(gw: BackgroundServer, model: str) -> None:
    parsed = client(gw).responses.parse(model=model, input="hi", text_format=_Reply).output_parsed
    assert isinstance(parsed, _Reply) and "You said: hi" in parsed.reply


@pytest.mark.parametrize("model", [NATIVE, CHAT_ONLY, ANTHROPIC])
def test_a_tool_result_continues_the_stored_call(gw: BackgroundServer, model: str) -> None:
    """The usual Responses loop: only the function_call_output, with previous_response_id."""
    sdk = client(gw)
    first = sdk.responses.create(model=model, input="Weather in Paris?", tools=[WEATHER])  # type: ignore[list-item]
    call, = first.output
    assert call.type == "function_call"
    second = sdk.responses.create(model=model, tools=[WEATHER], previous_response_id=first.id,  # type: ignore[list-item]
                                  input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Rain"}])
    assert "Tool said: Rain" in second.output_text
    assert second.previous_response_id == first.id
