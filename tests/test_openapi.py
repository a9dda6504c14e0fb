"""``GET /openapi.json`` tells the truth about the app: every route and method of the route
table is in it and nothing else, it is valid OpenAPI 3.1, security follows what the code
enforces, and real responses validate against the schemas it documents."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from starlette.routing import Route

from gateway.app import create_app
from gateway.catalog import load_catalog
from gateway.fakes.background import BackgroundServer
from gateway.openapi import ApiRoute, Operation, build_document, template
from gateway.settings import Settings
from tests.conftest import GatewayFactory

ADMIN = "admin-key-for-openapi-tests"
CLIENT = "sk-client-key-for-openapi-tests"
AUTH = {"authorization": f"Bearer {ADMIN}"}
KEY = {"authorization": f"Bearer {CLIENT}"}


@pytest.fixture
def config(demo_config: Path) -> Path:
    (demo_config / "keys.yaml").write_text(
        f"keys: [{{name: app, sha256: {hashlib.sha256(CLIENT.encode()).hexdigest()}}}]\n")
    return demo_config


@pytest.fixture
def gateway(start_gateway: GatewayFactory, config: Path) -> BackgroundServer:
    return start_gateway(config, admin_key=ADMIN)


def document(gateway: BackgroundServer) -> dict[str, Any]:
    resp = httpx.get(f"{gateway.url}/openapi.json")  # no key: it documents, it exposes nothing
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    return dict(resp.json())


def served_operations(routes: list[Any]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for route in routes:
        assert isinstance(route, Route), f"{route!r} is not a Route: document it, or teach this test about it"
        # HEAD is Starlette's automatic twin of GET, not an operation of its own.
        out |= {(method, template(route.path)) for method in (route.methods or set()) - {"HEAD"}}
    return out


def test_the_document_lists_exactly_the_routes_the_app_serves(gateway: BackgroundServer) -> None:
    doc = document(gateway)
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    assert documented == served_operations(list(gateway.app.routes))
    assert ("POST", "/admin/breakers/{deployment}/open") in documented and ("GET", "/admin/events") in documented


def test_an_undocumented_route_would_be_caught(config: Path) -> None:
    app = create_app(Settings(config_dir=config, admin_key=ADMIN), env={}, catalog=load_catalog(config))

    async def sneaky(request: Any) -> Any:  # pragma: no cover - never called
        raise AssertionError

    routes = [*app.routes, Route("/admin/sneaky", sneaky, methods=["GET"]),
              ApiRoute("/admin/documented", sneaky, methods={"PUT": Operation("A documented one")})]
    doc = build_document(routes)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served_operations(routes) - documented == {("GET", "/admin/sneaky")}
    assert doc["paths"]["/admin/documented"]["put"]["security"] == [{"adminKey": []}, {"consoleSession": []}]


def test_the_document_is_valid_openapi_3_1(gateway: BackgroundServer) -> None:
    doc = document(gateway)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any structural error


def test_security_and_errors_follow_the_path(gateway: BackgroundServer) -> None:
    doc = document(gateway)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path.startswith("/admin/"):
                assert op["security"] == [{"adminKey": []}, {"consoleSession": []}], (method, path)
                assert {"401", "403"} <= set(op["responses"]), (method, path)
            elif path.startswith("/v1/"):
                assert op["security"] == [{"clientKey": []}], (method, path)
            elif path in ("/console/", "/console/{path}"):
                assert op["security"] == [{"consoleSession": []}] and "401" in op["responses"], (method, path)
            else:
                assert op["security"] == [], (method, path)
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")) and path != "/readyz":
                    schema = response["content"]["application/json"]["schema"]
                    if path.startswith("/v1/messages"):  # Anthropic's error shape, for Anthropic's SDK
                        assert schema["properties"]["type"] == {"const": "error"}, (method, path)
                    else:
                        assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ChatCompletionRequest"}
    assert {"application/json", "text/event-stream"} == set(chat["responses"]["200"]["content"])
    assert {"x-grove-model", "x-grove-attempts", "x-grove-decision-id", "x-grove-route"} <= set(
        chat["responses"]["200"]["headers"])
    request_schema = doc["components"]["schemas"]["ChatCompletionRequest"]
    assert {"model", "messages"} <= set(request_schema["required"])


def test_the_document_holds_no_configuration_or_secret(gateway: BackgroundServer) -> None:
    text = httpx.get(f"{gateway.url}/openapi.json").text
    for secret in (ADMIN, CLIENT, hashlib.sha256(CLIENT.encode()).hexdigest(), "gpt-4.1-mini", "127.0.0.1"):
        assert secret not in text


class Checker:
    """Validates bodies against the schema the document gives an operation's response."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def check(self, method: str, path: str, resp: httpx.Response, media: str = "application/json") -> None:
        op = self.doc["paths"][path][method.lower()]
        schema = op["responses"][str(resp.status_code)]["content"][media]["schema"]
        assert resp.headers["content-type"].split(";")[0] == media
        # A YAML body is described as the document it holds, as for JSON.
        self.validate(schema, resp.json() if media == "application/json" else yaml.safe_load(resp.text))
        for name in op["responses"][str(resp.status_code)].get("headers", {}):
            assert name in self.doc["components"]["headers"]

    def sent(self, method: str, path: str, body: Any, media: str = "application/json") -> Any:
        """``body`` after checking it against the documented request body: what a client reading
        the document would send."""
        self.validate(self.doc["paths"][path][method.lower()]["requestBody"]["content"][media]["schema"], body)
        return body

    def validate(self, schema: dict[str, Any], instance: Any) -> None:
        # Local refs resolve against the schema's root: give it the document's components.
        OAS31Validator({**schema, "components": self.doc["components"]}).validate(instance)


def test_real_responses_match_the_documented_schemas(gateway: BackgroundServer) -> None:
    check = Checker(document(gateway)).check
    base = gateway.url
    with openai.OpenAI(base_url=f"{base}/v1", api_key=CLIENT, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="default",
                                                               messages=[{"role": "user", "content": "hi"}])
    decision_id = raw.headers["x-grove-decision-id"]
    check("POST", "/v1/chat/completions", httpx.Response(raw.http_response.status_code,
                                                         headers=raw.http_response.headers,
                                                         content=raw.http_response.content))
    check("POST", "/v1/chat/completions", httpx.post(f"{base}/v1/chat/completions", headers=KEY, json={"model": 1}))
    check("GET", "/v1/models", httpx.get(f"{base}/v1/models", headers=KEY))
    check("GET", "/v1/models/{model_id}", httpx.get(f"{base}/v1/models/gpt-4.1-mini", headers=KEY))
    check("GET", "/v1/models/{model_id}", httpx.get(f"{base}/v1/models/nope", headers=KEY))
    check("GET", "/v1/models", httpx.get(f"{base}/v1/models"))  # 401
    check("GET", "/healthz", httpx.get(f"{base}/healthz"))
    check("GET", "/readyz", httpx.get(f"{base}/readyz"))
    check("GET", "/admin/breakers", httpx.get(f"{base}/admin/breakers", headers=AUTH))
    check("GET", "/admin/breakers", httpx.get(f"{base}/admin/breakers", headers=KEY))  # 403
    key = "gpt-4.1-mini@1"
    check("POST", "/admin/breakers/{deployment}/open",
          httpx.post(f"{base}/admin/breakers/{key}/open", headers=AUTH, json={"seconds": 5}))
    check("POST", "/admin/breakers/{deployment}/open",
          httpx.post(f"{base}/admin/breakers/{key}/open", headers=AUTH, json={"seconds": -5}))
    check("POST", "/admin/breakers/{deployment}/reset", httpx.post(f"{base}/admin/breakers/{key}/reset", headers=AUTH))
    check("POST", "/admin/breakers/{deployment}/reset", httpx.post(f"{base}/admin/breakers/x@1/reset", headers=AUTH))
    check("GET", "/admin/decisions", httpx.get(f"{base}/admin/decisions", headers=AUTH))
    check("GET", "/admin/decisions/{decision_id}", httpx.get(f"{base}/admin/decisions/{decision_id}", headers=AUTH))
    check("GET", "/admin/usage", httpx.get(f"{base}/admin/usage", headers=AUTH))
    check("GET", "/admin/usage", httpx.get(f"{base}/admin/usage?day=someday", headers=AUTH))
    check("GET", "/openapi.json", httpx.get(f"{base}/openapi.json"))
    metrics = httpx.get(f"{base}/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert "text/plain" in document(gateway)["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert json.loads(httpx.get(f"{base}/openapi.json").content)["info"]["title"] == "Grove Gateway"


NEW_MODEL = {
    "id": "gpt-4.1-nano", "provider": "fake-openai", "context_window": 1047576, "max_output_tokens": 32768,
    "capabilities": {"reasoning": 4, "creativity": 5, "precision": 5, "speed": 10, "context": 8},
    "supports": {"json": True}, "prices": {"input_per_mtok": 0.10, "output_per_mtok": 0.40},
}  # fmt: skip


def test_runtime_change_responses_match_the_documented_schemas(gateway: BackgroundServer) -> None:
    doc = document(gateway)
    checker = Checker(doc)
    check, sent = checker.check, checker.sent
    base = gateway.url

    def call(method: str, path: str, url: str, body: Any = None, status: int = 200) -> httpx.Response:
        """One admin call, its status as expected, its body checked against the document (and
        what was sent against the documented request body)."""
        json_body = None if body is None else sent(method, path, body)
        resp = httpx.request(method, f"{base}{url}", headers=AUTH, json=json_body)
        assert resp.status_code == status, resp.text
        check(method, path, resp)
        return resp

    # models
    assert call("GET", "/admin/models", "/admin/models").json()["data"][0]["versions"][0]["origin"] == "file"
    call("GET", "/admin/models/{model_id}", "/admin/models/nope", status=404)
    one = "/admin/models/{model_id}"
    created = call("POST", "/admin/models", "/admin/models", NEW_MODEL, status=201).json()
    assert created["versions"][0]["origin"] == "runtime" and created["versions"][0]["supports"]["json"] is True
    call("POST", "/admin/models", "/admin/models", NEW_MODEL, status=409)
    call("POST", f"{one}/versions", "/admin/models/gpt-4.1-nano/versions", {"version": "2"}, status=201)
    call("POST", f"{one}/versions", "/admin/models/gpt-4.1-nano/versions", {"version": "2"}, status=409)
    patched = call("PATCH", one, "/admin/models/gpt-4.1-nano?version=2", {"prices": {"input_per_mtok": 0.2}})
    assert [v["prices"]["input_per_mtok"] for v in patched.json()["versions"]] == [0.1, 0.2]
    call("PATCH", one, "/admin/models/gpt-4.1-nano?version=9", {"context_window": 10}, status=404)
    call("POST", f"{one}/retire", "/admin/models/gpt-4.1-nano/retire", {"version": "1"})
    call("POST", f"{one}/deprecate", "/admin/models/gpt-4.1-nano/deprecate", {"version": "1"}, status=409)
    call("POST", f"{one}/deprecate", "/admin/models/gpt-4.1-nano/deprecate", {"successor": "gpt-4.1-mini"})
    call("DELETE", one, "/admin/models/gpt-4.1-mini", status=409)  # the route 'default' names it
    deleted = call("DELETE", one, "/admin/models/gpt-4.1-nano").json()
    assert deleted["deleted"] is True and sorted(deleted["versions"]) == ["1", "2"]

    # routes
    route = {"name": "cheap", "models": ["gpt-4.1-mini", "gemini-2.5-flash"]}
    call("POST", "/admin/routes", "/admin/routes", route, status=201)
    call("POST", "/admin/routes", "/admin/routes", route, status=409)
    call("PUT", "/admin/routes/{name}", "/admin/routes/cheap", {"strategy": "capability"})  # replaced: 200
    weighted = {"strategy": "weighted", "variants": [{"name": "a", "weight": 1, "models": ["gpt-4.1-mini"]}]}
    assert call("PUT", "/admin/routes/{name}", "/admin/routes/split", weighted, status=201).json()["origin"] == "runtime"
    call("PUT", "/admin/routes/{name}", "/admin/routes/gpt-4.1-mini", {"models": ["gpt-4.1-mini"]}, status=409)
    call("GET", "/admin/routes/{name}", "/admin/routes/cheap")
    call("GET", "/admin/routes/{name}", "/admin/routes/nope", status=404)
    assert {r["name"] for r in call("GET", "/admin/routes", "/admin/routes").json()["data"]} >= {"default", "split"}

    # keys
    key = call("POST", "/admin/keys", "/admin/keys", {"name": "ci", "allowed_models": ["default"]}, status=201)
    assert key.json()["key"].startswith("sk-grove-") and "sha256" not in key.json()
    call("POST", "/admin/keys", "/admin/keys", {"name": "ci"}, status=409)
    listed = call("GET", "/admin/keys", "/admin/keys").json()["data"]
    assert {k["name"]: k["origin"] for k in listed} == {"app": "file", "ci": "runtime"}
    call("DELETE", "/admin/keys/{name}", "/admin/keys/ci")
    call("DELETE", "/admin/keys/{name}", "/admin/keys/ci", status=404)
    call("DELETE", "/admin/keys/{name}", "/admin/keys/app", status=409)  # the last key

    # the config
    yaml = httpx.get(f"{base}/admin/config", headers=AUTH)
    check("GET", "/admin/config", yaml, media="application/yaml")
    assert "name: split" in yaml.text
    validate_path = "/admin/config/validate"
    text = sent("POST", validate_path, "models: [{id: x}]\n", media="application/yaml")
    invalid = httpx.post(f"{base}{validate_path}?file=extra.yaml", headers={**AUTH, "content-type": "application/yaml"},
                         content=text)
    check("POST", validate_path, invalid)
    assert invalid.json()["valid"] is False and invalid.json()["errors"][0]["file"].endswith("extra.yaml")
    valid = call("POST", validate_path, validate_path, {"extra.yaml": "routes: [{name: more, models: [gpt-4.1-mini]}]"})
    assert valid.json()["valid"] is True
    check("POST", validate_path, httpx.post(f"{base}{validate_path}", headers=AUTH, content=b"models: []"))  # 400
    assert call("POST", "/admin/config/reload", "/admin/config/reload").json()["changed"] is False
    reset = call("DELETE", "/admin/config/changes", "/admin/config/changes").json()
    assert reset["changed"] is True
