"""``python -m bench`` (or ``make bench``): the gateway against LiteLLM Proxy and a minimal
pass-through, in one run, on this machine.

Layout: the system under test is pinned to CPU 0; nginx (the fake upstreams), wrk and the
stream client run on CPU 1. Added latency is measured against a direct call to nginx, in pairs
of short runs (direct, then the system).

Throughput is measured in rounds (``--rounds``, default 3): every system is started first and
left idle while another is measured, and each round measures every system once, one after the
other. A shared virtual machine's speed drifts by 20 % and more from one minute to the next;
systems measured side by side in a round see the same drift, so the ratios are taken per round
and their median reported (with every round's figures). Two workers against one: likewise.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
from pathlib import Path
from typing import Any

import orjson

from bench.load import WrkResult, ttfb, wrk, wrk_script
from bench.systems import System, gateway_config, start_gateway, start_litellm, start_passthrough, start_sink
from bench.upstreams import MESSAGES, Nginx

WORK = Path(__file__).resolve().parent / ".work"
SUT_CPU = "0"
LOAD_CPU = "1"
DIRECT_PATHS = {
    "openai": "/oai/v1/chat/completions",
    "anthropic": "/anth/v1/messages",
    "gemini": "/gem/v1beta/models/gemini-bench:generateContent",
    "openai-stream": "/oai-sse/v1/chat/completions",
    "anthropic-stream": "/anth-sse/v1/messages",
}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _body(model: str, stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 256}
    if stream:
        body["stream"] = True
    return body


LATENCY_PAIRS = 4


def measure(system: System, duration: float, upstream: str, scenarios: list[str]) -> dict[str, Any]:
    """Added latency at one connection and added stream time to first byte (throughput:
    ``throughput_rounds``). Each is measured in ``LATENCY_PAIRS`` pairs of short runs, a direct
    call to nginx, then the system, so that both halves of a pair see the machine at the same
    speed; the added figure is the median of the pairs' differences."""
    out: dict[str, Any] = {}
    url = f"{system.url}/v1/chat/completions"
    seconds = max(1.0, duration / LATENCY_PAIRS)
    for scenario in scenarios:
        model = system.models.get(scenario)
        if model is None:
            continue
        direct_url = f"{upstream}{DIRECT_PATHS[scenario]}"
        if scenario.endswith("-stream"):
            body = _body(model, stream=True)
            ttfb(url, body, system.api_key, concurrency=4, seconds=1)  # warm-up
            streams = [(ttfb(direct_url, {"stream": True}, None, concurrency=16, seconds=seconds),
                        ttfb(url, body, system.api_key, concurrency=16, seconds=seconds))
                       for _ in range(LATENCY_PAIRS)]
            out[scenario] = {
                "ttfb_p50_ms": round(statistics.median(ours.p50_ms for _, ours in streams), 2),
                "ttfb_p99_ms": round(statistics.median(ours.p99_ms for _, ours in streams), 2),
                "direct_ttfb_p50_ms": round(statistics.median(direct.p50_ms for direct, _ in streams), 2),
                "added_ttfb_p50_ms": round(statistics.median(o.p50_ms - d.p50_ms for d, o in streams), 2),
                "added_ttfb_p50_pairs": [round(o.p50_ms - d.p50_ms, 2) for d, o in streams],
                "streams": sum(ours.streams for _, ours in streams),
                "errors": sum(ours.errors for _, ours in streams)}
            continue
        script = wrk_script(WORK, f"{system.name}-{scenario}", _body(model), system.api_key)
        direct_script = wrk_script(WORK, f"direct-{scenario}", _body("x"), None)
        wrk(url, script, connections=16, seconds=2, cpu=LOAD_CPU)  # warm-up
        system.settle()
        singles = [(wrk(direct_url, direct_script, connections=1, seconds=seconds, cpu=LOAD_CPU),
                    wrk(url, script, connections=1, seconds=seconds, cpu=LOAD_CPU))
                   for _ in range(LATENCY_PAIRS)]
        out[scenario] = {
            "errors": sum(ours.errors for _, ours in singles),
            "p50_ms_c1": round(statistics.median(ours.p50_ms for _, ours in singles), 3),
            "p99_ms_c1": round(statistics.median(ours.p99_ms for _, ours in singles), 3),
            "direct_p50_ms": round(statistics.median(direct.p50_ms for direct, _ in singles), 3),
            "added_p50_ms": round(statistics.median(o.p50_ms - d.p50_ms for d, o in singles), 3),
            "added_p99_ms": round(statistics.median(o.p99_ms - d.p99_ms for d, o in singles), 3),
        }
    out["loaded_rss_mb"] = round(system.rss_mb(), 1)
    return out


def throughput_rounds(systems: dict[str, System], scenarios: list[str], rounds: int,
                      duration: float) -> dict[str, dict[str, list[WrkResult]]]:
    """Requests per second at 64 connections: each round measures every system once per scenario."""
    out: dict[str, dict[str, list[WrkResult]]] = {name: {} for name in systems}
    for _ in range(rounds):
        for scenario in scenarios:
            for name, system in systems.items():
                model = system.models.get(scenario)
                if model is None:
                    continue
                script = wrk_script(WORK, f"{system.name}-{scenario}", _body(model), system.api_key)
                result = wrk(f"{system.url}/v1/chat/completions", script, connections=64, seconds=duration,
                             cpu=LOAD_CPU)
                system.settle()  # its requests still in flight must not run into the next one's time
                out[name].setdefault(scenario, []).append(result)
    return out


def median_ratio(ours: list[WrkResult], theirs: list[WrkResult]) -> float:
    """The median of the ratios of runs measured side by side (round by round, or pair by pair)."""
    return round(statistics.median(a.rps / max(b.rps, 1.0) for a, b in zip(ours, theirs)), 2)


PAIRS_PER_ROUND = 4
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def two_workers(one: System, upstream: str, otel: dict[str, str], rounds: int, duration: float) -> dict[str, Any]:
    """``--workers 2`` on both cores against the one-worker gateway, measured in alternation (the
    load generator then shares the cores with the workers: on two cores there is nowhere else).

    Each round is ``PAIRS_PER_ROUND`` pairs of short runs (one worker, then two), so that the two
    halves of a pair are measured seconds apart; the scaling is the median of the pairs' ratios."""
    two = start_gateway(_port(), gateway_config(WORK / "grove", upstream), "0,1", workers=2, env=otel)
    try:
        script = wrk_script(WORK, "grove-2w", _body("bench"), two.api_key)
        wrk(f"{two.url}/v1/chat/completions", script, connections=16, seconds=2, cpu=LOAD_CPU)  # warm-up
        two.settle()
        seconds = max(1.0, duration / PAIRS_PER_ROUND)
        singles, doubles = [], []
        cpu_us: dict[str, list[float]] = {"one": [], "two": []}  # the gateway's CPU a request

        def run(system: System, name: str, runs: list[WrkResult], cpu: str, threads: int) -> None:
            before = system.cpu_ticks()
            result = wrk(f"{system.url}/v1/chat/completions", script, connections=64, seconds=seconds, cpu=cpu,
                         threads=threads)
            cpu_us[name].append((system.cpu_ticks() - before) / CLOCK_TICKS * 1e6 / max(result.rps * seconds, 1.0))
            runs.append(result)
            system.settle()

        for _ in range(rounds * PAIRS_PER_ROUND):
            run(one, "one", singles, LOAD_CPU, 1)
            run(two, "two", doubles, "0,1", 2)
        return {"rps_c64": round(statistics.median(r.rps for r in doubles)),
                "one_worker_rps_c64": round(statistics.median(r.rps for r in singles)),
                "pair_s": seconds,
                "pair_ratios": [round(a.rps / max(b.rps, 1.0), 2) for a, b in zip(doubles, singles)],
                "errors": sum(r.errors for r in doubles),
                "scaling_vs_1": median_ratio(doubles, singles),
                # Whether the workers get in each other's way: the gateway's CPU per request with
                # one worker and with two (what the load generator's share does not explain).
                "cpu_us_per_request": {k: round(statistics.median(v)) for k, v in cpu_us.items()}}
    finally:
        two.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--skip-litellm", action="store_true", help="leave LiteLLM Proxy out")
    parser.add_argument("--only", choices=["grove", "passthrough", "litellm-proxy"], action="append")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds, systems interleaved (default 3)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    WORK.mkdir(exist_ok=True)
    nginx = Nginx(WORK, _port(), int(LOAD_CPU))
    sink, otel = start_sink(_port(), LOAD_CPU)  # the local OTLP collector the gateway exports every span to
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "kernel": platform.release()}, "duration_s": args.duration,
                               "rounds": args.rounds}
    systems: dict[str, System] = {}
    try:
        scenarios = ["openai", "anthropic", "gemini", "openai-stream", "anthropic-stream"]
        wanted = set(args.only or ["grove", "passthrough", "litellm-proxy"])
        if args.skip_litellm:
            wanted.discard("litellm-proxy")
        if "grove" in wanted:  # start-up and idle memory without a litellm-backed model, on its own
            lean = start_gateway(_port(), gateway_config(WORK / "grove-lean", nginx.url, litellm_models=False), SUT_CPU,
                                 env=otel)
            results["grove-no-litellm"] = {"startup_s": round(lean.startup_s, 2), "ready_s": round(lean.ready_s, 2),
                                           "idle_rss_mb": round(lean.rss_mb(), 1)}
            lean.stop()
        # Started one after the other (start-up and idle memory are each one's own), then all kept
        # running: while one is measured, the others are idle on the same core.
        starters = {
            "grove": lambda: start_gateway(_port(), gateway_config(WORK / "grove", nginx.url), SUT_CPU, env=otel),
            "passthrough": lambda: start_passthrough(_port(), nginx.url, SUT_CPU),
            "litellm-proxy": lambda: start_litellm(_port(), nginx.url, WORK, SUT_CPU),
        }
        for name, starter in starters.items():
            if name in wanted:
                systems[name] = starter()
                results[name] = {"startup_s": round(systems[name].startup_s, 2),
                                 "ready_s": round(systems[name].ready_s or systems[name].startup_s, 2),
                                 "idle_rss_mb": round(systems[name].rss_mb(), 1)}
        for name, system in systems.items():
            results[name].update(measure(system, args.duration, nginx.url, scenarios))
        rounds = throughput_rounds(systems, ["openai", "anthropic", "gemini"], args.rounds, args.duration)
        for name, by_scenario in rounds.items():
            for scenario, runs in by_scenario.items():
                results[name][scenario]["rps_c64"] = round(statistics.median(r.rps for r in runs))
                results[name][scenario]["rps_c64_rounds"] = [round(r.rps) for r in runs]
                results[name][scenario]["errors"] += sum(r.errors for r in runs)
        if "grove" in systems and "litellm-proxy" in systems:
            results["ratios_vs_litellm_proxy"] = {  # the median of each round's ratio
                scenario: median_ratio(rounds["grove"][scenario], rounds["litellm-proxy"][scenario])
                for scenario in ("openai", "anthropic", "gemini") if scenario in rounds["litellm-proxy"]
            }
        if "grove" in systems:
            results["otlp_spans_received"] = int(sink.last.split()[-1]) if sink.last.startswith("spans") else 0
            results["grove-2-workers"] = two_workers(systems["grove"], nginx.url, otel, args.rounds, args.duration)
    finally:
        for system in systems.values():
            system.stop()
        nginx.stop()
        sink.stop()
    (WORK / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
