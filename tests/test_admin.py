"""The admin API refuses everything but the admin key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.conftest import GatewayFactory

ADMIN = "the-admin-key"
CLIENT = "sk-client-key"
ROUTES = ["/admin/decisions", "/admin/decisions/some-id", "/admin/breakers"]


@pytest.mark.parametrize("path", ROUTES)
def test_admin_routes_need_the_admin_key(start_gateway: GatewayFactory, demo_config: Path, path: str) -> None:
    (demo_config / "keys.yaml").write_text(
        f"keys: [{{name: app, sha256: {hashlib.sha256(CLIENT.encode()).hexdigest()}}}]\n")
    gateway = start_gateway(demo_config, admin_key=ADMIN)
    url = f"{gateway.url}{path}"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Bearer {CLIENT}"}).status_code == 403
    assert httpx.get(url, headers={"authorization": "Bearer wrong"}).status_code == 403
    assert httpx.get(url, headers={"authorization": f"Basic {ADMIN}"}).status_code == 401
    ok = httpx.get(url, headers={"authorization": f"Bearer {ADMIN}"})
    assert ok.status_code == (404 if path.endswith("some-id") else 200)
    assert ADMIN not in ok.text
    for response in (httpx.get(url), httpx.get(url, headers={"authorization": "Bearer wrong"})):
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_admin_api_disabled_without_a_key(start_gateway: GatewayFactory, demo_config: Path) -> None:
    gateway = start_gateway(demo_config)
    resp = httpx.get(f"{gateway.url}/admin/decisions", headers={"authorization": "Bearer anything"})
    assert resp.status_code == 403 and "GROVE_ADMIN_KEY" in resp.json()["error"]["message"]


def test_decision_list_limit_is_validated(start_gateway: GatewayFactory, demo_config: Path) -> None:
    gateway = start_gateway(demo_config, admin_key=ADMIN)
    auth = {"authorization": f"Bearer {ADMIN}"}
    for bad in ("0", "abc", "5000"):
        resp = httpx.get(f"{gateway.url}/admin/decisions?limit={bad}", headers=auth)
        assert resp.status_code == 400 and resp.json()["error"]["param"] == "limit"
