"""OpenAPI operations of the web console's routes (``gateway/admin/console.py`` serves them).

The console is HTML for browsers; the document lists its routes so that every route the app
serves is documented. Security: the sign-in form takes the admin key and sets the session
cookie ``grove_console``; the pages and the admin API then take that cookie (the admin API
needs ``x-grove-console: 1`` besides it on every method but GET and HEAD).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.openapi import Operation, Param

_HTML = {"type": "string", "description": "An HTML page."}
_FILE = {"type": "string", "description": "A console file (HTML, CSS, JavaScript, SVG, ...)."}
_COOKIE = ("Needs the session cookie grove_console (from POST /console/session); without it a browser "
           "(Accept: text/html) is sent to /console/login with a 303, anything else gets a 401.")
_TAGS = ("console",)

LOGIN = Operation("Console sign-in page", "Open to all: a form that posts the admin key to /console/session.",
                  reply=_HTML, media="text/html", errors=(404,), tags=_TAGS)
SIGN_IN = Operation(
    "Sign in to the console",
    "An application/x-www-form-urlencoded form with the field 'admin_key'. The admin key: 303 to "
    "/console/ with the cookie grove_console (HttpOnly, SameSite=Strict, Secure over https, 12 h; a "
    "signature, valid on every replica). Another key: 401 with the sign-in page (HTML) and a message. "
    "After 10 failed attempts from one address in a minute: 429 with Retry-After, whatever the key.",
    status=303, errors=(404, 413, 415, 429), tags=_TAGS)
SIGN_OUT = Operation("Sign out of the console", "Clears the cookie; 303 to /console/login.", status=303,
                     errors=(404,), tags=_TAGS)
INDEX = Operation("Console overview page", _COOKIE, reply=_HTML, media="text/html", errors=(401, 404), tags=_TAGS)
FILE = Operation("A console page or asset", _COOKIE + " ETag and Last-Modified let browsers revalidate.",
                 params=(Param("path", "The file, relative to the console folder.", "path"),),
                 reply=_FILE, media="text/html", more_media={"text/css": _FILE, "text/javascript": _FILE},
                 errors=(401, 404), tags=_TAGS)


# --- POST /admin/explain -------------------------------------------------------------------------


class ExplainBody(BaseModel):
    """A sample request to route, and optionally a candidate route to route it with."""

    model_config = ConfigDict(extra="forbid", strict=True)
    request: dict[str, Any] = Field(description="A body as a client would send it to the endpoint (default: "
                                                "chat completions). Its 'model' defaults to the candidate route's "
                                                "name.")
    endpoint: Literal["chat", "responses", "messages", "embeddings", "completions"] = Field(
        "chat", description="The endpoint the sample goes to: it parses the body and decides which "
        "deployments of the chain can serve it ('served_by').")
    headers: dict[str, str] | None = Field(None, description="Routing headers of the sample, e.g. "
                                           "x-grove-component, x-grove-capabilities: reasoning=3.")
    route: dict[str, Any] | None = Field(None, description="A route entry as PUT /admin/routes/{name} takes "
                                         "it, with its 'name': validated and put in (added, or replacing its "
                                         "namesake) for this explanation only; nothing is stored.")


_ERROR = {"type": "object", "required": ["message", "type", "param", "code", "status"], "properties": {
    "message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": ["string", "null"]},
    "code": {"type": ["string", "null"]}, "status": {"type": "integer"}}}
DECISION = {
    "type": "object", "description": "The router's decision with its provenance (as logged in GET "
                                     "/admin/decisions, before any attempt).",
    "required": ["requested", "route", "strategy", "chain", "candidates", "exclusions", "config_version"],
    "properties": {
        "requested": {"type": "string"}, "route": {"type": ["string", "null"]}, "strategy": {"type": "string"},
        "variant": {"type": ["string", "null"]}, "rule": {"type": "string"},
        "component": {"type": ["string", "null"]},
        "chain": {"type": "array", "items": {"type": "string"}, "description": "'id@version' to try, best first"},
        "candidates": {"type": "array", "items": {"type": "object"}},
        "exclusions": {"type": "array", "items": {"type": "object", "properties": {
            "key": {"type": "string"}, "reason": {"type": "string"}, "check": {"type": "string"}}}},
        "needs": {"type": ["object", "null"]}, "needs_source": {"type": ["string", "null"]},
        "weights": {"type": ["object", "null"]}, "features": {"type": "object"},
        "config_version": {"type": "string"}, "deprecation": {"type": ["string", "null"]},
    },
}
EXPLANATION = {
    "type": "object", "required": ["object", "decision", "route_valid"],
    "properties": {
        "object": {"const": "explanation"},
        "endpoint": {"type": "string", "description": "the endpoint the sample was explained for"},
        "decision": {"oneOf": [DECISION, {"type": "null"}], "description": "null when the router refuses"},
        "served_by": {"type": ["array", "null"], "items": {"type": "string"},
                      "description": "the chain as the endpoint would try it: the deployments that can serve "
                                     "this request, in order (null when refused)"},
        "route_valid": {"const": True, "description": "the candidate route (if any) validates"},
        "refusal": {**_ERROR, "description": "what the client would get instead of an answer (unknown model, "
                                             "every deployment excluded, ...) and its HTTP status"},
    },
}
EXPLAIN = Operation(
    "Explain a routing decision",
    "Which deployment a sample request would get, and why, on the live catalog (with a candidate route put "
    "in, when given) and the live breakers; no upstream call, nothing stored. An invalid candidate route: 400 "
    "with every problem under 'errors', as PUT /admin/routes/{name} answers (409 if its name is a model's).",
    body=ExplainBody, reply=EXPLANATION, errors=(400, 409, 413), tags=("admin",))


# --- GET /admin/perf, /admin/perf/series ---------------------------------------------------------

_NUMBER_OR_NULL = {"type": ["number", "null"]}
FIGURES = {
    "type": "object",
    "required": ["requests", "rps", "errors", "error_rate", "fallbacks", "fallback_rate", "p50_ms", "p95_ms",
                 "cost_usd", "cost_usd_per_min"],
    "properties": {
        "requests": {"type": "integer"}, "rps": {"type": "number"},
        "errors": {"type": "integer", "description": "answered 5xx, or 429 after an attempt"},
        "error_rate": {"type": "number"},
        "fallbacks": {"type": "integer", "description": "went on to another deployment than the chain's "
                                                        "first choice (served by it or not)"},
        "fallback_rate": {"type": "number"},
        "p50_ms": {**_NUMBER_OR_NULL, "description": "from a log-spaced histogram; null without requests"},
        "p95_ms": _NUMBER_OR_NULL, "cost_usd": {"type": "number"}, "cost_usd_per_min": {"type": "number"},
    },
}
PERF_SUMMARY = {
    "type": "object", "required": ["object", "window_s", "totals", "models", "routes", "complete"],
    "properties": {
        "object": {"const": "perf.summary"}, "window_s": {"type": "integer"}, "totals": FIGURES,
        "models": {"type": "object", "additionalProperties": FIGURES, "description": "by 'id@version' served"},
        "routes": {"type": "object", "additionalProperties": FIGURES},
        "complete": {"type": "boolean", "description": "false: the store did not answer, this replica's alone"},
    },
}
POINT = {
    "type": "object", "required": ["t", "requests", "errors", "fallbacks", "p50_ms", "p95_ms", "cost_usd"],
    "properties": {"t": {"type": "integer", "description": "unix seconds of the step's start"},
                   "requests": {"type": "integer"}, "errors": {"type": "integer"}, "fallbacks": {"type": "integer"},
                   "p50_ms": _NUMBER_OR_NULL, "p95_ms": _NUMBER_OR_NULL, "cost_usd": {"type": "number"}},
}
PERF_SERIES = {
    "type": "object", "required": ["object", "step_s", "points", "complete"],
    "properties": {"object": {"const": "perf.series"}, "step_s": {"type": "integer"},
                   "points": {"type": "array", "items": POINT, "description": "oldest first, every step"},
                   "complete": {"type": "boolean"}},
}
_WHAT = ("Chat requests that reached the upstream side, from every replica (10-second buckets kept 2 h); "
         "a model is the deployment that served, else the chain's first choice.")
PERF = Operation(
    "Live performance", _WHAT + " Rates are per second and per minute over the window, up to now.",
    params=(Param("window_s", "Seconds back from now (10-3600, a multiple of 10; default 60).",
                  schema={"type": "integer", "minimum": 10, "maximum": 3600, "multipleOf": 10}),),
    reply=PERF_SUMMARY, errors=(400,), tags=("admin",))
PERF_SERIES_OP = Operation(
    "Performance over time", _WHAT + " One point per step, zeros where nothing happened.",
    params=(Param("minutes", "How far back (1-120, default 60).", schema={"type": "integer", "minimum": 1,
                                                                           "maximum": 120}),
            Param("step_s", "Seconds per point (10-3600, a multiple of 10; default 60).",
                  schema={"type": "integer", "minimum": 10, "maximum": 3600, "multipleOf": 10}),
            Param("model", "Only this model: 'id@version', or a bare id for all its versions."),
            Param("route", "Only requests through this route (or model name asked for).")),
    reply=PERF_SERIES, errors=(400,), tags=("admin",))


# --- POST /admin/models/test ---------------------------------------------------------------------


class ModelTestBody(BaseModel):
    """A model entry to try before it is registered, and what to send it."""

    model_config = ConfigDict(extra="forbid", strict=True)
    model: dict[str, Any] = Field(description="A model entry as POST /admin/models takes it; its provider "
                                              "must be one of the config's.")
    messages: Annotated[list[dict[str, Any]], Field(min_length=1)] | None = Field(
        None, description="Chat messages to send (default: one short user message).")
    max_tokens: Annotated[int, Field(ge=1, le=4096)] = 16


MODEL_TEST_REPLY = {
    "type": "object", "required": ["object", "ok", "latency_ms"],
    "properties": {
        "object": {"const": "model.test"}, "ok": {"type": "boolean"}, "latency_ms": {"type": "number"},
        "content": {"type": ["string", "null"], "description": "ok: the model's reply text"},
        "finish_reason": {"type": ["string", "null"]}, "model": {"type": ["string", "null"]},
        "usage": {"type": ["object", "null"], "properties": {
            "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"},
            "total_tokens": {"type": "integer"}}},
        "cost_usd": {"type": ["number", "null"]},
        "error": {"type": "object", "required": ["message", "type", "code", "status"], "description":
                  "not ok: the upstream's failure as the gateway maps it", "properties": {
                      "message": {"type": "string"}, "type": {"type": "string"},
                      "code": {"type": ["string", "null"]}, "status": {"type": "integer"}}},
    },
}
MODEL_TEST = Operation(
    "Test a model before registering it",
    "Sends ONE non-stream chat request to the deployment the entry describes, on the configured provider it "
    "names (base URL and key from the config, never from the request); no retry, no fallback. Nothing is "
    "registered; breakers, statistics, usage and performance figures are not touched. 200 with ok false "
    "when the upstream failed; 400 when the entry does not validate (the body POST /admin/models gives).",
    body=ModelTestBody, reply=MODEL_TEST_REPLY, errors=(400, 413), tags=("admin",))
