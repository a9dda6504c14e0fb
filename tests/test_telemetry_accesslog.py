"""The access log (one JSON line per request) and the promise that no secret reaches any
telemetry: a canary key sent through the whole path is in no span, log line or metric."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.accesslog import LOGGER, AccessLog, install_stdout_handler
from gateway.fakes.run import Fakes
from tests.test_telemetry import HI, Traced, TracedFactory, start_traced  # noqa: F401 - the fixture


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))

    def of(self, trace_id: str) -> dict[str, Any]:
        (line,) = [line for line in self.lines if line["trace_id"] == trace_id]
        return line


@pytest.fixture
def access_lines() -> Iterator[Lines]:
    logger = logging.getLogger(LOGGER)
    handler, level, propagate = Lines(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate


def _done(gw: Traced, resp: httpx.Response) -> str:
    trace_id = resp.headers["x-grove-trace-id"]
    gw.spans.trace(trace_id)  # the line is written before the SERVER span ends
    return trace_id


def test_one_line_per_request(start_traced: TracedFactory, demo_config: Path, access_lines: Lines) -> None:
    gw = start_traced(demo_config)
    resp = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", "messages": HI})
    line = access_lines.of(_done(gw, resp))
    usage = resp.json()["usage"]
    assert line == {
        "time": line["time"], "trace_id": resp.headers["x-grove-trace-id"], "method": "POST",
        "path": "/v1/chat/completions", "status": 200, "latency_ms": line["latency_ms"],
        "request_id": resp.headers["x-grove-request-id"], "endpoint": "chat", "requested": "default", "route": "default",
        "model": "gpt-4.1-mini@1", "key": None, "stream": False, "attempts": 1, "outcomes": ["ok"], "ttft_ms": None,
        "input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"],
        "cached_input_tokens": 0, "cost_usd": float(resp.headers["x-grove-cost-usd"]),
    }
    assert 0 < line["latency_ms"] < 5000
    models = httpx.get(f"{gw.url}/v1/models")
    assert access_lines.of(_done(gw, models))["status"] == 200
    health = httpx.get(f"{gw.url}/healthz")
    _done(gw, health)
    assert all(line["path"] != "/healthz" for line in access_lines.lines)  # probes are not logged


def test_a_stream_is_logged_at_its_end(start_traced: TracedFactory, demo_config: Path, fakes: Fakes,
                                       access_lines: Lines) -> None:
    gw = start_traced(demo_config)
    fakes.openai.state.set(ttft_ms=20)
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions",
                      json={"model": "gpt-4.1-mini", "messages": HI, "stream": True}) as resp:
        resp.read()
    line = access_lines.of(_done(gw, resp))
    assert line["stream"] is True and line["status"] == 200 and line["ttft_ms"] >= 20
    assert line["ttft_ms"] <= line["latency_ms"] and line["output_tokens"] > 0 and line["cost_usd"] > 0


def test_a_stream_broken_after_its_first_byte_logs_the_error(start_traced: TracedFactory, demo_config: Path,
                                                             fakes: Fakes, access_lines: Lines) -> None:
    gw = start_traced(demo_config)
    fakes.openai.state.set(error_event_after_chunks=2)
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions",
                      json={"model": "gpt-4.1-mini", "messages": HI, "stream": True}) as resp:
        body = resp.read().decode()
    assert resp.status_code == 200 and '"error"' in body
    line = access_lines.of(_done(gw, resp))
    assert line["status"] >= 500 and line["http_status"] == 200
    assert line["outcomes"][0].startswith("stream_") and line["model"] == "gpt-4.1-mini@1"
    attempt = [s for s in gw.spans.trace(resp.headers["x-grove-trace-id"]) if s.name == "chat gpt-4.1-mini"][0]
    assert attempt.attributes["error.type"] and attempt.attributes["gen_ai.response.time_to_first_chunk"] > 0


def test_the_access_log_can_be_turned_off(start_traced: TracedFactory, demo_config: Path,
                                          access_lines: Lines) -> None:
    gw = start_traced(demo_config, access_log=False)
    _done(gw, httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HI}))
    assert access_lines.lines == []


def test_the_stdout_handler_prints_bare_json(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("grove.access.test-only")
    install_stdout_handler(logger)
    install_stdout_handler(logger)  # idempotent
    AccessLog(logger).emit({"a": 1})
    assert capsys.readouterr().out == '{"a":1}\n'
    assert len(logger.handlers) == 1 and not logger.propagate


def test_a_filter_on_the_logger_still_applies(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("grove.access.test-filtered")
    install_stdout_handler(logger)
    logger.addFilter(lambda record: "secret" not in record.getMessage())
    AccessLog(logger).emit({"a": "secret"})
    AccessLog(logger).emit({"a": 2})
    assert capsys.readouterr().out == '{"a":2}\n'


def test_on_an_event_loop_lines_are_flushed_together_soon_after(monkeypatch: pytest.MonkeyPatch) -> None:
    class Counting(io.StringIO):
        flushes = 0
        flushed: asyncio.Event | None = None

        def flush(self) -> None:
            self.flushes += 1
            if self.flushed is not None:
                self.flushed.set()

    out = Counting()
    monkeypatch.setattr(sys, "stdout", out)
    logger = logging.getLogger("grove.access.test-flush")
    install_stdout_handler(logger)

    async def main() -> None:
        out.flushed = asyncio.Event()
        for n in range(3):
            AccessLog(logger).emit({"n": n})
        assert out.flushes == 0  # no system call per line on the loop
        await asyncio.wait_for(out.flushed.wait(), 5)

    asyncio.run(main())
    assert out.flushes == 1 and out.getvalue() == '{"n":0}\n{"n":1}\n{"n":2}\n'
    AccessLog(logger).emit({"n": 3})  # off the loop: flushed at once
    assert out.flushes == 2


def test_a_long_wait_list_is_written_at_once_and_what_waits_at_exit_is_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    logger = logging.getLogger("grove.access.test-many")
    install_stdout_handler(logger)
    (handler,) = logger.handlers

    async def main() -> None:
        for n in range(handler.MAX_PENDING):  # type: ignore[attr-defined]
            AccessLog(logger).emit({"n": n})
        assert out.getvalue().count("\n") == handler.MAX_PENDING  # type: ignore[attr-defined]
        AccessLog(logger).emit({"n": "last"})
        assert '"last"' not in out.getvalue()

    asyncio.run(main())  # the loop ends before the timer fires
    logging.shutdown([weakref.ref(handler)])  # as at interpreter exit
    assert out.getvalue().endswith('{"n":"last"}\n')


CANARY_PROVIDER = "sk-canary-provider-7f3a9c1e"
CANARY_CLIENT = "sk-canary-client-51d0b2aa"
CANARY_ADMIN = "canary-admin-c0ffee42"


def test_no_secret_reaches_telemetry(start_traced: TracedFactory, demo_config: Path, fakes: Fakes,
                                     access_lines: Lines) -> None:
    config = demo_config / "demo.yaml"
    config.write_text(config.read_text().replace("kind: openai-compatible,", "kind: openai-compatible, "
                                                 "api_key_env: CANARY_KEY,"))
    (demo_config / "keys.yaml").write_text(
        f"keys: [{{name: canary-app, sha256: {hashlib.sha256(CANARY_CLIENT.encode()).hexdigest()}}}]\n")
    gw = start_traced(demo_config, env={"CANARY_KEY": CANARY_PROVIDER}, admin_key=CANARY_ADMIN,
                      record_content=True, retries=0)
    client = {"authorization": f"Bearer {CANARY_CLIENT}"}
    responses = [httpx.post(f"{gw.url}/v1/chat/completions", headers=client,
                            json={"model": "default", "messages": HI})]
    # The upstream echoes the gateway's key in an error: redacted before it reaches a span.
    fakes.openai.state.set(status=500, error_message=f"bad key {CANARY_PROVIDER}")
    responses.append(httpx.post(f"{gw.url}/v1/chat/completions", headers=client,
                                json={"model": "default", "messages": HI, "stream": True}))
    fakes.openai.state.set(api_key="another-key")  # the upstream refuses the gateway's credentials
    responses.append(httpx.post(f"{gw.url}/v1/chat/completions", headers=client,
                                json={"model": "gpt-4.1-mini", "messages": HI}))
    responses.append(httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", "messages": HI},
                                headers={"authorization": f"Bearer {CANARY_CLIENT}x"}))  # a wrong key
    admin = {"authorization": f"Bearer {CANARY_ADMIN}"}
    responses.append(httpx.get(f"{gw.url}/admin/usage", headers=admin))
    for resp in responses:
        _done(gw, resp)
    assert [r.status_code for r in responses] == [200, 200, 502, 401, 200]

    everything: list[str] = []
    for span in gw.spans.exporter.get_finished_spans():
        everything += [span.name, str(span.status.description), *(f"{k}={v}" for k, v in span.attributes.items())]
        everything += [str(event.attributes) for event in span.events]
    everything += [json.dumps(line) for line in access_lines.lines]
    everything.append(httpx.get(f"{gw.url}/metrics").text)
    everything.append(json.dumps(gw.metrics.get_metrics_data().to_json()))
    text = "\n".join(everything)
    assert "canary-app" in text and "[redacted]" in text  # the key's name is there; the keys are not
    for secret in (CANARY_PROVIDER, CANARY_CLIENT, CANARY_ADMIN):
        assert secret not in text
