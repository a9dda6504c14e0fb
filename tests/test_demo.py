"""``grove-gateway demo`` as a newcomer runs it: fakes plus a gateway, answering every provider kind."""

from __future__ import annotations

import subprocess
import sys

import httpx
import openai

from tests.conftest import REPO, free_port


def test_demo_serves_all_three_provider_kinds() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "demo", "--port", str(port)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:  # blocks until the demo says it is up
            printed.append(line)
            if "Uvicorn running on" in line:
                break
        text = "".join(printed)
        assert f"http://127.0.0.1:{port}/v1" in text and "curl" in text
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="demo", max_retries=0)
        for model, fake in [("gpt-4.1-mini", "fake-openai"), ("claude-sonnet-4-5", "fake-anthropic"),
                            ("gemini-2.5-flash", "fake-gemini")]:
            reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}])
            assert fake in (reply.choices[0].message.content or "")
        decisions = httpx.get(f"http://127.0.0.1:{port}/admin/decisions",
                              headers={"authorization": "Bearer demo-admin-key"}).json()["data"]
        assert len(decisions) == 3
        # The console the demo points at signs in with the admin key it prints.
        assert f"http://127.0.0.1:{port}/console/" in text
        signed_in = httpx.post(f"http://127.0.0.1:{port}/console/session", data={"admin_key": "demo-admin-key"})
        assert signed_in.status_code == 303 and "grove_console=" in signed_in.headers["set-cookie"]
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
