"""``python -m bench.compete REV``: this checkout's gateway against the gateway of git revision
``REV``, both loaded at once on one core.

Alternating runs compare two versions badly on a shared virtual machine: its speed moves by 20 %
and more within seconds. Here both gateways are pinned to CPU 0 and each gets its own wrk at 64
connections at the same time (load on CPU 1, with the nginx upstreams and the OTLP receiver, as
in ``python -m bench``): the scheduler shares the core between them, whatever its speed at the
moment, so the ratio of their request rates is the inverse ratio of their CPU cost per request,
system calls included (which ``bench.instructions`` does not count). Each run is repeated with
the other wrk started first.

    python -m bench.compete HEAD~1 --runs 3 --seconds 8   # prints each run's ratio, then the median
    python -m bench.compete HEAD~1 --model claude-bench-stream   # Anthropic streams instead
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading

import orjson

from bench.__main__ import WORK, _body, _port
from bench.load import WrkResult, wrk, wrk_script
from bench.systems import ROOT, gateway_config, start_gateway, start_sink
from bench.upstreams import Nginx

MODELS = ["bench", "claude-bench", "gemini-bench", "gpt-bench-stream", "claude-bench-stream", "gemini-bench-stream"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compete")
    parser.add_argument("rev", help="the git revision to compare this checkout with")
    parser.add_argument("--runs", type=int, default=3, help="pairs of runs, each order once (default 3)")
    parser.add_argument("--seconds", type=float, default=8, help="seconds per run (default 8)")
    parser.add_argument("--model", default="bench", choices=MODELS,
                        help="what the requests ask for (default bench: the OpenAI path; *-stream: streams)")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    base = WORK / "compete-base"
    subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    subprocess.run(["git", "worktree", "add", "--detach", str(base), args.rev], cwd=ROOT, check=True,
                   capture_output=True)
    nginx = Nginx(WORK, _port(), 1)
    sink, otel = start_sink(_port(), "1")
    config = gateway_config(WORK / "grove", nginx.url)
    ours = start_gateway(_port(), config, "0", env=otel)
    theirs = start_gateway(_port(), config, "0", env=otel, source=base)
    ratios: list[float] = []
    try:
        stream = args.model.endswith("-stream")
        # The bench config has no Gemini stream model: gemini-bench with stream: true.
        model = args.model.removesuffix("-stream") if args.model.startswith("gemini") else args.model
        script = wrk_script(WORK, f"compete-{args.model}", _body(model, stream), ours.api_key)
        for system in (ours, theirs):  # warm-up
            wrk(f"{system.url}/v1/chat/completions", script, connections=16, seconds=2)
        for run in range(2 * args.runs):
            results: dict[str, WrkResult] = {}

            def load(name: str, url: str) -> None:
                results[name] = wrk(f"{url}/v1/chat/completions", script, connections=64, seconds=args.seconds)

            order = [("ours", ours.url), ("theirs", theirs.url)]
            threads = [threading.Thread(target=load, args=pair) for pair in (order if run % 2 == 0 else order[::-1])]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            ratios.append(round(results["ours"].rps / max(results["theirs"].rps, 1.0), 3))
            ours.settle()
            theirs.settle()
    finally:
        ours.stop()
        theirs.stop()
        nginx.stop()
        sink.stop()
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    print(orjson.dumps({"against": args.rev, "model": args.model, "seconds": args.seconds, "ratios": ratios,
                        "median": statistics.median(ratios)}).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
