"""The systems under test, each started pinned to one core: Grove Gateway, a minimal
pass-through, and LiteLLM Proxy (installed into its own virtualenv under bench/.work)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CLIENT_KEY = "sk-bench-client-key"
ROOT = Path(__file__).resolve().parent.parent
LITELLM_VERSION = "1.106.0"  # never 1.82.7 or 1.82.8

ANTHROPIC_MODEL = "claude-sonnet-4-5"
GEMINI_MODEL = "gemini-2.5-flash"


@dataclass
class System:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    startup_s: float
    api_key: str | None
    models: dict[str, str]  # scenario -> model name to send
    ready_s: float = 0.0  # spawn to ready for every model (the gateway: GET /readyz); else = startup_s

    def _pids(self) -> list[int]:
        """The server and its workers."""
        pids = [self.proc.pid]
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        return pids

    def rss_mb(self) -> float:
        """Resident memory of the process tree (the server and any workers)."""
        total = 0
        for pid in self._pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def cpu_ticks(self) -> int:
        """CPU time used so far by the server and its workers, in clock ticks (user + system)."""
        total = 0
        for pid in self._pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except FileNotFoundError:  # a worker that has just gone
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
        return total

    def settle(self, timeout_s: float = 10.0) -> None:
        """Wait until the system is idle again after a load run.

        wrk stops at its deadline with up to 64 requests in flight; the system still serves them
        (LiteLLM Proxy for ~0.65 s of CPU) while the next system is measured on the same core. This
        waits for a quiet 100 ms (at most one clock tick of CPU), or ``timeout_s``."""
        # Polling is the measurement here, as in _wait_healthy: idleness sends no event.
        deadline = time.monotonic() + timeout_s
        before = self.cpu_ticks()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.cpu_ticks()
            if now - before <= 1:
                return
            before = now

    def stop(self) -> None:
        stop(self.proc)


def stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], started: float, timeout_s: float = 120) -> float:
    # Polling is the measurement here: time from spawn to the first healthy answer.
    while time.perf_counter() - started < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{url}: not healthy after {timeout_s} s")


def gateway_config(directory: Path, upstream: str, *, litellm_models: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model = """  - {{id: {id}, provider: {provider}, upstream_model: {upstream}, context_window: 200000,
     max_output_tokens: 8192, prices: {{input_per_mtok: 1.0, output_per_mtok: 4.0}},
     capabilities: {{reasoning: 7, creativity: 7, precision: 7, speed: 7, context: 7}},
     supports: {{tools: true, vision: true, json: true, streaming: true}}}}
"""
    providers = [("oai", "openai-compatible", f"{upstream}/oai/v1"), ("oai-sse", "openai-compatible",
                                                                        f"{upstream}/oai-sse/v1")]
    models = [("gpt-bench", "oai", "gpt-bench"), ("gpt-bench-stream", "oai-sse", "gpt-bench")]
    if litellm_models:
        providers += [("anth", "anthropic", f"{upstream}/anth"), ("anth-sse", "anthropic", f"{upstream}/anth-sse"),
                      ("gem", "gemini", f"{upstream}/gem")]
        # Real upstream model names: litellm treats the models it knows and the ones it does not
        # differently, and the gateway asks litellm how it treats each (providers/plain.py).
        models += [("claude-bench", "anth", ANTHROPIC_MODEL), ("claude-bench-stream", "anth-sse", ANTHROPIC_MODEL),
                   ("gemini-bench", "gem", GEMINI_MODEL)]
    text = "providers:\n" + "".join(
        f'  - {{id: {pid}, kind: {kind}, base_url: "{url}", api_key_env: BENCH_PROVIDER_KEY}}\n'
        for pid, kind, url in providers)
    text += "models:\n" + "".join(model.format(id=m, provider=p, upstream=u) for m, p, u in models)
    second = "claude-bench" if litellm_models else "gpt-bench-stream"
    text += f"routes:\n  - {{name: bench, models: [gpt-bench, {second}]}}\n"
    text += f"keys:\n  - {{name: bench, sha256: {hashlib.sha256(CLIENT_KEY.encode()).hexdigest()}}}\n"
    (directory / "bench.yaml").write_text(text)
    return directory


def start_gateway(port: int, config: Path, cpus: str, *, workers: int = 1, env: dict[str, str] | None = None,
                  source: Path | None = None) -> System:
    """The gateway of this checkout, or of the source tree ``source`` (another version of it, for
    ``bench.compete``: its ``gateway`` package comes first on the path)."""
    full_env = {**os.environ, "BENCH_PROVIDER_KEY": "sk-bench-provider", "GROVE_LOG_LEVEL": "warning",
                **(env or {})}
    if source is not None:
        full_env["PYTHONPATH"] = str(source)
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["taskset", "-c", cpus, sys.executable, "-m", "gateway.cli", "serve", "--port", str(port),
         "--config", str(config), "--workers", str(workers)],
        cwd=source or ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    startup = _wait_healthy(f"{url}/healthz", proc, started)
    ready = _wait_healthy(f"{url}/readyz", proc, started)
    return System("grove", url, proc, startup, CLIENT_KEY, {
        "openai": "bench", "anthropic": "claude-bench", "gemini": "gemini-bench",
        "openai-stream": "gpt-bench-stream", "anthropic-stream": "claude-bench-stream",
    }, ready)


def start_passthrough(port: int, upstream: str, cpus: str) -> System:
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["taskset", "-c", cpus, sys.executable, "-m", "uvicorn", "bench.passthrough:app", "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env={**os.environ, "BENCH_UPSTREAM": upstream},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    startup = _wait_healthy(f"{url}/healthz", proc, started)
    return System("passthrough", url, proc, startup, None, {"openai": "gpt-bench", "openai-stream": "gpt-bench"})


def litellm_venv(workdir: Path) -> Path:
    venv = workdir / "litellm-venv"
    litellm = venv / "bin" / "litellm"
    if not litellm.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"litellm[proxy]=={LITELLM_VERSION}"],
                       check=True)
    return litellm


def start_litellm(port: int, upstream: str, workdir: Path, cpus: str) -> System:
    binary = litellm_venv(workdir)
    entries = [
        ("gpt-bench", "openai/gpt-bench", f"{upstream}/oai/v1"),
        ("gpt-bench-stream", "openai/gpt-bench", f"{upstream}/oai-sse/v1"),
        ("claude-bench", f"anthropic/{ANTHROPIC_MODEL}", f"{upstream}/anth"),
        ("claude-bench-stream", f"anthropic/{ANTHROPIC_MODEL}", f"{upstream}/anth-sse"),
        ("gemini-bench", f"gemini/{GEMINI_MODEL}", f"{upstream}/gem/v1beta"),  # litellm appends /models/...
    ]
    config = workdir / "litellm.yaml"
    config.write_text("model_list:\n" + "".join(
        f"  - model_name: {name}\n    litellm_params: {{model: {model}, api_base: \"{base}\", api_key: sk-bench}}\n"
        for name, model, base in entries
    ) + "general_settings: {master_key: sk-bench-master}\nlitellm_settings: {drop_params: true}\n")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
           "DISABLE_SCHEMA_UPDATE": "true"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["taskset", "-c", cpus, str(binary), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=(workdir / "litellm.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    startup = _wait_healthy(f"{url}/health/liveliness", proc, started, timeout_s=300)
    return System("litellm-proxy", url, proc, startup, "sk-bench-master", {
        "openai": "gpt-bench", "anthropic": "claude-bench", "gemini": "gemini-bench",
        "openai-stream": "gpt-bench-stream", "anthropic-stream": "claude-bench-stream",
    })


class Process:
    """A child process, ready once it has printed ``ready`` on the chosen stream; the rest of
    its output is drained in a thread (a full pipe would stall it and skew the numbers)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], ready: str, stream: str) -> None:
        pipe = subprocess.PIPE
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, text=True,
                                     stdout=pipe if stream == "stdout" else subprocess.DEVNULL,
                                     stderr=pipe if stream == "stderr" else subprocess.DEVNULL)
        out = self.proc.stdout if stream == "stdout" else self.proc.stderr
        assert out is not None
        self.lines: list[str] = []
        for line in out:  # blocks until the child says something
            self.lines.append(line)
            if ready in line:
                break
        else:
            raise RuntimeError(f"{argv} exited during start-up:\n" + "".join(self.lines))
        self.drained = 0
        self.last = ""
        threading.Thread(target=self._drain, args=(out,), daemon=True).start()

    def _drain(self, out: object) -> None:
        for line in out:  # type: ignore[attr-defined]
            self.drained += 1
            self.last = line

    def stop(self) -> None:
        stop(self.proc)


def start_sink(port: int, cpu: str | None = None) -> tuple[Process, dict[str, str]]:
    """The local OTLP receiver (``bench/otlp_sink.py``, counting spans) on ``port``, pinned to
    ``cpu`` if given, and the environment that makes a gateway trace every request to it."""
    argv = [sys.executable, "-m", "bench.otlp_sink", str(port)]
    sink = Process(["taskset", "-c", cpu, *argv] if cpu is not None else argv, dict(os.environ), "sink ready", "stdout")
    return sink, {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                  "OTEL_TRACES_SAMPLER": "always_on"}
