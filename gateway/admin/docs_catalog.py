"""OpenAPI operations of the runtime-change admin API: models, routes, keys and the config
(``admin/models.py``, ``routes.py``, ``keys.py``, ``config.py`` serve them).

Entries are documented with the catalog's own specs (``ModelSpec``, ``RouteSpec``,
``KeySpec``), so the API and the config files cannot drift apart. The reply models below add
what the handlers add to an entry (``object``, ``origin``, ``registry_version``); they only
document, the specs validate. ``Lifecycle`` also validates the body of deprecate and retire.
tests/test_openapi.py checks live responses against these schemas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.catalog import KeySpec, ModelSpec, RouteSpec
from gateway.openapi import Operation, Param

TAGS = ("admin",)
# Every change goes through LiveCatalog.change: 400 when the result does not validate (the body
# then also lists every problem under "errors"), 503 when the shared store is unreachable.
CHANGE = (400, 413, 503)
Origin = Literal["file", "runtime"]


def _origin() -> Any:
    return Field(description="'file' when the config files hold exactly this entry, else 'runtime' (admin API)")


def _serving() -> Any:
    return Field(description="the catalog version now serving")



def _edit_schema(*, drop: tuple[str, ...] = (), optional: tuple[str, ...] = (),
                 base: Callable[[dict[str, Any]], None] | None = None) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` that leaves fields out of a spec's schema (or makes them optional)."""

    def edit(schema: dict[str, Any]) -> None:
        if base is not None:
            base(schema)
        for name in drop:
            schema["properties"].pop(name, None)
        schema["required"] = [r for r in schema.get("required", []) if r not in (*drop, *optional)]

    return edit


# --- models ------------------------------------------------------------------------------------


class ModelVersion(ModelSpec):
    """One version of a model, as in the config, and where it came from."""

    origin: Origin = _origin()


class ModelView(BaseModel):
    object: Literal["model"]
    id: str
    default_version: str = Field(description="the version a client gets for the id (newest active)")
    status: Literal["active", "deprecated", "retired"] = Field(description="the default version's")
    versions: list[ModelVersion]


class ModelReply(ModelView):
    registry_version: str = _serving()


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelView]
    registry_version: str = _serving()


class ModelDeleted(BaseModel):
    object: Literal["model"]
    id: str
    deleted: Literal[True]
    versions: list[str] = Field(description="the versions removed")
    registry_version: str = _serving()


class Lifecycle(BaseModel):
    """Optional body of deprecate and retire; it also validates the request."""

    model_config = ConfigDict(extra="forbid")
    successor: str | None = Field(None, description="what to move to; kept when not given")
    version: str | None = Field(None, description="only this version; default every version")


_MODEL_FIELDS = sorted(ModelSpec.model_fields)
_VERSION_NAME = {k: v for k, v in ModelSpec.model_json_schema()["properties"]["version"].items()
                 if k not in ("title", "default")}
MODEL_PATCH = {
    "type": "object", "minProperties": 1, "propertyNames": {"enum": _MODEL_FIELDS},
    "description": "A JSON merge patch (RFC 7396) of a model entry (see ModelSpec): objects merge key by key, "
                   "null resets a field to its default. 'id' and 'version' cannot change.",
}  # fmt: skip
NEW_VERSION = {
    "type": "object", "required": ["version"], "propertyNames": {"enum": _MODEL_FIELDS},
    "properties": {"version": {**_VERSION_NAME, "description": "the new version's name"},
                   "id": {"type": "string", "description": "if given, the model's id"}},
    "description": "A JSON merge patch (RFC 7396) over the version a client gets for the id (see ModelSpec); "
                   "the new version is active unless 'status' says otherwise.",
}  # fmt: skip
MODEL_VERSION = Param("version", "Patch this version; default the one a client gets for the id.")

LIST_MODELS = Operation("Models", "Every model with all its versions.", reply=ModelList, tags=TAGS)
GET_MODEL = Operation("One model", "All its versions.", reply=ModelReply, errors=(404,), tags=TAGS)
REGISTER_MODEL = Operation(
    "Register a model", "A model entry as in the config files. 409 when the id is a model or a route already.",
    body=ModelSpec, reply=ModelReply, status=201, errors=(*CHANGE, 409), tags=TAGS)
UPDATE_MODEL = Operation(
    "Change a model version", "A JSON merge patch of one version: the default one, or ?version=.",
    params=(MODEL_VERSION,), body=MODEL_PATCH, reply=ModelReply, errors=(*CHANGE, 404), tags=TAGS)
DEPRECATE_MODEL = Operation(
    "Deprecate a model",
    "Every version not retired (or `version`) becomes deprecated; `successor` is set when given. "
    "409 when `version` is retired.",
    body=Lifecycle, body_required=False, reply=ModelReply, errors=(*CHANGE, 404, 409), tags=TAGS)
RETIRE_MODEL = Operation(
    "Retire a model", "Every version (or `version`) becomes retired; `successor` is set when given.",
    body=Lifecycle, body_required=False, reply=ModelReply, errors=(*CHANGE, 404), tags=TAGS)
ADD_VERSION = Operation(
    "Add a model version", "A copy of the default version with the body applied. 409 when the version exists.",
    body=NEW_VERSION, reply=ModelReply, status=201, errors=(*CHANGE, 404, 409), tags=TAGS)
DELETE_MODEL = Operation(
    "Delete a model", "Every version. 409 while a route, a key or another model's successor names it.",
    reply=ModelDeleted, errors=(400, 404, 409, 503), tags=TAGS)


# --- routes ------------------------------------------------------------------------------------


class RouteBody(RouteSpec):
    """A route entry as in the config files; ``name`` may be left out (the path names the route)."""

    model_config = ConfigDict(json_schema_extra=_edit_schema(optional=("name",),
                                                             base=RouteSpec.model_config["json_schema_extra"]))


class RouteView(RouteSpec):
    """A route as in the config (without the fields its strategy does not use)."""

    object: Literal["route"]
    origin: Origin = _origin()


class RouteReply(RouteView):
    registry_version: str = _serving()


class RouteList(BaseModel):
    object: Literal["list"]
    data: list[RouteView]
    registry_version: str = _serving()


LIST_ROUTES = Operation("Routes", reply=RouteList, tags=TAGS)
GET_ROUTE = Operation("One route", reply=RouteReply, errors=(404,), tags=TAGS)
CREATE_ROUTE = Operation(
    "Create a route", "A route entry as in the config files. 409 when the name is a route or a model already.",
    body=RouteSpec, reply=RouteReply, status=201, errors=(*CHANGE, 409), tags=TAGS)
PUT_ROUTE = Operation(
    "Create or replace a route", "The whole route: 201 when it is new, 200 when it replaced one. 409 when the "
    "name is a model id.", body=RouteBody, reply=RouteReply, more_replies={201: RouteReply},
    errors=(*CHANGE, 409), tags=TAGS)


# --- keys --------------------------------------------------------------------------------------


class NewKeyBody(KeySpec):
    """A key entry as in the config files without ``sha256``: the gateway makes the key."""

    model_config = ConfigDict(json_schema_extra=_edit_schema(drop=("sha256",)))


class KeyView(NewKeyBody):
    """A key's settings (never its hash)."""

    object: Literal["key"]
    origin: Origin = _origin()


class KeyList(BaseModel):
    object: Literal["list"]
    data: list[KeyView]
    registry_version: str = _serving()


class KeyCreated(NewKeyBody):
    object: Literal["key"]
    key: str = Field(pattern=r"^sk-grove-", description="the new client key, shown in this response only")
    registry_version: str = _serving()


class KeyDeleted(BaseModel):
    object: Literal["key"]
    name: str
    deleted: Literal[True]
    registry_version: str = _serving()


LIST_KEYS = Operation("Client keys", "Names and settings; never a key or its hash.", reply=KeyList, tags=TAGS)
CREATE_KEY = Operation(
    "Create a client key", "Generates the key, stores only its SHA-256 and returns the key once. 409 when the "
    "name is taken.", body=NewKeyBody, reply=KeyCreated, status=201, errors=(*CHANGE, 409), tags=TAGS)
DELETE_KEY = Operation(
    "Delete a client key", "409 for the last key: without keys the gateway accepts any client.",
    reply=KeyDeleted, errors=(400, 404, 409, 503), tags=TAGS)


# --- the config --------------------------------------------------------------------------------


class ConfigIssue(BaseModel):
    file: str
    line: int | None
    path: str = Field(description="the key path in the file, e.g. models[2].prices")
    message: str


class ConfigValidation(BaseModel):
    valid: bool
    errors: list[ConfigIssue]
    warnings: list[str]
    registry_version: str | None = Field(description="the version these files would serve; null when invalid")


class ConfigApplied(BaseModel):
    registry_version: str = _serving()
    previous_version: str
    changed: bool


CONFIG_YAML = {"type": "object", "description": "YAML: the config files with every runtime change applied, one "
               "section a key (providers, models, routes, keys, components).",
               "properties": {name: {"type": ["array", "object"]} for name in
                              ("providers", "models", "routes", "keys", "components")}}
CONFIG_FILES = {
    "type": "object", "minProperties": 1, "additionalProperties": {"type": "string"},
    "propertyNames": {"pattern": r"^[^./\\][^/\\]*\.ya?ml$"},
    "description": "File name (e.g. models.yaml) to the YAML text of that file.",
}  # fmt: skip
YAML_FILE = {"type": "string", "description": "The YAML text of one file, named by ?file= (any content type "
                                              "but application/json is read this way)."}

GET_CONFIG = Operation(
    "The effective config", "The config files plus every runtime change, as one YAML file that loads back "
    "into the same version. Client keys appear only as SHA-256 hashes.",
    reply=CONFIG_YAML, media="application/yaml", tags=TAGS)
VALIDATE_CONFIG = Operation(
    "Check config files", "Would these files load, in place of their namesakes and with the runtime changes "
    "on top? Nothing is applied; the answer is 200 either way.",
    params=(Param("file", "The file name of a YAML body, e.g. models.yaml."),),
    body=CONFIG_FILES, more_body={"application/yaml": YAML_FILE}, reply=ConfigValidation, errors=(400, 413), tags=TAGS)
RELOAD_CONFIG = Operation(
    "Reload the config files", "400 listing the errors (under `errors`) while the previous config keeps serving.",
    reply=ConfigApplied, errors=(400,), tags=TAGS)
RESET_CHANGES = Operation("Drop the runtime changes", "The config files alone serve, on every replica.",
                          reply=ConfigApplied, errors=(400, 503), tags=TAGS)
