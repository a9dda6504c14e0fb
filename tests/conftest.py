"""Shared fixtures: real fake-provider servers, gateways on real ports, a real Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from gateway.app import create_app
from gateway.catalog import load_catalog
from gateway.demo import write_demo_config
from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes, start_fakes
from gateway.settings import Settings

REDIS_URL = os.environ.get("GROVE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    with start_fakes() as running:
        yield running


@pytest.fixture(autouse=True)
def _reset_fakes(request: pytest.FixtureRequest) -> None:
    if "fakes" in request.fixturenames:
        running: Fakes = request.getfixturevalue("fakes")
        for fake in (running.openai, running.anthropic, running.gemini):
            fake.state.reset()


@pytest.fixture
def demo_config(tmp_path: Path, fakes: Fakes) -> Path:
    """A config directory with one model per provider kind, all served by the fakes."""
    write_demo_config(tmp_path, fakes.openai.url, fakes.anthropic.url, fakes.gemini.url)
    return tmp_path


GatewayFactory = Callable[..., BackgroundServer]


@pytest.fixture
def start_gateway() -> Iterator[GatewayFactory]:
    """Start gateways on real loopback ports; all are stopped after the test."""
    servers: list[BackgroundServer] = []

    def start(config_dir: Path, env: dict[str, str] | None = None, **settings: object) -> BackgroundServer:
        config = Settings(config_dir=config_dir, **settings)  # type: ignore[arg-type]
        app = create_app(config, env=env or {}, catalog=load_catalog(config_dir))
        server = BackgroundServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def gateway(start_gateway: GatewayFactory, demo_config: Path) -> BackgroundServer:
    return start_gateway(demo_config)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


class GatewayProcess:
    """``grove-gateway serve`` in a child process; ready once uvicorn says it is listening."""

    def __init__(self, config_dir: Path, port: int, env: dict[str, str], *, ready: bool = True) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        full_env = {**os.environ, **env, "GROVE_CONFIG_DIR": str(config_dir), "GROVE_PORT": str(port)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve"],
            env=full_env, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        self.log: list[str] = []
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # blocks until the child says something: no polling
            self.log.append(line)
            if "Uvicorn running on" in line:
                break
        else:
            raise RuntimeError("gateway process exited during start-up:\n" + "".join(self.log))
        if ready:
            self.wait_ready()

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        """Until ``/readyz`` says ready (litellm loads in the background after uvicorn listens),
        as a load balancer would wait before sending traffic."""
        import httpx

        deadline = time.monotonic() + timeout_s
        while httpx.get(f"{self.url}/readyz").status_code != 200:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("gateway process did not become ready:\n" + "".join(self.log))
            time.sleep(0.02)

    def stop(self) -> str:
        """SIGTERM, and the process must exit by itself; one that hangs is killed (no orphan
        left behind) and the test fails."""
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("the gateway did not exit within 15 s of SIGTERM:\n" + "".join(self.log) + err)
        self.log.append(err)
        return "".join(self.log)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server on a free port, for tests that stop Redis mid-way."""

    def __init__(self, port: int | None = None) -> None:
        """``port``: start again where a stopped one listened (clients reconnect to it)."""
        import shutil

        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (.ci/run installs it)"
        self.port = port or free_port()  # a port of its own, or a stopped server's to come back on
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # blocks until redis says it is ready
            if "Ready to accept connections" in line:
                break
        else:
            raise RuntimeError("redis-server exited during start-up")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()
