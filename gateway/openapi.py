"""The OpenAPI 3.1 document of the gateway's HTTP API, built from the app's own route table.

Each route documents itself where it is declared: an ``ApiRoute`` is a Starlette ``Route``
whose methods are given as ``{method: Operation}``, so a method cannot be served without
being documented, nor documented without being served. ``build_document(routes)`` walks the
routes; a plain ``Route`` is left out, and the test that compares the document with the
app's routes fails on it. Security is implied by the path, as the code enforces it:
``/admin/...`` takes the admin key (``AdminAPI._guard``), ``/v1/...`` a client key.

Request and response bodies are pydantic models (the same ones that validate, where there
are any) or plain JSON Schema dicts; every error has the one OpenAI-shaped error body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from starlette.routing import BaseRoute, Route

Schema = type[BaseModel] | Mapping[str, Any]
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")
REF = "#/components/schemas/{model}"

ERROR_REASONS = {
    400: "The request is invalid.", 401: "No key, or not a key the gateway knows.",
    403: "The key is not allowed to do this.", 404: "Not found.", 405: "Method not allowed.",
    410: "The model is retired.", 413: "The body is too large.", 415: "Unsupported media type.",
    429: "Rate limited.", 502: "The upstream failed.", 503: "No deployment could answer.",
    504: "The upstream timed out.",
}

# Response headers: name → description. Operations list the ones they send.
HEADERS: dict[str, str] = {
    "x-grove-request-id": "The gateway's id of this request.",
    "x-grove-decision-id": "The routing decision's id: GET /admin/decisions/{decision_id}.",
    "x-grove-route": "The route used, or the model the client asked for.",
    "x-grove-model": "The deployment that served, 'id@version'.",
    "x-grove-attempts": "How many deployments were tried or skipped.",
    "x-grove-variant": "The variant chosen by a weighted route.",
    "x-grove-deprecation": "Present when the model that served is deprecated: what to move to.",
    "x-grove-cost-usd": "The request's cost in US dollars (non-stream responses).",
    "x-grove-trace-id": "The OpenTelemetry trace id of this request.",
    "x-grove-replica": "The gateway process (replica) that answers: events carry the same id.",
    "traceparent": "W3C trace context of the gateway's server span.",
    "retry-after": "Seconds to wait before trying again (429, 503).",
}

ERROR_BODY: dict[str, Any] = {
    "type": "object",
    "description": "OpenAI's error shape: the SDKs raise their usual exception classes on it.",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {
            "message": {"type": "string"},
            "type": {"type": "string", "examples": ["invalid_request_error", "authentication_error"]},
            "param": {"type": ["string", "null"]},
            "code": {"type": ["string", "null"]},
        },
    }},
}


@dataclass(frozen=True)
class Param:
    name: str
    description: str
    location: Literal["query", "header", "path"] = "query"
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class Operation:
    """One method of one path, as the OpenAPI document tells it."""

    summary: str
    description: str = ""
    params: Sequence[Param] = ()
    body: Schema | None = None  # a JSON request body
    body_required: bool = True
    more_body: Mapping[str, Schema] = field(default_factory=dict)  # other media types of the request body
    reply: Schema | None = None  # the success body; None: no documented body
    status: int = 200
    media: str = "application/json"
    more_media: Mapping[str, Schema] = field(default_factory=dict)  # other media types of the success body
    more_replies: Mapping[int, Schema] = field(default_factory=dict)  # other statuses, their own JSON body
    errors: Sequence[int] = ()  # statuses answered with the error body (auth ones are added)
    error_body: Schema | None = None  # that error body, when it is not OpenAI's (``Error``)
    headers: Sequence[str] = ()  # names from HEADERS, on every response of this operation
    tags: Sequence[str] = ()


class ApiRoute(Route):
    """A Starlette route that carries its documentation: ``methods={"GET": Operation(...)}``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *, methods: Mapping[str, Operation],
                 name: str | None = None) -> None:
        super().__init__(path, endpoint, methods=list(methods), name=name)
        self.operations = {method.upper(): op for method, op in methods.items()}


def template(path: str) -> str:
    """A Starlette path as an OpenAPI path: ``/v1/models/{model_id:path}`` → ``/v1/models/{model_id}``."""
    return _PARAM.sub(r"{\1}", path)


# The console's sign-in pages; every other console file needs the session cookie.
_CONSOLE_OPEN = ("/console/login", "/console/session", "/console/logout")
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "admin": [{"adminKey": []}, {"consoleSession": []}],  # either one (AdminAPI._authorize)
    "client": [{"clientKey": []}],
    "console": [{"consoleSession": []}],
    "none": [],
}


def security_of(path: str) -> Literal["admin", "client", "console", "none"]:
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/v1/"):
        return "client"
    if path.startswith("/console/") and path not in _CONSOLE_OPEN:
        return "console"
    return "none"


def build_document(routes: Iterable[BaseRoute], version: str | None = None) -> dict[str, Any]:
    ops = [(route.path, method, op) for route in routes if isinstance(route, ApiRoute)
           for method, op in route.operations.items()]
    models = _models(op for _, _, op in ops)
    refs, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF,
                                    schema_generator=_Names) if models else ({}, {})
    ref_of = {model: refs[(model, "validation")] for model in models}
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in ops:
        paths.setdefault(template(path), {})[method.lower()] = _operation(path, method, op, ref_of)
    schemas = {name: _untitled(schema) for name, schema in defs.get("$defs", {}).items()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Grove Gateway",
            "version": version or _version(),
            "description": "An OpenAI-compatible LLM gateway: chat completions and models for "
                           "clients, health and metrics for operators, and an admin API.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_BODY, **schemas},
            "headers": {name: {"description": text, "schema": {"type": "string"}} for name, text in HEADERS.items()},
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer",
                             "description": "The admin key (GROVE_ADMIN_KEY). Client keys never pass. "
                                            "With no admin key configured the admin API refuses everything."},
                "consoleSession": {"type": "apiKey", "in": "cookie", "name": "grove_console",
                                   "description": "The web console's session (POST /console/session with "
                                                  "the admin key). On the admin API, any method but GET "
                                                  "and HEAD also needs the header 'x-grove-console: 1'."},
                "clientKey": {"type": "http", "scheme": "bearer",
                              "description": "A client key from the config's 'keys'. A gateway with no "
                                             "keys configured accepts requests without one."},
            },
        },
    }


def _operation(path: str, method: str, op: Operation, ref_of: Mapping[type[BaseModel], Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(method, path)}
    if op.description:
        out["description"] = op.description
    if op.tags:
        out["tags"] = list(op.tags)
    declared = {(p.location, p.name) for p in op.params}
    params = [_param(Param(name, f"The {name.replace('_', ' ')}.", "path", required=True))
              for name in _PARAM.findall(path) if ("path", name) not in declared]
    params += [_param(p) for p in op.params]
    if params:
        out["parameters"] = params
    if op.body is not None:
        content = {"application/json": {"schema": _schema(op.body, ref_of)}}
        content.update({media: {"schema": _schema(s, ref_of)} for media, s in op.more_body.items()})
        out["requestBody"] = {"required": op.body_required, "content": content}
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in op.headers}
    ok: dict[str, Any] = {"description": op.summary}
    if op.reply is not None:
        ok["content"] = {op.media: {"schema": _schema(op.reply, ref_of)}}
        ok["content"].update({media: {"schema": _schema(s, ref_of)} for media, s in op.more_media.items()})
    if headers:
        ok["headers"] = headers
    responses: dict[str, Any] = {str(op.status): ok}
    for status, schema in op.more_replies.items():
        responses[str(status)] = {"description": ERROR_REASONS.get(status, op.summary),
                                  "content": {"application/json": {"schema": _schema(schema, ref_of)}}}
    security = security_of(path)
    statuses = set(op.errors) | {"admin": {401, 403, 429}, "client": {401, 403}, "console": {401}}.get(security, set())
    error_schema = {"$ref": "#/components/schemas/Error"} if op.error_body is None else _schema(op.error_body, ref_of)
    for status in sorted(statuses):
        error: dict[str, Any] = {"description": ERROR_REASONS.get(status, "An error."),
                                 "content": {"application/json": {"schema": error_schema}}}
        if headers:
            error["headers"] = headers
        responses[str(status)] = error
    out["responses"] = responses
    out["security"] = SECURITY[security]
    return out


def _param(p: Param) -> dict[str, Any]:
    return {"name": p.name, "in": p.location, "description": p.description,
            "required": p.required or p.location == "path", "schema": dict(p.schema)}


def _schema(schema: Schema, ref_of: Mapping[type[BaseModel], Any]) -> Any:
    if isinstance(schema, type):
        return ref_of[schema]
    return dict(schema)


def _models(ops: Iterable[Operation]) -> list[type[BaseModel]]:
    found: dict[type[BaseModel], None] = {}
    for op in ops:
        for schema in (op.body, op.reply, *op.more_body.values(), *op.more_media.values(),
                       *op.more_replies.values()):
            if isinstance(schema, type):
                found[schema] = None
    return list(found)


def _operation_id(method: str, path: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", template(path))
    return method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def _untitled(schema: Any) -> Any:
    """Drop pydantic's generated titles (``_ChatBody``, ``Max Tokens``): names say it already."""
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema


class _Names(GenerateJsonSchema):
    """Component names without the leading underscore of private model classes."""

    def normalize_name(self, name: str) -> str:
        return super().normalize_name(name).lstrip("_")


def _version() -> str:
    try:
        return metadata.version("grove-gateway")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout, not installed
        return "0.0.0"
