"""Tests for gateway.routing.router: names, components, keys, lifecycle, refusals, explanations,
and properties over random registries and requests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway import jsonio
from gateway.catalog import Catalog, load_catalog
from gateway.errors import GatewayError, InvalidRequest, ModelGone, ModelNotFound, PermissionDenied, UpstreamUnavailable
from gateway.routing import Decision, Features, Health, Router, extract_features
from tests.routing_catalogs import catalog, features, key, model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shop() -> Router:
    return Router(catalog(
        model("small", window=16_000, max_out=2_000, caps=(4, 5, 6, 10, 3), price=(0.1, 0.4), vision=False),
        model("big", window=1_000_000, max_out=32_000, caps=(9, 8, 9, 5, 10), price=(3, 15)),
        model("mid", window=200_000, max_out=8_000, caps=(7, 7, 7, 8, 7), price=(1, 4)),
        model("legacy", status="deprecated", successor="mid"),
        model("ancient", status="retired", successor="legacy"),
        routes=[
            {"name": "default", "models": ["small", "mid", "big"]},
            {"name": "planner-route", "strategy": "capability", "weights": {"reasoning": 5}},
            {"name": "ab", "strategy": "weighted",
             "variants": [{"name": "a", "weight": 1, "models": ["small"]}, {"name": "b", "weight": 1, "models": ["mid"]}]},
            {"name": "museum", "models": ["ancient", "small"]},
        ],
        components={"planner": "planner-route", "chat": "default", "anything": "auto"},
    ))  # fmt: skip


def test_routes_name(shop: Router) -> None:
    assert all(shop.routes_name(n) for n in ("auto", "default", "planner-route", "ab", "museum"))
    assert not any(shop.routes_name(n) for n in ("small", "small@1", "nope"))


def test_auto_scores_every_serving_model(shop: Router) -> None:
    d = shop.decide("auto", features(input_tokens=50, signals=("short",), inferred=(1.0, 0.0, 1.0, 2.0, 0.0)))
    assert (d.requested, d.route, d.strategy, d.rule, d.variant) == ("auto", "auto", "capability", "route", None)
    assert {c.key for c in d.candidates} == {"small@1", "big@1", "mid@1", "legacy@1"}
    assert d.candidates[-1].key == "legacy@1"  # deprecated ranks last
    assert len(d.chain) == 3 and d.chain[0] == "small@1"
    assert (d.needs, d.needs_source, d.weights) == ((1.0, 0.0, 1.0, 2.0, 0.0), "inferred", (0.3, 0.2, 1.0))
    assert d.config_version == shop.version and d.deprecation is None


def test_a_chain_route(shop: Router) -> None:
    d = shop.decide("default", features(input_tokens=20_000))
    assert (d.route, d.strategy, d.chain) == ("default", "chain", ("mid@1", "big@1"))
    assert [(e.key, e.check) for e in d.exclusions] == [("small@1", "context")]


def test_a_route_naming_a_retired_model_uses_its_successor(shop: Router) -> None:
    d = shop.decide("museum", features())
    assert d.chain == ("legacy@1", "small@1")
    assert [(e.key, e.reason) for e in d.exclusions] == [("ancient@1", "retired: its successor legacy@1 serves in its place")]


# --- model ids -------------------------------------------------------------------------------


def test_a_model_id_is_honoured_as_asked(shop: Router) -> None:
    d = shop.decide("small@1", features(input_tokens=900_000, images=3))  # no constraints for an explicit id
    assert (d.route, d.strategy, d.chain, d.rule, d.exclusions) == (None, "model", ("small@1",), "model", ())


def test_a_model_id_follows_the_lifecycle(shop: Router) -> None:
    d = shop.decide("ancient", features())
    assert d.chain == ("legacy@1",) and d.exclusions[0].key == "ancient@1"
    assert d.deprecation == "model legacy is deprecated; use mid"
    with pytest.raises(ModelNotFound) as caught:
        shop.decide("nope", features())
    assert caught.value.status == 404 and caught.value.param == "model"


def test_a_retired_model_without_successor_is_gone() -> None:
    router = Router(catalog(model("gone", status="retired"), model("x"), routes=[{"name": "r", "models": ["gone"]}]))
    with pytest.raises(ModelGone) as caught:
        router.decide("gone", features())
    assert caught.value.status == 410
    with pytest.raises(ModelGone, match="Every model of route 'r' has been retired"):
        router.decide("r", features())


# --- components ------------------------------------------------------------------------------


def test_a_component_picks_the_route_for_auto(shop: Router) -> None:
    d = shop.decide("auto", features(), component="planner")
    assert (d.route, d.rule, d.component, d.needs_source) == ("planner-route", "component planner", "planner", "route")
    assert d.chain[0] == "big@1"  # reasoning 5 wins over price on this route's weights
    d = shop.decide("auto", features(), component="anything")
    assert (d.route, d.rule) == ("auto", "component anything")


def test_an_explicit_name_beats_the_component(shop: Router) -> None:
    d = shop.decide("default", features(), component="planner")
    assert (d.route, d.rule, d.component) == ("default", "route", "planner")
    d = shop.decide("mid", features(), component="planner")
    assert (d.route, d.chain, d.component) == (None, ("mid@1",), "planner")


def test_the_keys_default_component_applies_without_a_header(shop: Router) -> None:
    planner_key = key(default_component="planner")
    assert shop.decide("auto", features(), key=planner_key).route == "planner-route"
    assert shop.decide("auto", features(), key=planner_key, component="chat").route == "default"


def test_the_keys_default_route_serves_auto_unless_a_component_header_says_otherwise(shop: Router) -> None:
    routed = key(default_route="ab")
    d = shop.decide("auto", features(), key=routed)
    assert (d.route, d.rule, d.component, d.strategy) == ("ab", "key app default_route", None, "weighted")
    d = shop.decide("auto", features(), key=routed, component="chat")
    assert (d.route, d.rule, d.component) == ("default", "component chat", "chat")
    assert shop.decide("default", features(), key=routed).route == "default"  # an explicit name is honoured
    assert shop.decide("mid", features(), key=routed).chain == ("mid@1",)
    assert shop.decide("auto", features(), key=key(default_route="auto")).rule == "key app default_route"


def test_an_unknown_component_is_a_400_even_for_an_explicit_model(shop: Router) -> None:
    for requested in ("auto", "small"):
        with pytest.raises(InvalidRequest) as caught:
            shop.decide(requested, features(), component="plannr")
        error = caught.value
        assert (error.status, error.param, error.code) == (400, "x-grove-component", "unknown_component")
        assert error.message == "Unknown component 'plannr' in x-grove-component (components: anything, chat, planner)."


# --- keys ------------------------------------------------------------------------------------


def test_a_key_limited_to_models_only_gets_those(shop: Router) -> None:
    d = shop.decide("auto", features(), key=key(allowed=("mid", "big@1")))
    assert set(d.chain) == {"mid@1", "big@1"}
    assert {(e.key, e.check) for e in d.exclusions} == {("small@1", "key"), ("legacy@1", "key")}


def test_granting_a_route_grants_its_models_and_auto_grants_all(shop: Router) -> None:
    d = shop.decide("auto", features(), key=key(allowed=("default",)))
    assert set(d.chain) == {"small@1", "mid@1", "big@1"}
    assert shop.decide("auto", features(), key=key(allowed=("auto",))).exclusions == ()
    assert shop.decide("auto", features(), key=key()).exclusions == ()
    # A grant of a retired model carries over to its successor.
    d = shop.decide("auto", features(), key=key(allowed=("ancient",)))
    assert d.chain == ("legacy@1",)


def test_keys_from_the_catalog_are_precomputed() -> None:
    router = Router(catalog(model("a"), model("b"), keys=[{"name": "k", "sha256": "ab" * 32, "allowed_models": ["a"]}]))
    spec = router.catalog.keys[0]
    assert router.decide("auto", features(), key=spec).chain == ("a@1",)


def test_a_key_that_may_use_no_fitting_model_gets_403(shop: Router) -> None:
    with pytest.raises(PermissionDenied) as caught:
        shop.decide("auto", features(input_tokens=500_000), key=key(allowed=("small", "mid")))
    assert caught.value.status == 403
    assert caught.value.message == "This API key may not use any model of 'auto' that can serve this request."


# --- refusals --------------------------------------------------------------------------------


def test_no_model_fits_the_request(shop: Router) -> None:
    with pytest.raises(InvalidRequest) as caught:
        shop.decide("auto", features(input_tokens=2_000_000))
    error = caught.value
    assert (error.status, error.code, error.param) == (400, "no_eligible_model", "model")
    assert error.message == (
        "No model can serve this request through 'auto': 4 models cannot take ~2000000 input + 1024 output tokens."
    )


def test_the_refusal_summarises_every_reason() -> None:
    router = Router(catalog(
        model("narrow", window=10_000, max_out=1_000),
        model("terse", window=100_000, max_out=500),
        model("blind", window=100_000, vision=False),
        routes=[{"name": "r", "models": ["narrow", "terse", "blind"]}],
    ))  # fmt: skip
    with pytest.raises(InvalidRequest) as caught:
        router.decide("r", features(input_tokens=9_500, max_tokens=1_000, images=1))
    assert caught.value.message == (
        "No model can serve this request through route 'r': 1 model cannot take ~9500 input + 1000 output "
        "tokens; 1 model cannot write max_tokens 1000; 1 model cannot take images."
    )


def test_open_breakers_are_a_503_not_the_clients_fault(shop: Router) -> None:
    health = Health(open=frozenset({"mid@1", "big@1"}))
    with pytest.raises(UpstreamUnavailable) as caught:
        shop.decide("default", features(input_tokens=20_000), health=health)
    error = caught.value
    assert (error.status, error.code) == (503, "no_available_model")
    assert "circuit breaker open: mid@1, big@1" in error.message


# --- explanation and determinism -------------------------------------------------------------


def test_the_decision_is_json_ready_and_complete(shop: Router) -> None:
    f = extract_features({"messages": [{"role": "user", "content": "Prove it"}], "user": "u9"},
                         {"x-grove-capabilities": "reasoning=2,speed=1"})  # fmt: skip
    d = shop.decide("auto", f, health=Health(latency_ms={"mid@1": 120.0}, error_rate={"big@1": 0.25}))
    data = jsonio.loads(jsonio.dumps(d.to_dict()))
    assert data["requested"] == "auto" and data["strategy"] == "capability" and data["chain"] == list(d.chain)
    assert data["needs"] == {"reasoning": 2, "creativity": 0, "precision": 0, "speed": 1, "context": 0}
    assert data["needs_source"] == "hint" and data["weights"] == {"price": 0.3, "latency": 0.2, "errors": 1.0}
    assert data["features"]["user"] == "u9" and data["config_version"] == shop.version
    big = next(c for c in data["candidates"] if c["key"] == "big@1")
    assert set(big) == {"key", "status", "score", "parts", "cost_usd"}
    assert big["parts"]["errors"] == 0.25
    assert big["score"] == pytest.approx(
        big["parts"]["capability"] - 0.3 * big["parts"]["price"] - 0.2 * big["parts"]["latency"] - 0.25, abs=1e-5
    )
    chain = shop.decide("museum", features()).to_dict()
    assert chain["candidates"] == [{"key": "legacy@1", "status": "deprecated"}, {"key": "small@1", "status": "active"}]
    assert chain["exclusions"][0] == {
        "key": "ancient@1", "reason": "retired: its successor legacy@1 serves in its place", "check": "retired",
    }  # fmt: skip


def test_the_weighted_variant_is_reported(shop: Router) -> None:
    variants = {shop.decide("ab", features(user=f"u{i}")).variant for i in range(40)}
    assert variants == {"a", "b"}
    d = shop.decide("ab", features(), key=key(name="team-1"))
    assert d.variant == shop.decide("ab", features(), key=key(name="team-1"), sticky_id="other").variant
    spread = {shop.decide("ab", features(), sticky_id=f"req-{i}").variant for i in range(40)}
    assert spread == {"a", "b"}  # without a user or key, the request id spreads the traffic


def test_same_input_same_decision(shop: Router) -> None:
    f = features(input_tokens=5_000, hint=(1.0, 1.0, 1.0, 1.0, 1.0), hint_source="header")
    health = Health(latency_ms={"mid@1": 300.0, "small@1": 100.0})
    first = shop.decide("auto", f, health=health)
    again = Router(shop.catalog).decide("auto", f, health=health)
    assert first == again and first.to_dict() == again.to_dict()


def test_the_example_config_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    router = Router(load_catalog("config"))
    hello = extract_features({"messages": [{"role": "user", "content": "hello"}]}, {})
    assert router.decide("default", hello).chain == (
        "gpt-4.1-mini@2025-04-14", "claude-haiku-4-5@2025-10-01", "gemini-2.5-flash@1",
    )  # fmt: skip
    assert router.decide("auto", hello, component="planner").route == "reasoning"
    assert router.decide("haiku-vs-flash", hello).variant in {"haiku", "flash"}
    assert len(router.decide("auto", hello).chain) == 3


# --- properties over random registries and requests ------------------------------------------

CAPS = st.tuples(*[st.integers(0, 10)] * 5)


@st.composite
def registries(draw: st.DrawFn) -> tuple[Catalog, list[str]]:
    count = draw(st.integers(1, 8))
    specs = []
    for i in range(count):
        window = draw(st.integers(1_000, 2_000_000))
        status = draw(st.sampled_from(["active", "active", "deprecated", "retired"]))
        successor = f"m{draw(st.integers(0, count - 1))}" if status != "active" and draw(st.booleans()) else None
        specs.append(model(
            f"m{i}", window=window, max_out=draw(st.integers(1, window)), caps=draw(CAPS),
            price=(draw(st.floats(0, 100)), draw(st.floats(0, 100))), tools=draw(st.booleans()),
            vision=draw(st.booleans()), json=draw(st.booleans()), streaming=draw(st.booleans()), status=status,
            successor=None if successor == f"m{i}" else successor,
        ))  # fmt: skip
    ids = [s["id"] for s in specs]
    some = st.lists(st.sampled_from(ids), min_size=1, unique=True)
    routes = [
        {"name": "chain", "models": draw(some)},
        {"name": "cap", "strategy": "capability", "fallbacks": draw(st.integers(1, 5)),
         "price_weight": draw(st.floats(0, 2)), "latency_weight": draw(st.floats(0, 2))},
        {"name": "split", "strategy": "weighted", "variants": [
            {"name": "x", "weight": draw(st.floats(0.1, 100)), "models": draw(some)},
            {"name": "y", "weight": draw(st.floats(0.1, 100)), "models": draw(some)},
        ]},
    ]  # fmt: skip
    return catalog(*specs, routes=routes), ids


requests = st.builds(
    features,
    input_tokens=st.integers(0, 1_500_000),
    max_tokens=st.none() | st.integers(1, 100_000),
    images=st.integers(0, 1),
    tools=st.booleans(),
    json_mode=st.booleans(),
    stream=st.booleans(),
    hint=st.none() | CAPS.filter(any).map(lambda t: tuple(float(x) for x in t)),
    user=st.none() | st.text(max_size=8),
)


def fits(cat: Catalog, deployment: str, f: Features, health: Health, allowed: set[str] | None) -> bool:
    spec = cat.resolve(deployment)
    assert spec is not None
    out = f.max_tokens if f.max_tokens is not None else min(spec.max_output_tokens, 1024)
    return (
        spec.status != "retired"
        and (f.max_tokens is None or f.max_tokens <= spec.max_output_tokens)
        and f.input_tokens + out <= spec.context_window
        and (not f.images or spec.supports.vision)
        and (not f.tools or spec.supports.tools)
        and (not f.json_mode or spec.supports.json_mode)
        and (not f.stream or spec.supports.streaming)
        and deployment not in health.open
        and (allowed is None or deployment in allowed)
    )


@settings(max_examples=150, deadline=None)
@given(registries(), requests, st.data())
def test_every_chosen_deployment_satisfies_the_hard_constraints(
    registry: tuple[Catalog, list[str]], f: Features, data: st.DataObject
) -> None:
    cat, ids = registry
    router = Router(cat)
    keys = [f"{i}@1" for i in ids]
    health = Health(
        open=frozenset(data.draw(st.lists(st.sampled_from(keys), unique=True))),
        latency_ms={k: data.draw(st.floats(1, 5_000)) for k in data.draw(st.lists(st.sampled_from(keys), unique=True))},
        error_rate={k: data.draw(st.floats(0, 1)) for k in data.draw(st.lists(st.sampled_from(keys), unique=True))},
    )
    granted = data.draw(st.none() | st.lists(st.sampled_from(ids), min_size=1, unique=True))
    client = key(allowed=tuple(granted)) if granted else None
    allowed = _granted(cat, granted) if granted else None
    for name in ("auto", "chain", "cap", "split"):
        try:
            decision = router.decide(name, f, key=client, health=health, sticky_id="req")
        except GatewayError as exc:
            assert isinstance(exc, (InvalidRequest, PermissionDenied, UpstreamUnavailable, ModelGone))
            # Refusing is only right when the route really had nothing that fits.
            members = {row.key for row in router._plans[name].members()}
            assert not any(fits(cat, m, f, health, allowed) for m in members)
            continue
        assert decision.chain, name
        assert len(set(decision.chain)) == len(decision.chain)
        for deployment in decision.chain:
            assert fits(cat, deployment, f, health, allowed), (name, deployment)
        excluded = {e.key for e in decision.exclusions}
        assert not excluded & set(decision.chain)
        if decision.strategy == "capability":
            ranks = [(c.status == "deprecated", -(c.score or 0.0), c.key) for c in decision.candidates]
            assert ranks == sorted(ranks)
            assert decision.chain == tuple(c.key for c in decision.candidates[: len(decision.chain)])
        assert router.decide(name, f, key=client, health=health, sticky_id="req") == decision


def _granted(cat: Catalog, ids: list[str]) -> set[str]:
    """Deployments a key granting ``ids`` may use: each model, and a retired one's successors."""
    out: set[str] = set()
    for model_id in ids:
        spec = cat.model(model_id)
        for _ in range(10):
            assert spec is not None
            out.add(f"{spec.id}@{spec.version}")
            if spec.status != "retired" or spec.successor is None:
                break
            spec = cat.resolve(spec.successor)
    return out


@given(registries(), requests)
@settings(max_examples=50, deadline=None)
def test_decisions_always_serialise(registry: tuple[Catalog, list[str]], f: Features) -> None:
    router = Router(registry[0])
    try:
        decision = router.decide("auto", f)
    except GatewayError:
        return
    assert isinstance(decision, Decision)
    assert jsonio.loads(jsonio.dumps(decision.to_dict()))["chain"] == list(decision.chain)


def test_a_key_outside_the_catalog_is_still_honoured() -> None:
    router = Router(catalog(model("a"), model("b")))
    assert router.decide("auto", features(), key=key(allowed=("b",))).chain == ("b@1",)


def test_routing_a_catalog_without_routes_or_components() -> None:
    router = Router(catalog(model("a")))
    assert router.decide("auto", features()).chain == ("a@1",)
    with pytest.raises(InvalidRequest, match=r"\(components: none are configured\)"):
        router.decide("auto", features(), component="x")


def test_the_health_default_is_empty_and_immutable() -> None:
    health = Health()
    assert health.open == frozenset() and dict(health.latency_ms) == {} and dict(health.error_rate) == {}
    with pytest.raises(TypeError):
        health.latency_ms["x"] = 1.0  # type: ignore[index]


def test_features_are_what_the_router_reads() -> None:
    # extract_features → decide is the whole API: a request body and headers in, a decision out.
    router = Router(catalog(model("tiny", window=2_000, max_out=500), model("wide", window=500_000)))
    body = {"messages": [{"role": "user", "content": "x" * 20_000}]}
    decision = router.decide("auto", extract_features(body, {}))
    assert decision.chain == ("wide@1",) and decision.exclusions[0].key == "tiny@1"
    assert isinstance(decision.features, Features)
