"""Models at run time through the admin API: every route's success and 400/404/409, the change
visible in /v1/models and served through the openai client, and the events it announces."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import openai
import pytest

from gateway.fakes.run import Fakes

from tests.admin_support import (  # noqa: F401
    ADMIN_KEY, AUTH, AdminGateway, AdminGateways, admin_gateway, admin_gateways, chat, model_ids, new_model,
    write_config,
)
from tests.conftest import GatewayFactory


def test_register_serves_the_model_and_announces_it(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    assert "gpt-4.1-nano" not in model_ids(gw.url)
    resp = gw.post("/admin/models", new_model())
    assert resp.status_code == 201
    body = resp.json()
    assert body["id"] == "gpt-4.1-nano" and body["default_version"] == "1" and body["status"] == "active"
    assert body["versions"][0]["origin"] == "runtime" and body["versions"][0]["upstream_model"] == "gpt-4.1-nano"
    assert "gpt-4.1-nano" in model_ids(gw.url)
    assert "(gpt-4.1-nano)" in chat(gw.url, "gpt-4.1-nano")  # the fake names the upstream model it got
    assert gw.get("/readyz").json()["registry_version"] == body["registry_version"]
    assert gw.events == [("model.registered", {"id": "gpt-4.1-nano", "version": "1",
                                               "registry_version": body["registry_version"]})]


def test_register_refuses_bad_and_taken_ids(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    version = gw.get("/readyz").json()["registry_version"]
    taken = gw.post("/admin/models", new_model("gpt-4.1-mini"))
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "model_exists"
    route = gw.post("/admin/models", new_model("default"))
    assert route.status_code == 409 and "route" in route.json()["error"]["message"]
    # Validated as a config file entry: the message names the field, as `config check` would.
    bad = gw.post("/admin/models", new_model("new", context_window=0))
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["param"] == "context_window" and "context_window: must be greater than 0" in error["message"]
    typo = gw.post("/admin/models", {**new_model("new"), "capabilites": {}})
    assert typo.status_code == 400 and "did you mean 'capabilities'" in typo.json()["error"]["message"]
    # References are checked against the whole catalog, as in a config directory.
    unknown = gw.post("/admin/models", new_model("new", provider="fake-opneai"))
    assert unknown.status_code == 400
    assert unknown.json()["errors"] == [{"file": "runtime changes", "line": None, "path": "models[new@1].provider",
                                         "message": "unknown provider 'fake-opneai' (did you mean 'fake-openai'?)"}]
    for odd_version in ("€", "1\x01", "a b", "1@2"):  # a version goes into the x-grove-model header
        odd = gw.post("/admin/models", new_model("new", version=odd_version))
        assert odd.status_code == 400 and odd.json()["error"]["param"] == "version", odd.text
    for raw in (b"not json", b"[1, 2]"):
        resp = httpx.post(f"{gw.url}/admin/models", content=raw, headers={**AUTH, "content-type": "application/json"})
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json"
    assert gw.get("/readyz").json()["registry_version"] == version
    assert gw.events == []


def test_list_and_get_show_every_version(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    listing = gw.get("/admin/models").json()
    assert [m["id"] for m in listing["data"]] == ["gpt-4.1-mini", "gpt-4o-mini"]
    assert all(v["origin"] == "file" for m in listing["data"] for v in m["versions"])
    one = gw.get("/admin/models/gpt-4o-mini").json()
    assert one["default_version"] == "2024-07-18" and [v["version"] for v in one["versions"]] == ["2024-07-18"]
    missing = gw.get("/admin/models/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_patch_updates_one_version(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    resp = gw.patch("/admin/models/gpt-4.1-mini", {"upstream_model": "gpt-4.1-mini-2025", "prices": {"input_per_mtok": 0.5}})
    assert resp.status_code == 200
    version = resp.json()["versions"][0]
    assert version["prices"] == {"input_per_mtok": 0.5, "output_per_mtok": 1.6, "cached_input_per_mtok": None}
    assert version["origin"] == "runtime"
    assert "(gpt-4.1-mini-2025)" in chat(gw.url, "gpt-4.1-mini")
    assert gw.events[-1][0] == "model.updated" and gw.events[-1][1]["fields"] == ["prices", "upstream_model"]
    # A version that does not exist, a model that does not exist, fields that cannot change.
    assert gw.patch("/admin/models/gpt-4.1-mini?version=9", {"max_output_tokens": 5}).status_code == 404
    assert gw.patch("/admin/models/nope", {"max_output_tokens": 5}).status_code == 404
    for field in ("id", "version"):
        resp = gw.patch("/admin/models/gpt-4.1-mini", {field: "other"})
        assert resp.status_code == 400 and resp.json()["error"]["param"] == field
    assert gw.patch("/admin/models/gpt-4.1-mini", {}).status_code == 400
    too_big = gw.patch("/admin/models/gpt-4.1-mini", {"max_output_tokens": 2_000_000})
    assert too_big.status_code == 400 and too_big.json()["error"]["param"] == "max_output_tokens"
    # null resets a field to its default (JSON merge patch).
    reset = gw.patch("/admin/models/gpt-4.1-mini?version=1", {"upstream_model": None})
    assert reset.json()["versions"][0]["upstream_model"] == "gpt-4.1-mini"


def test_new_version_becomes_the_default(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    resp = gw.post("/admin/models/gpt-4o-mini/versions", {"version": "2025-01-01", "upstream_model": "gpt-4o-mini-next"})
    assert resp.status_code == 201
    body = resp.json()
    assert [v["version"] for v in body["versions"]] == ["2024-07-18", "2025-01-01"]
    assert body["default_version"] == "2025-01-01" and body["versions"][1]["context_window"] == 128000
    assert "(gpt-4o-mini-next)" in chat(gw.url, "gpt-4o-mini")
    assert "(gpt-4o-mini)" in chat(gw.url, "gpt-4o-mini@2024-07-18")
    pinned = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0).models.retrieve("gpt-4o-mini@2025-01-01")
    assert pinned.id == "gpt-4o-mini@2025-01-01"
    assert gw.events[-1][0] == "model.version_added" and gw.events[-1][1]["version"] == "2025-01-01"
    again = gw.post("/admin/models/gpt-4o-mini/versions", {"version": "2025-01-01"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "version_exists"
    assert gw.post("/admin/models/nope/versions", {"version": "2"}).status_code == 404
    assert gw.post("/admin/models/gpt-4o-mini/versions", {"context_window": 5}).json()["error"]["param"] == "version"
    assert gw.post("/admin/models/gpt-4o-mini/versions", {"version": "3", "id": "x"}).status_code == 400
    assert gw.post("/admin/models/gpt-4o-mini/versions", {"version": "a b"}).status_code == 400


def test_deprecate_then_retire_with_a_successor(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    resp = gw.post("/admin/models/gpt-4o-mini/deprecate", {"successor": "gpt-4.1-mini"})
    assert resp.status_code == 200 and resp.json()["status"] == "deprecated"
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert "gpt-4.1-mini" in raw.headers["x-grove-deprecation"]
    assert gw.events[-1] == ("model.deprecated", {"id": "gpt-4o-mini", "versions": ["2024-07-18"],
                                                  "successor": "gpt-4.1-mini",
                                                  "registry_version": resp.json()["registry_version"]})
    resp = gw.post("/admin/models/gpt-4o-mini/retire")  # no body: the successor is kept
    assert resp.status_code == 200 and resp.json()["versions"][0]["successor"] == "gpt-4.1-mini"
    assert "gpt-4o-mini" not in model_ids(gw.url)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-grove-model"] == "gpt-4.1-mini@1"  # a retired model is served by its successor
    assert gw.events[-1][0] == "model.retired"
    # A retired version cannot be deprecated; bad bodies, unknown models and versions.
    conflict = gw.post("/admin/models/gpt-4o-mini/deprecate", {"version": "2024-07-18"})
    assert conflict.status_code == 409
    assert gw.post("/admin/models/nope/retire").status_code == 404
    assert gw.post("/admin/models/gpt-4o-mini/retire", {"version": "1999"}).status_code == 404
    extra = gw.post("/admin/models/gpt-4.1-mini/deprecate", {"sucessor": "x"})
    assert extra.status_code == 400 and extra.json()["error"]["param"] == "sucessor"
    unknown = gw.post("/admin/models/gpt-4.1-mini/deprecate", {"successor": "nope"})
    assert unknown.status_code == 400 and "unknown model 'nope'" in unknown.json()["error"]["message"]
    itself = gw.post("/admin/models/gpt-4.1-mini/deprecate", {"successor": "gpt-4.1-mini"})
    assert itself.status_code == 400 and "not this one" in itself.json()["error"]["message"]


def test_delete_refuses_while_named_then_removes(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    named = gw.delete("/admin/models/gpt-4o-mini")
    assert named.status_code == 409 and "route 'default'" in named.json()["error"]["message"]
    gw.post("/admin/models", new_model())
    gw.post("/admin/models/gpt-4.1-nano/deprecate", {"successor": "gpt-4.1-mini"})
    as_successor = gw.delete("/admin/models/gpt-4.1-mini")
    assert "model 'gpt-4.1-nano@1' (successor)" in as_successor.json()["error"]["message"]
    resp = gw.delete("/admin/models/gpt-4.1-nano")
    assert resp.status_code == 200 and resp.json()["deleted"] is True and resp.json()["versions"] == ["1"]
    assert "gpt-4.1-nano" not in model_ids(gw.url)
    assert gw.get("/admin/models/gpt-4.1-nano").status_code == 404
    assert gw.delete("/admin/models/gpt-4.1-nano").status_code == 404
    assert gw.events[-1][0] == "model.deleted"
    # A model from the files can be deleted too (once nothing names it), and registered again.
    gw.put("/admin/routes/default", {"models": ["gpt-4.1-mini"]})
    assert gw.delete("/admin/models/gpt-4o-mini").status_code == 200
    assert "gpt-4o-mini" not in model_ids(gw.url)
    again = gw.post("/admin/models", new_model("gpt-4o-mini"))
    assert again.status_code == 201 and [v["version"] for v in again.json()["versions"]] == ["1"]


def test_model_ids_with_a_slash(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    assert gw.post("/admin/models", new_model("meta/llama-4", upstream_model="llama")).status_code == 201
    assert gw.get("/admin/models/meta/llama-4").json()["id"] == "meta/llama-4"
    assert gw.post("/admin/models/meta/llama-4/versions", {"version": "2"}).status_code == 201
    assert gw.post("/admin/models/meta/llama-4/deprecate").json()["status"] == "deprecated"
    assert "(llama)" in chat(gw.url, "meta/llama-4@2")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/admin/models"), ("POST", "/admin/models"), ("GET", "/admin/models/x"), ("PATCH", "/admin/models/x"),
    ("DELETE", "/admin/models/x"), ("POST", "/admin/models/x/deprecate"), ("POST", "/admin/models/x/retire"),
    ("POST", "/admin/models/x/versions"), ("GET", "/admin/routes"), ("POST", "/admin/routes"),
    ("GET", "/admin/routes/x"), ("PUT", "/admin/routes/x"), ("GET", "/admin/keys"), ("POST", "/admin/keys"),
    ("DELETE", "/admin/keys/x"), ("GET", "/admin/config"), ("POST", "/admin/config/validate"),
    ("POST", "/admin/config/reload"), ("DELETE", "/admin/config/changes"),
])  # fmt: skip
def test_every_runtime_route_needs_the_admin_key(admin_gateway: AdminGateway, method: str, path: str) -> None:
    for headers, status in (({}, 401), ({"authorization": "Bearer sk-client"}, 403)):
        resp = httpx.request(method, admin_gateway.url + path, headers=headers, json={})
        assert resp.status_code == status and set(resp.json()["error"]) == {"message", "type", "param", "code"}
    assert admin_gateway.events == []


def test_a_failing_event_sink_does_not_fail_the_change(admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def sink(kind: str, data: dict[str, object]) -> None:
        raise RuntimeError("the events stream is down")

    gw = admin_gateways.start(write_config(tmp_path / "config", fakes), sink=sink)
    with caplog.at_level(logging.ERROR, logger="grove.catalog"):
        assert gw.post("/admin/models", new_model()).status_code == 201
    assert "publishing event model.registered failed" in caplog.text
    assert "(gpt-4.1-nano)" in chat(gw.url, "gpt-4.1-nano")


def test_changes_without_an_event_sink(start_gateway: GatewayFactory, tmp_path: Path, fakes: Fakes) -> None:
    gateway = start_gateway(write_config(tmp_path / "config", fakes), admin_key=ADMIN_KEY)
    assert httpx.post(f"{gateway.url}/admin/models", json=new_model(), headers=AUTH).status_code == 201
    assert "gpt-4.1-nano" in model_ids(gateway.url)


def test_a_request_in_flight_finishes_on_the_catalog_it_started_with(admin_gateway: AdminGateway,
                                                                     fakes: Fakes) -> None:
    gw = admin_gateway
    assert gw.post("/admin/models", new_model()).status_code == 201
    fakes.openai.state.set(model="gpt-4.1-nano", hold_after_chunks=2)
    body = {"model": "gpt-4.1-nano", "stream": True, "messages": [{"role": "user", "content": "hello"}]}
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, timeout=10) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        for line in lines:
            if '"content":"Hello' in line.replace(" ", ""):
                break
        # The model goes away while its stream is held upstream.
        assert gw.delete("/admin/models/gpt-4.1-nano").status_code == 200
        assert "gpt-4.1-nano" not in model_ids(gw.url)
        fakes.openai.state.release()
        rest = list(lines)
    assert "data: [DONE]" in rest and not any('"error"' in line for line in rest)
    assert fakes.openai.state.counters["completed"] == 1
