"""``POST /v1/completions`` (legacy) through the official openai client against a gateway on a real
port, the OpenAI fake upstream: bytes through, streams equal to non-streams, usage asked for and
hidden, refusals naming the endpoint to use, bad input refused before anything is sent, fallback
before the first byte and an error event after it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway import jsonio
from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory

INSTRUCT, DAVINCI, ROUTE = "gpt-3.5-turbo-instruct", "davinci-002", "legacy"
LEGACY_YAML = """\
models:
  - id: gpt-3.5-turbo-instruct
    provider: fake-openai
    context_window: 4096
    max_output_tokens: 4096
    capabilities: {reasoning: 4, creativity: 5, precision: 5, speed: 9, context: 2}
    prices: {input_per_mtok: 1.50, output_per_mtok: 2.00}
  - id: davinci-002
    provider: fake-openai
    context_window: 16384
    max_output_tokens: 4096
    capabilities: {reasoning: 3, creativity: 5, precision: 4, speed: 8, context: 3}
    prices: {input_per_mtok: 2.00, output_per_mtok: 2.00}
routes:
  - {name: legacy, models: [gpt-3.5-turbo-instruct, davinci-002]}
"""


@pytest.fixture
def legacy_config(demo_config: Path) -> Path:
    (demo_config / "legacy.yaml").write_text(LEGACY_YAML)
    return demo_config


@pytest.fixture
def legacy(start_gateway: GatewayFactory, legacy_config: Path) -> BackgroundServer:
    return start_gateway(legacy_config, retries=0)


def _client(gateway: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)


def test_a_stream_says_what_the_reply_says(legacy: BackgroundServer, fakes: Fakes) -> None:
    sdk = _client(legacy)
    raw = sdk.completions.with_raw_response.create(model=INSTRUCT, prompt="Say hello", max_tokens=100)
    whole = raw.parse()
    assert whole.object == "text_completion" and whole.model == INSTRUCT
    assert whole.choices[0].text == f"Hello from fake-openai ({INSTRUCT}). You said: Say hello"
    assert whole.choices[0].finish_reason == "stop"
    assert raw.headers["x-grove-model"] == f"{INSTRUCT}@1" and raw.headers["x-grove-attempts"] == "1"
    assert whole.usage is not None
    cost = (whole.usage.prompt_tokens * 1.50 + whole.usage.completion_tokens * 2.00) / 1e6
    assert float(raw.headers["x-grove-cost-usd"]) == pytest.approx(cost)
    chunks = list(sdk.completions.create(model=INSTRUCT, prompt="Say hello", max_tokens=100, stream=True,
                                         stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert len(chunks) > 3 and all(c.object == "text_completion" for c in chunks)
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_the_default_max_tokens_is_openais_sixteen(legacy: BackgroundServer) -> None:
    reply = _client(legacy).completions.create(model=INSTRUCT, prompt="Say hello")
    assert reply.choices[0].finish_reason == "length" and reply.usage is not None
    assert reply.usage.completion_tokens == 16


def test_the_client_bytes_go_upstream_and_a_stream_is_asked_for_its_usage(legacy: BackgroundServer,
                                                                         fakes: Fakes) -> None:
    raw = b'{"model": "gpt-3.5-turbo-instruct",  "prompt": ["one", "two"], "max_tokens": 50, "logit_bias": {}}'
    resp = httpx.post(f"{legacy.url}/v1/completions", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text
    assert [c["text"].endswith(said) for c, said in zip(resp.json()["choices"], ("one", "two"))] == [True, True]
    sent = fakes.openai.state.requests[-1]
    assert sent.path == "/v1/completions" and sent.body == jsonio.loads(raw)
    # A stream whose client asked for no usage: the upstream is asked (the gateway accounts for it)
    # and the usage chunk is not relayed.
    events = []
    with httpx.stream("POST", f"{legacy.url}/v1/completions",
                      json={"model": INSTRUCT, "prompt": "hi", "stream": True, "max_tokens": 50}) as streamed:
        assert streamed.status_code == 200
        events = [line[len("data: "):] for line in streamed.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [jsonio.loads(e) for e in events[:-1]]
    assert chunks and all(c["choices"] for c in chunks) and all(c.get("usage") is None for c in chunks)
    assert fakes.openai.state.requests[-1].body["stream_options"] == {"include_usage": True}


def test_token_prompts_and_several_prompts(legacy: BackgroundServer) -> None:
    sdk = _client(legacy)
    tokens = sdk.completions.create(model=INSTRUCT, prompt=[15339, 1917], max_tokens=100)
    assert tokens.choices[0].text.endswith("You said: 15339 1917")
    several = sdk.completions.create(model=INSTRUCT, prompt=[[1, 2], [3]], max_tokens=100)
    assert [c.index for c in several.choices] == [0, 1]


@pytest.mark.parametrize(("model", "kind"), [("claude-sonnet-4-5", "an anthropic"), ("gemini-2.5-flash", "a gemini")])
def test_a_model_of_another_provider_kind_is_told_which_endpoint_to_use(legacy: BackgroundServer, fakes: Fakes,
                                                                       model: str, kind: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _client(legacy).completions.create(model=model, prompt="hi")
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    assert caught.value.body["message"] == (f"The model '{model}' is served by {kind} provider, which has no legacy "
                                           "completions endpoint; use POST /v1/chat/completions.")  # type: ignore[index]
    assert all(f.state.requests == [] for f in fakes.all())


def test_an_embedding_model_is_told_its_endpoint(legacy: BackgroundServer, fakes: Fakes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _client(legacy).completions.create(model="text-embedding-3-small", prompt="hi")
    assert "'text-embedding-3-small' is an embedding model; it serves POST /v1/embeddings" in caught.value.message
    assert fakes.openai.state.requests == []


def test_an_openai_chat_model_gets_the_upstreams_answer(legacy: BackgroundServer, fakes: Fakes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _client(legacy).completions.create(model="gpt-4.1-mini", prompt="hi")
    assert "This is a chat model and not supported in the v1/completions endpoint" in caught.value.message
    assert len(fakes.openai.state.requests) == 1


@pytest.mark.parametrize(("body", "param"), [
    (b"{", None),
    (b"", None),
    ({"prompt": "hi"}, "model"),
    ({"model": INSTRUCT}, "prompt"),
    ({"model": INSTRUCT, "prompt": None}, "prompt"),
    ({"model": INSTRUCT, "prompt": {"text": "hi"}}, "prompt"),
    ({"model": INSTRUCT, "prompt": []}, "prompt"),
    ({"model": INSTRUCT, "prompt": ["a", 1]}, "prompt"),
    ({"model": INSTRUCT, "prompt": [1, -1]}, "prompt"),
    ({"model": INSTRUCT, "prompt": [[1], []]}, "prompt"),
    ({"model": INSTRUCT, "prompt": "hi", "max_tokens": 0}, "max_tokens"),
    ({"model": INSTRUCT, "prompt": "hi", "max_tokens": "16"}, "max_tokens"),
    ({"model": INSTRUCT, "prompt": "hi", "stream": "yes"}, "stream"),
    ({"model": INSTRUCT, "prompt": "hi", "stream_options": {"include_usage": True}}, "stream_options"),
    ({"model": INSTRUCT, "prompt": "hi", "temperature": 3}, "temperature"),
    ({"model": INSTRUCT, "prompt": "hi", "stop": 5}, "stop"),
    ({"model": INSTRUCT, "prompt": "hi", "echo": "true"}, "echo"),
])
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_sent(legacy: BackgroundServer, fakes: Fakes,
                                                                 body: Any, param: str | None) -> None:
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    resp = httpx.post(f"{legacy.url}/v1/completions", **kwargs, timeout=10)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    if param is not None:
        assert f"'{param}" in error["message"]
    assert all(f.state.requests == [] for f in fakes.all())


@pytest.mark.parametrize("knobs", [{"status": 500}, {"status": 429}, {"cut_after_chunks": 0},
                                   {"malformed_chunk_at": 0}])
@pytest.mark.parametrize("stream", [False, True])
def test_a_failure_before_the_first_byte_falls_back(legacy: BackgroundServer, fakes: Fakes,
                                                    knobs: dict[str, Any], stream: bool) -> None:
    fakes.openai.state.set(INSTRUCT, **knobs)
    raw = _client(legacy).completions.with_raw_response.create(model=ROUTE, prompt="hi", max_tokens=100,
                                                               stream=stream)  # type: ignore[call-overload]
    reply = raw.parse()
    text = "".join(c.choices[0].text for c in reply if c.choices) if stream else reply.choices[0].text
    assert text == f"Hello from fake-openai ({DAVINCI}). You said: hi"
    assert raw.headers["x-grove-model"] == f"{DAVINCI}@1" and raw.headers["x-grove-attempts"] == "2"
    assert raw.headers["x-grove-route"] == ROUTE
    assert [r.body["model"] for r in fakes.openai.state.requests] == [INSTRUCT, DAVINCI]


@pytest.mark.parametrize("knobs", [{"error_event_after_chunks": 1}, {"cut_after_chunks": 2},
                                   {"malformed_chunk_at": 2}])
def test_a_failure_after_the_first_byte_ends_the_stream_with_an_error_the_sdk_raises(
        legacy: BackgroundServer, fakes: Fakes, knobs: dict[str, Any]) -> None:
    fakes.openai.state.set(INSTRUCT, **knobs)
    stream = _client(legacy).completions.create(model=ROUTE, prompt="hi", max_tokens=100, stream=True)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert received and received[0].choices[0].text  # the first chunk went out: no fallback after it
    assert caught.value.body is not None
    assert [r.body["model"] for r in fakes.openai.state.requests] == [INSTRUCT]
