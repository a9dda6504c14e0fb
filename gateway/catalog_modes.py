"""The catalog's mode rules across entries: what a route may put together, and a successor's mode.

A route's deployments are one another's fallbacks, so they must do the same thing: a route
lists chat models or embedding models, never both (every strategy: a chain's models, a weighted
route's variants, a capability route's candidates). Embedding models of one route must also
make vectors of one length: a fallback to a model with other ``dimensions`` would hand the
client vectors that do not fit its index. A model's successor serves in its place once it is
retired, so it must be of the same mode. Each problem is reported at the entry's key path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from gateway.catalog_schema import ModelSpec, RouteSpec
from gateway.yamlload import ConfigIssue, KeyPath


class _Entry(Protocol):
    spec: object

    def issue(self, sub: KeyPath, message: str) -> ConfigIssue: ...


Resolve = Callable[[str], "ModelSpec | None"]


def check_modes(models: Iterable[_Entry], routes: Iterable[_Entry], resolve: Resolve) -> list[ConfigIssue]:
    """Issues of the rules above; references that do not resolve are reported elsewhere."""
    issues: list[ConfigIssue] = []
    for entry in models:
        spec = entry.spec
        assert isinstance(spec, ModelSpec)
        successor = resolve(spec.successor) if spec.successor else None
        if successor is not None and successor.mode != spec.mode:
            issues.append(entry.issue(("successor",), f"{spec.successor!r} is {_a(successor.mode)} model and "
                                      f"{spec.id!r} {_a(spec.mode)} model: a successor serves in its place, so "
                                      "it must be of the same mode"))
    for entry in routes:
        route = entry.spec
        assert isinstance(route, RouteSpec)
        members = [(("models", i), text) for i, text in enumerate(route.models)]
        members += [(("variants", v, "models", i), text) for v, variant in enumerate(route.variants)
                    for i, text in enumerate(variant.models)]
        first: tuple[KeyPath, str, ModelSpec] | None = None
        for sub, text in members:
            spec = resolve(text)
            if spec is None:
                continue
            if first is None:
                first = (sub, text, spec)
                continue
            where, name, model = first
            if spec.mode != model.mode:
                issues.append(entry.issue(sub, f"{text!r} is {_a(spec.mode)} model but {name!r} "
                                          f"({_path(where)}) is {_a(model.mode)} model: the models of a route "
                                          "fall back to one another, so they must all be of one mode"))
            elif spec.mode == "embedding" and spec.dimensions != model.dimensions:
                issues.append(entry.issue(sub, f"{text!r} makes vectors of {spec.dimensions} dimensions but "
                                          f"{name!r} ({_path(where)}) of {model.dimensions}: a fallback "
                                          "between them would change the vectors' length"))
    return issues


def _path(sub: KeyPath) -> str:
    return ".".join(str(part) for part in sub)


def _a(mode: str) -> str:
    return ("an " if mode[:1] in "aeiou" else "a ") + mode
