"""Cost: the formula against hand-computed figures, the litellm price fallback, and the
``x-grove-cost-usd`` header end to end (cached input tokens included)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.catalog_schema import ModelSpec, Prices
from gateway.cost import CostBook, cost_usd, format_usd
from gateway.fakes.background import BackgroundServer
from gateway.providers import litellm_bridge
from gateway.providers.base import Usage
from tests.conftest import GatewayFactory

HI = [{"role": "user", "content": "hi"}]


def _model(input_price: float, output_price: float, cached: float | None = None,
           upstream: str = "gpt-4.1-mini") -> ModelSpec:
    return ModelSpec.model_validate({
        "id": "m", "provider": "p", "upstream_model": upstream, "context_window": 1000, "max_output_tokens": 100,
        "capabilities": {"reasoning": 5, "creativity": 5, "precision": 5, "speed": 5, "context": 5},
        "prices": {"input_per_mtok": input_price, "output_per_mtok": output_price,
                   **({"cached_input_per_mtok": cached} if cached is not None else {})},
    })


def test_cost_prices_cached_input_at_its_own_price() -> None:
    prices = Prices(input_per_mtok=2.5, output_per_mtok=10.0, cached_input_per_mtok=1.25)
    usage = Usage(input_tokens=1000, output_tokens=500, cached_input_tokens=200)
    # 800 uncached input at 2.50, 200 cached at 1.25, 500 output at 10.00, per million tokens
    assert cost_usd(prices, usage) == pytest.approx((800 * 2.5 + 200 * 1.25 + 500 * 10.0) / 1e6)
    assert cost_usd(prices, usage) == pytest.approx(0.00725)


def test_cached_input_without_its_own_price_costs_the_input_price() -> None:
    prices = Prices(input_per_mtok=3.0, output_per_mtok=15.0)
    usage = Usage(input_tokens=100, output_tokens=10, cached_input_tokens=40)
    assert cost_usd(prices, usage) == pytest.approx((100 * 3.0 + 10 * 15.0) / 1e6)


def test_cached_tokens_never_exceed_the_input() -> None:
    prices = Prices(input_per_mtok=1.0, output_per_mtok=0.0, cached_input_per_mtok=0.5)
    assert cost_usd(prices, Usage(input_tokens=10, cached_input_tokens=50)) == pytest.approx(10 * 0.5 / 1e6)
    assert cost_usd(prices, Usage()) == 0.0


@pytest.mark.parametrize(("cost", "text"), [
    (0.0000212, "0.0000212"), (0.0, "0.0"), (1.5, "1.5"), (12.0, "12.0"), (1e-12, "0.0"), (0.00725, "0.00725"),
])
def test_format_usd_is_plain_decimal(cost: float, text: str) -> None:
    assert format_usd(cost) == text


def test_cost_book_uses_configured_prices_and_never_asks_litellm() -> None:
    asked: list[tuple[str, str]] = []
    book = CostBook(lambda model, kind: asked.append((model, kind)) or None)  # type: ignore[func-returns-value]
    model = _model(0.4, 1.6)
    assert book.cost(model, "openai-compatible", Usage(input_tokens=10, output_tokens=5)) == \
        pytest.approx((10 * 0.4 + 5 * 1.6) / 1e6)
    assert book.entry(model, "openai-compatible").source == "config" and asked == []
    assert book.cost(model, "openai-compatible", None) is None


def test_zero_prices_fall_back_to_the_price_table_once_per_model() -> None:
    asked: list[tuple[str, str]] = []

    def lookup(model: str, kind: str) -> tuple[float, float, float | None]:
        asked.append((model, kind))
        return 2.0, 8.0, 0.5

    book = CostBook(lookup)
    model = _model(0, 0, upstream="some-upstream")
    book.prepare([(model, "anthropic")])
    usage = Usage(input_tokens=1000, output_tokens=100, cached_input_tokens=600)
    assert book.cost(model, "anthropic", usage) == pytest.approx((400 * 2.0 + 600 * 0.5 + 100 * 8.0) / 1e6)
    assert book.cost(model, "anthropic", usage) == book.cost(model, "anthropic", usage)
    assert asked == [("some-upstream", "anthropic")]
    assert book.entry(model, "anthropic").source == "litellm"


@pytest.mark.parametrize("lookup_result", [None, RuntimeError("broken table")])
def test_a_model_priced_nowhere_costs_nothing(lookup_result: object) -> None:
    def lookup(model: str, kind: str) -> None:
        if isinstance(lookup_result, Exception):
            raise lookup_result
        return None

    book = CostBook(lookup)
    model = _model(0, 0, upstream="local-llama")
    assert book.cost(model, "openai-compatible", Usage(input_tokens=5, output_tokens=5)) == 0.0
    assert book.entry(model, "openai-compatible").source == "none"


def test_litellm_price_table_without_importing_litellm() -> None:
    loaded_before = "litellm" in sys.modules
    assert litellm_bridge.model_prices("gpt-4.1-mini", "openai-compatible") == (0.4, 1.6, 0.1)
    assert litellm_bridge.model_prices("claude-sonnet-4-5", "anthropic") == (3.0, 15.0, 0.3)
    assert litellm_bridge.model_prices("gemini-2.5-flash", "gemini") == (0.3, 2.5, 0.03)  # "gemini/..." entry
    assert litellm_bridge.model_prices("no-such-model-anywhere", "openai-compatible") is None
    assert ("litellm" in sys.modules) == loaded_before


def test_the_bundled_table_and_the_loaded_one_agree() -> None:
    bundled = litellm_bridge.bundled_price_table()
    assert bundled["gpt-4.1-mini"]["input_cost_per_token"] == 4e-07
    litellm_bridge.load()  # usually loaded already by the Anthropic and Gemini tests; seconds if not
    assert sys.modules["litellm"].model_cost["gpt-4.1-mini"]["input_cost_per_token"] == 4e-07
    assert litellm_bridge.model_prices("gpt-4.1-mini", "openai-compatible") == (0.4, 1.6, 0.1)


def test_cost_header_matches_the_configured_prices(start_gateway: GatewayFactory, demo_config: Path) -> None:
    gateway = start_gateway(demo_config)
    resp = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "claude-sonnet-4-5", "messages": HI})
    usage = resp.json()["usage"]
    expected = (usage["prompt_tokens"] * 3.00 + usage["completion_tokens"] * 15.00) / 1e6
    assert float(resp.headers["x-grove-cost-usd"]) == pytest.approx(expected, abs=1e-10)
    with httpx.stream("POST", f"{gateway.url}/v1/chat/completions",
                      json={"model": "claude-sonnet-4-5", "messages": HI, "stream": True}) as stream:
        stream.read()
        assert "x-grove-cost-usd" not in stream.headers  # a stream's cost is known only at its end


@pytest.fixture
def cached_upstream() -> Iterator[BackgroundServer]:
    """An OpenAI-compatible upstream whose answers report cached prompt tokens."""
    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({
            "id": "chatcmpl-cached", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
                      "prompt_tokens_details": {"cached_tokens": 600}},
        })

    with BackgroundServer(Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])) as server:
        yield server


@pytest.mark.parametrize(("prices", "expected"), [
    # configured: 400 uncached at 2.00, 600 cached at 0.50, 200 output at 8.00
    ("{input_per_mtok: 2.0, output_per_mtok: 8.0, cached_input_per_mtok: 0.5}", (400 * 2.0 + 600 * 0.5 + 200 * 8.0) / 1e6),
    # not priced here: litellm's table for gpt-4.1-mini (0.40 in, 0.10 cached, 1.60 out)
    ("{input_per_mtok: 0, output_per_mtok: 0}", (400 * 0.4 + 600 * 0.1 + 200 * 1.6) / 1e6),
])
def test_cost_header_with_cached_tokens(start_gateway: GatewayFactory, tmp_path: Path,
                                        cached_upstream: BackgroundServer, prices: str, expected: float) -> None:
    (tmp_path / "c.yaml").write_text(f"""
providers:
  - {{id: cached, kind: openai-compatible, base_url: "{cached_upstream.url}/v1"}}
models:
  - id: gpt-4.1-mini
    provider: cached
    context_window: 100000
    max_output_tokens: 1000
    capabilities: {{reasoning: 5, creativity: 5, precision: 5, speed: 5, context: 5}}
    prices: {prices}
""")
    gateway = start_gateway(tmp_path)
    resp = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HI})
    assert resp.status_code == 200, resp.text
    assert float(resp.headers["x-grove-cost-usd"]) == pytest.approx(expected, abs=1e-10)
