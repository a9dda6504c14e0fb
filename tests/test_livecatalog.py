"""Runtime changes are kept in the store and shared: replicas converge within a second, changes
survive restarts, concurrent changes are all kept, and a lost store never fails a request."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest
import redis

from gateway.fakes.run import Fakes
from gateway.livecatalog import OVERLAY_KEY
from gateway.registry import CATALOG_KEY, CURRENT_KEY
from tests.admin_support import (  # noqa: F401
    AUTH, AdminGateways, DrainedProcess, admin_gateways, chat, model_ids, new_model, write_config,
)
from tests.conftest import REDIS_URL, RedisServer, free_port


def test_a_model_registered_on_one_process_is_served_by_the_other_within_a_second(
    tmp_path: Path, fakes: Fakes, redis_client: redis.Redis
) -> None:
    config = write_config(tmp_path / "config", fakes)
    env = {"GROVE_REDIS_URL": REDIS_URL}
    first, second = DrainedProcess(config, free_port(), env), DrainedProcess(config, free_port(), env)
    try:
        request = {"model": "gpt-4.1-nano", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(f"{second.url}/v1/chat/completions", json=request).status_code == 404
        registered = httpx.post(f"{first.url}/admin/models", json=new_model(), headers=AUTH)
        assert registered.status_code == 201
        started = time.monotonic()
        while time.monotonic() - started <= 1.0:
            if httpx.post(f"{second.url}/v1/chat/completions", json=request).status_code == 200:
                break
        elapsed = time.monotonic() - started
        assert elapsed <= 1.0, f"the second process served the model only after {elapsed:.2f} s"
        assert "(gpt-4.1-nano)" in chat(second.url, "gpt-4.1-nano")
        versions = [httpx.get(f"{p.url}/readyz").json()["registry_version"] for p in (first, second)]
        assert versions[0] == versions[1] == registered.json()["registry_version"]
    finally:
        logs = first.stop() + second.stop()
    assert "Traceback" not in logs
    assert "installed registry version" in logs  # the second one took it from the store


def test_runtime_changes_survive_a_restart(tmp_path: Path, fakes: Fakes, redis_client: redis.Redis) -> None:
    config = write_config(tmp_path / "config", fakes)
    env = {"GROVE_REDIS_URL": REDIS_URL}
    gateway = DrainedProcess(config, free_port(), env)
    try:
        assert httpx.post(f"{gateway.url}/admin/models", json=new_model(), headers=AUTH).status_code == 201
        route = {"name": "nano", "models": ["gpt-4.1-nano", "gpt-4.1-mini"]}
        assert httpx.post(f"{gateway.url}/admin/routes", json=route, headers=AUTH).status_code == 201
        assert httpx.post(f"{gateway.url}/admin/models/gpt-4o-mini/retire", json={"successor": "gpt-4.1-mini"},
                          headers=AUTH).status_code == 200  # fmt: skip
        key = httpx.post(f"{gateway.url}/admin/keys", json={"name": "app"}, headers=AUTH).json()["key"]
        version = httpx.get(f"{gateway.url}/readyz").json()["registry_version"]
    finally:
        gateway.stop()
    gateway = DrainedProcess(config, free_port(), env)
    try:
        assert httpx.get(f"{gateway.url}/readyz").json()["registry_version"] == version
        assert {"gpt-4.1-nano", "nano"} <= set(model_ids(gateway.url, api_key=key))
        assert "gpt-4o-mini" not in model_ids(gateway.url, api_key=key)
        assert "(gpt-4.1-nano)" in chat(gateway.url, "nano", api_key=key)
        with pytest.raises(openai.AuthenticationError):
            chat(gateway.url, "nano", api_key="not-the-key")
    finally:
        logs = gateway.stop()
    assert "Traceback" not in logs


def test_concurrent_changes_on_two_replicas_are_all_kept(
    admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes, redis_client: redis.Redis
) -> None:
    config = write_config(tmp_path / "config", fakes)
    replicas = [admin_gateways.start(config, redis_url=REDIS_URL) for _ in range(2)]
    ids = [f"model-{i}" for i in range(12)]

    def register(index: int) -> int:
        return replicas[index % 2].post("/admin/models", new_model(ids[index])).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert list(pool.map(register, range(12))) == [201] * 12
    revision = int(redis_client.hget(OVERLAY_KEY, "rev") or 0)
    assert revision == 12  # each change built on the one before: none was lost
    published = redis_client.get(CURRENT_KEY)
    assert published is not None
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        served = [r.get("/readyz").json()["registry_version"] for r in replicas]
        if served == [published.decode()] * 2:
            break
    assert served == [published.decode()] * 2
    for replica in replicas:
        assert set(ids) <= set(model_ids(replica.url))
    assert sorted(str(data["id"]) for r in replicas for kind, data in r.events) == sorted(ids)


def test_a_lost_store_refuses_changes_but_never_fails_a_request(
    admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes, private_redis: RedisServer
) -> None:
    config = write_config(tmp_path / "config", fakes)
    gw = admin_gateways.start(config, redis_url=private_redis.url, reload=False)
    private_redis.stop()
    refused = gw.post("/admin/models", new_model())
    assert refused.status_code == 503 and refused.json()["error"]["type"] == "service_unavailable"
    assert chat(gw.url, "default")
    checked = gw.post("/admin/config/validate", {"extra.yaml": "routes: [{name: r, models: [gpt-4o-mini]}]"})
    assert checked.json()["valid"] is True  # against the runtime changes last seen
    # A reload still applies here, and is published once the store is back.
    (config / "gateway.yaml").write_text((config / "gateway.yaml").read_text().replace("speed: 9", "speed: 8"))
    reloaded = gw.post("/admin/config/reload")
    assert reloaded.status_code == 200 and reloaded.json()["changed"] is True
    version = reloaded.json()["registry_version"]
    assert gw.get("/readyz").json()["registry_version"] == version
    back = RedisServer(port=private_redis.port)
    try:
        client = redis.Redis.from_url(back.url)
        deadline = time.monotonic() + 2.0
        while client.get(CURRENT_KEY) != version.encode() and time.monotonic() < deadline:
            pass
        assert client.get(CURRENT_KEY) == version.encode()
        assert gw.post("/admin/models", new_model()).status_code == 201
        client.close()
    finally:
        back.stop()


def test_a_published_catalog_that_cannot_be_built_is_skipped(
    admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes, redis_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = write_config(tmp_path / "config", fakes)
    gw = admin_gateways.start(config, redis_url=REDIS_URL)
    version = gw.get("/readyz").json()["registry_version"]
    with caplog.at_level(logging.ERROR, logger="grove.catalog"):
        for bogus, body in (("missing", None), ("garbled", b"{not json"), ("stale", b'{"version": "x", "models": []}')):
            if body is not None:
                redis_client.set(CATALOG_KEY.format(version=bogus), body)
            redis_client.set(CURRENT_KEY, bogus)
            deadline = time.monotonic() + 2.0
            while f"cannot install published registry version {bogus}" not in caplog.text:
                assert time.monotonic() < deadline, caplog.text
                time.sleep(0.02)  # the log line is written by the server's thread: poll for it
    assert gw.get("/readyz").json()["registry_version"] == version
    assert chat(gw.url, "default")
    # A good publication after the bad ones is still installed.
    other = admin_gateways.start(config, redis_url=REDIS_URL)
    assert other.post("/admin/models", new_model()).status_code == 201
    deadline = time.monotonic() + 1.0
    while "gpt-4.1-nano" not in model_ids(gw.url):
        assert time.monotonic() < deadline
