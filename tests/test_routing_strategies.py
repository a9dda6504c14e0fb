"""Tests for gateway.routing.strategies: chain, weighted and capability routes on their own."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from gateway.catalog import RouteSpec
from gateway.routing import Features, Health
from gateway.routing.strategies import STRATEGIES, Ask, CapabilityStrategy, ChainStrategy, WeightedStrategy
from gateway.routing.table import ModelTable
from tests.routing_catalogs import catalog, features, model

MODELS = [
    model("a", window=10_000, max_out=1_000),
    model("b", window=200_000, vision=False),
    model("c", window=200_000),
    model("old", status="retired", successor="c"),
    model("gone", status="retired"),
]


def strategy(route: dict[str, Any], *models: dict[str, Any]) -> Any:
    cat = catalog(*(models or MODELS), routes=[route])
    spec = cat.routes[0]
    return STRATEGIES[spec.strategy](spec, ModelTable(cat))


def ask(f: Features | None = None, *, health: Health | None = None, allowed: frozenset[str] | None = None,
        user: str | None = None, key: str | None = None, request: str | None = None) -> Ask:  # fmt: skip
    return Ask(f or features(), allowed, health or Health(), {"user": user, "key": key, "request": request})


def test_the_table_names_every_strategy() -> None:
    assert {name: cls.__name__ for name, cls in STRATEGIES.items()} == {
        "chain": "ChainStrategy", "weighted": "WeightedStrategy", "capability": "CapabilityStrategy",
    }  # fmt: skip


# --- chain -----------------------------------------------------------------------------------


def test_chain_keeps_the_configured_order() -> None:
    chain = strategy({"name": "r", "models": ["c", "a", "b"]})
    assert isinstance(chain, ChainStrategy)
    choice = chain.choose(ask())
    assert choice.chain == ("c@1", "a@1", "b@1")
    assert [c.key for c in choice.candidates] == ["c@1", "a@1", "b@1"]
    assert all(c.score is None for c in choice.candidates)
    assert choice.exclusions == () and choice.variant is None and choice.needs is None


def test_chain_skips_what_cannot_serve_and_says_why() -> None:
    chain = strategy({"name": "r", "models": ["a", "b", "c"]})
    choice = chain.choose(ask(features(input_tokens=50_000, images=1)))
    assert choice.chain == ("c@1",)
    assert [(e.key, e.check) for e in choice.exclusions] == [("a@1", "context"), ("b@1", "vision")]
    choice = chain.choose(ask(health=Health(open=frozenset({"a@1"}))))
    assert choice.chain == ("b@1", "c@1") and [(e.key, e.check) for e in choice.exclusions] == [("a@1", "breaker")]


def test_chain_follows_retirements_and_notes_them() -> None:
    chain = strategy({"name": "r", "models": ["old", "gone", "a", "c"]})
    choice = chain.choose(ask())
    assert choice.chain == ("c@1", "a@1")  # old → c, listed once, where old stood
    assert [(e.key, e.check) for e in choice.exclusions] == [("old@1", "retired"), ("gone@1", "retired")]


def test_fallbacks_cap_the_chain() -> None:
    chain = strategy({"name": "r", "models": ["a", "b", "c"], "fallbacks": 2})
    assert chain.choose(ask()).chain == ("a@1", "b@1")
    assert [r.key for r in chain.members()] == ["a@1", "b@1", "c@1"]


# --- weighted --------------------------------------------------------------------------------

AB = {
    "name": "ab",
    "strategy": "weighted",
    "variants": [
        {"name": "control", "weight": 70, "models": ["a", "b"]},
        {"name": "treatment", "weight": 30, "models": ["c", "b"]},
    ],
}


def test_weighted_splits_in_proportion_over_many_ids() -> None:
    split = strategy(AB)
    counts = Counter(split.choose(ask(user=f"user-{i}")).variant for i in range(20_000))
    assert counts["control"] + counts["treatment"] == 20_000
    assert counts["treatment"] / 20_000 == pytest.approx(0.30, abs=0.015)


def test_weighted_is_sticky_and_stable_across_builds() -> None:
    first = {i: strategy(AB).choose(ask(user=f"u{i}")).variant for i in range(200)}
    again = {i: strategy(AB).choose(ask(user=f"u{i}")).variant for i in range(200)}
    assert first == again
    assert set(first.values()) == {"control", "treatment"}


def test_weighted_chain_is_the_variant_then_the_others() -> None:
    split = strategy(AB)
    by_variant = {}
    for i in range(50):
        choice = split.choose(ask(user=f"u{i}"))
        by_variant[choice.variant] = choice.chain
    assert by_variant == {"control": ("a@1", "b@1", "c@1"), "treatment": ("c@1", "b@1", "a@1")}
    assert {r.key for r in split.members()} == {"a@1", "b@1", "c@1"}


def test_weighted_chain_skips_excluded_models() -> None:
    split = strategy(AB)
    choice = split.choose(ask(features(images=1), user="u1"))
    assert "b@1" not in choice.chain and [e.key for e in choice.exclusions] == ["b@1"]


def test_two_ab_tests_split_independently() -> None:
    other = strategy({**AB, "name": "other"})
    split = strategy(AB)
    pairs = Counter((split.choose(ask(user=f"u{i}")).variant, other.choose(ask(user=f"u{i}")).variant)
                    for i in range(10_000))  # fmt: skip
    # Independent 70/30 splits put about 21% of users in (control, treatment).
    assert pairs[("control", "treatment")] / 10_000 == pytest.approx(0.21, abs=0.02)


@pytest.mark.parametrize(
    ("sticky", "who", "same_as"),
    [
        ("user", {"user": "u", "key": "k", "request": "r"}, "u"),
        ("user", {"user": None, "key": "k", "request": "r"}, "k"),
        ("user", {"user": None, "key": None, "request": "r"}, "r"),
        ("key", {"user": "u", "key": "k", "request": "r"}, "k"),
        ("key", {"user": "u", "key": None, "request": "r"}, "r"),
        ("none", {"user": "u", "key": "k", "request": "r"}, "r"),
        ("none", {"user": "u", "key": "k", "request": None}, ""),
    ],
)
def test_the_sticky_identity(sticky: str, who: dict[str, str | None], same_as: str) -> None:
    split = strategy({**AB, "sticky": sticky})
    assert isinstance(split, WeightedStrategy)
    assert split.identity(who) == same_as


def test_the_sticky_default_is_user() -> None:
    split = strategy(AB)
    assert split.sticky == "user"


# --- capability ------------------------------------------------------------------------------


def test_capability_ranks_its_candidates_and_keeps_the_top_n() -> None:
    ranked = strategy(
        {"name": "r", "strategy": "capability", "fallbacks": 2, "price_weight": 0, "latency_weight": 0,
         "error_weight": 0},
        model("low", caps=(2, 5, 5, 5, 5)), model("high", caps=(9, 5, 5, 5, 5)), model("mid", caps=(6, 5, 5, 5, 5)),
    )  # fmt: skip
    assert isinstance(ranked, CapabilityStrategy)
    choice = ranked.choose(ask(features(hint=(1.0, 0.0, 0.0, 0.0, 0.0), hint_source="header")))
    assert choice.chain == ("high@1", "mid@1")
    assert [c.key for c in choice.candidates] == ["high@1", "mid@1", "low@1"]
    assert (choice.needs, choice.needs_source, choice.weights) == ((1.0, 0.0, 0.0, 0.0, 0.0), "hint", (0.0, 0.0, 0.0))


def test_needs_come_from_the_hint_else_the_route_else_inference() -> None:
    models = (model("fast", caps=(2, 2, 2, 10, 2)), model("deep", caps=(10, 2, 2, 2, 2)))
    weighted = strategy({"name": "r", "strategy": "capability", "weights": {"reasoning": 3}, "price_weight": 0}, *models)
    plain = strategy({"name": "r", "strategy": "capability", "price_weight": 0}, *models)
    speedy = features(inferred=(1.0, 0.0, 1.0, 2.0, 0.0))
    assert (weighted.choose(ask(speedy)).chain[0], weighted.choose(ask(speedy)).needs_source) == ("deep@1", "route")
    assert (plain.choose(ask(speedy)).chain[0], plain.choose(ask(speedy)).needs_source) == ("fast@1", "inferred")
    hinted = features(hint=(0.0, 0.0, 0.0, 1.0, 0.0), inferred=(5.0, 0.0, 0.0, 0.0, 0.0))
    assert (weighted.choose(ask(hinted)).chain[0], weighted.choose(ask(hinted)).needs_source) == ("fast@1", "hint")


def test_capability_defaults_and_candidates() -> None:
    everything = strategy({"name": "r", "strategy": "capability"})
    assert [r.key for r in everything.members()] == ["a@1", "b@1", "c@1"]  # retired models are not candidates
    assert (everything.weights, everything.limit) == ((0.3, 0.2, 1.0), 3)
    listed = strategy({"name": "r", "strategy": "capability", "models": ["old", "a"]})
    assert [r.key for r in listed.members()] == ["c@1", "a@1"]
    choice = listed.choose(ask(features(input_tokens=50_000)))
    assert choice.chain == ("c@1",)
    assert [(e.key, e.check) for e in choice.exclusions] == [("old@1", "retired"), ("a@1", "context")]


def test_strategies_are_built_from_route_specs_only() -> None:
    # A spec made in code (the router's "auto") gets the same defaults as one from a file.
    spec = RouteSpec.model_validate({"name": "auto", "strategy": "capability"})
    plan = CapabilityStrategy(spec, ModelTable(catalog(*MODELS)))
    assert plan.limit == 3 and plan.needs is None
