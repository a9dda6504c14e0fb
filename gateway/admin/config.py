"""Admin endpoints for the config as a whole.

- ``GET /admin/config``: the effective config (files + runtime changes) as one YAML file that
  loads back into the same catalog version: commit it into ``config/``, then drop the runtime
  changes with ``DELETE /admin/config/changes``.
- ``POST /admin/config/validate``: would these files load? The body is the YAML text of one
  file, named by ``?file=models.yaml``, or a JSON object ``{file name: YAML text}``. Each file
  replaces its namesake in the config directory (or joins it), and the result is checked with
  the runtime changes on top, as a reload would; nothing is applied. The answer is always 200:
  ``{"valid", "errors": [{file, line, path, message}], "warnings", "registry_version"}``.
- ``POST /admin/config/reload``: reload the files now; 200 with the version, or 400 listing the
  errors while the previous config keeps serving.
- ``DELETE /admin/config/changes``: forget every runtime change; the files alone serve.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from gateway import jsonio
from gateway.admin import docs_catalog as docs
from gateway.admin.common import Guard, read_body, respond
from gateway.catalog import SECTIONS, ConfigError
from gateway.errors import InvalidRequest
from gateway.livecatalog import Applied, LiveCatalog, invalid, issue_dicts
from gateway.openapi import ApiRoute
from gateway.yamlload import dump_yaml

YAML = "application/yaml"
_FILE_NAME = re.compile(r"^[^./\\][^/\\]*\.ya?ml$")
_HEADER = """\
# Grove Gateway: the effective config, registry version {version}.
# The config files with every runtime change (admin API) applied. It loads back into the same
# version: save it as the only file in the config directory, then drop the runtime changes
# (DELETE /admin/config/changes). Client keys appear only as SHA-256 hashes.
"""


def routes(guard: Guard, live: LiveCatalog) -> list[ApiRoute]:
    api = ConfigAdmin(live)
    return [
        ApiRoute("/admin/config", guard(api.get), methods={"GET": docs.GET_CONFIG}),
        ApiRoute("/admin/config/validate", guard(api.validate), methods={"POST": docs.VALIDATE_CONFIG}),
        ApiRoute("/admin/config/reload", guard(api.reload), methods={"POST": docs.RELOAD_CONFIG}),
        ApiRoute("/admin/config/changes", guard(api.reset), methods={"DELETE": docs.RESET_CHANGES}),
    ]


def _applied(applied: Applied) -> Response:
    return respond({"registry_version": applied.catalog.version, "previous_version": applied.previous_version,
                    "changed": applied.changed})  # fmt: skip


class ConfigAdmin:
    def __init__(self, live: LiveCatalog) -> None:
        self.live = live

    async def get(self, request: Request) -> Response:
        catalog = self.live.registry.snapshot.catalog
        content = catalog.to_dict()
        sections = {name: content[name] for name in (*SECTIONS, "components")}
        text = _HEADER.format(version=catalog.version) + dump_yaml(sections)
        return Response(text.encode(), media_type=YAML)

    async def validate(self, request: Request) -> Response:
        texts = _files(request, await read_body(request))
        try:
            catalog = await self.live.check(texts)
        except ConfigError as exc:
            return respond({"valid": False, "errors": issue_dicts(exc), "warnings": [], "registry_version": None})
        return respond({"valid": True, "errors": [], "warnings": list(catalog.warnings),
                        "registry_version": catalog.version})  # fmt: skip

    async def reload(self, request: Request) -> Response:
        try:
            applied = await self.live.reload(source="admin")
        except ConfigError as exc:
            raise invalid(exc) from None
        return _applied(applied)

    async def reset(self, request: Request) -> Response:
        return _applied(await self.live.reset())


def _files(request: Request, raw: bytes) -> dict[str, str]:
    """The submitted files, ``{name: YAML text}``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The body must be UTF-8 text.") from None
    if request.headers.get("content-type", "").split(";")[0].strip() == "application/json":
        try:
            files = jsonio.loads(raw)
        except jsonio.JSONDecodeError:
            raise InvalidRequest("The body must be a JSON object of file name to YAML text.",
                                 code="invalid_json") from None  # fmt: skip
        if not isinstance(files, dict) or not files or not all(isinstance(v, str) for v in files.values()):
            raise InvalidRequest("The body must be a JSON object of file name to YAML text, with at least one file.")
    else:
        name = request.query_params.get("file")
        if not name:
            raise InvalidRequest("Name the file this YAML is, e.g. ?file=models.yaml (or send a JSON object of "
                                 "file name to YAML text).", param="file")  # fmt: skip
        files = {name: text}
    for name in files:
        if not _FILE_NAME.match(name):
            raise InvalidRequest(f"{name!r} is not a config file name like models.yaml.", param="file")
    return files
