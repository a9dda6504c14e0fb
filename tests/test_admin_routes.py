"""Routes at run time through the admin API: create (POST), create-or-replace (PUT), list, show."""

from __future__ import annotations

import openai

from tests.admin_support import AdminGateway, admin_gateway, admin_gateways, chat, model_ids  # noqa: F401


def test_create_a_route_and_call_it(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    resp = gw.post("/admin/routes", {"name": "cheap", "models": ["gpt-4o-mini", "gpt-4.1-mini"]})
    assert resp.status_code == 201
    body = resp.json()
    assert body["name"] == "cheap" and body["strategy"] == "chain" and body["origin"] == "runtime"
    assert "cheap" in model_ids(gw.url)
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="cheap", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-grove-route"] == "cheap" and raw.headers["x-grove-model"] == "gpt-4o-mini@2024-07-18"
    assert gw.events == [("route.created", {"name": "cheap", "registry_version": body["registry_version"]})]
    assert gw.get("/admin/routes/cheap").json()["models"] == ["gpt-4o-mini", "gpt-4.1-mini"]
    names = [(r["name"], r["origin"]) for r in gw.get("/admin/routes").json()["data"]]
    assert names == [("default", "file"), ("cheap", "runtime")]


def test_create_refuses_taken_names_and_invalid_routes(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    taken = gw.post("/admin/routes", {"name": "default", "models": ["gpt-4o-mini"]})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "route_exists"
    model = gw.post("/admin/routes", {"name": "gpt-4o-mini", "models": ["gpt-4.1-mini"]})
    assert model.status_code == 409 and model.json()["error"]["code"] == "name_taken"
    unknown = gw.post("/admin/routes", {"name": "r", "models": ["gpt-4.1-mini", "gpt-5"]})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "runtime changes routes[r].models[1]: unknown model 'gpt-5'"
    wrong_field = gw.post("/admin/routes", {"name": "r", "strategy": "weighted", "models": ["gpt-4.1-mini"]})
    assert wrong_field.status_code == 400 and wrong_field.json()["error"]["param"] == "models"
    reserved = gw.post("/admin/routes", {"name": "auto", "models": ["gpt-4.1-mini"]})
    assert reserved.status_code == 400 and "reserved" in reserved.json()["error"]["message"]
    assert gw.get("/admin/routes/r").status_code == 404
    assert gw.events == []


def test_put_replaces_or_creates(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    replaced = gw.put("/admin/routes/default", {"strategy": "weighted", "variants": [
        {"name": "a", "weight": 1, "models": ["gpt-4o-mini"]}]})
    assert replaced.status_code == 200 and replaced.json()["origin"] == "runtime"
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="default", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-grove-variant"] == "a" and raw.headers["x-grove-model"] == "gpt-4o-mini@2024-07-18"
    created = gw.put("/admin/routes/smart", {"name": "smart", "strategy": "capability", "weights": {"reasoning": 3}})
    assert created.status_code == 201
    assert chat(gw.url, "smart")
    assert [kind for kind, _ in gw.events] == ["route.updated", "route.created"]
    mismatch = gw.put("/admin/routes/smart", {"name": "other", "models": ["gpt-4.1-mini"]})
    assert mismatch.status_code == 400 and mismatch.json()["error"]["param"] == "name"
    assert gw.put("/admin/routes/gpt-4.1-mini", {"models": ["gpt-4o-mini"]}).status_code == 409
    assert gw.put("/admin/routes/smart", {"strategy": "chain"}).status_code == 400  # a chain needs models
