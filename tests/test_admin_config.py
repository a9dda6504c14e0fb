"""The config as a whole through the admin API: the effective YAML (round trip), validation
without applying, reload now, dropping the runtime changes."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from gateway.catalog import load_catalog
from gateway.fakes.run import Fakes
from gateway.settings import Settings
from tests.admin_support import (  # noqa: F401
    AUTH, OPENAI_ONLY, AdminGateway, AdminGateways, admin_gateway, admin_gateways, chat, model_ids, new_model,
    write_config,
)


def test_effective_config_loads_back_into_the_same_version(admin_gateway: AdminGateway, tmp_path: Path) -> None:
    gw = admin_gateway
    assert gw.post("/admin/models", new_model(upstream_model="nano", prices={"input_per_mtok": 0.1,
                   "output_per_mtok": 0.4, "cached_input_per_mtok": 0.025})).status_code == 201  # fmt: skip
    assert gw.post("/admin/models/gpt-4o-mini/versions", {"version": "2025-01-01"}).status_code == 201
    assert gw.post("/admin/models/gpt-4o-mini/deprecate", {"successor": "gpt-4.1-mini"}).status_code == 200
    assert gw.put("/admin/routes/split", {"strategy": "weighted", "sticky": "key", "variants": [
        {"name": "a", "weight": 0.5, "models": ["gpt-4.1-nano"]},
        {"name": "b", "weight": 2, "models": ["gpt-4o-mini@2024-07-18"]}]}).status_code == 201
    assert gw.post("/admin/keys", {"name": "app", "allowed_models": ["split", "auto"]}).status_code == 201
    resp = gw.get("/admin/config")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/yaml"
    served = gw.get("/readyz").json()["registry_version"]
    assert f"registry version {served}" in resp.text
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.yaml").write_text(resp.text)
    reloaded = load_catalog(fresh)
    assert reloaded.version == served
    assert reloaded.model("gpt-4o-mini", "2024-07-18").status == "deprecated"  # type: ignore[union-attr]


def test_validate_checks_files_without_applying(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    version = gw.get("/readyz").json()["registry_version"]
    extra = "models:\n  - id: extra\n    provider: fake-openai\n    context_window: 1000\n    max_output_tokens: 100\n" \
            "    capabilities: {reasoning: 1, creativity: 1, precision: 1, speed: 1, context: 1}\n" \
            "    prices: {input_per_mtok: 1, output_per_mtok: 1}\n"  # fmt: skip
    ok = httpx.post(f"{gw.url}/admin/config/validate?file=extra.yaml", content=extra,
                    headers={**AUTH, "content-type": "application/yaml"})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["valid"] is True and ok.json()["errors"] == []
    assert ok.json()["registry_version"] != version
    # Replacing the directory's gateway.yaml with a broken one: the error names file, line, path.
    broken = OPENAI_ONLY.format(openai="http://127.0.0.1:9").replace("context_window: 128000", "context_window: -1")
    bad = httpx.post(f"{gw.url}/admin/config/validate", json={"gateway.yaml": broken, "extra.yaml": extra},
                     headers=AUTH)  # fmt: skip
    assert bad.status_code == 200
    assert bad.json() == {"valid": False, "registry_version": None, "warnings": [], "errors": [
        {"file": "gateway.yaml", "line": 14, "path": "models[1].context_window", "message": "must be greater than 0"}]}
    conflict = httpx.post(f"{gw.url}/admin/config/validate", json={"x.yaml": "routes: [{name: default, models: [extra]}]"},
                          headers=AUTH)  # fmt: skip
    messages = [e["message"] for e in conflict.json()["errors"]]
    assert "unknown model 'extra'" in messages and any("duplicate route 'default'" in m for m in messages)
    for kwargs in ({"content": extra}, {"content": "{", "headers": {"content-type": "application/json"}},
                   {"json": {"../x.yaml": "a: 1"}}, {"json": {"x.txt": "a: 1"}}, {"json": {}}, {"json": ["x"]},
                   {"content": b"\xff", "params": {"file": "x.yaml"}}):  # fmt: skip
        headers = {**AUTH, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        assert httpx.post(f"{gw.url}/admin/config/validate", headers=headers, **kwargs).status_code == 400  # type: ignore[arg-type]
    assert gw.get("/readyz").json()["registry_version"] == version
    assert "extra" not in model_ids(gw.url) and gw.events == []


def test_reload_now_applies_or_rejects(admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes,
                                       caplog: pytest.LogCaptureFixture) -> None:
    config = write_config(tmp_path / "config", fakes)
    gw = admin_gateways.start(config, reload=False)
    before = gw.get("/readyz").json()["registry_version"]  # answered once start-up is over
    assert gw.server.app.state.live.watching is False
    text = (config / "gateway.yaml").read_text()
    (config / "gateway.yaml").write_text(text.replace("gpt-4.1-mini, gpt-4o-mini]", "gpt-4o-mini]"))
    resp = gw.post("/admin/config/reload")
    assert resp.status_code == 200 and resp.json()["changed"] is True and resp.json()["previous_version"] == before
    after = resp.json()["registry_version"]
    assert gw.get("/admin/routes/default").json()["models"] == ["gpt-4o-mini"]
    assert gw.events == [("config.reloaded", {"source": "admin", "previous_version": before, "registry_version": after})]
    assert gw.post("/admin/config/reload").json()["changed"] is False
    (config / "gateway.yaml").write_text(text.replace("max_output_tokens: 16384", "max_output_tokens: 16384\n    colour: red"))
    with caplog.at_level(logging.ERROR, logger="grove.catalog"):
        rejected = gw.post("/admin/config/reload")
    assert rejected.status_code == 400 and rejected.json()["error"]["code"] == "invalid_config"
    issue = {"file": str(config / "gateway.yaml"), "line": 16, "path": "models[1]", "message": "unknown key 'colour'"}
    assert rejected.json()["errors"] == [issue]
    assert f"{config / 'gateway.yaml'}:16 models[1]: unknown key 'colour'" in caplog.text
    assert gw.events[-1] == ("config.rejected", {"source": "admin", "registry_version": after, "errors": [issue]})
    assert gw.get("/readyz").json()["registry_version"] == after
    assert chat(gw.url, "default")


def test_runtime_changes_override_files_until_dropped(admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    config = write_config(tmp_path / "config", fakes)
    gw = admin_gateways.start(config, reload=False)
    files_version = gw.get("/readyz").json()["registry_version"]
    gw.patch("/admin/models/gpt-4.1-mini", {"upstream_model": "patched"})
    gw.post("/admin/models", new_model())
    text = (config / "gateway.yaml").read_text()
    (config / "gateway.yaml").write_text(text.replace("output_per_mtok: 1.60", "output_per_mtok: 1.70"))
    with caplog.at_level(logging.WARNING, logger="grove.catalog"):
        assert gw.post("/admin/config/reload").status_code == 200
    assert "runtime changes override these config file entries: models[gpt-4.1-mini@1]" in caplog.text
    assert "(patched)" in chat(gw.url, "gpt-4.1-mini")  # the runtime change still wins
    dropped = gw.delete("/admin/config/changes")
    assert dropped.status_code == 200 and dropped.json()["changed"] is True
    assert "(gpt-4.1-mini)" in chat(gw.url, "gpt-4.1-mini") and "gpt-4.1-nano" not in model_ids(gw.url)
    assert gw.get("/admin/models/gpt-4.1-mini").json()["versions"][0]["prices"]["output_per_mtok"] == 1.7
    assert dropped.json()["registry_version"] != files_version  # the edited files serve now
    assert gw.events[-1][0] == "config.reloaded" and gw.events[-1][1]["source"] == "reset"


def test_reload_settings_from_the_environment() -> None:
    settings = Settings.from_env({"GROVE_RELOAD": "false", "GROVE_RELOAD_INTERVAL_S": "0.5",
                                  "GROVE_SYNC_INTERVAL_S": "0.1"})  # fmt: skip
    assert (settings.reload, settings.reload_interval_s, settings.sync_interval_s) == (False, 0.5, 0.1)
    assert Settings.from_env({}).reload is True
