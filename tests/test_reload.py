"""Hot reload of the config files under load: a gateway process serves 20 concurrent clients
the whole time; a valid edit is served within seconds, an invalid one is refused (the log names
file:line, the version stays), its fix applies, and not one request fails."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import openai

from gateway.fakes.run import Fakes
from tests.admin_support import (  # noqa: F401
    AUTH, AdminGateways, DrainedProcess, admin_gateways, chat, model_ids, write_atomically, write_config,
)
from tests.conftest import free_port

NANO = """\
  - id: gpt-4.1-nano
    provider: fake-openai
    context_window: {window}
    max_output_tokens: 32768
    capabilities: {{reasoning: 4, creativity: 5, precision: 5, speed: 10, context: 8}}
    prices: {{input_per_mtok: 0.10, output_per_mtok: 0.40}}
"""


class Load:
    """``clients`` concurrent openai clients (half of them streaming) in a thread of their own,
    each sending one request after another until stopped."""

    def __init__(self, url: str, clients: int = 20) -> None:
        self.url = url
        self.clients = clients
        self.done = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wait_for(self, count: int, within_s: float = 10.0) -> None:
        deadline = time.monotonic() + within_s
        while self.done < count:
            assert time.monotonic() < deadline, f"only {self.done} requests done, failures: {self.failures[:3]}"
            time.sleep(0.01)  # the count is the load thread's: poll it

    async def _main(self) -> None:
        async with openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key="x", max_retries=0) as client:
            await asyncio.gather(*(self._client(client, i) for i in range(self.clients)))

    async def _client(self, client: openai.AsyncOpenAI, index: int) -> None:
        model = "default" if index % 2 else "gpt-4.1-mini"
        messages = [{"role": "user", "content": f"client {index}"}]
        while not self._stop.is_set():
            try:
                if index % 4 < 2:
                    stream = await client.chat.completions.create(model=model, messages=messages, stream=True)  # type: ignore[arg-type]
                    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
                else:
                    reply = await client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
                    text = reply.choices[0].message.content or ""
                if f"client {index}" not in text:
                    self.failures.append(f"unexpected answer {text!r}")
            except Exception as exc:  # every failure is counted, none may happen
                self.failures.append(repr(exc))
            self.done += 1


def _wait(condition, what: str, within_s: float = 5.0) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within_s, f"not within {within_s} s: {what}"
    return time.monotonic() - started


def test_hot_reload_under_load(tmp_path: Path, fakes: Fakes) -> None:
    config = write_config(tmp_path / "config", fakes)
    path = config / "gateway.yaml"
    original = path.read_text()
    gateway = DrainedProcess(config, free_port(), {"GROVE_RELOAD_INTERVAL_S": "0.2"})
    load = Load(gateway.url).start()

    def version() -> str:
        return str(httpx.get(f"{gateway.url}/readyz").json()["registry_version"])

    def serves_nano() -> bool:
        body = {"model": "gpt-4.1-nano", "messages": [{"role": "user", "content": "hi"}]}
        return httpx.post(f"{gateway.url}/v1/chat/completions", json=body).status_code == 200

    try:
        load.wait_for(100)
        before = version()
        # A valid edit: one more model.
        write_atomically(path, original.replace("routes:\n", NANO.format(window=1047576) + "routes:\n"))
        _wait(serves_nano, "the added model is served")
        assert "(gpt-4.1-nano)" in chat(gateway.url, "gpt-4.1-nano")
        added = version()
        assert added != before
        # An invalid edit: refused with file:line, the version stays, serving goes on.
        invalid = original.replace("routes:\n", NANO.format(window=-5) + "routes:\n")
        line = invalid.splitlines().index("    context_window: -5") + 1
        write_atomically(path, invalid)
        expected = f"{path}:{line} models[2].context_window: must be greater than 0"
        _wait(lambda: expected in gateway.text(), "the log names the invalid line")
        assert "config reload rejected, still serving version " + added in gateway.text()
        assert version() == added and serves_nano()
        load.wait_for(load.done + 100)
        # The fix applies.
        write_atomically(path, original.replace("routes:\n", NANO.format(window=500000) + "routes:\n"))
        _wait(lambda: version() != added, "the fixed config is installed")
        nano = httpx.get(f"{gateway.url}/admin/models/gpt-4.1-nano", headers=AUTH).json()
        assert nano["versions"][0]["context_window"] == 500000
        load.wait_for(load.done + 100)
    finally:
        load.stop()
        logs = gateway.stop()
    assert load.failures == []
    assert load.done >= 300
    assert "Traceback" not in logs
    assert logs.count("config reloaded (watch)") == 2


def test_the_watcher_applies_valid_edits_and_rejects_the_rest(admin_gateways: AdminGateways, tmp_path: Path,
                                                              fakes: Fakes) -> None:
    config = write_config(tmp_path / "config", fakes)
    path = config / "gateway.yaml"
    gw = admin_gateways.start(config, preload=False, reload_interval_s=0.05)  # loads the directory itself
    before = gw.get("/readyz").json()["registry_version"]  # answered once start-up is over
    assert gw.server.app.state.live.watching
    write_atomically(path, path.read_text().replace("routes:\n", NANO.format(window=1047576) + "routes:\n"))
    _wait(lambda: "config.reloaded" in gw.kinds(), "the edit is applied")
    after = gw.get("/readyz").json()["registry_version"]
    assert gw.events == [("config.reloaded", {"source": "watch", "previous_version": before, "registry_version": after})]
    assert "gpt-4.1-nano" in model_ids(gw.url)
    # A file that cannot be read, then a directory that is gone: both refused, the version stays.
    (config / "broken.yaml").write_bytes(b"models: \xff\n")
    _wait(lambda: gw.kinds().count("config.rejected") == 1, "the unreadable file is refused")
    assert gw.events[-1][1]["errors"] == [{"file": str(config / "broken.yaml"), "line": None, "path": "",
                                           "message": "is not valid UTF-8"}]
    config.rename(tmp_path / "elsewhere")
    _wait(lambda: gw.kinds().count("config.rejected") == 2, "the missing directory is refused")
    assert gw.events[-1][1]["errors"][0]["message"] == "is not a directory"
    assert gw.get("/readyz").json()["registry_version"] == after
    assert chat(gw.url, "gpt-4.1-nano")
