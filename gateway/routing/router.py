"""The router: a requested name, the request's features and the deployments' health → a
``Decision``. Pure: no I/O, no clock, no randomness; everything that does not depend on the
request is computed once per catalog version in ``Router.__init__``.

Names. ``auto`` is the built-in capability route over every model that still serves, with the
defaults of a ``strategy: capability`` route (price weight 0.3, latency 0.2, errors 1, three
deployments; needs from the client's hint, else inferred). A configured route name uses its
strategy. Any other name is a model id (``"id"`` or ``"id@version"``), which ``decide`` also
resolves, honouring it as asked: the lifecycle applies (retired → successor, 410 without one),
the hard constraints do not.

Components and default routes. A request's component is the ``x-grove-component`` header, else
the client key's ``default_component``. When the client asked for ``auto``, the component's route
(from the config's ``components``) serves instead; with no component, the key's
``default_route`` does (a key sets at most one of the two). An explicit route or model id is
always honoured and the component is only recorded. An unknown component is a 400 either way, so
a typo shows.

Keys. ``KeySpec.allowed_models`` grants names: a model id grants its versions, a route grants
every deployment the route may choose, ``auto`` grants every model. Routing only picks granted
deployments. Whether the client may send the requested name at all is the caller's check
(``gateway.auth.check_allowed``).

Refusals. When no deployment is left: 503 ``no_available_model`` if some were left out only for
an open breaker; else 403 if some only for the key; else 400 ``no_eligible_model`` summarising
what the request needs that the models lack; 410 if the route's models are all retired.
"""

from __future__ import annotations

from collections import Counter

from gateway.catalog import Catalog, KeySpec, RouteSpec, split_ref
from gateway.errors import GatewayError, InvalidRequest, ModelGone, ModelNotFound, PermissionDenied
from gateway.retry_after import refusal
from gateway.routing.capability import DEFAULT_OUTPUT_TOKENS
from gateway.routing.decision import REQUEST_CHECKS, Candidate, Decision, Health
from gateway.routing.features import Features
from gateway.routing.strategies import STRATEGIES, Ask, Choice, Strategy
from gateway.routing.table import ModelTable, key_of

AUTO = "auto"
COMPONENT_HEADER = "x-grove-component"
_NO_HEALTH = Health()


class Router:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.version = catalog.version
        self._table = ModelTable(catalog)
        specs: dict[str, RouteSpec] = {AUTO: RouteSpec.model_validate({"name": AUTO, "strategy": "capability"})}
        specs.update((route.name, route) for route in catalog.routes)
        self._plans: dict[str, Strategy] = {
            name: STRATEGIES[spec.strategy](spec, self._table) for name, spec in specs.items()
        }
        self._strategy = {name: spec.strategy for name, spec in specs.items()}
        self._grants = {key: self._grant(key) for key in catalog.keys}

    def routes_name(self, name: str) -> bool:
        """Whether ``name`` is a route (or ``auto``) rather than a model id."""
        return name in self._plans

    def decide(
        self,
        requested: str,
        features: Features,
        *,
        component: str | None = None,
        key: KeySpec | None = None,
        sticky_id: str | None = None,
        health: Health = _NO_HEALTH,
    ) -> Decision:
        """Route one request. ``sticky_id`` is the identity a weighted split falls back on when
        the route's own (the end user, the client key) is absent: pass the request id, so such
        requests still spread by weight. Raises the ``gateway.errors`` described above."""
        if component is None and key is not None:
            component = key.default_component
        route, rule = requested, "route"
        if component is not None:
            target = self.catalog.component(component)
            if target is None:
                raise _unknown_component(component, [name for name, _ in self.catalog.components])
            if requested == AUTO:
                route, rule = target, f"component {component}"
        elif requested == AUTO and key is not None and key.default_route is not None:
            route, rule = key.default_route, f"key {key.name} default_route"
        plan = self._plans.get(route)
        if plan is None:
            return self._model(requested, features, component)
        sticky = {"user": features.user, "key": key.name if key is not None else None, "request": sticky_id}
        choice = plan.choose(Ask(features, self._allowed(key), health, sticky))
        if not choice.chain:
            raise _refusal(route, choice, features, health)
        return Decision(
            requested, route, self._strategy[route], choice.variant, choice.chain, choice.candidates, choice.exclusions,
            features, component, self.version, rule, choice.needs, choice.needs_source, choice.weights,
        )  # fmt: skip

    def _model(self, requested: str, features: Features, component: str | None) -> Decision:
        row, note = self._table.resolve(requested)
        if row is None:
            if note is None:
                raise ModelNotFound(
                    f"The model '{requested}' does not exist. List the models and routes you can use "
                    "with GET /v1/models.",
                    param="model",
                )
            raise ModelGone(
                f"The model '{requested}' has been retired and has no successor. "
                "List the models you can use with GET /v1/models.",
                param="model",
            )
        deprecation = None
        if row.deprecated:
            successor = row.spec.successor
            deprecation = f"model {row.spec.id} is deprecated" + (f"; use {successor}" if successor else "")
        return Decision(
            requested, None, "model", None, (row.key,), (Candidate(row.key, row.status),),
            () if note is None else (note,), features, component, self.version, "model", deprecation=deprecation,
        )  # fmt: skip

    def _allowed(self, key: KeySpec | None) -> frozenset[str] | None:
        if key is None or not key.allowed_models:
            return None
        if key in self._grants:
            return self._grants[key]
        return self._grant(key)  # a key from elsewhere (a test, an admin preview)

    def _grant(self, key: KeySpec) -> frozenset[str] | None:
        if not key.allowed_models or AUTO in key.allowed_models:
            return None
        granted: set[str] = set()
        for name in key.allowed_models:
            plan = self._plans.get(name)
            if plan is not None:
                granted.update(row.key for row in plan.members())
                continue
            model_id, version = split_ref(name)
            versions = self.catalog.versions(model_id) if version is None else (self.catalog.model(model_id, version),)
            for spec in versions:
                if spec is not None:
                    granted.add(key_of(spec))
                    row, _ = self._table.resolve(key_of(spec))
                    if row is not None:  # a retired model's grant carries over to its successor
                        granted.add(row.key)
        return frozenset(granted)


def _unknown_component(name: str, known: list[str]) -> InvalidRequest:
    listed = ", ".join(sorted(known)) or "none are configured"
    return InvalidRequest(
        f"Unknown component '{name}' in {COMPONENT_HEADER} (components: {listed}).",
        param=COMPONENT_HEADER,
        code="unknown_component",
    )


_PHRASES = {
    "context": "cannot take ~{input} input + {output} output tokens",
    "max_tokens": "cannot write max_tokens {output}",
    "vision": "cannot take images",
    "tools": "cannot use tools",
    "json": "cannot do JSON mode",
    "streaming": "cannot stream",
}


def _refusal(route: str, choice: Choice, features: Features, health: Health) -> GatewayError:
    where = "'auto'" if route == AUTO else f"route '{route}'"
    counts = Counter(e.check for e in choice.exclusions)
    if counts["breaker"]:
        keys = [e.key for e in choice.exclusions if e.check == "breaker"]
        return refusal(
            f"Every model that could serve this request through {where} is unavailable right now "
            f"(circuit breaker open: {', '.join(keys)}). Try again shortly.",
            "no_available_model", [health.waits.get(key) for key in keys],
        )
    if counts["key"]:
        return PermissionDenied(
            f"This API key may not use any model of {where} that can serve this request.", param="model"
        )
    if not any(check in REQUEST_CHECKS for check in counts):
        return ModelGone(f"Every model of {where} has been retired.", param="model")
    numbers = {"input": features.input_tokens, "output": features.max_tokens or DEFAULT_OUTPUT_TOKENS}
    parts = [
        f"{counts[check]} model{'' if counts[check] == 1 else 's'} {phrase.format(**numbers)}"
        for check, phrase in _PHRASES.items()
        if counts[check]
    ]
    return InvalidRequest(
        f"No model can serve this request through {where}: {'; '.join(parts)}.",
        param="model",
        code="no_eligible_model",
    )

