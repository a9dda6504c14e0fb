"""``POST /v1/messages`` and ``count_tokens`` through the official Anthropic SDK, against a gateway on
a real port: an Anthropic upstream (bytes through, headers forwarded, thinking signatures intact)
and translated providers (the OpenAI-compatible and Gemini fakes)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from gateway.fakes.anthropic_thinking import REDACTED_TRIGGER
from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes

HI: list[Any] = [{"role": "user", "content": "Hello there"}]
MODELS = ("claude-sonnet-4-5", "gpt-4.1-mini", "gemini-2.5-flash")
WEATHER = {"name": "get_weather", "description": "The weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def sdk(gateway: BackgroundServer, key: str = "any-client-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)


def _fake(fakes: Fakes, model: str) -> Any:
    return {"claude": fakes.anthropic, "gpt": fakes.openai, "gemini": fakes.gemini}[model.split("-")[0]]


def _text(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


@pytest.mark.parametrize("model", MODELS)
def test_create_stream_and_count_tokens(gateway: BackgroundServer, fakes: Fakes, model: str) -> None:
    client = sdk(gateway)
    raw = client.messages.with_raw_response.create(model=model, max_tokens=256, messages=HI,
                                                   system="Be brief.")
    message = raw.parse()
    assert raw.headers["x-grove-model"] == f"{model}@1" and raw.headers["x-grove-attempts"] == "1"
    assert float(raw.headers["x-grove-cost-usd"]) > 0
    text = _text(message)
    assert message.type == "message" and message.role == "assistant" and message.stop_reason == "end_turn"
    assert "You said: Hello there" in text and text.startswith("Hello from fake-")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0

    with client.messages.stream(model=model, max_tokens=256, messages=HI, system="Be brief.") as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == text and _text(final) == text
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (message.usage.input_tokens,
                                                                     message.usage.output_tokens)

    counted = client.messages.count_tokens(model=model, messages=HI, system="Be brief.")
    assert counted.input_tokens > 0
    upstream = _fake(fakes, model).state.requests
    if model.startswith("claude"):  # Anthropic counts for itself; the others are the gateway's estimate
        assert counted.input_tokens == message.usage.input_tokens
        assert [r.path for r in upstream] == ["/v1/messages", "/v1/messages", "/v1/messages/count_tokens"]
    else:
        assert len(upstream) == 2  # the count never reached it


def test_anthropic_upstream_gets_the_clients_bytes_and_headers(gateway: BackgroundServer, fakes: Fakes) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 64,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "Cite this.", "cache_control": {"type": "ephemeral"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Grass is green."},
                 "citations": {"enabled": True}}]}],
            "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 1}],
            "tool_choice": {"type": "none"}}
    client = sdk(gateway)
    message = client.messages.create(**body, extra_body={"top_k": 5},  # type: ignore[arg-type]
                                     extra_headers={"anthropic-beta": "fine-grained-tool-streaming-2025-05-14"})
    assert message.content
    (sent,) = fakes.anthropic.state.requests
    assert sent.body == {**body, "top_k": 5}  # cache_control, citations, server tools, top_k: all as sent
    assert sent.headers["anthropic-version"] == client.default_headers["anthropic-version"]  # the SDK's, not ours
    assert sent.headers["anthropic-beta"] == "fine-grained-tool-streaming-2025-05-14"
    assert "any-client-key" not in str(sent.headers)  # the client's key never goes upstream
    client.messages.create(model="claude-sonnet-4-5", max_tokens=8, messages=HI,
                           extra_headers={"anthropic-version": "2099-01-01"})
    assert fakes.anthropic.state.requests[-1].headers["anthropic-version"] == "2099-01-01"
    assert "anthropic-beta" not in fakes.anthropic.state.requests[-1].headers


def test_a_route_name_is_swapped_for_the_upstream_model(gateway: BackgroundServer, fakes: Fakes) -> None:
    fakes.openai.state.set(status=500)  # the route's first model fails: Anthropic's answers
    raw = sdk(gateway).messages.with_raw_response.create(model="default", max_tokens=32, messages=HI)
    assert raw.headers["x-grove-model"] == "claude-sonnet-4-5@1"
    assert fakes.anthropic.state.requests[0].body["model"] == "claude-sonnet-4-5"


@pytest.mark.parametrize("model", MODELS)
def test_a_tool_round_trip(gateway: BackgroundServer, fakes: Fakes, model: str) -> None:
    client = sdk(gateway)
    first = client.messages.create(model=model, max_tokens=256, messages=HI, tools=[WEATHER],
                                   tool_choice={"type": "any"})
    assert first.stop_reason == "tool_use"
    (call,) = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "Paris"}
    with client.messages.stream(model=model, max_tokens=256, messages=HI, tools=[WEATHER],
                                tool_choice={"type": "any"}) as stream:
        streamed = stream.get_final_message()
    (streamed_call,) = [block for block in streamed.content if block.type == "tool_use"]
    assert (streamed_call.name, streamed_call.input, streamed.stop_reason) == ("get_weather", {"city": "Paris"},
                                                                                "tool_use")
    second = client.messages.create(model=model, max_tokens=256, tools=[WEATHER], messages=[
        *HI, {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"}]}])
    assert second.stop_reason == "end_turn" and "Sunny, 21 C" in _text(second).partition("Tool said: ")[2]


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_blocks_go_back_with_their_signatures(gateway: BackgroundServer, fakes: Fakes, stream: bool) -> None:
    client = sdk(gateway)
    thinking = {"type": "enabled", "budget_tokens": 1024}
    ask = [{"role": "user", "content": f"Think first. {REDACTED_TRIGGER}"}]
    if stream:
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=2048, messages=ask,  # type: ignore[arg-type]
                                    thinking=thinking) as events:  # type: ignore[arg-type]
            kinds = {event.type for event in events}
            first = events.get_final_message()
        assert "thinking" in kinds and "signature" in kinds
    else:
        first = client.messages.create(model="claude-sonnet-4-5", max_tokens=2048,
                                       messages=ask, thinking=thinking)  # type: ignore[arg-type]
    assert [block.type for block in first.content] == ["thinking", "redacted_thinking", "text"]
    assert first.content[0].signature  # type: ignore[union-attr]
    turn = [*ask, {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {"role": "user", "content": "And now?"}]
    second = client.messages.create(model="claude-sonnet-4-5", max_tokens=2048, messages=turn,  # type: ignore[arg-type]
                                    thinking=thinking)  # type: ignore[arg-type]
    assert "You said: And now?" in _text(second)
    sent_back = fakes.anthropic.state.requests[-1].body["messages"][1]["content"]
    assert sent_back[0]["signature"] == first.content[0].signature  # type: ignore[union-attr]
    # The fake checks the signature, as Anthropic does: a forged one is refused.
    turn[1]["content"][0]["signature"] = "Zm9yZ2Vk"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=2048, messages=turn,  # type: ignore[arg-type]
                               thinking=thinking)  # type: ignore[arg-type]
    assert "signature" in caught.value.message and caught.value.status_code == 400


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "gemini-2.5-flash"])
def test_translated_requests_carry_system_tools_and_user(gateway: BackgroundServer, fakes: Fakes, model: str) -> None:
    sdk(gateway).messages.create(model=model, max_tokens=77, messages=HI, system="Be brief.", tools=[WEATHER],
                                 tool_choice={"type": "auto"}, metadata={"user_id": "user-7"}, stop_sequences=["STOP"],
                                 extra_body={"top_k": 3, "temperature": 0.5})
    (sent,) = _fake(fakes, model).state.requests
    body = sent.body
    if model.startswith("gpt"):
        assert body["model"] == "gpt-4.1-mini" and body["max_tokens"] == 77 and body["user"] == "user-7"
        assert body["messages"] == [{"role": "system", "content": "Be brief."}, *HI]
        assert body["tools"][0]["function"]["name"] == "get_weather" and body["tool_choice"] == "auto"
        assert body["stop"] == ["STOP"] and body["temperature"] == 0.5 and "top_k" not in body
    else:
        assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
        assert body["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
        assert body["generationConfig"]["maxOutputTokens"] == 77


def test_a_configured_beta_is_kept_beside_the_clients_and_the_routing_hint_stays_home(
        start_gateway: Any, demo_config: Any, fakes: Fakes) -> None:
    text = (demo_config / "demo.yaml").read_text().replace(
        f'base_url: "{fakes.anthropic.url}"}}',
        f'base_url: "{fakes.anthropic.url}", headers: {{anthropic-beta: configured-beta}}}}')
    (demo_config / "demo.yaml").write_text(text)
    client = sdk(start_gateway(demo_config))
    client.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=HI,
                           extra_headers={"anthropic-beta": "client-beta"},
                           metadata={"user_id": "u-1",  # type: ignore[typeddict-unknown-key]
                                     "grove_capabilities": "reasoning=9"})
    (sent,) = fakes.anthropic.state.requests
    assert sent.headers["anthropic-beta"] == "configured-beta,client-beta"
    assert sent.body["metadata"] == {"user_id": "u-1"} and sent.body["model"] == "claude-sonnet-4-5"
    client.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=HI)
    assert fakes.anthropic.state.requests[-1].headers["anthropic-beta"] == "configured-beta"
