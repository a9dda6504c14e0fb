"""Helpers for the runtime-change tests: a gateway whose events are recorded, a config with only
the fake OpenAI provider (no litellm import, so gateway processes start in about a second), and
a model entry to register."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.catalog import load_catalog
from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from gateway.livecatalog import EventSink
from gateway.settings import Settings
from tests.conftest import GatewayProcess

ADMIN_KEY = "admin-key-for-tests"
AUTH = {"authorization": f"Bearer {ADMIN_KEY}"}

OPENAI_ONLY = """\
providers:
  - {{id: fake-openai, kind: openai-compatible, base_url: "{openai}/v1"}}
models:
  - id: gpt-4.1-mini
    provider: fake-openai
    context_window: 1047576
    max_output_tokens: 32768
    capabilities: {{reasoning: 7, creativity: 6, precision: 7, speed: 8, context: 9}}
    supports: {{tools: true, vision: true, json: true, streaming: true}}
    prices: {{input_per_mtok: 0.40, output_per_mtok: 1.60}}
  - id: gpt-4o-mini
    provider: fake-openai
    version: "2024-07-18"
    context_window: 128000
    max_output_tokens: 16384
    capabilities: {{reasoning: 5, creativity: 6, precision: 6, speed: 9, context: 6}}
    prices: {{input_per_mtok: 0.15, output_per_mtok: 0.60}}
routes:
  - {{name: default, models: [gpt-4.1-mini, gpt-4o-mini]}}
"""


def new_model(model_id: str = "gpt-4.1-nano", **changes: Any) -> dict[str, Any]:
    """A model entry as in the YAML, served by the fake OpenAI provider."""
    return {
        "id": model_id, "provider": "fake-openai", "context_window": 1047576, "max_output_tokens": 32768,
        "capabilities": {"reasoning": 4, "creativity": 5, "precision": 5, "speed": 10, "context": 8},
        "prices": {"input_per_mtok": 0.10, "output_per_mtok": 0.40}, **changes,
    }  # fmt: skip


def write_config(directory: Path, fakes: Fakes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "gateway.yaml").write_text(OPENAI_ONLY.format(openai=fakes.openai.url))
    return directory


def write_atomically(path: Path, text: str) -> None:
    """As editors and ConfigMaps do: the watcher never sees half a file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def chat(url: str, model: str, api_key: str = "x") -> str:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0)
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    return reply.choices[0].message.content or ""


def model_ids(url: str, api_key: str = "x") -> list[str]:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0)
    return [m.id for m in client.models.list()]


@dataclass
class AdminGateway:
    server: BackgroundServer
    config_dir: Path
    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, headers=AUTH, **kw)

    def post(self, path: str, body: object = None, **kw: Any) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=AUTH, **kw)

    def patch(self, path: str, body: object, **kw: Any) -> httpx.Response:
        return httpx.patch(self.url + path, json=body, headers=AUTH, **kw)

    def put(self, path: str, body: object, **kw: Any) -> httpx.Response:
        return httpx.put(self.url + path, json=body, headers=AUTH, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.delete(self.url + path, headers=AUTH, **kw)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


class AdminGateways:
    """Start in-process gateways with the admin key; every one is stopped after the test."""

    def __init__(self) -> None:
        self.servers: list[BackgroundServer] = []

    def start(self, config_dir: Path, *, preload: bool = True, sink: EventSink | None = None,
              **settings: Any) -> AdminGateway:
        """``preload``: hand the app the catalog (as the demo does) rather than let it load the
        directory; ``sink`` replaces the recording of events."""
        events: list[tuple[str, dict[str, object]]] = []
        lock = threading.Lock()

        def record(kind: str, data: dict[str, object]) -> None:
            with lock:
                events.append((kind, data))

        config = Settings(config_dir=config_dir, admin_key=ADMIN_KEY, **settings)
        catalog = load_catalog(config_dir) if preload else None
        app = create_app(config, env={}, catalog=catalog, publish_event=sink or record)
        server = BackgroundServer(app).start()
        self.servers.append(server)
        return AdminGateway(server, config_dir, events)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def admin_gateways() -> Iterator[AdminGateways]:
    gateways = AdminGateways()
    yield gateways
    gateways.stop()


@pytest.fixture
def admin_gateway(admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes) -> AdminGateway:
    return admin_gateways.start(write_config(tmp_path / "config", fakes))


class DrainedProcess(GatewayProcess):
    """A gateway process whose log is read all along (a full pipe would block the child)."""

    def __init__(self, config_dir: Path, port: int, env: dict[str, str]) -> None:
        super().__init__(config_dir, port, {"GROVE_ADMIN_KEY": ADMIN_KEY, **env})
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.log.append(line)

    def text(self) -> str:
        with self._lock:
            return "".join(self.log)

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=15)
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return self.text()
