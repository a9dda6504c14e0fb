"""``POST /admin/explain``: which deployment a sample request would get, and why, without sending it.

The decision is made as the endpoint named by ``endpoint`` makes it (default chat completions;
the same parsing, features, component header and live health: open breakers, observed latency
and errors) on the live catalog, and ``served_by`` lists what that endpoint would send to in
order: the decision's chain less the deployments it cannot use (a model of another mode, a
provider without that API, an input over a model's limit). With a
candidate ``route``, the route is first validated exactly as ``PUT /admin/routes/{name}`` validates
it (the entry, the name not being a model's, the whole catalog with it put in), and the decision
is made on that catalog; nothing is stored. So a route editor can show the errors, or the
decision, as the operator types. A request the router refuses (unknown model, every deployment
excluded) is not an error of the call: the answer carries the refusal the client would get.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway import jsonio
from gateway.admin import docs_console as docs
from gateway.admin.common import Guard, entry, parse, read_object, respond
from gateway.admin.routes import not_a_model
from gateway.catalog import Catalog, ConfigError, RouteSpec
from gateway.endpoints import Endpoint, servable
from gateway.endpoints.chat import CHAT
from gateway.errors import GatewayError, InvalidRequest
from gateway.livecatalog import LiveCatalog, invalid
from gateway.openapi import ApiRoute
from gateway.overlay import Overlay, apply
from gateway.routing import COMPONENT_HEADER, Health, Router, extract_features


def routes(guard: Guard, live: LiveCatalog, health: Callable[[], Health],
           endpoints: Sequence[Endpoint] = (CHAT,)) -> list[ApiRoute]:
    api = Explainer(live, health, endpoints)
    return [ApiRoute("/admin/explain", guard(api.explain), methods={"POST": docs.EXPLAIN})]


class Explainer:
    def __init__(self, live: LiveCatalog, health: Callable[[], Health], endpoints: Sequence[Endpoint] = (CHAT,)) -> None:
        self.live = live
        self.health = health
        self.endpoints = {endpoint.name: endpoint for endpoint in endpoints}

    async def explain(self, request: Request) -> Response:
        body = parse(docs.ExplainBody, await read_object(request))
        sample = dict(body.request)
        router = self.live.registry.snapshot.router
        if body.route is not None:
            spec = self._route(body.route)
            sample.setdefault("model", spec.name)
            router = await asyncio.to_thread(_router_with, self.live.registry.snapshot.catalog, spec)
        endpoint = self.endpoints.get(body.endpoint)
        if endpoint is None:
            raise InvalidRequest(f"endpoint: '{body.endpoint}' is not one of {', '.join(self.endpoints)}.",
                                 param="endpoint")
        headers = {name.lower(): value for name, value in (body.headers or {}).items()}
        try:
            parsed = await endpoint.parse(jsonio.dumps(sample), headers, None)
        except InvalidRequest as exc:
            where = f"request.{exc.param}" if exc.param else "request"
            raise InvalidRequest(f"{where}: {exc.message}", param=where, code=exc.code) from None
        out: dict[str, Any] = {"object": "explanation", "endpoint": endpoint.name, "decision": None,
                               "served_by": None, "route_valid": True}
        try:
            features = extract_features(parsed.body, headers)
            decision = router.decide(parsed.model, features, component=headers.get(COMPONENT_HEADER),
                                     sticky_id=uuid.uuid4().hex, health=self.health())
            out["decision"] = decision.to_dict()
            # What the endpoint would send to, in order: the chain less what cannot serve it.
            snapshot = self.live.registry.snapshot
            known = [snapshot.deployments_by_key[k] for k in decision.chain if k in snapshot.deployments_by_key]
            out["served_by"] = [d.key for d in servable(endpoint, tuple(known), parsed)]
        except GatewayError as exc:
            error = exc.to_dict()["error"]
            assert isinstance(error, dict)
            out["refusal"] = {**error, "status": exc.status}
        return respond(out)

    def _route(self, data: dict[str, Any]) -> RouteSpec:
        if not isinstance(data.get("name"), str):
            raise InvalidRequest("route.name: a candidate route needs its name.", param="route.name")
        spec: RouteSpec = entry("routes", data)
        not_a_model(self.live.registry.snapshot.catalog, spec.name)
        return spec


def _router_with(catalog: Catalog, spec: RouteSpec) -> Router:
    """A router over ``catalog`` with ``spec`` added or replacing its namesake, validated as a
    runtime change is (the same 400, listing every problem)."""
    try:
        return Router(apply(catalog, Overlay(routes=(spec,))))
    except ConfigError as exc:
        raise invalid(exc) from None
