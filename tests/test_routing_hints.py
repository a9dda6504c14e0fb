"""Tests for gateway.routing.hints: the capability hint syntax, its carriers and its errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidRequest
from gateway.routing.hints import HEADER, hint_from, parse_hint, without_hint

NAMES = ("reasoning", "creativity", "precision", "speed", "context")


def test_pairs_map_onto_the_capability_order() -> None:
    assert parse_hint("reasoning=3,speed=1", HEADER) == (3.0, 0.0, 0.0, 1.0, 0.0)
    assert parse_hint(" Context = 2.5 , creativity=10 ", HEADER) == (0.0, 10.0, 0.0, 0.0, 2.5)
    assert parse_hint("precision=0,reasoning=0.5", HEADER) == (0.5, 0.0, 0.0, 0.0, 0.0)


def test_a_blank_hint_is_no_hint() -> None:
    assert parse_hint("", HEADER) is None
    assert parse_hint("   ", HEADER) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("reasoning", "must be name=weight pairs separated by commas, like 'reasoning=3,speed=1'"),
        ("reasoning=3,,speed=1", "must be name=weight pairs separated by commas, like 'reasoning=3,speed=1'"),
        ("=3", "must be name=weight pairs separated by commas, like 'reasoning=3,speed=1'"),
        ("reasonin=3", "names an unknown capability 'reasonin' (did you mean 'reasoning'?); "
                       "use reasoning, creativity, precision, speed, context"),
        ("cost=3", "names an unknown capability 'cost'; use reasoning, creativity, precision, speed, context"),
        ("speed=1,speed=2", "gives 'speed' twice"),
        ("speed=fast", "weight of 'speed' must be a number from 0 to 10, not 'fast'"),
        ("speed=11", "weight of 'speed' must be a number from 0 to 10, not '11'"),
        ("speed=-1", "weight of 'speed' must be a number from 0 to 10, not '-1'"),
        ("speed=nan", "weight of 'speed' must be a number from 0 to 10, not 'nan'"),
        ("speed=inf", "weight of 'speed' must be a number from 0 to 10, not 'inf'"),
        ("speed=0,reasoning=0", "must give at least one capability a weight above 0"),
        ("speed=1," + "x" * 300, "is longer than 256 characters"),
    ],
)
def test_malformed_hints_are_400s_naming_the_header(text: str, problem: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_hint(text, HEADER)
    error = caught.value
    assert error.status == 400
    assert (error.param, error.code) == ("x-grove-capabilities", "invalid_capability_hint")
    assert error.message == f"The capability hint x-grove-capabilities {problem}."


@given(st.dictionaries(st.sampled_from(NAMES), st.integers(0, 10), min_size=1).filter(lambda d: any(d.values())))
def test_any_valid_hint_round_trips(weights: dict[str, int]) -> None:
    text = ",".join(f"{name}={value}" for name, value in weights.items())
    parsed = parse_hint(text, HEADER)
    assert parsed == tuple(float(weights.get(name, 0)) for name in NAMES)


def test_the_header_wins_over_the_metadata() -> None:
    body = {"metadata": {"grove_capabilities": "speed=1"}}
    assert hint_from(body, {"x-grove-capabilities": "reasoning=2"}) == ((2.0, 0.0, 0.0, 0.0, 0.0), "header")
    assert hint_from(body, {}) == ((0.0, 0.0, 0.0, 1.0, 0.0), "metadata")
    assert hint_from(body, {"x-grove-capabilities": " "}) == ((0.0, 0.0, 0.0, 1.0, 0.0), "metadata")
    assert hint_from({"metadata": {"other": "x"}}, {}) == (None, None)
    assert hint_from({"metadata": "not a mapping"}, {}) == (None, None)
    assert hint_from({}, {}) == (None, None)


def test_a_malformed_metadata_hint_names_the_metadata_field() -> None:
    for value in (3, "speed"):
        with pytest.raises(InvalidRequest) as caught:
            hint_from({"metadata": {"grove_capabilities": value}}, {})
        assert caught.value.param == "metadata.grove_capabilities"
    # A broken header is reported even when the body carries a good hint.
    with pytest.raises(InvalidRequest) as caught:
        hint_from({"metadata": {"grove_capabilities": "speed=1"}}, {"x-grove-capabilities": "fast"})
    assert caught.value.param == "x-grove-capabilities"


def test_without_hint_strips_only_the_hint() -> None:
    body = {"model": "auto", "metadata": {"grove_capabilities": "speed=1", "team": "ml"}, "store": True}
    assert without_hint(body) == {"model": "auto", "metadata": {"team": "ml"}, "store": True}
    assert body["metadata"] == {"grove_capabilities": "speed=1", "team": "ml"}  # the original is untouched
    assert without_hint({"model": "auto", "metadata": {"grove_capabilities": "speed=1"}}) == {"model": "auto"}
    assert without_hint({"model": "auto", "metadata": {"team": "ml"}}) is None
    assert without_hint({"model": "auto"}) is None
