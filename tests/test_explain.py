"""``POST /admin/explain``: the decision a sample request would get, with or without a candidate
route, on a real gateway with the fake OpenAI provider; nothing is sent upstream or stored."""

from __future__ import annotations

import httpx

from gateway.admin import session
from gateway.fakes.run import Fakes
from tests.admin_support import AUTH, AdminGateway, admin_gateway, admin_gateways  # noqa: F401
from tests.test_openapi import Checker

HI = {"messages": [{"role": "user", "content": "hi"}]}
MINI, FOUR_O = "gpt-4.1-mini@1", "gpt-4o-mini@2024-07-18"


def explain(gw: AdminGateway, body: object) -> httpx.Response:
    return gw.post("/admin/explain", body)


def test_explains_the_live_route_without_calling_upstream(admin_gateway: AdminGateway, fakes: Fakes) -> None:
    gw = admin_gateway
    response = explain(gw, {"request": {"model": "default", **HI}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "explanation" and body["route_valid"] is True and "refusal" not in body
    decision = body["decision"]
    assert decision["route"] == "default" and decision["strategy"] == "chain"
    assert decision["chain"] == [MINI, FOUR_O] and decision["rule"] == "route"
    assert decision["config_version"] == gw.get("/admin/routes").json()["registry_version"]
    assert fakes.openai.state.requests == []
    assert gw.get("/admin/decisions").json()["data"] == []  # an explanation is not a decision served


def test_a_candidate_route_is_explained_but_not_stored(admin_gateway: AdminGateway, fakes: Fakes) -> None:
    gw = admin_gateway
    before = gw.get("/admin/routes/default").json()
    swapped = {"name": "default", "models": ["gpt-4o-mini", "gpt-4.1-mini"]}
    body = explain(gw, {"request": HI, "route": swapped}).json()  # the model defaults to the route's name
    assert body["decision"]["chain"] == [FOUR_O, MINI] and body["decision"]["requested"] == "default"
    new = explain(gw, {"request": HI, "route": {"name": "fresh", "strategy": "capability",
                                                "weights": {"reasoning": 3}}}).json()
    assert new["decision"]["route"] == "fresh" and new["decision"]["strategy"] == "capability"
    assert new["decision"]["needs_source"] == "route" and len(new["decision"]["candidates"]) == 2
    assert gw.get("/admin/routes/default").json() == before
    assert gw.get("/admin/routes/fresh").status_code == 404 and gw.events == []
    raw = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", **HI})
    assert raw.headers["x-grove-model"] == MINI  # the live route still serves as before
    assert len(fakes.openai.state.requests) == 1


def test_an_invalid_candidate_gets_the_routes_admin_error_body(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    for route in ({"name": "r", "models": ["gpt-4.1-mini", "gpt-5"]},
                  {"name": "r", "strategy": "weighted", "models": ["gpt-4.1-mini"]},
                  {"name": "auto", "models": ["gpt-4.1-mini"]},
                  {"name": "r", "strategy": "chain"},
                  {"name": "gpt-4o-mini", "models": ["gpt-4.1-mini"]}):
        explained = explain(gw, {"request": HI, "route": route})
        stored = gw.put(f"/admin/routes/{route['name']}", route)
        assert explained.status_code == stored.status_code and explained.status_code in (400, 409), route
        assert explained.json() == stored.json(), route
    listed = explain(gw, {"request": HI, "route": {"name": "r", "models": ["gpt-5", "gpt-6"]}}).json()
    assert [e["path"] for e in listed["errors"]] == ["routes[r].models[0]", "routes[r].models[1]"]
    nameless = explain(gw, {"request": HI, "route": {"models": ["gpt-4.1-mini"]}})
    assert nameless.status_code == 400 and nameless.json()["error"]["param"] == "route.name"


def test_headers_steer_the_decision(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    smart = {"name": "smart", "strategy": "capability"}
    reasoning = explain(gw, {"request": HI, "route": smart, "headers": {"X-Grove-Capabilities": "reasoning=3"}})
    decision = reasoning.json()["decision"]
    plain = explain(gw, {"request": HI, "route": smart}).json()["decision"]
    assert decision["needs_source"] == "hint" and plain["needs_source"] == "inferred"
    assert decision["needs"] != plain["needs"] and decision["needs"]["reasoning"] > plain["needs"]["reasoning"]
    bad_hint = explain(gw, {"request": HI, "route": smart, "headers": {"x-grove-capabilities": "nonsense=1"}})
    assert bad_hint.status_code == 200 and bad_hint.json()["refusal"]["status"] == 400
    component = explain(gw, {"request": {"model": "auto", **HI}, "headers": {"x-grove-component": "nope"}}).json()
    assert component["decision"] is None and component["refusal"]["code"] == "unknown_component"


def test_refusals_and_bad_bodies(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    unknown = explain(gw, {"request": {"model": "gpt-5", **HI}}).json()
    assert unknown["decision"] is None and unknown["route_valid"] is True
    assert unknown["refusal"] == {"message": unknown["refusal"]["message"], "type": "invalid_request_error",
                                  "param": "model", "code": "model_not_found", "status": 404}
    gw.post("/admin/breakers/gpt-4.1-mini@1/open", {"seconds": 60})
    gw.post("/admin/breakers/gpt-4o-mini@2024-07-18/open", {"seconds": 60})
    chat_refused = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", **HI})
    both_open = explain(gw, {"request": {"model": "default", **HI}}).json()
    assert both_open["refusal"]["status"] == chat_refused.status_code == 503
    assert both_open["refusal"]["message"] == chat_refused.json()["error"]["message"]
    for body, param in [({}, "request"), ({"request": {"model": "default"}}, "request.messages"),
                        ({"request": {"model": "default", "messages": [], "temperature": 9}}, "request.messages"),
                        ({"request": HI, "extra": 1}, "extra"), ({"request": HI, "headers": {"a": 1}}, "headers.a"),
                        ({"request": {**HI, "model": "default"}, "route": "default"}, "route")]:
        bad = explain(gw, body)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == param, (body, bad.text)
    assert gw.post("/admin/explain", None, content=b"[1]").status_code == 400


def test_the_console_cookie_works_with_its_header(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    token = httpx.post(f"{gw.url}/console/session", data={"admin_key": "admin-key-for-tests"}).cookies[session.COOKIE]
    cookie = {"cookie": f"{session.COOKIE}={token}"}
    body = {"request": {"model": "default", **HI}}
    assert httpx.post(f"{gw.url}/admin/explain", json=body, headers=cookie).status_code == 403
    ok = httpx.post(f"{gw.url}/admin/explain", json=body, headers={**cookie, "x-grove-console": "1"})
    assert ok.status_code == 200 and ok.json()["decision"]["chain"][0] == MINI


def test_answers_match_the_documented_schemas(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    checker = Checker(httpx.get(f"{gw.url}/openapi.json").json())
    path = "/admin/explain"
    for body in ({"request": {"model": "default", **HI}}, {"request": {"model": "nope", **HI}},
                 {"request": HI, "route": {"name": "r", "models": ["gpt-5"]}}, {"request": HI, "headers": {}}):
        checker.check("POST", path, httpx.post(f"{gw.url}{path}", headers=AUTH, json=checker.sent("POST", path, body)))


def test_each_endpoint_is_explained_with_what_it_would_send_to(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    chat = explain(gw, {"request": {"model": "default", **HI}}).json()
    assert chat["endpoint"] == "chat" and chat["served_by"] == [MINI, FOUR_O]
    answers = {
        "responses": {"model": "default", "input": "hi"},
        "messages": {"model": "default", "max_tokens": 16, **HI},
        "completions": {"model": "default", "prompt": "hi"},
    }
    for endpoint, sample in answers.items():
        body = explain(gw, {"endpoint": endpoint, "request": sample}).json()
        assert body["endpoint"] == endpoint and body["served_by"] == [MINI, FOUR_O], body
    # A chat model on the embeddings endpoint: the decision stands, the endpoint refuses it.
    refused = explain(gw, {"endpoint": "embeddings", "request": {"model": "default", "input": "hi"}}).json()
    assert refused["served_by"] is None and refused["refusal"]["status"] == 400
    assert "not /v1/embeddings" in refused["refusal"]["message"]
    bad = explain(gw, {"endpoint": "messages", "request": {"model": "default", **HI}})  # no max_tokens
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "request.max_tokens"
    unknown = explain(gw, {"endpoint": "images", "request": {"model": "default", **HI}})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "endpoint"
