"""``python -m bench.instructions``: CPU instructions per request, counted by callgrind.

Request rates on a shared virtual machine move by 20 % and more from one minute to the next; an
instruction count does not. This runs the set-up of ``python -m bench`` (nginx upstreams, the
OTLP sink, the same gateway config with tracing at 100 %) with the gateway under
``valgrind --tool=callgrind``, instrumenting nothing until it is warm; then, per scenario,
it counts the instructions of every thread of the process during ``--seconds`` of wrk load at
4 connections and divides them by the requests served. Compare two versions of the hot path
with it (run it on each); it says nothing about waiting (system calls, the GIL, the network).
Needs valgrind, nginx and wrk.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

import httpx
import orjson

from bench.__main__ import WORK, _body, _port
from bench.load import wrk_script
from bench.systems import CLIENT_KEY, ROOT, gateway_config, start_sink, stop
from bench.upstreams import Nginx

MODELS = {"openai": "bench", "anthropic": "claude-bench", "gemini": "gemini-bench"}


def _callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _requests(out: str) -> int:
    return int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--seconds", type=float, default=10, help="seconds of load per scenario (default 10)")
    parser.add_argument("--scenarios", nargs="+", choices=list(MODELS), default=list(MODELS),
                        help="which paths to count (default: all three)")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    out_dir = WORK / "callgrind"
    out_dir.mkdir(exist_ok=True)
    for old in out_dir.glob("cg.*"):
        old.unlink()
    nginx = Nginx(WORK, _port(), 1)
    sink, otel = start_sink(_port())
    port = _port()
    env = {**os.environ, "BENCH_PROVIDER_KEY": "sk-bench-provider", "GROVE_LOG_LEVEL": "warning", **otel}
    config = gateway_config(WORK / "grove", nginx.url)
    gateway = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_dir}/cg.%p",
         sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--config", str(config)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    results: dict[str, object] = {}
    try:
        deadline = time.monotonic() + 600
        while True:  # litellm's import under valgrind takes a minute or two
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or gateway.poll() is not None:
                raise RuntimeError("the gateway did not become ready under valgrind")
            time.sleep(0.5)
        for scenario in args.scenarios:
            model = MODELS[scenario]
            script = wrk_script(WORK, f"instr-{scenario}", _body(model), CLIENT_KEY)
            load = ["wrk", "-t1", "-c4", "-s", str(script), f"{url}/v1/chat/completions"]
            subprocess.run([*load, "-d3s"], check=True, capture_output=True)  # warm-up, not counted
            _callgrind(gateway.pid, "-z")
            _callgrind(gateway.pid, "-i", "on")
            out = subprocess.run([*load, f"-d{round(args.seconds)}s"], check=True, capture_output=True,
                                 text=True).stdout
            _callgrind(gateway.pid, "-i", "off")
            before = set(out_dir.glob("cg.*"))
            _callgrind(gateway.pid, "-d")
            dumps = sorted(set(out_dir.glob("cg.*")) - before, key=lambda p: p.stat().st_mtime)
            counted = sum(int(m.group(1)) for path in dumps
                          for m in re.finditer(r"^totals: (\d+)", path.read_text(errors="replace"), re.M))
            served = _requests(out)
            results[scenario] = {"requests": served, "instructions_per_request": counted // max(served, 1)}
    finally:
        stop(gateway)
        nginx.stop()
        sink.stop()
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
