"""Tests for gateway.routing.tokens: the estimate's arithmetic, and its calibration against a real
tokenizer (tiktoken's o200k_base, loaded offline from the files litellm ships)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.routing import tokens

ROOT = Path(__file__).resolve().parent.parent


def test_ascii_text_is_four_characters_a_token() -> None:
    assert tokens.text_tokens("") == 0
    assert tokens.text_tokens("abcd" * 250) == 250


def test_non_ascii_text_adds_a_quarter_token_per_extra_byte() -> None:
    # "é" is 2 bytes (1 extra), "中" is 3 bytes (2 extra).
    assert tokens.text_tokens("é" * 8) == pytest.approx(8 / 4 + 8 * 0.25)
    assert tokens.text_tokens("中" * 8) == pytest.approx(8 / 4 + 16 * 0.25)


def test_long_non_ascii_text_is_extrapolated_from_a_prefix() -> None:
    uniform = "中文" * 50_000  # far beyond the sampled prefix
    assert tokens.text_tokens(uniform) == pytest.approx(len(uniform) / 4 + 2 * len(uniform) * 0.25)
    # The prefix decides: ASCII after a CJK prefix is priced like the prefix (bounded cost, not exactness).
    mixed = "中" * 4096 + "a" * 4096
    assert tokens.text_tokens(mixed) == pytest.approx(len(mixed) / 4 + 2 * len(mixed) * 0.25)


def test_content_parts_count_text_images_and_other_parts() -> None:
    parts = [
        {"type": "text", "text": "abcd" * 10},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_audio", "input_audio": {"data": "A" * 350, "format": "wav"}},
        "not a part",
        {"type": "text", "text": None},
    ]
    counted, images = tokens.content_tokens(parts)
    audio = tokens.json_tokens(parts[3])
    assert images == 2
    assert counted == pytest.approx(10 + 2 * tokens.IMAGE_TOKENS + audio)
    assert audio > 100
    assert tokens.content_tokens(None) == (0.0, 0)
    assert tokens.content_tokens(42) == (0.0, 0)


def test_a_message_counts_its_tool_calls_and_framing() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "x" * 400}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": {"not": "a string"}}},
            "junk",
        ],
    }
    counted, images = tokens.message_tokens(message)
    assert images == 0
    assert counted == 100 + 2 * tokens.MESSAGE_TOKENS + tokens.MESSAGE_TOKENS


@pytest.fixture(scope="module")
def o200k() -> Callable[[str], int]:
    spec = importlib.util.find_spec("litellm")  # its path, without the 6-second import
    assert spec is not None and spec.submodule_search_locations
    cache = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    import tiktoken

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", str(cache))  # litellm ships the encodings: no download
        encoding = tiktoken.get_encoding("o200k_base")
    return lambda text: len(encoding.encode(text, disallowed_special=()))


CJK = (
    "人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的方式做出反应的智能机器。"
    "请帮我写一份关于项目进度的周报，包括本周完成的工作、遇到的问题以及下周的计划。"
)


@pytest.mark.parametrize(
    ("name", "text", "low", "high"),
    [
        ("markdown", (ROOT / "README.md").read_text(encoding="utf-8")[:20_000], 0.85, 1.3),
        ("python", (ROOT / "gateway" / "catalog.py").read_text(encoding="utf-8"), 0.9, 1.25),
        ("chinese", CJK * 10, 0.9, 1.2),
        ("compact json", '{"id":"gpt-4.1","tools":[{"type":"function","name":"lookup_order"}]}' * 50, 0.6, 1.2),
    ],
    ids=["markdown", "python", "chinese", "json"],
)
def test_estimate_is_calibrated_against_o200k(
    o200k: Callable[[str], int], name: str, text: str, low: float, high: float
) -> None:
    ratio = tokens.text_tokens(text) / o200k(text)
    assert low <= ratio <= high, f"{name}: estimate/real = {ratio:.2f}"
