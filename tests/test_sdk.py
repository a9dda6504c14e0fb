"""The official openai client against a gateway on a real port, through each provider kind."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from gateway.fakes.background import BackgroundServer

MODELS = ["gpt-4.1-mini", "claude-sonnet-4-5", "gemini-2.5-flash"]
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Tell me about the grove."},
]


def _client(gateway: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_sync_stream_matches_non_stream(gateway: BackgroundServer, model: str) -> None:
    client = _client(gateway)
    whole = client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
    text = whole.choices[0].message.content
    assert text and "grove" in text
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage is not None and whole.usage.prompt_tokens > 0 and whole.usage.completion_tokens > 0

    chunks = list(client.chat.completions.create(
        model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True},  # type: ignore[arg-type]
    ))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1, "reply came in one piece"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and chunks[-1].usage is not None and chunks[-1].choices == []
    assert usage_chunks[0].usage.prompt_tokens == whole.usage.prompt_tokens
    assert usage_chunks[0].usage.completion_tokens == whole.usage.completion_tokens


@pytest.mark.parametrize("model", MODELS)
def test_stream_without_include_usage_has_no_usage_chunk(gateway: BackgroundServer, model: str) -> None:
    chunks = list(_client(gateway).chat.completions.create(model=model, messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert chunks and all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


@pytest.mark.parametrize("model", MODELS)
def test_async_client_stream_and_non_stream(gateway: BackgroundServer, model: str) -> None:
    async def run() -> tuple[str, str, int, int]:
        client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
        async with client:
            whole = await client.chat.completions.create(model=model, messages=MESSAGES)  # type: ignore[arg-type]
            stream = await client.chat.completions.create(
                model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True},  # type: ignore[arg-type]
            )
            parts, usage = [], 0
            async for chunk in stream:
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
                if chunk.usage:
                    usage = chunk.usage.total_tokens
            assert whole.usage is not None
            return whole.choices[0].message.content or "", "".join(parts), whole.usage.total_tokens, usage

    text, streamed, usage_whole, usage_stream = asyncio.run(run())
    assert text and streamed == text
    assert usage_whole == usage_stream > 0


@pytest.mark.parametrize("model", MODELS)
def test_tool_calls_round_trip(gateway: BackgroundServer, model: str) -> None:
    client = _client(gateway)
    tools = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }]
    first = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools,  # type: ignore[arg-type]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"
    assert '"city"' in call.function.arguments

    streamed = list(client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools, stream=True,  # type: ignore[arg-type]
    ))
    names = [tc.function.name for c in streamed if c.choices for tc in (c.choices[0].delta.tool_calls or [])
             if tc.function and tc.function.name]
    args = "".join(tc.function.arguments or "" for c in streamed if c.choices
                   for tc in (c.choices[0].delta.tool_calls or []) if tc.function)
    assert names == ["get_weather"]
    assert json.loads(args) == json.loads(call.function.arguments) == {"city": "Paris"}

    follow_up = client.chat.completions.create(
        model=model,
        messages=[  # type: ignore[list-item]
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
        ],
        tools=tools,  # type: ignore[arg-type]
    )
    assert follow_up.choices[0].finish_reason == "stop"
    assert follow_up.choices[0].message.content


@pytest.mark.parametrize("model", MODELS)
def test_image_parts_and_json_mode(gateway: BackgroundServer, model: str) -> None:
    pixel = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    reply = _client(gateway).chat.completions.create(
        model=model,
        response_format={"type": "json_object"},
        messages=[{"role": "user", "content": [  # type: ignore[list-item]
            {"type": "text", "text": "Describe this picture as JSON."},
            {"type": "image_url", "image_url": {"url": pixel}},
        ]}],
    )
    assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_models_endpoints_in_openai_shape(gateway: BackgroundServer) -> None:
    client = _client(gateway)
    ids = [m.id for m in client.models.list()]
    assert set(MODELS) <= set(ids) and "default" in ids
    model = client.models.retrieve("claude-sonnet-4-5")
    assert model.id == "claude-sonnet-4-5" and model.object == "model" and model.owned_by == "fake-anthropic"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("no-such-model")
    assert "GET /v1/models" in str(info.value)


def test_route_serves_its_first_model_with_headers(gateway: BackgroundServer) -> None:
    raw = _client(gateway).chat.completions.with_raw_response.create(model="default", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.headers["x-grove-route"] == "default"
    assert raw.headers["x-grove-model"].startswith("gpt-4.1-mini@")
    assert raw.headers["x-grove-attempts"] == "1"
    assert len(raw.headers["x-grove-request-id"]) == 32
    assert "fake-openai" in (raw.parse().choices[0].message.content or "")
