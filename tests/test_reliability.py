"""Reliability against real gateways and the real fakes: what counts against an upstream's
breaker, and what only the client or a departed client caused."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory

HI = [{"role": "user", "content": "hi"}]
ADMIN = "admin-secret-for-tests"
PRIMARY, FALLBACK = "gpt-4.1-mini@1", "claude-sonnet-4-5@1"
LONG_REPLY = " ".join(f"word{i}" for i in range(40))


def _client(gateway: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)


def _breakers(gateway: BackgroundServer) -> dict[str, str]:
    resp = httpx.get(f"{gateway.url}/admin/breakers", headers={"authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 200, resp.text
    return {b["deployment"]: b["state"] for b in resp.json()["data"]}


def test_streams_cut_after_their_first_chunk_open_the_breaker(start_gateway: GatewayFactory, demo_config: Path,
                                                              fakes: Fakes) -> None:
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=0, breaker_failures=5)
    fakes.openai.state.set(cut_after_chunks=3, reply=LONG_REPLY)
    client = _client(gateway)
    served: list[str] = []
    for _ in range(12):
        raw = client.chat.completions.with_raw_response.create(model="default", messages=HI, stream=True)
        served.append(raw.headers["x-grove-model"])
        if served[-1] == PRIMARY:
            with pytest.raises(openai.APIError):  # the cut ends the stream with an error event
                for _chunk in raw.parse():
                    pass
        else:
            text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
            assert "fake-anthropic" in text
    # Five cut streams are five failures in a row: the breaker opens and the fallback serves.
    assert served[:5] == [PRIMARY] * 5
    assert served[5:] == [FALLBACK] * 7
    assert _breakers(gateway)[PRIMARY] == "open"


def test_a_complete_stream_still_counts_as_a_success(start_gateway: GatewayFactory, demo_config: Path,
                                                     fakes: Fakes) -> None:
    # Four cuts, then a whole stream, then four cuts: a success between them resets the streak.
    gateway = start_gateway(demo_config, admin_key=ADMIN, retries=0, breaker_failures=5)
    client = _client(gateway)
    for cut in (True, True, True, True, False, True, True, True, True):
        fakes.openai.state.set(cut_after_chunks=3 if cut else None, reply=LONG_REPLY)
        raw = client.chat.completions.with_raw_response.create(model="default", messages=HI, stream=True)
        assert raw.headers["x-grove-model"] == PRIMARY
        try:
            for _chunk in raw.parse():
                pass
        except openai.APIError:
            assert cut
    assert _breakers(gateway)[PRIMARY] == "closed"
