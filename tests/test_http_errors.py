"""Bad input gets OpenAI's error shape with the right 4xx status, over real HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import httpx
import openai
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from gateway.routing import extract_features
from gateway.wire import parse_chat_request
from tests.conftest import GatewayFactory

GOOD = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}


def _assert_error(resp: httpx.Response, status: int, *, param: str | None = None, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in resp.text
    if param is not None:
        assert error["param"] == param
    if code is not None:
        assert error["code"] == code
    return error


def _post(gateway: BackgroundServer, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}/v1/chat/completions", content=content,
                      headers={"content-type": "application/json", **headers})


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (b'{"model": "gpt-4.1-mini", "messages": [', None, "invalid_json"),
        (b"", None, "invalid_json"),
        (b'"just a string"', None, "invalid_json"),
        (b'{"model": 42, "messages": [{"role": "user", "content": "hi"}]}', "model", "invalid_type"),
        (b'{"model": "gpt-4.1-mini", "messages": "hi"}', "messages", "invalid_type"),
        (b'{"model": "gpt-4.1-mini", "messages": []}', "messages", "invalid_value"),
        (b'{"model": "gpt-4.1-mini"}', "messages", "missing_required_parameter"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model", "missing_required_parameter"),
        (b'{"model": "gpt-4.1-mini", "messages": [{"role": "wizard", "content": "hi"}]}', "messages[0].role",
         "invalid_value"),
        (b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', "stream",
         "invalid_type"),
        (b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}',
         "temperature", "invalid_value"),
        (b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}',
         "max_tokens", "invalid_value"),
        (b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], '
         b'"stream_options": {"include_usage": true}}', "stream_options", "invalid_value"),
    ],
)
def test_invalid_bodies_get_400(gateway: BackgroundServer, body: bytes, param: str | None, code: str) -> None:
    _assert_error(_post(gateway, body), 400, param=param, code=code)


def test_invalid_utf8_gets_400(gateway: BackgroundServer) -> None:
    body = b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "\xff\xfe caf\xe9"}]}'
    error = _assert_error(_post(gateway, body), 400, code="invalid_json")
    assert "UTF-8" in error["message"]


def test_deeply_nested_json_gets_400(gateway: BackgroundServer) -> None:
    depth = 100_000
    body = b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "metadata": ' + \
        b"[" * depth + b"]" * depth + b"}"
    error = _assert_error(_post(gateway, body), 400, code="invalid_json")
    assert "nesting" in error["message"]


def test_body_over_the_limit_gets_413(start_gateway: GatewayFactory, demo_config: Path) -> None:
    gateway = start_gateway(demo_config, max_body_bytes=1024)
    big = b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "' + b"x" * 2000 + b'"}]}'
    _assert_error(_post(gateway, big), 413, code="request_too_large")

    def chunked() -> object:  # no content-length: the limit must hold while reading
        yield big[:1000]
        yield big[1000:]

    resp = httpx.post(f"{gateway.url}/v1/chat/completions", content=chunked())  # type: ignore[arg-type]
    _assert_error(resp, 413, code="request_too_large")
    assert _post(gateway, b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}').status_code == 200


def test_default_body_limit_is_10_mib(gateway: BackgroundServer) -> None:
    body = b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "' + b"y" * (10 * 1024 * 1024) + b'"}]}'
    _assert_error(_post(gateway, body), 413)


def test_unknown_model_gets_404_saying_how_to_list(gateway: BackgroundServer) -> None:
    resp = _post(gateway, b'{"model": "gpt-7-ultra", "messages": [{"role": "user", "content": "hi"}]}')
    error = _assert_error(resp, 404, param="model", code="model_not_found")
    assert "gpt-7-ultra" in error["message"] and "GET /v1/models" in error["message"]
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-7-ultra", messages=[{"role": "user", "content": "hi"}])


def test_unknown_path_and_wrong_method(gateway: BackgroundServer) -> None:
    error = _assert_error(httpx.get(f"{gateway.url}/v1/nothing-here"), 404)
    served = ("POST /v1/chat/completions", "POST /v1/responses", "POST /v1/messages", "POST /v1/embeddings",
              "POST /v1/completions", "GET /v1/models")
    assert "GET /v1/nothing-here" in error["message"] and all(path in error["message"] for path in served), error
    wrong = httpx.get(f"{gateway.url}/v1/chat/completions")
    _assert_error(wrong, 405)
    assert wrong.headers["allow"] == "POST"
    assert httpx.delete(f"{gateway.url}/v1/models").headers["allow"] in ("GET, HEAD", "HEAD, GET")


def test_client_keys_are_enforced(start_gateway: GatewayFactory, demo_config: Path) -> None:
    key = "sk-grove-test-client-key"
    (demo_config / "keys.yaml").write_text(
        f"keys:\n  - name: app\n    sha256: {hashlib.sha256(key.encode()).hexdigest()}\n"
        "  - name: limited\n"
        f"    sha256: {hashlib.sha256(b'sk-limited').hexdigest()}\n    allowed_models: [claude-sonnet-4-5]\n"
    )
    gateway = start_gateway(demo_config)
    good = b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}'
    _assert_error(_post(gateway, good), 401, code="missing_api_key")
    error = _assert_error(_post(gateway, good, authorization="Bearer sk-wrong-key"), 401, code="invalid_api_key")
    assert "sk-wrong-key" not in error["message"]
    _assert_error(_post(gateway, good, authorization="Basic abc"), 401)
    _assert_error(_post(gateway, good, authorization="Bearer sk-limited"), 403, param="model")
    assert _post(gateway, good, authorization=f"Bearer {key}").status_code == 200
    _assert_error(httpx.get(f"{gateway.url}/v1/models"), 401)
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    assert client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="nope", max_retries=0).models.list()


def test_health_and_readiness(gateway: BackgroundServer) -> None:
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{gateway.url}/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["store"] == "memory"
    assert body["registry_version"] == body["published_version"]


def test_a_bug_of_ours_on_the_chat_path_is_a_500_in_openai_shape(start_gateway: GatewayFactory, demo_config: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = start_gateway(demo_config)

    async def broken(*args: object) -> None:
        raise RuntimeError("a bug in the limiter")

    monkeypatch.setattr(gateway.app.state.limiter, "admit", broken)
    resp = httpx.post(f"{gateway.url}/v1/chat/completions", json=GOOD)
    error = _assert_error(resp, 500)
    assert "bug" not in error["message"]
    monkeypatch.undo()
    assert httpx.post(f"{gateway.url}/v1/chat/completions", json=GOOD).status_code == 200


@pytest.mark.parametrize("levels", [200, 300, 1000])
def test_nesting_past_the_limit_is_a_400_everywhere(gateway: BackgroundServer, fakes: Fakes, levels: int) -> None:
    deep = "[" * levels + "1" + "]" * levels  # written by hand: json and orjson stop short of 1,000 levels
    good = json.dumps(GOOD)[:-1]
    for body in (good + f', "metadata": {{"deep": {deep}}}}}',
                 good + f', "tools": [{{"type": "function", "function": {{"name": "f", "parameters": {deep}}}}}]}}'):
        error = _assert_error(_post(gateway, body.encode()), 400, code="invalid_json")
        assert "nesting is too deep" in error["message"]
    assert fakes.openai.state.requests == []


def test_nesting_within_the_limit_is_served_and_forwarded(gateway: BackgroundServer, fakes: Fakes) -> None:
    deep: object = 1
    for _ in range(100):
        deep = [deep]
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "d": deep}}}
    resp = httpx.post(f"{gateway.url}/v1/chat/completions", json={**GOOD, "model": "default", "tools": [tool]})
    assert resp.status_code == 200, resp.text
    assert len(fakes.openai.state.requests) == 1


def test_a_parameter_given_twice_is_refused_naming_it(gateway: BackgroundServer, fakes: Fakes) -> None:
    body = b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "model": "claude-sonnet-4-5"}'
    error = _assert_error(_post(gateway, body), 400, param="model", code="duplicate_parameter")
    assert "'model'" in error["message"]
    escaped = b'{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}], "mod\\u0065l": "x"}'
    assert _assert_error(_post(gateway, escaped), 400, param="model", code="duplicate_parameter")
    # Inside the body a repeated key is the upstream's business; a key's name in a text is no key at all.
    inner = b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "model"}], "metadata": {"a": 1, "a": 2}}'
    assert _post(gateway, inner).status_code == 200
    assert len(fakes.openai.state.requests) == 1


def test_a_huge_valid_body_does_not_stall_other_requests(gateway: BackgroundServer) -> None:
    """100,000 messages take a good part of a second to read: meanwhile the gateway keeps
    answering others. On the loop, the longest wait between two answers would be the whole read;
    off it, the probes are answered in turns throughout."""
    raw = json.dumps({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}] * 100_000}).encode()
    started = time.perf_counter()
    parse_chat_request(raw)
    extract_features(parse_chat_request(raw).body, {})
    read_s = (time.perf_counter() - started) / 2  # about what the gateway spends reading it
    answered: list[float] = []
    done: list[bool] = []

    async def run() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            async def big() -> None:
                resp = await http.post(f"{gateway.url}/v1/chat/completions", content=raw,
                                       headers={"content-type": "application/json"})
                assert resp.status_code == 200, resp.text
                done.append(True)

            async def probes() -> None:
                while not done and len(answered) < 100_000:
                    assert (await http.get(f"{gateway.url}/healthz")).status_code == 200
                    answered.append(time.perf_counter())

            await asyncio.gather(big(), probes())

    asyncio.run(run())
    longest = max(b - a for a, b in zip(answered, answered[1:], strict=False))
    assert longest < read_s / 2, f"a probe waited {longest:.3f} s; reading the body takes {read_s:.3f} s"
