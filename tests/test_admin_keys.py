"""Client keys at run time: created with a random key shown once, stored as a hash, deleted."""

from __future__ import annotations

import hashlib
from pathlib import Path

import openai
import pytest
import redis

from gateway.livecatalog import OVERLAY_KEY
from gateway.fakes.run import Fakes
from tests.admin_support import AdminGateways, admin_gateways, chat, write_config  # noqa: F401
from tests.conftest import REDIS_URL


def test_create_use_list_and_delete_keys(admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes,
                                       redis_client: redis.Redis) -> None:
    gw = admin_gateways.start(write_config(tmp_path / "config", fakes), redis_url=REDIS_URL)
    assert chat(gw.url, "default", api_key="anything")  # no keys yet: open
    resp = gw.post("/admin/keys", {"name": "app", "allowed_models": ["default"]})
    assert resp.status_code == 201
    body = resp.json()
    key = body["key"]
    assert key.startswith("sk-grove-") and len(key) > 40
    assert body["name"] == "app" and body["allowed_models"] == ["default"] and "sha256" not in body
    # The key is required now, and limited to what its settings allow.
    assert chat(gw.url, "default", api_key=key)
    with pytest.raises(openai.AuthenticationError):
        chat(gw.url, "default", api_key="anything")
    with pytest.raises(openai.PermissionDeniedError):
        chat(gw.url, "gpt-4.1-mini", api_key=key)
    # Only the hash is stored, and the key appears nowhere but in that one response.
    stored = redis_client.hget(OVERLAY_KEY, "body")
    assert stored is not None and hashlib.sha256(key.encode()).hexdigest().encode() in stored
    assert key.encode() not in stored
    listing = gw.get("/admin/keys").json()["data"]
    assert listing == [{"object": "key", "name": "app", "allowed_models": ["default"], "default_component": None,
                        "default_route": None, "limits": None,
                        "origin": "runtime"}]
    assert key not in gw.get("/admin/config").text
    assert all(key not in str(data) for _, data in gw.events)
    assert gw.events[-1] == ("key.created", {"name": "app", "registry_version": body["registry_version"]})
    # A second key; the first deleted; the last one cannot be.
    other = gw.post("/admin/keys", {"name": "other"}).json()["key"]
    deleted = gw.delete("/admin/keys/app")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    with pytest.raises(openai.AuthenticationError):
        chat(gw.url, "default", api_key=key)
    assert chat(gw.url, "gpt-4.1-mini", api_key=other)
    last = gw.delete("/admin/keys/other")
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_key"
    assert [kind for kind, _ in gw.events] == ["key.created", "key.created", "key.deleted"]


def test_key_requests_that_cannot_be(admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes) -> None:
    gw = admin_gateways.start(write_config(tmp_path / "config", fakes))
    both = gw.post("/admin/keys", {"name": "app", "default_route": "default", "default_component": "planner"})
    assert both.status_code == 400 and "keep one" in both.json()["error"]["message"], both.text
    assert gw.post("/admin/keys", {"name": "app"}).status_code == 201
    taken = gw.post("/admin/keys", {"name": "app"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "key_exists"
    hashed = gw.post("/admin/keys", {"name": "b", "sha256": "0" * 64})
    assert hashed.status_code == 400 and hashed.json()["error"]["param"] == "sha256"
    bad_name = gw.post("/admin/keys", {"name": "Bad Name"})
    assert bad_name.status_code == 400 and bad_name.json()["error"]["param"] == "name"
    unknown_model = gw.post("/admin/keys", {"name": "c", "allowed_models": ["gpt-9"]})
    assert unknown_model.status_code == 400 and "unknown model or route 'gpt-9'" in unknown_model.json()["error"]["message"]
    assert gw.post("/admin/keys", {"allowed_models": []}).json()["error"]["param"] == "name"
    assert gw.delete("/admin/keys/nope").status_code == 404
    assert [kind for kind, _ in gw.events] == ["key.created"]


def test_a_key_from_the_files_can_be_deleted(admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes) -> None:
    config = write_config(tmp_path / "config", fakes)
    file_key = "sk-from-the-files"
    (config / "keys.yaml").write_text(f"keys: [{{name: ops, sha256: {hashlib.sha256(file_key.encode()).hexdigest()}}}]\n")
    gw = admin_gateways.start(config)
    assert [(k["name"], k["origin"]) for k in gw.get("/admin/keys").json()["data"]] == [("ops", "file")]
    new = gw.post("/admin/keys", {"name": "app"}).json()["key"]
    assert gw.delete("/admin/keys/ops").status_code == 200
    with pytest.raises(openai.AuthenticationError):
        chat(gw.url, "default", api_key=file_key)
    assert chat(gw.url, "default", api_key=new)
    assert [k["name"] for k in gw.get("/admin/keys").json()["data"]] == ["app"]
