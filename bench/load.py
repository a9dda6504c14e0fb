"""Load generators: wrk for request rates and latency, an asyncio client for stream TTFB."""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk_script(workdir: Path, name: str, body: dict, api_key: str | None) -> Path:
    headers = 'wrk.headers["Content-Type"] = "application/json"\n'
    if api_key:
        headers += f'wrk.headers["Authorization"] = "Bearer {api_key}"\n'
    path = workdir / f"{name}.lua"
    payload = orjson.dumps(body).decode().replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(f'wrk.method = "POST"\nwrk.body = "{payload}"\n{headers}')
    return path


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, script: Path, *, connections: int, seconds: float, threads: int = 1, cpu: str = "1") -> WrkResult:
    out = subprocess.run(
        ["taskset", "-c", cpu, "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
         "--timeout", "10s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors:.*?timeout (\d+)"):
        found = re.search(pattern, out)
        if found:
            errors += int(found.group(1))
    return WrkResult(rps, p50, p99, errors)


@dataclass(frozen=True)
class TtfbResult:
    p50_ms: float
    p99_ms: float
    streams: int
    errors: int


async def _ttfb(url: str, body: dict, api_key: str | None, concurrency: int, seconds: float,
                pause_s: float) -> TtfbResult:
    data = orjson.dumps(body)
    headers = {"content-type": "application/json"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    samples: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.post(url, data=data, headers=headers) as resp:
                if resp.status != 200:
                    errors += 1
                    await resp.read()
                    continue
                first = await resp.content.readuntil(b"\n\n")  # the first whole SSE event
                samples.append((time.perf_counter() - started) * 1000)
                rest = await resp.read()
                if b"[DONE]" not in first + rest and b"message_stop" not in first + rest \
                        and b"finishReason" not in first + rest:
                    errors += 1
            await asyncio.sleep(pause_s)  # think time: concurrent streams, not a saturating flood

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    samples.sort()
    return TtfbResult(statistics.median(samples), samples[int(len(samples) * 0.99) - 1], len(samples), errors)


def ttfb(url: str, body: dict, api_key: str | None, *, concurrency: int = 16, seconds: float = 5,
         pause_s: float = 0.05) -> TtfbResult:
    """Time to the first whole SSE event, for ``concurrency`` clients each streaming, reading to
    the end, then pausing ``pause_s``: 16 streams in flight at ~300 new streams/s, which
    measures the gateway's own delay rather than queueing behind a saturated core."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    return asyncio.run(_ttfb(url, body, api_key, concurrency, seconds, pause_s))
