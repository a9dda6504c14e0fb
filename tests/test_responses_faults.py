"""Faults on ``/v1/responses``: a primary that fails before its first byte is invisible to the
client (the fallback answers, the headers say so), streamed or not, native or translated; a stream
that fails after its first event ends with the Responses ``error`` event, and the SDK raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory
from tests.responses_support import ANTHROPIC, CHAT_ONLY, GEMINI, NATIVE, client, write_config


@pytest.fixture
def gw(start_gateway: GatewayFactory, tmp_path: Path, fakes: Fakes) -> BackgroundServer:
    return start_gateway(write_config(tmp_path, fakes, openai_extra=", timeout_s: 0.5"), ttft_s=0.25, retries=0)


def _answer(sdk: openai.OpenAI, stream: bool, **kwargs: Any) -> tuple[Any, str]:
    raw = sdk.responses.with_raw_response.create(stream=stream, **kwargs)
    reply = raw.parse()
    if stream:
        events = list(reply)
        assert [e.sequence_number for e in events] == list(range(len(events)))
        return raw.headers, "".join(e.delta for e in events if e.type == "response.output_text.delta")
    return raw.headers, reply.output_text


@pytest.mark.parametrize("knobs", [
    {"status": 500}, {"status": 429, "retry_after": 30}, {"latency_ms": 3000}, {"malformed_chunk_at": 0},
    {"api_key": "a-key-the-gateway-does-not-have"},
])
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("route", "fallback", "fallback_fake"), [
    ("default", ANTHROPIC, "anthropic"),  # native first
    ("chat-first", GEMINI, "gemini"),  # chat-only openai-compatible first
])
def test_a_primary_failing_before_its_first_byte_falls_back(gw: BackgroundServer, fakes: Fakes, knobs: dict,
                                                            stream: bool, route: str, fallback: str,
                                                            fallback_fake: str) -> None:
    if knobs.get("malformed_chunk_at") is not None and not stream:
        knobs = {"cut_after_chunks": 0}  # a non-stream body cut half-way
    fakes.openai.state.set(**knobs)
    headers, text = _answer(client(gw), stream, model=route, input="Hello there")
    assert f"Hello from fake-{fallback_fake}" in text and "You said: Hello there" in text
    assert headers["x-grove-model"] == f"{fallback}@1" and headers["x-grove-attempts"] == "2"
    assert headers["x-grove-route"] == route
    assert len(fakes.openai.state.requests) == 1
    expected = "/v1/responses" if route == "default" else "/v1/chat/completions"
    assert fakes.openai.state.requests[0].path == expected


@pytest.mark.parametrize("model", [NATIVE, CHAT_ONLY])
@pytest.mark.parametrize("knobs", [{"cut_after_chunks": 4}, {"error_event_after_chunks": 4, "status": 500},
                                   {"malformed_chunk_at": 5}])
def test_a_failure_after_the_first_event_ends_the_stream_with_an_error_event(
        gw: BackgroundServer, fakes: Fakes, model: str, knobs: dict) -> None:
    fakes.openai.state.set(reply="one two three four five six seven eight nine ten eleven twelve thirteen", **knobs)
    seen: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for event in client(gw).responses.create(model=model, input="hi", stream=True):
            seen.append(event.type)
    assert seen[0] == "response.created" and "response.completed" not in seen
    error = caught.value.body
    assert isinstance(error, dict) and error["type"] == "upstream_error" and error["code"] == "bad_upstream_response"
    assert caught.value.message == error["message"] and "upstream" in error["message"]
    # on the wire: the last event is the Responses error event, with OpenAI's error object inside
    with httpx.stream("POST", f"{gw.url}/v1/responses", json={"model": model, "input": "hi", "stream": True}) as resp:
        body = resp.read().decode()
    assert resp.status_code == 200
    last = body.strip().split("\n\n")[-1]
    assert last.startswith("event: error\ndata: ") and '"type":"error"' in last and '"error":{' in last


def test_every_deployment_failing_is_one_error_in_openai_shape(gw: BackgroundServer, fakes: Fakes) -> None:
    for fake in fakes.all():
        fake.state.set(status=503)
    with pytest.raises(openai.APIStatusError) as caught:
        client(gw).responses.create(model="default", input="hi")
    assert caught.value.status_code in (502, 503)
    assert caught.value.response.headers["x-grove-attempts"] == "3"
