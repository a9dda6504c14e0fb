"""Upstream failures reach the client as OpenAI-style 4xx/5xx errors; streams never end silently."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory

HI = [{"role": "user", "content": "hi"}]
# A prompt long enough that every fake streams its echo in many chunks.
LONG = [{"role": "user", "content": " ".join(f"word{i}" for i in range(60))}]
# (model, the fake serving it, its upstream model name)
KINDS = [("gpt-4.1-mini", "openai"), ("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-flash", "gemini")]


def _fake(fakes: Fakes, name: str):  # type: ignore[no-untyped-def]
    return getattr(fakes, name)


def _client(gateway: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)


@pytest.mark.parametrize(("model", "fake"), KINDS)
@pytest.mark.parametrize(
    ("upstream_status", "status", "error_class"),
    [(500, 502, openai.InternalServerError), (503, 503, openai.InternalServerError),
     (429, 429, openai.RateLimitError)],
)
def test_upstream_error_status_maps(gateway: BackgroundServer, fakes: Fakes, model: str, fake: str,
                                    upstream_status: int, status: int, error_class: type) -> None:
    _fake(fakes, fake).state.set(status=upstream_status, retry_after=7, error_message="the fake is on fire")
    with pytest.raises(error_class) as info:
        _client(gateway).chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
    assert info.value.status_code == status
    body = info.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    if upstream_status == 429:
        assert info.value.response.headers["retry-after"] == "7"


@pytest.mark.parametrize(("model", "fake"), KINDS)
def test_upstream_bad_request_is_the_clients_400(gateway: BackgroundServer, fakes: Fakes, model: str,
                                                  fake: str) -> None:
    _fake(fakes, fake).state.set(status=400, error_message="temperature is out of range for this model")
    with pytest.raises(openai.BadRequestError) as info:
        _client(gateway).chat.completions.create(model=model, messages=HI)  # type: ignore[arg-type]
    assert "temperature is out of range" in str(info.value)


def test_upstream_timeout_is_504(start_gateway: GatewayFactory, demo_config: Path, fakes: Fakes) -> None:
    text = (demo_config / "demo.yaml").read_text().replace(
        'base_url: "' + fakes.openai.url + '/v1"}', 'base_url: "' + fakes.openai.url + '/v1", timeout_s: 0.3}'
    )
    (demo_config / "demo.yaml").write_text(text)
    gateway = start_gateway(demo_config)
    fakes.openai.state.set(latency_ms=5000)
    with pytest.raises(openai.APIStatusError) as info:
        _client(gateway).chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    assert info.value.status_code == 504


def test_unreachable_upstream_is_503(start_gateway: GatewayFactory, tmp_path: Path) -> None:
    from tests.conftest import free_port

    port = free_port()  # nothing listens there
    (tmp_path / "c.yaml").write_text(f"""
providers: [{{id: gone, kind: openai-compatible, base_url: "http://127.0.0.1:{port}/v1"}}]
models:
  - id: m
    provider: gone
    context_window: 1000
    max_output_tokens: 100
    capabilities: {{reasoning: 1, creativity: 1, precision: 1, speed: 1, context: 1}}
    prices: {{input_per_mtok: 1, output_per_mtok: 1}}
""")
    gateway = start_gateway(tmp_path)
    resp = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "m", "messages": HI})
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "upstream_unavailable"


@pytest.mark.parametrize(("model", "fake"), KINDS)
def test_stream_cut_after_first_chunk_ends_with_error_event(gateway: BackgroundServer, fakes: Fakes, model: str,
                                                            fake: str) -> None:
    _fake(fakes, fake).state.set(cut_after_chunks=6)
    stream = _client(gateway).chat.completions.create(model=model, messages=LONG, stream=True)  # type: ignore[arg-type]
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert received, "the first chunk should have been committed before the cut"
    assert "upstream" in str(info.value)


@pytest.mark.parametrize(("model", "fake"), KINDS)
def test_stream_error_event_and_malformed_chunk(gateway: BackgroundServer, fakes: Fakes, model: str,
                                                fake: str) -> None:
    for knobs in ({"error_event_after_chunks": 6}, {"malformed_chunk_at": 6}):
        _fake(fakes, fake).state.reset()
        _fake(fakes, fake).state.set(**knobs)
        with httpx.stream("POST", f"{gateway.url}/v1/chat/completions",
                          json={"model": model, "messages": LONG, "stream": True}) as resp:
            assert resp.status_code == 200
            events = [line for line in resp.iter_lines() if line.startswith("data: ")]
        assert len(events) > 2, knobs  # content was committed before the failure
        assert events[-1] != "data: [DONE]", knobs
        assert '"error"' in events[-1], knobs


@pytest.mark.parametrize(("model", "fake"), KINDS)
def test_stream_failing_before_first_chunk_is_a_status_error(gateway: BackgroundServer, fakes: Fakes, model: str,
                                                             fake: str) -> None:
    _fake(fakes, fake).state.set(status=503)
    with pytest.raises(openai.InternalServerError) as info:
        list(_client(gateway).chat.completions.create(model=model, messages=HI, stream=True))  # type: ignore[arg-type]
    assert info.value.status_code == 503
