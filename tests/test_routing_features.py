"""Tests for gateway.routing.features: the facts read from a request and the inference rules."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import jsonio
from gateway.errors import InvalidRequest
from gateway.routing import extract_features
from gateway.routing.features import HUGE_TOKENS, LONG_TOKENS, SHORT_TOKENS, Features
from gateway.routing.tokens import IMAGE_TOKENS, MESSAGE_TOKENS, REPLY_PRIMING_TOKENS, json_tokens


def chat(text: str = "Hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}


def needs(features: Features) -> dict[str, float]:
    return dict(zip(("reasoning", "creativity", "precision", "speed", "context"), features.inferred))


def test_the_facts_of_a_plain_chat() -> None:
    f = extract_features(chat("abcd" * 100), {})
    assert f.input_tokens == 100 + MESSAGE_TOKENS + REPLY_PRIMING_TOKENS
    assert (f.max_tokens, f.stream, f.tools, f.images, f.json_mode, f.temperature) == (None, False, False, 0, False, None)
    assert (f.hint, f.hint_source, f.user) == (None, None, None)


def test_every_message_counts_and_images_are_found_in_parts() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "abcd" * 10},
            {"role": "user", "content": [
                {"type": "text", "text": "abcd" * 5},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]},
            {"role": "assistant", "content": "abcd" * 5},
            "not a message",
        ],
    }  # fmt: skip
    f = extract_features(body, {})
    assert f.images == 1
    assert f.input_tokens == 10 + 5 + IMAGE_TOKENS + 5 + 3 * MESSAGE_TOKENS + REPLY_PRIMING_TOKENS


def test_tools_and_response_formats_count_as_input() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    plain = extract_features(chat("abcd"), {}).input_tokens
    with_tools = extract_features(chat("abcd", tools=tools), {})
    assert with_tools.tools and with_tools.input_tokens == round(plain + json_tokens(tools))
    structured = extract_features(chat("abcd", response_format=schema), {})
    assert structured.json_mode and structured.input_tokens == round(plain + json_tokens(schema))
    legacy = extract_features(chat("abcd", functions=[{"name": "f"}]), {})
    assert legacy.tools


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"max_tokens": 300}, 300),
        ({"max_completion_tokens": 200, "max_tokens": 300}, 200),
        ({"max_tokens": True}, None),
        ({"max_tokens": 0}, None),
        ({}, None),
    ],
)
def test_requested_output(extra: dict[str, Any], expected: int | None) -> None:
    assert extract_features(chat(**extra), {}).max_tokens == expected


@pytest.mark.parametrize(
    ("extra", "json_mode", "stream", "temperature"),
    [
        ({"response_format": {"type": "json_object"}}, True, False, None),
        ({"response_format": {"type": "text"}}, False, False, None),
        ({"stream": True, "temperature": 1}, False, True, 1.0),
        ({"stream": "yes", "temperature": True}, False, False, None),
    ],
)
def test_modes(extra: dict[str, Any], json_mode: bool, stream: bool, temperature: float | None) -> None:
    f = extract_features(chat(**extra), {})
    assert (f.json_mode, f.stream, f.temperature) == (json_mode, stream, temperature)


@pytest.mark.parametrize(
    ("extra", "user"),
    [
        ({"user": "u1", "safety_identifier": "s1", "metadata": {"user_id": "m1"}}, "u1"),
        ({"safety_identifier": "s1", "metadata": {"user_id": "m1"}}, "s1"),
        ({"user": "", "metadata": {"user_id": "m1"}}, "m1"),
        ({"metadata": {"user_id": 7}}, None),
    ],
)
def test_the_end_user_for_sticky_splits(extra: dict[str, Any], user: str | None) -> None:
    assert extract_features(chat(**extra), {}).user == user


def test_hints_come_through_and_bad_ones_are_400() -> None:
    f = extract_features(chat(), {"x-grove-capabilities": "reasoning=3"})
    assert (f.hint, f.hint_source) == ((3.0, 0.0, 0.0, 0.0, 0.0), "header")
    f = extract_features(chat(metadata={"grove_capabilities": "speed=2"}), {})
    assert (f.hint, f.hint_source) == ((0.0, 0.0, 0.0, 2.0, 0.0), "metadata")
    with pytest.raises(InvalidRequest) as caught:
        extract_features(chat(), {"x-grove-capabilities": "reasoning"})
    assert caught.value.param == "x-grove-capabilities"


# --- inference -------------------------------------------------------------------------------


def test_a_short_chat_needs_speed() -> None:
    f = extract_features(chat("What's a good name for a cat?"), {})
    assert f.signals == ("short",)
    assert needs(f) == {"reasoning": 1, "creativity": 0, "precision": 1, "speed": 2, "context": 0}


def test_a_medium_prose_request_keeps_the_baseline_only() -> None:
    f = extract_features(chat("Tell me about the history of the town. " * 120), {})
    assert SHORT_TOKENS <= f.input_tokens < LONG_TOKENS
    assert f.signals == ()
    assert needs(f) == {"reasoning": 1, "creativity": 0, "precision": 1, "speed": 0, "context": 0}


def test_long_and_huge_prompts_need_context() -> None:
    long = extract_features(chat("word " * (LONG_TOKENS * 4 // 5)), {})
    assert LONG_TOKENS <= long.input_tokens < HUGE_TOKENS and long.signals == ("long",)
    assert needs(long)["context"] == 2
    huge = extract_features(chat("word " * (HUGE_TOKENS * 4 // 5)), {})
    assert huge.input_tokens >= HUGE_TOKENS and needs(huge)["context"] == 4


@pytest.mark.parametrize(
    "text",
    [
        "Why does this fail?\n```python\nprint(x)\n```",
        "Fix it: for (i = 0; i < n; i++) { a[i] = f(b[i]); } return g(a);",
    ],
)
def test_code_needs_reasoning_and_precision(text: str) -> None:
    f = extract_features(chat(text), {})
    assert "code" in f.signals and "short" not in f.signals
    assert needs(f)["reasoning"] == 4 and needs(f)["precision"] == 2


@pytest.mark.parametrize("text", ["Prove that the square root of 2 is irrational.", "Compute ∑ 1/n² for n ≥ 1"])
def test_math_needs_reasoning(text: str) -> None:
    f = extract_features(chat(text), {})
    assert "math" in f.signals and needs(f)["reasoning"] == 4


def test_tools_or_json_need_precision() -> None:
    f = extract_features(chat(response_format={"type": "json_object"}), {})
    assert f.signals == ("structured",) and needs(f)["precision"] == 3


def test_creative_words_and_temperature() -> None:
    hot = extract_features(chat("Write a poem about the sea", temperature=1.2), {})
    assert hot.signals == ("short", "creative", "hot")
    assert needs(hot)["creativity"] == 5
    cold = extract_features(chat(temperature=0.0), {})
    assert "cold" in cold.signals and needs(cold)["precision"] == 2


def test_the_system_prompt_is_read_too() -> None:
    body = {"messages": [{"role": "system", "content": "You write ```python code"}, {"role": "user", "content": "go"}]}
    assert "code" in extract_features(body, {}).signals


def test_only_a_bounded_slice_is_read() -> None:
    # The same fence, once inside the slice and once after it: only the first is seen.
    seen = extract_features(chat("a" * 1_000 + " ```python"), {})
    unseen = extract_features(chat("a " * 2_000 + " ```python"), {})
    assert "code" in seen.signals and "code" not in unseen.signals
    # The last user message is the one that counts.
    body = {"messages": [{"role": "user", "content": "```code```"}, {"role": "user", "content": "thanks"}]}
    assert "code" not in extract_features(body, {}).signals


def test_text_parts_are_sliced_too() -> None:
    parts = [{"type": "text", "text": "a" * 1_500}, {"type": "text", "text": "```python"}]
    assert "code" not in extract_features(chat(parts), {}).signals  # type: ignore[arg-type]
    parts = [{"type": "text", "text": "Prove it"}, {"type": "image_url", "image_url": {"url": "x"}}]
    assert "math" in extract_features(chat(parts), {}).signals  # type: ignore[arg-type]


def test_features_serialise_to_json() -> None:
    f = extract_features(chat(temperature=1.5, user="u"), {"x-grove-capabilities": "speed=3"})
    assert "signals" not in f.to_dict()  # inference runs only when a strategy needs it
    assert f.inferred[1] == 3.0  # creativity, from the temperature
    data = jsonio.loads(jsonio.dumps(f.to_dict()))
    assert data["hint"] == {"reasoning": 0, "creativity": 0, "precision": 0, "speed": 3, "context": 0}
    assert data["hint_source"] == "header" and data["user"] == "u" and data["temperature"] == 1.5
    assert data["signals"] == ["short", "hot"]
    assert set(data) == {
        "input_tokens", "max_tokens", "stream", "tools", "images", "json_mode", "temperature", "hint",
        "hint_source", "inferred", "signals", "user",
    }  # fmt: skip


def test_junk_shapes_do_not_crash_extraction() -> None:
    f = extract_features({"messages": "nope", "tools": [], "response_format": "json"}, {})
    assert f.input_tokens == REPLY_PRIMING_TOKENS and not f.tools and not f.json_mode


@pytest.mark.parametrize(
    "text", ["Tell me the history of Rome", "How can I improve and approve this?", "Dissolve the sugar first"]
)
def test_words_inside_other_words_do_not_count(text: str) -> None:
    assert extract_features(chat(text), {}).signals == ("short",)


def test_words_at_the_start_of_a_line_count() -> None:
    assert "math" in extract_features(chat("Hi.\nProve it."), {}).signals
    assert "creative" in extract_features(chat("Story time!"), {}).signals
