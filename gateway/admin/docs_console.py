"""OpenAPI operations of the web console's routes (``gateway/admin/console.py`` serves them).

The console is HTML for browsers; the document lists its routes so that every route the app
serves is documented. Security: the sign-in form takes the admin key and sets the session
cookie ``grove_console``; the pages and the admin API then take that cookie (the admin API
needs ``x-grove-console: 1`` besides it on every method but GET and HEAD).
"""

from __future__ import annotations

from typing import Any

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
    "signature, valid on every replica). Another key: 401 with the sign-in page (HTML) and a message.",
    status=303, errors=(404, 413, 415), tags=_TAGS)
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
    request: dict[str, Any] = Field(description="A chat-completions body, as a client would send it. Its "
                                                "'model' defaults to the candidate route's name.")
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
        "decision": {"oneOf": [DECISION, {"type": "null"}], "description": "null when the router refuses"},
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
