"""litellm is imported in a worker thread: the gateway is live and serves OpenAI-compatible
models at once, says not ready until litellm is in, and a request for a litellm-backed model
waits for it instead of failing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import openai

from tests.conftest import GatewayProcess, free_port

HI = [{"role": "user", "content": "hi"}]


async def _both(url: str) -> tuple[str, str, bool]:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    claude = asyncio.create_task(client.chat.completions.create(model="claude-sonnet-4-5", messages=HI))
    gpt = await client.chat.completions.create(model="gpt-4.1-mini", messages=HI)
    served_first = not claude.done()
    answer = await claude
    await client.close()
    return gpt.choices[0].message.content or "", answer.choices[0].message.content or "", served_first


def test_live_at_once_ready_when_litellm_is_in(demo_config: Path) -> None:
    gateway = GatewayProcess(demo_config, free_port(), {}, ready=False)  # returns as soon as uvicorn listens
    try:
        first = httpx.get(f"{gateway.url}/readyz")
        assert first.status_code == 503
        assert first.json()["litellm_loading"] is True and first.json()["registry_loaded"] is True
        assert httpx.get(f"{gateway.url}/healthz").status_code == 200
        gpt, claude, gpt_first = asyncio.run(_both(gateway.url))
        assert gpt and claude
        assert gpt_first  # the OpenAI-compatible model did not wait for litellm
        after = httpx.get(f"{gateway.url}/readyz")
        assert after.status_code == 200 and after.json()["litellm_loading"] is False
    finally:
        log = gateway.stop()
    assert "Traceback" not in log and "loading litellm failed" not in log
