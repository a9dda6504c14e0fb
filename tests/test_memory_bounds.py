"""The embedded store's logs keep what they promise and no more: large request bodies are not
kept alive by the decision log (the resident memory of a gateway process, measured)."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.fakes.run import Fakes
from tests.conftest import GatewayProcess, free_port

BODY_MB = 4
REQUESTS = 24


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_large_bodies_are_not_kept_by_the_decision_log(demo_config: Path, fakes: Fakes) -> None:
    gateway = GatewayProcess(demo_config, free_port(), {})  # no GROVE_REDIS_URL: the memory store
    body = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "y" * (BODY_MB << 20)}]}
    try:
        with httpx.Client(timeout=30) as http:
            def send() -> None:
                resp = http.post(f"{gateway.url}/v1/chat/completions", json=body)
                assert resp.status_code == 200, resp.text

            for _ in range(3):  # warm: allocator pools, first-use caches
                send()
            before = _rss_mb(gateway.proc.pid)
            for _ in range(REQUESTS):
                send()
            grown = _rss_mb(gateway.proc.pid) - before
    finally:
        gateway.stop()
    # Kept bodies would be REQUESTS x (raw + parsed) >= 2 x 96 MB; a kept record is a few KB.
    assert grown < REQUESTS * BODY_MB / 2, f"RSS grew {grown:.0f} MB over {REQUESTS} requests of {BODY_MB} MB"
