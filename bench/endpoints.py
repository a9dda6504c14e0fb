"""``python -m bench.endpoints``: every model endpoint's requests per second on one core, beside
chat completions, with every request traced and exported over OTLP/gRPC. Two shapes
(``--shape``): ``production``, as a team with replicas runs it (the Redis store, a private
redis-server, and a client key with rpm, tpm and budget limits), and ``embedded``, the shape of
``python -m bench`` (the in-memory store, a key without limits).

The gateway is pinned to CPU 0; nginx (canned provider bodies recorded from the fakes), Redis,
the OTLP receiver and wrk run on CPU 1. Rounds interleave the scenarios, each round starting one
scenario later, so each round's ratio to chat sees the same machine speed and no scenario always
runs first; the median of the rounds' ratios is reported with every round.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
from pathlib import Path
from typing import Any

import orjson

from bench.__main__ import _port
from bench.load import wrk, wrk_script
from bench.systems import ANTHROPIC_MODEL, CLIENT_KEY, Process, start_gateway, start_sink
from bench.upstreams import MESSAGES, PROMPT, Nginx

WORK = Path(__file__).resolve().parent / ".work"
SUT_CPU, LOAD_CPU = "0", "1"
_MODEL = """  - {{id: {id}, provider: {provider}, upstream_model: {upstream}, context_window: 200000,
     max_output_tokens: 8192, prices: {{input_per_mtok: 1.0, output_per_mtok: 4.0}},{extra}
     capabilities: {{reasoning: 7, creativity: 7, precision: 7, speed: 7, context: 7}}}}
"""
# scenario -> (path, body): what a client sends.
SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("/v1/chat/completions", {"model": "gpt-bench", "messages": MESSAGES, "max_tokens": 256}),
    "chat-anthropic": ("/v1/chat/completions", {"model": "claude-bench", "messages": MESSAGES, "max_tokens": 256}),
    "responses-native": ("/v1/responses", {"model": "gpt-bench-responses", "input": PROMPT,
                                           "max_output_tokens": 256, "store": False}),
    "responses-translated": ("/v1/responses", {"model": "claude-bench", "input": PROMPT, "max_output_tokens": 256,
                                               "store": False}),
    "messages-passthrough": ("/v1/messages", {"model": ANTHROPIC_MODEL, "messages": MESSAGES, "max_tokens": 256}),
    "messages-translated": ("/v1/messages", {"model": "gpt-bench", "messages": MESSAGES, "max_tokens": 256}),
    "embeddings": ("/v1/embeddings", {"model": "text-embedding-3-small", "input": [PROMPT, PROMPT],
                                      "dimensions": 32}),
}


def config(directory: Path, upstream: str, limits: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    providers = [("oai", "openai-compatible", f"{upstream}/oai/v1", ""),
                 ("oai-responses", "openai-compatible", f"{upstream}/oai/v1", ", responses_api: true"),
                 ("anth", "anthropic", f"{upstream}/anth", "")]
    # Model ids the upstream's own (as chat's gpt-bench), so that every pass-through goes as bytes,
    # as chat's does; claude-bench is the translated chat's, a route-like alias.
    models = [("gpt-bench", "oai", "gpt-bench", ""), ("gpt-bench-responses", "oai-responses", "gpt-bench-responses", ""),
              ("claude-bench", "anth", ANTHROPIC_MODEL, ""), (ANTHROPIC_MODEL, "anth", ANTHROPIC_MODEL, ""),
              ("text-embedding-3-small", "oai", "text-embedding-3-small", "\n     mode: embedding, dimensions: 1536,")]
    text = "providers:\n" + "".join(
        f'  - {{id: {pid}, kind: {kind}, base_url: "{url}", api_key_env: BENCH_PROVIDER_KEY{extra}}}\n'
        for pid, kind, url, extra in providers)
    text += "models:\n" + "".join(_MODEL.format(id=m, provider=p, upstream=u, extra=x) for m, p, u, x in models)
    limited = ", limits: {rpm: 100000000, tpm: 1000000000000, budget_usd_day: 1000000000}" if limits else ""
    text += f"keys:\n  - {{name: bench, sha256: {hashlib.sha256(CLIENT_KEY.encode()).hexdigest()}{limited}}}\n"
    (directory / "bench.yaml").write_text(text)
    return directory


def start_redis(port: int) -> Process:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed"
    return Process(["taskset", "-c", LOAD_CPU, binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no"], dict(os.environ), "Ready to accept connections", "stdout")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.endpoints")
    parser.add_argument("--duration", type=float, default=8, help="seconds per measurement (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, scenarios interleaved (default 5)")
    parser.add_argument("--shape", choices=["production", "embedded"], default="production",
                        help="production: Redis and a key with limits (default); embedded: as python -m bench")
    args = parser.parse_args()
    production = args.shape == "production"
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    WORK.mkdir(exist_ok=True)
    nginx = Nginx(WORK, _port(), int(LOAD_CPU))
    sink, otel = start_sink(_port(), LOAD_CPU)
    redis_port = _port()
    redis = start_redis(redis_port) if production else None
    env = {**otel, "GROVE_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"} if production else otel
    gateway = start_gateway(_port(), config(WORK / "grove-endpoints", nginx.url, limits=production), SUT_CPU, env=env)
    runs: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    errors = {name: 0 for name in SCENARIOS}
    try:
        scripts = {name: wrk_script(WORK, f"endpoints-{name}", body, CLIENT_KEY)
                   for name, (_, body) in SCENARIOS.items()}
        wrk(f"{gateway.url}/v1/chat/completions", scripts["chat"], connections=64, seconds=2, cpu=LOAD_CPU)  # warm
        names = list(SCENARIOS)
        for round_number in range(args.rounds):
            for name in names[round_number % len(names):] + names[:round_number % len(names)]:
                path = SCENARIOS[name][0]
                result = wrk(f"{gateway.url}{path}", scripts[name], connections=64, seconds=args.duration, cpu=LOAD_CPU)
                gateway.settle()
                runs[name].append(result.rps)
                errors[name] += result.errors
    finally:
        gateway.stop()
        if redis is not None:
            redis.stop()
        nginx.stop()
        sink.stop()
    results: dict[str, Any] = {"shape": args.shape, "duration_s": args.duration, "rounds": args.rounds,
                               "scenarios": {}}
    for name, rps in runs.items():
        base = "chat-anthropic" if name == "chat-anthropic" else "chat"
        ratios = [ours / chat for ours, chat in zip(rps, runs[base], strict=True)]
        results["scenarios"][name] = {
            "rps_c64": round(statistics.median(rps)), "rps_c64_rounds": [round(r) for r in rps],
            "ratio_to_chat": round(statistics.median(ratios), 3), "errors": errors[name],
            "path": SCENARIOS[name][0],
        }
    out = orjson.dumps(results, option=orjson.OPT_INDENT_2)
    (WORK / f"endpoints-{args.shape}.json").write_bytes(out)
    print(out.decode())
    return 1 if any(errors.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
