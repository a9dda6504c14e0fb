"""Tests for gateway.routing.capability: each hard constraint and the score's order."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.routing import Health
from gateway.routing.capability import eligible, exclusion, rank
from gateway.routing.table import ModelTable, Row
from tests.routing_catalogs import catalog, features, model


def row(**spec: Any) -> Row:
    spec.setdefault("model_id", "m")
    model_id = spec.pop("model_id")
    table = ModelTable(catalog(model(model_id, **spec)))
    return table.rows[f"{model_id}@1"]


# --- constraints -----------------------------------------------------------------------------


def test_the_default_output_is_min_of_the_models_limit_and_1024() -> None:
    big = row(window=10_000, max_out=4_000)
    assert exclusion(big, features(input_tokens=10_000 - 1_024), None, Health()) is None
    found = exclusion(big, features(input_tokens=10_000 - 1_023), None, Health())
    assert found is not None and found.check == "context"
    assert found.reason == "its context window of 10000 cannot take ~8977 input + 1024 output tokens"
    small = row(window=10_000, max_out=500)
    assert exclusion(small, features(input_tokens=9_500), None, Health()) is None
    assert exclusion(small, features(input_tokens=9_501), None, Health()) is not None


def test_a_requested_max_tokens_counts_instead() -> None:
    r = row(window=10_000, max_out=8_000)
    assert exclusion(r, features(input_tokens=2_000, max_tokens=8_000), None, Health()) is None
    found = exclusion(r, features(input_tokens=2_001, max_tokens=8_000), None, Health())
    assert found is not None and found.check == "context"
    found = exclusion(r, features(input_tokens=10, max_tokens=8_001), None, Health())
    assert found is not None and (found.check, found.reason) == (
        "max_tokens",
        "max_tokens 8001 is more than its output limit of 8000",
    )


@pytest.mark.parametrize(
    ("support", "asks", "check", "reason"),
    [
        ({"vision": False}, {"images": 1}, "vision", "does not accept images"),
        ({"tools": False}, {"tools": True}, "tools", "does not support tools"),
        ({"json": False}, {"json_mode": True}, "json", "does not support JSON mode"),
        ({"streaming": False}, {"stream": True}, "streaming", "does not stream"),
    ],
)
def test_modalities_and_modes(support: dict[str, bool], asks: dict[str, Any], check: str, reason: str) -> None:
    lacking = row(**support)
    found = exclusion(lacking, features(**asks), None, Health())
    assert found is not None and (found.key, found.check, found.reason) == ("m@1", check, reason)
    assert exclusion(lacking, features(), None, Health()) is None  # a request that does not ask is fine
    assert exclusion(row(), features(**asks), None, Health()) is None  # a model that has it is fine


def test_the_key_and_the_breaker() -> None:
    r = row()
    found = exclusion(r, features(), frozenset({"other@1"}), Health())
    assert found is not None and found.check == "key"
    assert exclusion(r, features(), frozenset({"m@1"}), Health()) is None
    found = exclusion(r, features(), None, Health(open=frozenset({"m@1"})))
    assert found is not None and (found.check, found.reason) == ("breaker", "its circuit breaker is open")


def test_the_first_failing_check_is_the_reason() -> None:
    r = row(window=1_000, max_out=500, vision=False)
    found = exclusion(r, features(input_tokens=5_000, images=1), frozenset(), Health(open=frozenset({"m@1"})))
    assert found is not None and found.check == "context"


request = st.builds(
    features,
    input_tokens=st.integers(0, 300_000),
    max_tokens=st.none() | st.integers(1, 100_000),
    images=st.integers(0, 2),
    tools=st.booleans(),
    json_mode=st.booleans(),
    stream=st.booleans(),
)
models = st.builds(
    lambda i, window, out, flags, open_, allowed: (
        model(f"m{i}", window=window, max_out=min(out, window), tools=flags[0], vision=flags[1], json=flags[2],
              streaming=flags[3]),
        open_,
        allowed,
    ),
    st.integers(0, 1000),
    st.integers(1, 1_000_000),
    st.integers(1, 200_000),
    st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    st.booleans(),
    st.booleans(),
)  # fmt: skip


@given(st.lists(models, min_size=1, max_size=8, unique_by=lambda m: m[0]["id"]), request)
def test_the_fast_path_agrees_with_the_explained_checks(specs: list[Any], f: Any) -> None:
    table = ModelTable(catalog(*(s[0] for s in specs)))
    rows = list(table.rows.values())
    health = Health(open=frozenset(f"{s[0]['id']}@1" for s in specs if s[1]))
    allowed = frozenset(f"{s[0]['id']}@1" for s in specs if s[2])
    passed, excluded = eligible(rows, f, allowed, health)
    assert [r.key for r in passed] == [r.key for r in rows if exclusion(r, f, allowed, health) is None]
    assert excluded == [e for r in rows if (e := exclusion(r, f, allowed, health)) is not None]


# --- score -----------------------------------------------------------------------------------

NEEDS = (1.0, 0.0, 0.0, 0.0, 0.0)  # reasoning only
NO_PRICE = (0.0, 0.0, 0.0)


def ranked(*specs: dict[str, Any], needs: tuple[float, ...] = NEEDS, weights: tuple[float, float, float] = NO_PRICE,
           health: Health | None = None, **asks: Any) -> list[Any]:  # fmt: skip
    table = ModelTable(catalog(*specs))
    return rank(list(table.rows.values()), features(**asks), needs, weights, health or Health())  # type: ignore[arg-type]


def test_capability_is_the_needs_weighted_mean_over_ten() -> None:
    best = ranked(
        model("a", caps=(9, 1, 1, 1, 1)), model("b", caps=(5, 10, 10, 10, 10)), needs=(3.0, 0.0, 1.0, 0.0, 0.0)
    )
    assert [c.key for c in best] == ["a@1", "b@1"]
    assert best[0].capability == pytest.approx((3 * 9 + 1 * 1) / 40)
    assert best[1].capability == pytest.approx((3 * 5 + 1 * 10) / 40)
    assert best[0].score == best[0].capability  # no price/latency/error weight


def test_price_is_log_scaled_across_the_candidates() -> None:
    cheap, middle, dear = model("cheap", price=(0.1, 0.1)), model("middle", price=(1, 1)), model("dear", price=(10, 10))
    out = ranked(cheap, middle, dear, weights=(0.5, 0.0, 0.0), input_tokens=10_000, max_tokens=1_000)
    by_key = {c.key: c for c in out}
    assert [c.key for c in out] == ["cheap@1", "middle@1", "dear@1"]
    assert by_key["cheap@1"].price == 0 and by_key["dear@1"].price == 1
    logs = [math.log1p(usd * 11_000 / 1e6 * 1e6) for usd in (0.1, 1, 10)]
    assert by_key["middle@1"].price == pytest.approx((logs[1] - logs[0]) / (logs[2] - logs[0]))
    assert by_key["middle@1"].cost_usd == pytest.approx(11_000 / 1e6)
    assert by_key["dear@1"].score == pytest.approx(0.5 - 0.5)


def test_a_better_model_beats_a_cheaper_one_unless_price_weighs_more() -> None:
    smart = model("smart", caps=(9, 5, 5, 5, 5), price=(10, 10))
    cheap = model("cheap", caps=(6, 5, 5, 5, 5), price=(0.1, 0.1))
    assert ranked(smart, cheap, weights=(0.2, 0, 0))[0].key == "smart@1"
    assert ranked(smart, cheap, weights=(0.5, 0, 0))[0].key == "cheap@1"


def test_free_models_and_equal_prices_do_not_break_the_scale() -> None:
    out = ranked(model("free", price=(0, 0)), model("paid", price=(1, 1)), weights=(1.0, 0, 0))
    assert [(c.key, c.price) for c in out] == [("free@1", 0.0), ("paid@1", 1.0)]
    same = ranked(model("a"), model("b"), weights=(1.0, 0, 0))
    assert [c.price for c in same] == [0.0, 0.0]


def test_latency_is_normalised_and_unobserved_models_are_not_penalised() -> None:
    health = Health(latency_ms={"slow@1": 900.0, "fast@1": 100.0, "mid@1": 500.0})
    out = ranked(model("slow"), model("fast"), model("mid"), model("new"), weights=(0, 1.0, 0), health=health)
    assert [(c.key, c.latency) for c in out] == [("fast@1", 0.0), ("new@1", 0.0), ("mid@1", 0.5), ("slow@1", 1.0)]


def test_error_rate_counts_against_the_score() -> None:
    health = Health(error_rate={"flaky@1": 0.5})
    out = ranked(model("flaky", caps=(9, 5, 5, 5, 5)), model("steady", caps=(6, 5, 5, 5, 5)), weights=(0, 0, 1.0),
                 health=health)  # fmt: skip
    assert [c.key for c in out] == ["steady@1", "flaky@1"]
    assert out[1].errors == 0.5 and out[1].score == pytest.approx(0.9 - 0.5)


def test_deprecated_ranks_after_active_whatever_its_score() -> None:
    out = ranked(model("old", caps=(10, 5, 5, 5, 5), status="deprecated"), model("new", caps=(1, 5, 5, 5, 5)))
    assert [(c.key, c.status) for c in out] == [("new@1", "active"), ("old@1", "deprecated")]
    assert out[1].score is not None and out[0].score is not None and out[1].score > out[0].score


def test_ties_break_by_key() -> None:
    out = ranked(model("b"), model("c"), model("a"))
    assert [c.key for c in out] == ["a@1", "b@1", "c@1"]


def test_all_zero_needs_score_zero_rather_than_fail() -> None:
    out = ranked(model("a"), needs=(0.0, 0.0, 0.0, 0.0, 0.0))
    assert out[0].capability == 0.0
    assert rank([], features(), NEEDS, NO_PRICE, Health()) == []  # type: ignore[arg-type]
