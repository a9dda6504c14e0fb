"""What routing takes in besides the request (``Health``) and what it gives back (``Decision``).

A ``Decision`` explains itself: the chain to try, every candidate considered with its score
parts, every deployment left out with the reason, the rule that picked the route and the
catalog version it was made against. ``to_dict`` is JSON-ready, for logs and the admin API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from gateway.retry_after import Wait
from gateway.routing.features import Features, needs_dict
from gateway.routing.hints import Needs

Check = Literal[
    "retired", "context", "max_tokens", "vision", "tools", "json", "streaming", "key", "breaker"
]
"""Which hard constraint excluded a deployment."""

REQUEST_CHECKS: frozenset[str] = frozenset({"context", "max_tokens", "vision", "tools", "json", "streaming"})


NO_WAITS: Mapping[str, Wait] = MappingProxyType({})


def _no_values() -> Mapping[str, float]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Health:
    """Runtime state of the deployments, passed in by the pipeline (routing does no I/O).
    Keys are deployment keys, ``"id@version"``."""

    open: frozenset[str] = frozenset()
    """Deployments whose circuit breaker is open."""
    latency_ms: Mapping[str, float] = field(default_factory=_no_values)
    """Moving average of attempt latency."""
    error_rate: Mapping[str, float] = field(default_factory=_no_values)
    """Moving average of failed attempts, 0..1."""
    waits: Mapping[str, Wait] = field(default_factory=lambda: NO_WAITS)
    """For deployments in ``open``: until when, and why (a refusal's Retry-After, 429 or 503)."""


class Candidate(NamedTuple):
    """A deployment that passed the hard constraints. The score parts are set by the capability
    strategy only: ``score = capability - price_weight*price - latency_weight*latency -
    error_weight*errors``, each part in 0..1. (A named tuple rather than a frozen dataclass: a
    decision builds up to one per model, and this is four times cheaper to make.)"""

    key: str
    status: str
    score: float | None = None
    capability: float | None = None
    price: float | None = None
    latency: float | None = None
    errors: float | None = None
    cost_usd: float | None = None
    """Estimated cost of this request on this deployment."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "status": self.status}
        if self.score is not None:
            out.update(
                score=round(self.score, 6),
                parts={
                    "capability": _round(self.capability),
                    "price": _round(self.price),
                    "latency": _round(self.latency),
                    "errors": _round(self.errors),
                },
                cost_usd=_round(self.cost_usd, 9),
            )
        return out


class Exclusion(NamedTuple):
    """A deployment left out, why (for people), and which check (for code)."""

    key: str
    reason: str
    check: Check

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "reason": self.reason, "check": self.check}


@dataclass(frozen=True, slots=True)
class Decision:
    requested: str
    """The ``model`` the client sent."""
    route: str | None
    """The route used (``"auto"`` for the built-in capability route); None for a model id."""
    strategy: str
    """``chain``, ``weighted``, ``capability``, or ``model`` for a model id."""
    variant: str | None
    chain: tuple[str, ...]
    """Deployment keys ``"id@version"`` to try, best first."""
    candidates: tuple[Candidate, ...]
    exclusions: tuple[Exclusion, ...]
    features: Features
    component: str | None
    config_version: str
    rule: str
    """Why this route: ``"model"``, ``"route"``, or ``"component planner"``."""
    needs: Needs | None = None
    """The capability weights that scored the candidates (capability strategy)."""
    needs_source: str | None = None
    """``hint`` (from the client), ``route`` (configured weights) or ``inferred``."""
    weights: tuple[float, float, float] | None = None
    """Price, latency and error weights of the score (capability strategy)."""
    deprecation: str | None = None
    """A warning for the client when the first deployment of the chain is deprecated."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "route": self.route,
            "strategy": self.strategy,
            "variant": self.variant,
            "rule": self.rule,
            "component": self.component,
            "chain": list(self.chain),
            "candidates": [c.to_dict() for c in self.candidates],
            "exclusions": [e.to_dict() for e in self.exclusions],
            "needs": None if self.needs is None else needs_dict(self.needs),
            "needs_source": self.needs_source,
            "weights": None if self.weights is None else dict(zip(("price", "latency", "errors"), self.weights)),
            "features": self.features.to_dict(),
            "config_version": self.config_version,
            "deprecation": self.deprecation,
        }


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)
