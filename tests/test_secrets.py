"""A canary provider key must appear in no response, error, stream or log line."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import httpx
import pytest

from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory
from tests.test_telemetry import TracedFactory, start_traced  # noqa: F401 - a fixture
from tests.test_telemetry_accesslog import Lines, access_lines  # noqa: F401 - a fixture

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def canary() -> str:
    return f"sk-canary-{uuid.uuid4().hex}"


def _keyed_config(demo_config: Path) -> Path:
    text = (demo_config / "demo.yaml").read_text()
    text = text.replace("kind: openai-compatible,", "kind: openai-compatible, api_key_env: CANARY_KEY,")
    text = text.replace("kind: anthropic,", "kind: anthropic, api_key_env: CANARY_KEY,")
    text = text.replace("kind: gemini,", "kind: gemini, api_key_env: CANARY_KEY,")
    (demo_config / "demo.yaml").write_text(text)
    return demo_config


def test_canary_key_never_leaks(start_gateway: GatewayFactory, demo_config: Path, fakes: Fakes, canary: str,
                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = start_gateway(_keyed_config(demo_config), env={"CANARY_KEY": canary})
    seen: list[str] = []

    def call(model: str, stream: bool = False) -> httpx.Response:
        resp = httpx.post(f"{gateway.url}/v1/chat/completions",
                          json={"model": model, "messages": HI, "stream": stream})
        seen.append(str(resp.headers) + resp.text)
        return resp

    models = {"openai": "gpt-4.1-mini", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
    for fake_name, model in models.items():
        fake = getattr(fakes, fake_name)
        # Success: the key reaches the upstream, and nothing of it comes back.
        fake.state.set(api_key=canary)
        assert call(model).status_code == 200
        assert call(model, stream=True).status_code == 200
        assert any(canary in str(r.headers) or canary in str(r.url) for r in fake.state.requests)
        # The upstream refuses the key and quotes it back in its error message.
        fake.state.set(api_key="sk-some-other-key")
        refused = call(model)
        assert refused.status_code == 502 and refused.json()["error"]["code"] == "upstream_auth_failed"
        call(model, stream=True)
        # An upstream 4xx/5xx whose message quotes the key.
        fake.state.reset()
        for status in (400, 500, 429):
            fake.state.set(status=status, error_message=f"problem with key {canary} here")
            assert call(model).status_code >= 400
            call(model, stream=True)
        fake.state.reset()
        # A stream that fails mid-way with an error event quoting the key.
        fake.state.set(error_event_after_chunks=1, error_message=f"stream broke for {canary}")
        call(model, stream=True)
        fake.state.reset()

    everything = "\n".join(seen) + "\n".join(r.getMessage() for r in caplog.records)
    assert seen and canary not in everything
    assert canary[-12:] not in everything


def test_a_key_in_an_upstreams_code_param_or_cut_message_never_leaks(
        start_traced: TracedFactory, demo_config: Path, fakes: Fakes, canary: str, access_lines: Lines) -> None:
    """The upstream fills every field of its error with the key, and its message puts the key
    across the length at which the gateway cuts messages."""
    gw = start_traced(_keyed_config(demo_config), env={"CANARY_KEY": canary}, admin_key="admin-for-canary")
    straddling = "x" * 490 + canary  # cut at 500 characters: most of the key would be left
    seen: list[str] = []
    for status in (400, 500):  # returned as is; and a failure falling back along the default route
        fakes.openai.state.set(status=status, error_code=canary, error_param=canary, error_message=straddling)
        for stream in (False, True):
            resp = httpx.post(f"{gw.url}/v1/chat/completions",
                              json={"model": "default", "messages": HI, "stream": stream})
            seen.append(str(resp.headers) + resp.text)
            gw.spans.trace(resp.headers["x-grove-trace-id"])
    admin = {"authorization": "Bearer admin-for-canary"}
    seen.append(httpx.get(f"{gw.url}/admin/decisions", headers=admin).text)
    seen.append(httpx.get(f"{gw.url}/metrics").text)
    seen += [json.dumps(line) for line in access_lines.lines]
    seen += [json.dumps({**dict(s.attributes or {}), "status": s.status.description, "events": [
        dict(e.attributes or {}) for e in s.events]}, default=str) for s in gw.spans.exporter.get_finished_spans()]
    everything = "\n".join(seen)
    assert "upstream" in everything and "[redacted]" in everything
    for piece in (canary, canary[:14], canary[-12:]):
        assert piece not in everything
