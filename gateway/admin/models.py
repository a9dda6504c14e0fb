"""Admin endpoints for models at run time: list, show, register, update, deprecate, retire, add a
version, delete. Every change goes through ``LiveCatalog.change``: validated as a config file
would be, stored, published to every replica, announced as an event.

- ``PATCH /admin/models/{id}`` is a JSON merge patch (RFC 7396) of one version: the one a client
  gets for ``id`` (newest active), or ``?version=``. ``id`` and ``version`` cannot change.
- ``deprecate`` marks every version that is not retired (or ``version``) deprecated, ``retire``
  every version (or ``version``) retired; ``successor`` is set when given, else kept.
- ``POST .../versions`` copies the version a client gets for ``id``, applies the body (which
  must give ``version``) and makes it active unless the body says otherwise.
- ``DELETE`` removes every version, and is refused (409) while a route, a key or another
  model's ``successor`` still names the model.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.admin import docs_catalog as docs
from gateway.admin.common import Guard, dump, entry, merge_patch, origin, parse, read_object, respond, served
from gateway.catalog import Catalog, ModelSpec, split_ref
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.livecatalog import Edit, LiveCatalog
from gateway.openapi import ApiRoute
from gateway.overlay import Overlay

_RANK = {"active": 0, "deprecated": 1, "retired": 2}


def routes(guard: Guard, live: LiveCatalog) -> list[ApiRoute]:
    api = ModelsAdmin(live)
    path = "/admin/models/{model_id:path}"
    # The suffixed routes come first: a model id may itself contain '/'.
    return [
        ApiRoute("/admin/models", guard(api.list), methods={"GET": docs.LIST_MODELS}),
        ApiRoute("/admin/models", guard(api.register), methods={"POST": docs.REGISTER_MODEL}),
        ApiRoute(f"{path}/deprecate", guard(api.deprecate), methods={"POST": docs.DEPRECATE_MODEL}),
        ApiRoute(f"{path}/retire", guard(api.retire), methods={"POST": docs.RETIRE_MODEL}),
        ApiRoute(f"{path}/versions", guard(api.add_version), methods={"POST": docs.ADD_VERSION}),
        ApiRoute(path, guard(api.get), methods={"GET": docs.GET_MODEL}),
        ApiRoute(path, guard(api.update), methods={"PATCH": docs.UPDATE_MODEL}),
        ApiRoute(path, guard(api.delete), methods={"DELETE": docs.DELETE_MODEL}),
    ]


def model_view(catalog: Catalog, files: Catalog, model_id: str) -> dict[str, Any]:
    default = catalog.model(model_id)
    assert default is not None
    versions = [
        {**dump(spec), "origin": origin(files.model(spec.id, spec.version), spec)} for spec in catalog.versions(model_id)
    ]
    return {"object": "model", "id": model_id, "default_version": default.version, "status": default.status,
            "versions": versions}  # fmt: skip


def _versions(catalog: Catalog, model_id: str, version: str | None = None) -> tuple[ModelSpec, ...]:
    """Every version of ``model_id`` (or just ``version``); 404 when there is none."""
    versions = catalog.versions(model_id)
    if not versions:
        raise NotFound(f"There is no model '{model_id}'.", code="model_not_found")
    if version is None:
        return versions
    chosen = catalog.model(model_id, version)
    if chosen is None:
        have = ", ".join(v.version for v in versions)
        raise NotFound(f"Model '{model_id}' has no version '{version}' (versions: {have}).",
                       code="version_not_found", param="version")  # fmt: skip
    return (chosen,)


def _users(catalog: Catalog, model_id: str) -> list[str]:
    """Who names ``model_id`` (by id or ``id@version``)."""
    def names(refs: tuple[str, ...]) -> bool:
        return any(split_ref(ref)[0] == model_id for ref in refs)

    found = [f"route '{r.name}'" for r in catalog.routes
             if names(r.models) or any(names(v.models) for v in r.variants)]  # fmt: skip
    found += [f"model '{m.id}@{m.version}' (successor)" for m in catalog.models
              if m.id != model_id and m.successor and split_ref(m.successor)[0] == model_id]  # fmt: skip
    found += [f"key '{k.name}' (allowed_models)" for k in catalog.keys if names(k.allowed_models)]
    return found


class ModelsAdmin:
    def __init__(self, live: LiveCatalog) -> None:
        self.live = live

    def _answer(self, catalog: Catalog, model_id: str, status: int = 200) -> Response:
        return respond({**model_view(catalog, self.live.files, model_id), **served(catalog)}, status)

    async def list(self, request: Request) -> Response:
        catalog = self.live.registry.snapshot.catalog
        ids = dict.fromkeys(m.id for m in catalog.models)
        data = [model_view(catalog, self.live.files, model_id) for model_id in ids]
        return respond({"object": "list", "data": data, **served(catalog)})

    async def get(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        catalog = self.live.registry.snapshot.catalog
        _versions(catalog, model_id)
        return self._answer(catalog, model_id)

    async def register(self, request: Request) -> Response:
        spec: ModelSpec = entry("models", await read_object(request))

        def edit(overlay: Overlay, current: Catalog) -> Edit:
            if current.versions(spec.id):
                raise Conflict(f"Model '{spec.id}' already exists: add a version with POST /admin/models/{spec.id}"
                               "/versions, or change it with PATCH.", code="model_exists", param="id")
            if current.route(spec.id) is not None:
                raise Conflict(f"'{spec.id}' is already a route name.", code="name_taken", param="id")
            return Edit(overlay.put_model(spec), "model.registered", {"id": spec.id, "version": spec.version})

        applied = await self.live.change(edit)
        return self._answer(applied.catalog, spec.id, 201)

    async def update(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        patch = await read_object(request)
        if not patch:
            raise InvalidRequest("Give the fields to change, e.g. {\"prices\": {\"input_per_mtok\": 1.5}}.")

        def edit(overlay: Overlay, current: Catalog) -> Edit:
            wanted = request.query_params.get("version")
            target = _versions(current, model_id, wanted)[0] if wanted else current.model(model_id)
            if target is None:
                raise NotFound(f"There is no model '{model_id}'.", code="model_not_found")
            for fixed, how in (("id", "register a new model"), ("version", f"POST /admin/models/{model_id}/versions")):
                if fixed in patch and patch[fixed] != getattr(target, fixed):
                    raise InvalidRequest(f"{fixed}: cannot be changed; {how} instead.", param=fixed)
            spec: ModelSpec = entry("models", merge_patch(dump(target), patch))
            data = {"id": model_id, "version": spec.version, "fields": sorted(patch)}
            return Edit(overlay.put_model(spec), "model.updated", data)

        applied = await self.live.change(edit)
        return self._answer(applied.catalog, model_id)

    async def deprecate(self, request: Request) -> Response:
        return await self._lifecycle(request, "deprecated", "model.deprecated")

    async def retire(self, request: Request) -> Response:
        return await self._lifecycle(request, "retired", "model.retired")

    async def _lifecycle(self, request: Request, status: str, event: str) -> Response:
        model_id = request.path_params["model_id"]
        body = parse(docs.Lifecycle, await read_object(request, optional=True))

        def edit(overlay: Overlay, current: Catalog) -> Edit:
            chosen = _versions(current, model_id, body.version)
            targets = [v for v in chosen if _RANK[v.status] <= _RANK[status]]
            if body.version is not None and not targets:
                raise Conflict(f"Model '{model_id}' version '{body.version}' is retired; PATCH its status to bring "
                               "it back first.", code="model_retired", param="version")
            for spec in targets:
                changes: dict[str, Any] = {"status": status}
                if body.successor is not None:
                    changes["successor"] = body.successor
                overlay = overlay.put_model(entry("models", {**dump(spec), **changes}))
            data = {"id": model_id, "versions": [v.version for v in targets], "successor": body.successor}
            return Edit(overlay, event, data)

        applied = await self.live.change(edit)
        return self._answer(applied.catalog, model_id)

    async def add_version(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        body = await read_object(request)
        if "version" not in body:
            raise InvalidRequest("version: is required (the new version's name).", param="version")
        if body.get("id", model_id) != model_id:
            raise InvalidRequest("id: a new version keeps the model's id.", param="id")

        def edit(overlay: Overlay, current: Catalog) -> Edit:
            base = current.model(model_id)
            if base is None:
                raise NotFound(f"There is no model '{model_id}'.", code="model_not_found")
            spec: ModelSpec = entry("models", merge_patch(dump(base), {"status": "active", "successor": None, **body}))
            if current.model(model_id, spec.version) is not None:
                raise Conflict(f"Model '{model_id}' already has version '{spec.version}'; change it with PATCH "
                               f"/admin/models/{model_id}?version={spec.version}.", code="version_exists",
                               param="version")  # fmt: skip
            return Edit(overlay.put_model(spec), "model.version_added", {"id": model_id, "version": spec.version})

        applied = await self.live.change(edit)
        return self._answer(applied.catalog, model_id, 201)

    async def delete(self, request: Request) -> Response:
        model_id = request.path_params["model_id"]
        removed: list[str] = []

        def edit(overlay: Overlay, current: Catalog) -> Edit:
            versions = _versions(current, model_id)
            users = _users(current, model_id)
            if users:
                raise Conflict(f"Model '{model_id}' is still named by {', '.join(users)}; change those first.",
                               code="model_in_use")
            removed[:] = [v.version for v in versions]
            return Edit(overlay.drop_model(model_id), "model.deleted", {"id": model_id, "versions": list(removed)})

        applied = await self.live.change(edit)
        body = {"object": "model", "id": model_id, "deleted": True, "versions": removed, **served(applied.catalog)}
        return respond(body)
