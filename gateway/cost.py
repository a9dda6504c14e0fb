"""What a request cost, in US dollars, from the registry's prices.

Promises:
- ``cost_usd(prices, usage)`` prices input tokens that were not served from a cache at the input
  price, cached input tokens at the cached-input price (the input price when none is set) and
  output tokens at the output price; prices are per million tokens.
- A model configured with both input and output prices at zero has no price of its own: its
  price comes from litellm's bundled price table (by upstream model name), looked up once per
  model spec and remembered. A model found in neither is free, and says so (``source``).
  (Prices are required by the catalog schema, so zero is how a config says "not priced here";
  a model that really is free, such as a local one, is simply not in litellm's table either.)
- ``CostBook.prepare`` does those lookups for a whole catalog at start-up, so a request only
  ever reads a dict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.catalog_schema import ModelSpec, Prices
from gateway.providers.base import Usage

log = logging.getLogger("grove.cost")

_PER_MTOK = 1_000_000

PriceLookup = Callable[[str, str], "tuple[float, float, float | None] | None"]
"""(upstream model, provider kind) → (input, output, cached input) USD per million tokens."""


def cost_usd(prices: Prices, usage: Usage) -> float:
    cached = min(max(usage.cached_input_tokens, 0), usage.input_tokens)
    cached_price = prices.input_per_mtok if prices.cached_input_per_mtok is None else prices.cached_input_per_mtok
    total = (
        (usage.input_tokens - cached) * prices.input_per_mtok
        + cached * cached_price
        + usage.output_tokens * prices.output_per_mtok
    )
    return total / _PER_MTOK


def format_usd(cost: float) -> str:
    """A header value: plain decimal, no exponent, at most ten decimals (a ten-billionth of a dollar)."""
    text = f"{cost:.10f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


@dataclass(frozen=True, slots=True)
class PriceEntry:
    prices: Prices | None
    source: str
    """``config``, ``litellm`` or ``none``."""


def _litellm_lookup(model: str, kind: str) -> tuple[float, float, float | None] | None:
    from gateway.providers import litellm_bridge

    return litellm_bridge.model_prices(model, kind)


class CostBook:
    """The price of every model spec it has been asked about; see the module docstring."""

    def __init__(self, lookup: PriceLookup | None = None) -> None:
        self._lookup = lookup or _litellm_lookup
        # id(spec) → (spec, entry): specs are frozen, and keeping the spec makes the id safe.
        self._entries: dict[int, tuple[ModelSpec, PriceEntry]] = {}

    def prepare(self, models: Iterable[tuple[ModelSpec, str]]) -> None:
        """Resolve the prices of ``(model spec, provider kind)`` pairs now, off the request path."""
        for model, kind in models:
            self.entry(model, kind)

    def entry(self, model: ModelSpec, kind: str) -> PriceEntry:
        found = self._entries.get(id(model))
        if found is not None and found[0] is model:
            return found[1]
        entry = self._resolve(model, kind)
        if len(self._entries) > 10_000:  # old catalogs' specs: forget them rather than grow
            self._entries.clear()
        self._entries[id(model)] = (model, entry)
        return entry

    def cost(self, model: ModelSpec, kind: str, usage: Usage | None) -> float | None:
        """None when the usage is unknown; 0.0 for a model with no price anywhere."""
        if usage is None:
            return None
        prices = self.entry(model, kind).prices
        return 0.0 if prices is None else cost_usd(prices, usage)

    def _resolve(self, model: ModelSpec, kind: str) -> PriceEntry:
        configured = model.prices
        if configured.input_per_mtok > 0 or configured.output_per_mtok > 0:
            return PriceEntry(configured, "config")
        try:
            found = self._lookup(model.upstream_model, kind)
        except Exception:  # noqa: BLE001 - a broken price table must not break requests
            log.exception("price lookup for %s failed", model.upstream_model)
            found = None
        if found is None:
            log.info("model %s@%s has no configured price and none in litellm's table: costs 0",
                     model.id, model.version)
            return PriceEntry(None, "none")
        input_price, output_price, cached_price = found
        prices = Prices(input_per_mtok=input_price, output_per_mtok=output_price, cached_input_per_mtok=cached_price)
        return PriceEntry(prices, "litellm")
