"""Route strategies, components and capability hints, through the HTTP API with the openai client."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def routed(start_gateway: GatewayFactory, demo_config: Path) -> BackgroundServer:
    (demo_config / "routes.yaml").write_text("""
routes:
  - name: ab
    strategy: weighted
    sticky: user
    variants:
      - {name: left, weight: 50, models: [gpt-4.1-mini]}
      - {name: right, weight: 50, models: [claude-sonnet-4-5]}
  - name: thinker
    strategy: capability
    weights: {reasoning: 5}
    price_weight: 0
components:
  planner: thinker
""")
    return start_gateway(demo_config)


def _client(gateway: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)


def test_weighted_route_is_sticky_per_user_and_reports_the_variant(routed: BackgroundServer) -> None:
    client = _client(routed)
    seen: dict[str, set[str]] = {}
    for user in [f"user-{i}" for i in range(40)]:
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(model="ab", messages=HI, user=user)  # type: ignore[arg-type]
            variant = raw.headers["x-grove-variant"]
            served = raw.headers["x-grove-model"]
            assert (variant, served.split("@")[0]) in {("left", "gpt-4.1-mini"), ("right", "claude-sonnet-4-5")}
            seen.setdefault(user, set()).add(variant)
    assert all(len(v) == 1 for v in seen.values()), "a user must always get the same variant"
    variants = [next(iter(v)) for v in seen.values()]
    assert 8 <= variants.count("left") <= 32  # a 50/50 split over 40 users


def test_component_header_routes_auto_to_the_components_route(routed: BackgroundServer) -> None:
    raw = _client(routed).chat.completions.with_raw_response.create(
        model="auto", messages=HI, extra_headers={"x-grove-component": "planner"})  # type: ignore[arg-type]
    assert raw.headers["x-grove-route"] == "thinker"
    assert raw.headers["x-grove-model"] == "claude-sonnet-4-5@1"  # the strongest reasoner of the three
    with pytest.raises(openai.BadRequestError) as info:
        _client(routed).chat.completions.create(model="auto", messages=HI,  # type: ignore[arg-type]
                                                extra_headers={"x-grove-component": "plannr"})
    assert info.value.body["param"] == "x-grove-component"  # type: ignore[index]


def test_capability_hint_from_the_sdk_is_used_and_not_forwarded(routed: BackgroundServer, fakes: Fakes) -> None:
    raw = _client(routed).chat.completions.with_raw_response.create(
        model="auto", messages=HI, metadata={"grove_capabilities": "speed=5"}, store=True)  # type: ignore[arg-type]
    assert raw.headers["x-grove-route"] == "auto"
    served = raw.headers["x-grove-model"].split("@")[0]
    fake = {"gpt-4.1-mini": fakes.openai, "claude-sonnet-4-5": fakes.anthropic, "gemini-2.5-flash": fakes.gemini}
    assert served == "gemini-2.5-flash"  # fastest and cheap in the demo config
    sent = fake[served].state.requests[-1]
    assert "grove_capabilities" not in str(sent.body)


def test_bad_capability_header_is_a_400(routed: BackgroundServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _client(routed).chat.completions.create(model="auto", messages=HI,  # type: ignore[arg-type]
                                                extra_headers={"x-grove-capabilities": "reasoning=eleven"})
    assert info.value.body["param"] == "x-grove-capabilities"  # type: ignore[index]


def test_no_model_fits_is_a_clear_400(routed: BackgroundServer) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _client(routed).chat.completions.create(model="auto", messages=HI, max_tokens=5_000_000)  # type: ignore[arg-type]
    assert info.value.body["code"] == "no_eligible_model"  # type: ignore[index]
