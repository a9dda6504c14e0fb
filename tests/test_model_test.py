"""``POST /admin/models/test``: one request to a model that is not registered, through the fake
providers; nothing registered, no breaker, statistics, usage or performance figure touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from gateway.fakes.run import Fakes
from tests.admin_support import (  # noqa: F401
    AUTH, OPENAI_ONLY, AdminGateway, AdminGateways, admin_gateway, admin_gateways, new_model,
)
from tests.conftest import free_port
from tests.test_openapi import Checker

PATH = "/admin/models/test"


def test_a_good_spec_answers_with_the_fakes_reply(admin_gateway: AdminGateway, fakes: Fakes) -> None:
    gw = admin_gateway
    fakes.openai.state.set("gpt-4.1-nano-upstream", reply="Yes, I am here.")
    spec = new_model(upstream_model="gpt-4.1-nano-upstream")
    response = gw.post(PATH, {"model": spec})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "model.test" and body["ok"] is True, body
    assert body["content"] == "Yes, I am here." and body["latency_ms"] >= 0
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"])
    expected = (body["usage"]["prompt_tokens"] * 0.10 + body["usage"]["completion_tokens"] * 0.40) / 1e6
    assert abs(body["cost_usd"] - expected) < 1e-12
    sent = fakes.openai.state.requests
    assert len(sent) == 1 and sent[0].body["model"] == "gpt-4.1-nano-upstream" and sent[0].body["max_tokens"] == 16
    assert sent[0].body.get("stream") in (None, False)
    assert_nothing_registered(gw, "gpt-4.1-nano")


def assert_nothing_registered(gw: AdminGateway, model_id: str) -> None:
    assert gw.get(f"/admin/models/{model_id}").status_code == 404
    assert model_id not in [m["id"] for m in httpx.get(f"{gw.url}/v1/models").json()["data"]]
    assert all(not b["deployment"].startswith(model_id) for b in gw.get("/admin/breakers").json()["data"])
    assert gw.get("/admin/perf").json()["totals"]["requests"] == 0
    assert gw.get("/admin/usage").json()["data"] == []
    assert gw.get("/admin/decisions").json()["data"] == []
    assert gw.events == []


def test_messages_and_max_tokens_go_upstream(admin_gateway: AdminGateway, fakes: Fakes) -> None:
    gw = admin_gateway
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]
    body = gw.post(PATH, {"model": new_model(), "messages": messages, "max_tokens": 5}).json()
    assert body["ok"] is True and body["content"]
    sent = fakes.openai.state.requests[0].body
    assert sent["messages"] == messages and sent["max_tokens"] == 5 and sent["model"] == "gpt-4.1-nano"


def test_an_upstream_failure_is_an_answer_and_touches_no_breaker(admin_gateway: AdminGateway, fakes: Fakes) -> None:
    gw = admin_gateway
    fakes.openai.state.set("gpt-4.1-mini", status=500)
    # The spec of a model already served: testing it must not count against its breaker.
    existing = gw.get("/admin/models/gpt-4.1-mini").json()["versions"][0]
    spec = {k: v for k, v in existing.items() if k != "origin"}
    for _ in range(6):  # more than the breaker's failure threshold (5)
        body = gw.post(PATH, {"model": spec}).json()
        assert body["ok"] is False and body["object"] == "model.test", body
        assert set(body["error"]) == {"message", "type", "code", "status"} and body["error"]["status"] >= 500
    assert len(fakes.openai.state.requests) == 6  # one request per test: no retry, no fallback
    breaker = next(b for b in gw.get("/admin/breakers").json()["data"] if b["deployment"] == "gpt-4.1-mini@1")
    assert breaker["state"] == "closed" and breaker["consecutive_failures"] == 0
    fakes.openai.state.reset()
    served = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4.1-mini",
                                                                "messages": [{"role": "user", "content": "hi"}]})
    assert served.status_code == 200 and served.headers["x-grove-attempts"] == "1"


def test_an_unreachable_provider_is_an_answer(admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "gateway.yaml").write_text(OPENAI_ONLY.format(openai=fakes.openai.url).replace(
        "providers:\n", f"providers:\n  - {{id: gone, kind: openai-compatible, base_url: "
                        f"\"http://127.0.0.1:{free_port()}/v1\", api_key_env: GONE_KEY}}\n"))
    gw = admin_gateways.start(config)
    body = gw.post(PATH, {"model": new_model(provider="gone")}).json()
    assert body["ok"] is False and body["error"]["status"] in (502, 503, 504), body
    assert_nothing_registered(gw, "gpt-4.1-nano")


def test_an_invalid_spec_gets_the_register_error_body(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    for spec in (new_model(provider="nowhere"), {"id": "x"}, new_model(context_window=-1),
                 new_model(base_url="http://evil.example/v1"), new_model(successor="gpt-9")):
        tested = gw.post(PATH, {"model": spec})
        registered = gw.post("/admin/models", spec)
        assert tested.status_code == registered.status_code == 400, (spec, tested.text)
        assert tested.json() == registered.json(), spec
        assert tested.json()["errors"]
    for body, param in [({}, "model"), ({"model": new_model(), "max_tokens": 0}, "max_tokens"),
                        ({"model": new_model(), "messages": []}, "messages"),
                        ({"model": new_model(), "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
                        ({"model": new_model(), "stream": True}, "stream")]:
        response = gw.post(PATH, body)
        assert response.status_code == 400 and response.json()["error"]["param"] == param, (body, response.text)
    assert_nothing_registered(gw, "gpt-4.1-nano")


def test_a_litellm_kind_is_tested_through_the_bridge(admin_gateways: AdminGateways, demo_config: Path,
                                                     fakes: Fakes) -> None:
    gw = admin_gateways.start(demo_config)
    fakes.anthropic.state.set(reply="Hello from the fake Claude.")
    spec: dict[str, Any] = {
        "id": "claude-haiku-4-5", "provider": "fake-anthropic", "context_window": 200000,
        "max_output_tokens": 64000, "capabilities": {"reasoning": 6, "creativity": 6, "precision": 7,
                                                     "speed": 9, "context": 8},
        "prices": {"input_per_mtok": 1.0, "output_per_mtok": 5.0}}
    body = gw.post(PATH, {"model": spec}, timeout=60).json()
    assert body["ok"] is True and body["content"] == "Hello from the fake Claude.", body
    assert body["cost_usd"] > 0
    assert len(fakes.anthropic.state.requests) == 1
    assert gw.get("/admin/models/claude-haiku-4-5").status_code == 404


def test_answers_match_the_documented_schemas(admin_gateway: AdminGateway, fakes: Fakes) -> None:
    gw = admin_gateway
    checker = Checker(httpx.get(f"{gw.url}/openapi.json").json())

    def post(body: object) -> httpx.Response:
        return httpx.post(f"{gw.url}{PATH}", headers=AUTH, json=checker.sent("POST", PATH, body))

    checker.check("POST", PATH, post({"model": new_model()}))
    fakes.openai.state.set(status=429)
    checker.check("POST", PATH, post({"model": new_model()}))
    checker.check("POST", PATH, post({"model": new_model(provider="nowhere")}))
