"""Admin endpoints for routes at run time.

``POST /admin/routes`` creates a route (409 if the name is taken); ``PUT /admin/routes/{name}``
creates or replaces one whole (201 created, 200 replaced): the body is a route entry as in the
YAML, its ``name`` optional and, when given, equal to the path's. Routes are replaced whole
rather than patched because a route's fields depend on its strategy.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.admin import docs_catalog as docs
from gateway.admin.common import Guard, dump, entry, origin, read_object, respond, served
from gateway.catalog import Catalog, RouteSpec
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.livecatalog import Edit, LiveCatalog
from gateway.openapi import ApiRoute
from gateway.overlay import Overlay


def routes(guard: Guard, live: LiveCatalog) -> list[ApiRoute]:
    api = RoutesAdmin(live)
    return [
        ApiRoute("/admin/routes", guard(api.list), methods={"GET": docs.LIST_ROUTES}),
        ApiRoute("/admin/routes", guard(api.create), methods={"POST": docs.CREATE_ROUTE}),
        ApiRoute("/admin/routes/{name}", guard(api.get), methods={"GET": docs.GET_ROUTE}),
        ApiRoute("/admin/routes/{name}", guard(api.put), methods={"PUT": docs.PUT_ROUTE}),
    ]


class RoutesAdmin:
    def __init__(self, live: LiveCatalog) -> None:
        self.live = live

    def _view(self, spec: RouteSpec) -> dict[str, Any]:
        return {"object": "route", **dump(spec), "origin": origin(self.live.files.route(spec.name), spec)}

    def _answer(self, catalog: Catalog, name: str, status: int) -> Response:
        spec = catalog.route(name)
        assert spec is not None
        return respond({**self._view(spec), **served(catalog)}, status)

    async def list(self, request: Request) -> Response:
        catalog = self.live.registry.snapshot.catalog
        return respond({"object": "list", "data": [self._view(r) for r in catalog.routes], **served(catalog)})

    async def get(self, request: Request) -> Response:
        name = request.path_params["name"]
        catalog = self.live.registry.snapshot.catalog
        if catalog.route(name) is None:
            raise NotFound(f"There is no route '{name}'.", code="route_not_found")
        return self._answer(catalog, name, 200)

    async def create(self, request: Request) -> Response:
        spec: RouteSpec = entry("routes", await read_object(request))

        def edit(overlay: Overlay, current: Catalog) -> Edit:
            if current.route(spec.name) is not None:
                raise Conflict(f"Route '{spec.name}' already exists; replace it with PUT /admin/routes/{spec.name}.",
                               code="route_exists", param="name")  # fmt: skip
            not_a_model(current, spec.name)
            return Edit(overlay.put_route(spec), "route.created", {"name": spec.name})

        applied = await self.live.change(edit)
        return self._answer(applied.catalog, spec.name, 201)

    async def put(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await read_object(request)
        if body.setdefault("name", name) != name:
            raise InvalidRequest(f"name: is {body['name']!r} but the path names route {name!r}.", param="name")
        spec: RouteSpec = entry("routes", body)
        existed: list[bool] = []

        def edit(overlay: Overlay, current: Catalog) -> Edit:
            existed[:] = [current.route(name) is not None]
            not_a_model(current, name)
            return Edit(overlay.put_route(spec), "route.updated" if existed[0] else "route.created", {"name": name})

        applied = await self.live.change(edit)
        return self._answer(applied.catalog, name, 200 if existed[0] else 201)


def not_a_model(catalog: Catalog, name: str) -> None:
    if catalog.versions(name):
        raise Conflict(f"'{name}' is already a model id; a route needs a name of its own.", code="name_taken",
                       param="name")  # fmt: skip
