"""Route strategies: how a route turns a request into a chain of deployments.

Each strategy is built once per catalog version from its ``RouteSpec`` (resolving retired
models to their successors then) and answers ``choose(ask)`` per request, without I/O.
``STRATEGIES`` maps the config's ``strategy`` to its class.

- ``chain``: the route's models in order, minus the ones a constraint excludes.
- ``weighted``: a stable hash of the sticky identity (salted with the route name, so two A/B
  tests split independently) picks a variant in proportion to the weights; its models come
  first, the other variants' follow as fallbacks.
- ``capability``: the eligible models ranked by score, top ``fallbacks``. The needs that weigh
  the capabilities come from the client's hint, else the route's ``weights``, else inference
  from the request: the route's weights are the operator's stated intent for that route and
  win over a guess.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.catalog import RouteSpec
from gateway.routing.capability import eligible, rank
from gateway.routing.decision import Candidate, Exclusion, Health
from gateway.routing.features import Features
from gateway.routing.hints import Needs
from gateway.routing.table import ModelTable, Row


@dataclass(frozen=True, slots=True)
class Ask:
    """One request, as a strategy sees it."""

    features: Features
    allowed: frozenset[str] | None
    """Deployment keys the client key may use; None: all."""
    health: Health
    sticky: Mapping[str, str | None]
    """Identities a weighted split may hash: ``user``, ``key``, ``request``."""


@dataclass(frozen=True, slots=True)
class Choice:
    chain: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    exclusions: tuple[Exclusion, ...]
    variant: str | None = None
    needs: Needs | None = None
    needs_source: str | None = None
    weights: tuple[float, float, float] | None = None


class Strategy(Protocol):
    def choose(self, ask: Ask) -> Choice: ...

    def members(self) -> tuple[Row, ...]:
        """Every deployment the route may choose (what granting the route to a key grants)."""
        ...


def _listed(rows: tuple[Row, ...], notes: tuple[Exclusion, ...], ask: Ask, limit: int | None) -> Choice:
    passed, excluded = eligible(rows, ask.features, ask.allowed, ask.health)
    candidates = tuple(Candidate(row.key, row.status) for row in passed)
    chain = tuple(c.key for c in candidates[:limit])
    return Choice(chain, candidates, (*notes, *excluded))


class ChainStrategy:
    def __init__(self, route: RouteSpec, table: ModelTable) -> None:
        self.rows, self.notes = table.members(route.models)
        self.limit = route.fallbacks

    def choose(self, ask: Ask) -> Choice:
        return _listed(self.rows, self.notes, ask, self.limit)

    def members(self) -> tuple[Row, ...]:
        return self.rows


_IDENTITIES = {"user": ("user", "key", "request"), "key": ("key", "request"), "none": ("request",)}


class WeightedStrategy:
    def __init__(self, route: RouteSpec, table: ModelTable) -> None:
        self.salt = route.name.encode() + b"\x00"
        self.sticky = route.sticky or "user"
        self.limit = route.fallbacks
        total = sum(v.weight for v in route.variants)
        members = [table.members(v.models) for v in route.variants]
        self.notes = tuple(dict.fromkeys(note for _, notes in members for note in notes))
        self.variants: list[tuple[str, float, tuple[Row, ...]]] = []
        upper = 0.0
        for index, variant in enumerate(route.variants):
            upper += variant.weight / total
            # The chosen variant's models first, then every other variant's, each once.
            order = [*members[index][0], *(row for rows, _ in members for row in rows)]
            self.variants.append((variant.name, upper, tuple(dict.fromkeys(order))))

    def members(self) -> tuple[Row, ...]:
        return self.variants[0][2]  # every variant's order holds all the rows

    def bucket(self, identity: str) -> float:
        """A point in [0, 1), stable across processes and replicas for the same identity."""
        digest = hashlib.blake2b(self.salt + identity.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0**64

    def choose(self, ask: Ask) -> Choice:
        point = self.bucket(self.identity(ask.sticky))
        name, _, rows = next((v for v in self.variants if point < v[1]), self.variants[-1])
        choice = _listed(rows, self.notes, ask, self.limit)
        return Choice(choice.chain, choice.candidates, choice.exclusions, variant=name)

    def identity(self, sticky: Mapping[str, str | None]) -> str:
        """The identity to hash: the configured one, else the client key, else the request's id."""
        return next((value for name in _IDENTITIES[self.sticky] if (value := sticky.get(name))), "")


class CapabilityStrategy:
    def __init__(self, route: RouteSpec, table: ModelTable) -> None:
        if route.models:
            self.rows, self.notes = table.members(route.models)
        else:
            self.rows, self.notes = table.everything(), ()
        self.needs = route.weights.vector() if route.weights is not None else None
        self.weights = (route.price_weight or 0.0, route.latency_weight or 0.0, route.error_weight or 0.0)
        self.limit = route.fallbacks

    def choose(self, ask: Ask) -> Choice:
        features = ask.features
        needs: Needs
        if features.hint is not None:
            needs, source = features.hint, "hint"
        elif self.needs is not None:
            needs, source = self.needs, "route"
        else:
            needs, source = features.inferred, "inferred"
        passed, excluded = eligible(self.rows, features, ask.allowed, ask.health)
        candidates = tuple(rank(passed, features, needs, self.weights, ask.health))
        chain = tuple(c.key for c in candidates[: self.limit])
        return Choice(chain, candidates, (*self.notes, *excluded), None, needs, source, self.weights)

    def members(self) -> tuple[Row, ...]:
        return self.rows


STRATEGIES: Mapping[str, Callable[[RouteSpec, ModelTable], Strategy]] = {
    "chain": ChainStrategy,
    "weighted": WeightedStrategy,
    "capability": CapabilityStrategy,
}
