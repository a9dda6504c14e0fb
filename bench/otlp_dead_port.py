"""Does a dead OTLP collector cost requests anything? Latency with OTLP pointed at a closed port,
against the same gateway exporting to a collector that is up, and with no OTLP export at all
(spans not recorded: the difference to "collector up" is the cost of recording spans).

Each scenario runs ``grove-gateway serve`` in its own process against the fake OpenAI provider
(another process), warms up, then measures N sequential requests and M requests from C
concurrent clients, and prints p50/p99 latency and throughput side by side:

    .venv/bin/python -m bench.otlp_dead_port [--sequential 1000] [--concurrent 4000] [--clients 32]
        [--rounds 2] [--cpu 1]

``--cpu`` pins the gateway to one core with ``taskset`` (if installed), as the throughput
benchmarks do. Rounds alternate the scenarios, so drift on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.systems import Process

BODY = b'{"model":"gpt-4.1-mini","messages":[{"role":"user","content":"Tell me about the grove"}]}'
CONFIG = """\
providers:
  - {{id: fake-openai, kind: openai-compatible, base_url: "{openai}/v1"}}
models:
  - id: gpt-4.1-mini
    provider: fake-openai
    context_window: 1047576
    max_output_tokens: 32768
    capabilities: {{reasoning: 7, creativity: 6, precision: 7, speed: 8, context: 9}}
    prices: {{input_per_mtok: 0.40, output_per_mtok: 1.60}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scenarios(dead_port: int, sink_port: int) -> dict[str, dict[str, str]]:
    dead, live = f"http://127.0.0.1:{dead_port}", f"http://127.0.0.1:{sink_port}"
    return {
        "no OTLP": {},
        "OTLP gRPC, collector up": {"OTEL_EXPORTER_OTLP_ENDPOINT": live, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        "OTLP gRPC, dead port": {"OTEL_EXPORTER_OTLP_ENDPOINT": dead, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        "OTLP HTTP, dead port": {"OTEL_EXPORTER_OTLP_ENDPOINT": dead, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
    }


@dataclass
class Result:
    sequential: list[float]
    concurrent: list[float]
    rps: float


async def _measure(url: str, sequential: int, concurrent: int, clients: int) -> Result:
    headers = {"content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def one() -> float:
            started = time.perf_counter()
            async with http.post(url, data=BODY, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            return (time.perf_counter() - started) * 1000

        for _ in range(200):  # warm-up: connections, caches, the exporter's first attempts
            await one()
        seq = [await one() for _ in range(sequential)]
        per_client = concurrent // clients
        started = time.perf_counter()

        async def client() -> list[float]:
            return [await one() for _ in range(per_client)]

        batches = await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    conc = [x for batch in batches for x in batch]
    return Result(seq, conc, len(conc) / elapsed)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--concurrent", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cpu", help="pin the gateway to this core with taskset")
    args = parser.parse_args(argv)

    ports = [_free_port() for _ in range(3)]
    fakes = Process([sys.executable, "-m", "gateway.fakes.run", "--ports", *map(str, ports)],
                    dict(os.environ), "knobs:", "stdout")
    sink_port = _free_port()
    sink = Process([sys.executable, "-m", "bench.otlp_sink", str(sink_port)],
                   dict(os.environ), "sink ready", "stdout")
    results: dict[str, list[Result]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="grove-otlp-bench-") as tmp:
            Path(tmp, "bench.yaml").write_text(CONFIG.format(openai=f"http://127.0.0.1:{ports[0]}"))
            dead = _free_port()  # nothing listens here
            for round_number in range(args.rounds):
                for name, otel in _scenarios(dead, sink_port).items():
                    port = _free_port()
                    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
                    env.update(otel, GROVE_CONFIG_DIR=tmp, GROVE_PORT=str(port), GROVE_LOG_LEVEL="info")
                    pin = ["taskset", "-c", args.cpu] if args.cpu and shutil.which("taskset") else []
                    gateway = Process([*pin, sys.executable, "-m", "gateway.cli", "serve"], env,
                                      "Uvicorn running on", "stderr")
                    try:
                        result = asyncio.run(_measure(f"http://127.0.0.1:{port}/v1/chat/completions",
                                                      args.sequential, args.concurrent, args.clients))
                    finally:
                        gateway.stop()
                    results.setdefault(name, []).append(result)
                    print(f"round {round_number + 1} {name:<24} seq p50 {_pct(result.sequential, 50):6.2f} ms  "
                          f"conc p50 {_pct(result.concurrent, 50):6.2f} ms  {result.rps:7.0f} req/s  "
                          f"(gateway log lines: {gateway.drained})", flush=True)
    finally:
        fakes.stop()
        sink.stop()

    print(f"\n{args.sequential} sequential requests; {args.concurrent} from {args.clients} concurrent clients; "
          f"{args.rounds} round(s) each, pooled")
    print(f"{'scenario':<24} {'seq p50':>8} {'seq p99':>8} {'conc p50':>9} {'conc p99':>9} {'req/s':>8}")
    for name, runs in results.items():
        seq = [x for r in runs for x in r.sequential]
        conc = [x for r in runs for x in r.concurrent]
        rps = statistics.mean(r.rps for r in runs)
        print(f"{name:<24} {_pct(seq, 50):8.2f} {_pct(seq, 99):8.2f} {_pct(conc, 50):9.2f} {_pct(conc, 99):9.2f} "
              f"{rps:8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
