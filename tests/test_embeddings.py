"""``POST /v1/embeddings`` through the official openai client against a gateway on a real port, with
the OpenAI and Gemini fakes upstream: the input shapes, float and base64, ``dimensions``, the wire
each upstream sees, mode errors both ways, bad input refused before anything is sent, and a
fallback between embedding models."""

from __future__ import annotations

import base64
import math
from array import array
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from gateway.fakes.vectors import vector
from tests.conftest import GatewayFactory

OPENAI_MODEL, GEMINI_MODEL, ROUTE = "text-embedding-3-small", "gemini-embedding-001", "embeddings"
TEXTS = ["The quick brown fox", "jumps over the lazy dog", "Ünïcødé and 漢字 too"]


def _client(gateway: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)


def _decoded(text: str) -> list[float]:
    return array("f", base64.b64decode(text)).tolist()


def _unit(values: list[float]) -> bool:
    return math.isclose(math.fsum(v * v for v in values), 1.0, rel_tol=1e-5)


@pytest.mark.parametrize("model", [OPENAI_MODEL, GEMINI_MODEL])
def test_float_and_base64_say_the_same_thing(gateway: BackgroundServer, fakes: Fakes, model: str) -> None:
    sdk = _client(gateway)
    floats = sdk.embeddings.create(model=model, input=TEXTS, encoding_format="float")
    encoded = sdk.embeddings.create(model=model, input=TEXTS, encoding_format="base64")
    decoded_by_sdk = sdk.embeddings.create(model=model, input=TEXTS)  # the SDK asks for base64 and decodes it
    assert [d.index for d in floats.data] == [0, 1, 2]
    for i, text in enumerate(TEXTS):
        values = floats.data[i].embedding
        assert len(values) == 1536 and _unit(values)
        assert values == vector(text, 1536)  # the fake's vector for this text, unchanged on the way
        as_text = encoded.data[i].embedding
        assert isinstance(as_text, str) and _decoded(as_text) == values
        assert decoded_by_sdk.data[i].embedding == values
    assert floats.object == "list" and floats.data[0].object == "embedding"
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 0


@pytest.mark.parametrize("model", [OPENAI_MODEL, GEMINI_MODEL])
def test_a_string_and_dimensions(gateway: BackgroundServer, model: str) -> None:
    sdk = _client(gateway)
    one = sdk.embeddings.create(model=model, input="hello world", dimensions=256, encoding_format="float")
    assert len(one.data) == 1 and len(one.data[0].embedding) == 256
    assert one.data[0].embedding == vector("hello world", 256) and _unit(one.data[0].embedding)
    short = sdk.embeddings.create(model=model, input="hello world", dimensions=8, encoding_format="base64")
    assert _decoded(short.data[0].embedding) == vector("hello world", 8)  # type: ignore[arg-type]


def test_token_arrays_go_to_an_openai_compatible_upstream(gateway: BackgroundServer, fakes: Fakes) -> None:
    sdk = _client(gateway)
    single = sdk.embeddings.create(model=OPENAI_MODEL, input=[9906, 1917], encoding_format="float")
    assert single.data[0].embedding == vector("9906 1917", 1536)
    assert single.usage.prompt_tokens == 2  # counted by the upstream: the tokens themselves
    many = sdk.embeddings.create(model=OPENAI_MODEL, input=[[1, 2, 3], [4]], encoding_format="base64")
    assert [_decoded(d.embedding) for d in many.data] == [vector("1 2 3", 1536), vector("4", 1536)]  # type: ignore[arg-type]
    assert many.usage.prompt_tokens == 4
    assert [r.body["input"] for r in fakes.openai.state.requests] == [[9906, 1917], [[1, 2, 3], [4]]]


def test_the_openai_upstream_gets_the_clients_bytes(gateway: BackgroundServer, fakes: Fakes) -> None:
    raw = b'{"model": "text-embedding-3-small",   "input": ["a", "b"], "encoding_format": "float", "x_extra": 1}'
    resp = httpx.post(f"{gateway.url}/v1/embeddings", content=raw, headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text
    (sent,) = fakes.openai.state.requests
    assert sent.path == "/v1/embeddings" and sent.body == {"model": OPENAI_MODEL, "input": ["a", "b"],
                                                           "encoding_format": "float", "x_extra": 1}
    assert resp.headers["x-grove-model"] == f"{OPENAI_MODEL}@1" and resp.headers["x-grove-route"] == OPENAI_MODEL
    assert float(resp.headers["x-grove-cost-usd"]) == pytest.approx(2 * 0.02 / 1e6)


def test_the_gemini_upstream_gets_batch_embed_contents(gateway: BackgroundServer, fakes: Fakes) -> None:
    sdk = _client(gateway)
    reply = sdk.embeddings.with_raw_response.create(model=GEMINI_MODEL, input=["one", "two"], encoding_format="float")
    body = reply.parse()
    (sent,) = fakes.gemini.state.requests
    assert sent.path == f"/v1beta/models/{GEMINI_MODEL}:batchEmbedContents"
    # The configured dimensions are asked for, so the route's vectors have one length.
    assert sent.body == {"requests": [
        {"model": f"models/{GEMINI_MODEL}", "content": {"parts": [{"text": text}]}, "outputDimensionality": 1536}
        for text in ("one", "two")]}
    assert body.model == GEMINI_MODEL and len(body.data[1].embedding) == 1536
    # Gemini counts no tokens: the gateway's estimate (a token per 4 characters, rounded up) prices it.
    assert body.usage.prompt_tokens == 2
    assert float(reply.headers["x-grove-cost-usd"]) == pytest.approx(2 * 0.15 / 1e6)


def test_gemini_takes_no_token_ids_and_at_most_a_hundred_inputs(gateway: BackgroundServer, fakes: Fakes) -> None:
    sdk = _client(gateway)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model=GEMINI_MODEL, input=[[1, 2], [3]])
    assert caught.value.body["param"] == "input" and "token ids" in caught.value.message  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model=GEMINI_MODEL, input=["x"] * 101)
    assert caught.value.body["param"] == "input" and "at most 100" in caught.value.message  # type: ignore[index]
    assert fakes.gemini.state.requests == []


def test_mode_errors_both_ways(gateway: BackgroundServer, fakes: Fakes) -> None:
    sdk = _client(gateway)
    for chat_name in ("gpt-4.1-mini", "default"):
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.embeddings.create(model=chat_name, input="hi")
        assert caught.value.body["param"] == "model"  # type: ignore[index]
        assert "'gpt-4.1-mini' is a chat model" in caught.value.message
        assert "/v1/chat/completions" in caught.value.message
    for embedding_name, model in ((OPENAI_MODEL, OPENAI_MODEL), (ROUTE, OPENAI_MODEL)):
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.chat.completions.create(model=embedding_name, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.body["param"] == "model"  # type: ignore[index]
        assert f"'{model}' is an embedding model; it serves POST /v1/embeddings" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model="claude-sonnet-4-5", input="hi")
    assert "'claude-sonnet-4-5' is a chat model" in caught.value.message
    assert all(f.state.requests == [] for f in fakes.all())


def test_auto_on_chat_never_picks_an_embedding_model(gateway: BackgroundServer) -> None:
    raw = _client(gateway).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Embed this please " * 50}])
    assert raw.headers["x-grove-model"] in {"gpt-4.1-mini@1", "claude-sonnet-4-5@1", "gemini-2.5-flash@1"}


def test_an_input_over_the_models_limit_is_refused_before_anything_is_sent(gateway: BackgroundServer,
                                                                             fakes: Fakes) -> None:
    sdk = _client(gateway)
    long_text = "word " * 8_200  # ~10,250 tokens: text-embedding-3-small takes 8,191 per input
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.embeddings.create(model=OPENAI_MODEL, input=["short", long_text])
    assert caught.value.body["param"] == "input" and caught.value.code == "context_length_exceeded"  # type: ignore[index]
    assert "Input 1 ('input[1]') is about 10,250 tokens" in caught.value.message
    assert "8,191 tokens per input" in caught.value.message
    with pytest.raises(openai.BadRequestError) as caught:  # a token array is counted exactly
        sdk.embeddings.create(model=OPENAI_MODEL, input=[0] * 8_192)
    assert caught.value.body["param"] == "input" and "The input is 8,192 tokens" in caught.value.message  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as caught:  # Gemini's window here is 2,048
        sdk.embeddings.create(model=GEMINI_MODEL, input="word " * 2_000)
    assert caught.value.body["param"] == "input"  # type: ignore[index]
    # Many inputs, each within the limit: fine, though together they are far over it.
    ok = sdk.embeddings.create(model=OPENAI_MODEL, input=["word " * 6_000] * 4, dimensions=4)
    assert len(ok.data) == 4
    assert len(fakes.openai.state.requests) == 1 and fakes.gemini.state.requests == []


def test_dimensions_above_the_models_are_refused(gateway: BackgroundServer, fakes: Fakes) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        _client(gateway).embeddings.create(model=ROUTE, input="hi", dimensions=1537)
    assert caught.value.body["param"] == "dimensions" and "at most 1536" in caught.value.message  # type: ignore[index]
    assert fakes.openai.state.requests == [] and fakes.gemini.state.requests == []


@pytest.mark.parametrize(("body", "param"), [
    (b'{"model": "text-embedding-3-small", "input": ', None),
    (b'["not", "an", "object"]', None),
    (b"", None),
    ({"input": "hi"}, "model"),
    ({"model": OPENAI_MODEL}, "input"),
    ({"model": 42, "input": "hi"}, "model"),
    ({"model": OPENAI_MODEL, "input": None}, "input"),
    ({"model": OPENAI_MODEL, "input": 42}, "input"),
    ({"model": OPENAI_MODEL, "input": ""}, "input"),
    ({"model": OPENAI_MODEL, "input": []}, "input"),
    ({"model": OPENAI_MODEL, "input": ["ok", ""]}, "input"),
    ({"model": OPENAI_MODEL, "input": ["ok", 3]}, "input"),
    ({"model": OPENAI_MODEL, "input": [1, "two"]}, "input"),
    ({"model": OPENAI_MODEL, "input": [1, -2]}, "input"),
    ({"model": OPENAI_MODEL, "input": [1, True]}, "input"),
    ({"model": OPENAI_MODEL, "input": [1.5]}, "input"),
    ({"model": OPENAI_MODEL, "input": [[1], []]}, "input"),
    ({"model": OPENAI_MODEL, "input": [[1], 2]}, "input"),
    ({"model": OPENAI_MODEL, "input": [{"text": "hi"}]}, "input"),
    ({"model": OPENAI_MODEL, "input": ["x"] * 2049}, "input"),
    ({"model": OPENAI_MODEL, "input": "hi", "encoding_format": "int8"}, "encoding_format"),
    ({"model": OPENAI_MODEL, "input": "hi", "dimensions": 0}, "dimensions"),
    ({"model": OPENAI_MODEL, "input": "hi", "dimensions": "256"}, "dimensions"),
    ({"model": OPENAI_MODEL, "input": "hi", "user": 7}, "user"),
])
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_sent(gateway: BackgroundServer, fakes: Fakes,
                                                                 body: Any, param: str | None) -> None:
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    resp = httpx.post(f"{gateway.url}/v1/embeddings", **kwargs, timeout=10)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    if param is not None:
        assert f"'{param}" in error["message"]
    assert all(f.state.requests == [] for f in fakes.all())


def test_an_unknown_model_is_a_404(gateway: BackgroundServer) -> None:
    with pytest.raises(openai.NotFoundError):
        _client(gateway).embeddings.create(model="no-such-embedder", input="hi")


@pytest.fixture
def quick_gateway(start_gateway: GatewayFactory, demo_config: Path) -> BackgroundServer:
    return start_gateway(demo_config, retries=0)


@pytest.mark.parametrize("knobs", [{"status": 500}, {"status": 429}, {"malformed_chunk_at": 0},
                                   {"api_key": "a-key-the-gateway-does-not-have"}])
def test_the_route_falls_back_to_the_other_embedding_model(quick_gateway: BackgroundServer, fakes: Fakes,
                                                           knobs: dict[str, Any]) -> None:
    fakes.openai.state.set(OPENAI_MODEL, **knobs)
    raw = _client(quick_gateway).embeddings.with_raw_response.create(model=ROUTE, input=["a", "b"],
                                                                       encoding_format="base64")
    reply = raw.parse()
    assert raw.headers["x-grove-model"] == f"{GEMINI_MODEL}@1" and raw.headers["x-grove-attempts"] == "2"
    assert raw.headers["x-grove-route"] == ROUTE
    assert reply.model == GEMINI_MODEL
    assert [_decoded(d.embedding) for d in reply.data] == [vector("a", 1536), vector("b", 1536)]  # type: ignore[arg-type]
    assert len(fakes.openai.state.requests) == 1 and len(fakes.gemini.state.requests) == 1


def test_when_every_model_fails_the_client_gets_one_error(quick_gateway: BackgroundServer, fakes: Fakes) -> None:
    fakes.openai.state.set(OPENAI_MODEL, status=503)
    fakes.gemini.state.set(GEMINI_MODEL, status=503)
    with pytest.raises(openai.InternalServerError) as caught:
        _client(quick_gateway).embeddings.create(model=ROUTE, input="a")
    assert caught.value.status_code == 503 and caught.value.code == "all_attempts_failed"
    assert caught.value.response.headers["x-grove-attempts"] == "2"


def test_the_upstreams_own_refusal_comes_back_as_it_was(gateway: BackgroundServer, fakes: Fakes) -> None:
    fakes.openai.state.set(OPENAI_MODEL, context_window=2)
    with pytest.raises(openai.BadRequestError) as caught:
        _client(gateway).embeddings.create(model=OPENAI_MODEL, input="a longer text than two tokens")
    assert caught.value.code == "context_length_exceeded" and "maximum context length is 2" in caught.value.message


def test_models_say_their_mode(gateway: BackgroundServer) -> None:
    listed = {m.id: m.model_extra["mode"] for m in _client(gateway).models.list()}  # type: ignore[index]
    assert listed == {"gpt-4.1-mini": "chat", "claude-sonnet-4-5": "chat", "gemini-2.5-flash": "chat",
                      OPENAI_MODEL: "embedding", GEMINI_MODEL: "embedding", "default": "chat",
                      ROUTE: "embedding", "auto": "chat"}
    one = httpx.get(f"{gateway.url}/v1/models/{GEMINI_MODEL}@1").json()
    assert one == {"id": f"{GEMINI_MODEL}@1", "object": "model", "created": one["created"], "owned_by": "fake-gemini",
                   "mode": "embedding"}


@pytest.fixture
def reversed_route(start_gateway: GatewayFactory, demo_config: Path) -> BackgroundServer:
    (demo_config / "reversed.yaml").write_text(
        f"routes:\n  - {{name: gemini-first, models: [{GEMINI_MODEL}, {OPENAI_MODEL}]}}\n")
    return start_gateway(demo_config, retries=0)


def test_a_deployment_that_cannot_take_the_input_is_left_out_before_any_attempt(reversed_route: BackgroundServer,
                                                                                  fakes: Fakes) -> None:
    sdk = _client(reversed_route)
    # ~3,000 tokens: over gemini-embedding-001's 2,048 per input, within text-embedding-3-small's 8,191.
    raw = sdk.embeddings.with_raw_response.create(model="gemini-first", input=["word " * 2_400, "short"])
    assert raw.headers["x-grove-model"] == f"{OPENAI_MODEL}@1" and raw.headers["x-grove-attempts"] == "1"
    # Token ids: Gemini takes text only, so only the OpenAI-compatible model is tried.
    tokens = sdk.embeddings.with_raw_response.create(model="gemini-first", input=[1, 2, 3])
    assert tokens.headers["x-grove-model"] == f"{OPENAI_MODEL}@1" and tokens.headers["x-grove-attempts"] == "1"
    assert fakes.gemini.state.requests == [] and len(fakes.openai.state.requests) == 2
    # When that one fails, the client gets its failure, not Gemini's refusal of token ids.
    fakes.openai.state.set(OPENAI_MODEL, status=503)
    with pytest.raises(openai.InternalServerError) as caught:
        sdk.embeddings.create(model="gemini-first", input=[1, 2, 3])
    assert caught.value.status_code == 503 and caught.value.response.headers["x-grove-attempts"] == "1"
    assert fakes.gemini.state.requests == []


@pytest.mark.parametrize("knobs", [{"status": 503}, {"status": 429, "retry_after": 1}, {"malformed_chunk_at": 0},
                                   {"api_key": "AIza-the-gateway-does-not-have"}])
def test_a_failing_gemini_primary_falls_back_too(reversed_route: BackgroundServer, fakes: Fakes,
                                                 knobs: dict[str, Any]) -> None:
    fakes.gemini.state.set(GEMINI_MODEL, **knobs)
    raw = _client(reversed_route).embeddings.with_raw_response.create(model="gemini-first", input="a",
                                                                        encoding_format="float")
    assert raw.headers["x-grove-model"] == f"{OPENAI_MODEL}@1" and raw.headers["x-grove-attempts"] == "2"
    assert raw.parse().data[0].embedding == vector("a", 1536)
    assert len(fakes.gemini.state.requests) == 1
