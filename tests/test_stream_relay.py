"""No chunk is held back: each upstream chunk reaches the client before the next one exists."""

from __future__ import annotations

import httpx
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes

# How many upstream chunks carry the first text, per provider kind (see the fakes' stream shapes).
CASES = [("gpt-4.1-mini", "openai", 2), ("claude-sonnet-4-5", "anthropic", 4), ("gemini-2.5-flash", "gemini", 1)]


@pytest.mark.parametrize(("model", "fake", "hold_after"), CASES)
def test_first_text_arrives_while_the_upstream_is_still_holding(gateway: BackgroundServer, fakes: Fakes,
                                                                model: str, fake: str, hold_after: int) -> None:
    state = getattr(fakes, fake).state
    state.set(hold_after_chunks=hold_after)
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "hello there"}]}
    # The read timeout bounds the test: a gateway that buffered would never show the first text.
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body, timeout=10) as resp:
        assert resp.status_code == 200
        lines = resp.iter_lines()
        for line in lines:
            if '"content":"Hello' in line.replace(" ", ""):
                break
        assert state.counters.get("completed", 0) == 0, "the upstream must still be holding its stream"
        state.release()
        rest = list(lines)
    assert rest[-2:] == ["data: [DONE]", ""] or rest[-1] == "data: [DONE]"
    assert state.counters["completed"] == 1
