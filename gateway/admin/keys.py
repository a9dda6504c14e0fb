"""Admin endpoints for client keys at run time.

``POST /admin/keys`` takes a key entry as in the YAML minus ``sha256`` (``name`` plus whatever
settings ``KeySpec`` holds), generates a random ``sk-grove-...`` key, stores only its SHA-256,
and returns the key in that one response. Listing shows names and settings, never a hash.
Deleting the last key is refused: with no keys the gateway would accept anyone.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.admin import docs_catalog as docs
from gateway.admin.common import Guard, dump, entry, origin, read_object, respond, served
from gateway.catalog import Catalog, KeySpec
from gateway.errors import Conflict, InvalidRequest, NotFound
from gateway.livecatalog import Edit, LiveCatalog
from gateway.openapi import ApiRoute
from gateway.overlay import Overlay

KEY_PREFIX = "sk-grove-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def routes(guard: Guard, live: LiveCatalog) -> list[ApiRoute]:
    api = KeysAdmin(live)
    return [
        ApiRoute("/admin/keys", guard(api.list), methods={"GET": docs.LIST_KEYS}),
        ApiRoute("/admin/keys", guard(api.create), methods={"POST": docs.CREATE_KEY}),
        ApiRoute("/admin/keys/{name}", guard(api.delete), methods={"DELETE": docs.DELETE_KEY}),
    ]


def _named(catalog: Catalog, name: str) -> KeySpec | None:
    return next((k for k in catalog.keys if k.name == name), None)


class KeysAdmin:
    def __init__(self, live: LiveCatalog) -> None:
        self.live = live

    def _settings(self, spec: KeySpec) -> dict[str, Any]:
        # The hash is left out: it is no secret, but nothing here needs it.
        return {k: v for k, v in dump(spec).items() if k != "sha256"}

    async def list(self, request: Request) -> Response:
        catalog = self.live.registry.snapshot.catalog
        data = [
            {"object": "key", **self._settings(k), "origin": origin(_named(self.live.files, k.name), k)}
            for k in catalog.keys
        ]
        return respond({"object": "list", "data": data, **served(catalog)})

    async def create(self, request: Request) -> Response:
        body = await read_object(request)
        if "sha256" in body:
            raise InvalidRequest("sha256: the gateway generates the key and its hash; leave it out.", param="sha256")
        key = new_key()
        spec: KeySpec = entry("keys", {**body, "sha256": hashlib.sha256(key.encode()).hexdigest()})

        def edit(overlay: Overlay, current: Catalog) -> Edit:
            if _named(current, spec.name) is not None:
                raise Conflict(f"Key '{spec.name}' already exists; delete it first to replace it.",
                               code="key_exists", param="name")  # fmt: skip
            return Edit(overlay.put_key(spec), "key.created", {"name": spec.name})

        applied = await self.live.change(edit)
        body = {"object": "key", **self._settings(spec), "key": key, **served(applied.catalog)}
        return respond(body, 201)

    async def delete(self, request: Request) -> Response:
        name = request.path_params["name"]

        def edit(overlay: Overlay, current: Catalog) -> Edit:
            if _named(current, name) is None:
                raise NotFound(f"There is no key '{name}'.", code="key_not_found")
            if len(current.keys) == 1:
                raise Conflict(f"'{name}' is the last key: without keys the gateway accepts any client. Create "
                               "another key first.", code="last_key")  # fmt: skip
            return Edit(overlay.drop_key(name), "key.deleted", {"name": name})

        applied = await self.live.change(edit)
        return respond({"object": "key", "name": name, "deleted": True, **served(applied.catalog)})
