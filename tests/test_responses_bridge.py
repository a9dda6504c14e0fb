"""A gateway whose catalog needs no litellm (OpenAI-compatible upstreams only) loads it, off the
event loop, for the first Responses request that must go through chat, and then serves it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from gateway.fakes.run import Fakes
from tests.conftest import GatewayProcess, free_port
from tests.responses_support import client

CONFIG = """\
providers:
  - {{id: fake-vllm, kind: openai-compatible, base_url: "{openai}/v1"}}
models:
  - {{id: vllm-chat, provider: fake-vllm, context_window: 131072, max_output_tokens: 8192,
     capabilities: {{reasoning: 5, creativity: 5, precision: 5, speed: 5, context: 5}},
     prices: {{input_per_mtok: 0.10, output_per_mtok: 0.20}}}}
"""


def test_the_first_translated_request_loads_litellm_without_blocking(tmp_path: Path, fakes: Fakes) -> None:
    (tmp_path / "grove.yaml").write_text(CONFIG.format(openai=fakes.openai.url))
    gateway = GatewayProcess(tmp_path, free_port(), {})
    try:
        assert httpx.get(f"{gateway.url}/readyz").json()["litellm_loading"] is False  # nothing asked for it
        sdk = client(gateway.url)
        # While litellm loads (seconds) for this request, the loop still serves everything else.
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(sdk.responses.create, model="vllm-chat", input="hello")
            assert httpx.get(f"{gateway.url}/healthz", timeout=2).status_code == 200
            assert not pending.done()
            reply = pending.result(timeout=60)
        assert "You said: hello" in reply.output_text
        events = list(sdk.responses.create(model="vllm-chat", input="hello", stream=True))
        assert events[-1].response.output_text == reply.output_text
        assert fakes.openai.state.requests[0].path == "/v1/chat/completions"
    finally:
        logs = gateway.stop()
    assert "Traceback" not in logs
