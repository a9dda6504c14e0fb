"""``python -m bench`` (or ``make bench``): the gateway against LiteLLM Proxy and a minimal
pass-through, in one run, on this machine.

Layout: the system under test is pinned to CPU 0; nginx (the fake upstreams), wrk and the
stream client run on CPU 1. Added latency is measured against a direct call to nginx.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Any

import orjson

from bench.load import TtfbResult, WrkResult, ttfb, wrk, wrk_script
from bench.systems import Process, System, gateway_config, start_gateway, start_litellm, start_passthrough
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


def measure(system: System, duration: float, direct: dict[str, WrkResult], direct_ttfb: dict[str, TtfbResult],
            scenarios: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"startup_s": round(system.startup_s, 2), "ready_s": round(system.ready_s or system.startup_s, 2),
                           "idle_rss_mb": round(system.rss_mb(), 1)}
    url = f"{system.url}/v1/chat/completions"
    for scenario in scenarios:
        model = system.models.get(scenario)
        if model is None:
            continue
        if scenario.endswith("-stream"):
            body = _body(model, stream=True)
            ttfb(url, body, system.api_key, concurrency=4, seconds=1)  # warm-up
            result = ttfb(url, body, system.api_key, concurrency=16, seconds=duration)
            out[scenario] = {"ttfb_p50_ms": round(result.p50_ms, 2), "ttfb_p99_ms": round(result.p99_ms, 2),
                             "added_ttfb_p50_ms": round(result.p50_ms - direct_ttfb[scenario].p50_ms, 2),
                             "streams": result.streams, "errors": result.errors}
            continue
        script = wrk_script(WORK, f"{system.name}-{scenario}", _body(model), system.api_key)
        wrk(url, script, connections=16, seconds=2, cpu=LOAD_CPU)  # warm-up
        load = wrk(url, script, connections=64, seconds=duration, cpu=LOAD_CPU)
        single = wrk(url, script, connections=1, seconds=duration, cpu=LOAD_CPU)
        out[scenario] = {
            "rps_c64": round(load.rps), "errors": load.errors + single.errors,
            "p50_ms_c1": round(single.p50_ms, 3), "p99_ms_c1": round(single.p99_ms, 3),
            "added_p50_ms": round(single.p50_ms - direct[scenario].p50_ms, 3),
            "added_p99_ms": round(single.p99_ms - direct[scenario].p99_ms, 3),
        }
    out["loaded_rss_mb"] = round(system.rss_mb(), 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--skip-litellm", action="store_true", help="leave LiteLLM Proxy out")
    parser.add_argument("--only", choices=["grove", "passthrough", "litellm-proxy"], action="append")
    args = parser.parse_args()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    WORK.mkdir(exist_ok=True)
    nginx = Nginx(WORK, _port(), int(LOAD_CPU))
    sink_port = _port()  # the local OTLP collector the gateway exports every span to
    sink = Process(["taskset", "-c", LOAD_CPU, sys.executable, "-m", "bench.otlp_sink", str(sink_port)],
                   dict(os.environ), "sink ready", "stdout")
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_TRACES_SAMPLER": "always_on"}
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "kernel": platform.release()}, "duration_s": args.duration}
    try:
        direct: dict[str, WrkResult] = {}
        direct_ttfb: dict[str, TtfbResult] = {}
        for scenario, path in DIRECT_PATHS.items():
            if scenario.endswith("-stream"):
                direct_ttfb[scenario] = ttfb(f"{nginx.url}{path}", {"stream": True}, None, concurrency=16,
                                             seconds=min(args.duration, 5))
            else:
                script = wrk_script(WORK, f"direct-{scenario}", _body("x"), None)
                direct[scenario] = wrk(f"{nginx.url}{path}", script, connections=1, seconds=args.duration,
                                       cpu=LOAD_CPU)
        results["direct"] = {k: {"p50_ms": v.p50_ms, "p99_ms": v.p99_ms} for k, v in direct.items()} | {
            k: {"ttfb_p50_ms": v.p50_ms} for k, v in direct_ttfb.items()}
        scenarios = ["openai", "anthropic", "gemini", "openai-stream", "anthropic-stream"]
        wanted = set(args.only or ["grove", "passthrough", "litellm-proxy"])
        if args.skip_litellm:
            wanted.discard("litellm-proxy")

        def run(system: System) -> dict[str, Any]:
            try:
                return measure(system, args.duration, direct, direct_ttfb, scenarios)
            finally:
                system.stop()

        if "grove" in wanted:
            results["grove"] = run(start_gateway(_port(), gateway_config(WORK / "grove", nginx.url), SUT_CPU, env=otel))
            results["otlp_spans_received"] = int(sink.last.split()[-1]) if sink.last.startswith("spans") else 0
            lean = start_gateway(_port(), gateway_config(WORK / "grove-lean", nginx.url, litellm_models=False), SUT_CPU,
                                 env=otel)
            results["grove-no-litellm"] = {"startup_s": round(lean.startup_s, 2), "ready_s": round(lean.ready_s, 2),
                                           "idle_rss_mb": round(lean.rss_mb(), 1)}
            lean.stop()
            two = start_gateway(_port(), gateway_config(WORK / "grove", nginx.url), "0,1", workers=2, env=otel)
            try:
                script = wrk_script(WORK, "grove-2w", _body("bench"), two.api_key)
                wrk(f"{two.url}/v1/chat/completions", script, connections=16, seconds=2, cpu=LOAD_CPU)
                one_core = results["grove"]["openai"]["rps_c64"]
                both = wrk(f"{two.url}/v1/chat/completions", script, connections=64, seconds=args.duration,
                           cpu="0,1", threads=2)
                results["grove-2-workers"] = {"rps_c64": round(both.rps), "errors": both.errors,
                                              "scaling_vs_1": round(both.rps / one_core, 2)}
            finally:
                two.stop()
        if "passthrough" in wanted:
            results["passthrough"] = run(start_passthrough(_port(), nginx.url, SUT_CPU))
        if "litellm-proxy" in wanted:
            results["litellm-proxy"] = run(start_litellm(_port(), nginx.url, WORK, SUT_CPU))
    finally:
        nginx.stop()
        sink.stop()
    if "grove" in results and "litellm-proxy" in results:
        results["ratios_vs_litellm_proxy"] = {
            s: round(results["grove"][s]["rps_c64"] / max(results["litellm-proxy"][s]["rps_c64"], 1), 1)
            for s in ("openai", "anthropic", "gemini") if s in results["litellm-proxy"]
        }
    (WORK / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
