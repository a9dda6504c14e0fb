"""The fake Anthropic server's extended thinking and count_tokens, over real HTTP: the wire shapes
Anthropic sends (signed thinking blocks, thinking_delta and signature_delta events, redacted
thinking), the checks it makes (budget, signatures sent back) and the same auth and fault knobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway import jsonio
from gateway.fakes.anthropic_thinking import REDACTED_TRIGGER
from gateway.fakes.run import Fakes, start_fakes

HEADERS = {"x-api-key": "ak", "anthropic-version": "2023-06-01"}
THINKING = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with start_fakes() as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(fakes: Fakes) -> None:
    fakes.reset()


def _post(fakes: Fakes, body: dict[str, Any], path: str = "/v1/messages",
          headers: dict[str, str] = HEADERS) -> httpx.Response:
    return httpx.post(f"{fakes.anthropic.url}{path}", json=body, headers=headers)


def _ask(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 2048, "messages": [{"role": "user", "content": text}], **extra}


def _sse(raw: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in raw.strip().split("\n\n"):
        kind, data = frame.split("\n")
        events.append((kind.removeprefix("event: "), jsonio.loads(data.removeprefix("data: "))))
    return events


def test_thinking_blocks_come_first_signed_and_stream_as_anthropic_streams_them(fakes: Fakes) -> None:
    message = _post(fakes, _ask(f"hi {REDACTED_TRIGGER}", thinking=THINKING)).json()
    thinking, redacted, text = message["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] and thinking["signature"]
    assert redacted["type"] == "redacted_thinking" and redacted["data"] and text["type"] == "text"
    plain = _post(fakes, _ask(f"hi {REDACTED_TRIGGER}")).json()
    assert message["usage"]["output_tokens"] > plain["usage"]["output_tokens"]  # thinking is output

    events = _sse(_post(fakes, _ask(f"hi {REDACTED_TRIGGER}", thinking=THINKING, stream=True)).text)
    starts = [data["content_block"] for kind, data in events if kind == "content_block_start"]
    assert [block["type"] for block in starts] == ["thinking", "redacted_thinking", "text"]
    assert starts[0] == {"type": "thinking", "thinking": "", "signature": ""}
    deltas = [data["delta"] for kind, data in events if kind == "content_block_delta" and data["index"] == 0]
    assert "".join(d.get("thinking", "") for d in deltas) == thinking["thinking"]
    assert deltas[-1] == {"type": "signature_delta", "signature": thinking["signature"]}
    assert events[-1][0] == "message_stop"


def test_a_thinking_block_is_accepted_back_only_with_its_own_signature(fakes: Fakes) -> None:
    first = _post(fakes, _ask(f"hi {REDACTED_TRIGGER}", thinking=THINKING)).json()
    turn = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": first["content"]},
            {"role": "user", "content": "more"}]
    assert _post(fakes, {**_ask(thinking=THINKING), "messages": turn}).status_code == 200
    for index, field, forged in ((0, "signature", "Zm9yZ2Vk"), (0, "thinking", "other words"),
                                 (1, "data", "x.y")):
        content = [dict(block) for block in first["content"]]
        content[index][field] = forged
        refused = _post(fakes, {**_ask(), "messages": [turn[0], {"role": "assistant", "content": content}, turn[2]]})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith(f"messages.1.content.{index}: Invalid `signature`")


@pytest.mark.parametrize(("thinking", "message"), [
    ({"type": "enabled", "budget_tokens": 10}, "greater than or equal to 1024"),
    ({"type": "enabled", "budget_tokens": 4096}, "`max_tokens` must be greater than `thinking.budget_tokens`"),
])
def test_a_thinking_budget_anthropic_refuses(fakes: Fakes, thinking: dict[str, Any], message: str) -> None:
    refused = _post(fakes, _ask(thinking=thinking))
    assert refused.status_code == 400 and message in refused.json()["error"]["message"]


def test_count_tokens(fakes: Fakes) -> None:
    counted = _post(fakes, {"model": "claude-x", "messages": [{"role": "user", "content": "hi there"}]},
                    "/v1/messages/count_tokens")
    reply = _post(fakes, _ask("hi there")).json()
    assert counted.json() == {"input_tokens": reply["usage"]["input_tokens"]}
    assert _post(fakes, {"messages": []}, "/v1/messages/count_tokens").status_code == 400
    assert _post(fakes, {"model": "claude-x", "messages": []}, "/v1/messages/count_tokens").status_code == 400
    unversioned = _post(fakes, {"model": "claude-x", "messages": [{"role": "user", "content": "x"}]},
                        "/v1/messages/count_tokens", headers={"x-api-key": "ak"})
    assert unversioned.status_code == 400 and "anthropic-version" in unversioned.text
    fakes.anthropic.state.set(api_key="the-key")
    assert _post(fakes, {"model": "claude-x", "messages": [{"role": "user", "content": "x"}]},
                 "/v1/messages/count_tokens").status_code == 401
    fakes.anthropic.state.set(api_key=None, status=529, fail_times=1)
    body = {"model": "claude-x", "messages": [{"role": "user", "content": "x"}]}
    overloaded = _post(fakes, body, "/v1/messages/count_tokens")
    assert overloaded.status_code == 529 and overloaded.json()["error"]["type"] == "overloaded_error"
    assert _post(fakes, body, "/v1/messages/count_tokens").status_code == 200
    assert [r.path for r in fakes.anthropic.state.requests][-1] == "/v1/messages/count_tokens"
