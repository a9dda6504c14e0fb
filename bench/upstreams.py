"""Fake upstreams that are never the bottleneck: nginx returning canned provider bodies.

The bodies are recorded from the project's own wire-faithful fakes once per run, so the
benchmark's upstream speaks exactly what the tests' fakes speak.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.fakes.run import start_fakes

PROMPT = "Tell me about the grove"
MESSAGES = [{"role": "user", "content": PROMPT}]


@dataclass(frozen=True)
class Canned:
    path: str  # an nginx location (exact, or "~ regex")
    content_type: str
    body: str


def record_bodies() -> list[Canned]:
    """One non-stream and one stream body per provider kind, as the fakes answer them."""
    with start_fakes() as fakes:
        oai = {"model": "gpt-bench", "messages": MESSAGES}
        anth = {"model": "claude-bench", "max_tokens": 256, "messages": MESSAGES}
        gem = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
        version = {"anthropic-version": "2023-06-01"}
        with httpx.Client(timeout=10) as http:
            def get(url: str, body: dict, headers: dict | None = None) -> str:
                resp = http.post(url, json=body, headers=headers or {})
                resp.raise_for_status()
                return resp.text

            return [
                Canned("= /oai/v1/chat/completions", "application/json",
                       get(f"{fakes.openai.url}/v1/chat/completions", oai)),
                Canned("= /oai-sse/v1/chat/completions", "text/event-stream",
                       get(f"{fakes.openai.url}/v1/chat/completions",
                           {**oai, "stream": True, "stream_options": {"include_usage": True}})),
                Canned("= /anth/v1/messages", "application/json",
                       get(f"{fakes.anthropic.url}/v1/messages", anth, version)),
                Canned("= /anth-sse/v1/messages", "text/event-stream",
                       get(f"{fakes.anthropic.url}/v1/messages", {**anth, "stream": True}, version)),
                Canned("~ ^/gem/v1beta/models/[^/]+:generateContent$", "application/json",
                       get(f"{fakes.gemini.url}/v1beta/models/gemini-bench:generateContent", gem)),
                Canned("~ ^/gem/v1beta/models/[^/]+:streamGenerateContent$", "text/event-stream",
                       get(f"{fakes.gemini.url}/v1beta/models/gemini-bench:streamGenerateContent?alt=sse", gem)),
                # The other endpoints' upstream answers (python -m bench.endpoints).
                Canned("= /oai/v1/responses", "application/json",
                       get(f"{fakes.openai.url}/v1/responses", {"model": "gpt-bench", "input": PROMPT})),
                Canned("= /oai/v1/embeddings", "application/json",
                       get(f"{fakes.openai.url}/v1/embeddings",
                           # 32 dimensions: an nginx string holds at most 4 KiB
                           {"model": "text-embedding-3-small", "input": [PROMPT, PROMPT], "dimensions": 32})),
            ]


def _quote(text: str) -> str:
    # nginx single-quoted strings: escape backslashes, quotes and line breaks.
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\r", "\\r").replace("\n", "\\n") + "'"


def nginx_config(workdir: Path, port: int, bodies: list[Canned]) -> Path:
    locations = "\n".join(
        f"    location {c.path} {{ default_type {c.content_type}; return 200 {_quote(c.body)}; }}" for c in bodies
    )
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {workdir}/nginx-body;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
{locations}
  }}
}}
""")
    return conf


class Nginx:
    def __init__(self, workdir: Path, port: int, cpu: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        conf = nginx_config(workdir.resolve(), port, record_bodies())
        self.proc = subprocess.Popen(["taskset", "-c", str(cpu), "nginx", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:  # nginx has no readiness signal: wait until it accepts connections
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx failed: {self.proc.stderr.read().decode() if self.proc.stderr else ''}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
