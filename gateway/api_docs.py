"""OpenAPI operations of the client surface (``/v1``), health, metrics and the document itself.

The routes that serve them (``gateway/api.py``, ``gateway/app.py``) name these; the request
schema of chat completions is the model that validates requests (``gateway/wire.py``).
"""

from __future__ import annotations

from typing import Any

from gateway.openapi import Operation, Param
from gateway.routing import CAPABILITIES_HEADER, COMPONENT_HEADER
from gateway.wire import ChatCompletionRequest

_USAGE = {"type": "object", "properties": {
    "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"},
    "total_tokens": {"type": "integer"}}}

CHAT_COMPLETION: dict[str, Any] = {
    "type": "object",
    "description": "OpenAI's chat.completion object, as the upstream made it (translated to OpenAI's "
                   "shape for Anthropic and Gemini).",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"},
            "message": {"type": "object", "properties": {
                "role": {"type": "string"}, "content": {"type": ["string", "null"]},
                "tool_calls": {"type": "array", "items": {"type": "object"}}}},
            "finish_reason": {"type": ["string", "null"]}}}},
        "usage": _USAGE,
    },
}
CHAT_STREAM = {
    "type": "string",
    "description": "With stream: true, server-sent events: one 'data: <chat.completion.chunk JSON>' "
                   "per chunk, then 'data: [DONE]'. A failure after the first chunk ends the stream "
                   "with a 'data: <error body>' event.",
}
MODEL: dict[str, Any] = {
    "type": "object", "required": ["id", "object", "created", "owned_by"],
    "properties": {"id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"},
                   "owned_by": {"type": "string", "description": "the provider, or 'grove-route' for a route"},
                   "mode": {"enum": ["chat", "embedding"], "description": "the gateway's addition: chat "
                            "(chat completions and the other text endpoints) or embedding (POST /v1/embeddings)"}},
}
MODEL_LIST = {"type": "object", "required": ["object", "data"],
              "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": MODEL}}}
READINESS = {
    "type": "object", "required": ["status", "registry_loaded", "store", "store_reachable"],
    "properties": {
        "status": {"enum": ["ready", "not_ready"]}, "registry_loaded": {"type": "boolean"},
        "registry_version": {"type": ["string", "null"]}, "store": {"enum": ["memory", "redis"]},
        "store_reachable": {"type": "boolean"}, "published_version": {"type": ["string", "null"]},
    },
}
CHAT_HEADERS = ("x-grove-request-id", "x-grove-decision-id", "x-grove-route", "x-grove-model",
                "x-grove-attempts", "x-grove-variant", "x-grove-deprecation", "x-grove-cost-usd",
                "x-grove-trace-id", "traceparent", "retry-after")

CHAT_COMPLETIONS = Operation(
    "Create a chat completion",
    "OpenAI-compatible. `model` is a model id (`id` or `id@version`), a route, or `auto`. The "
    "gateway routes it, falls back along the route's chain, and says what it did in the "
    "`x-grove-*` headers. A stream falls back only before its first chunk.",
    params=(
        Param(COMPONENT_HEADER, "The calling component: sends `auto` to the route configured for it.", "header"),
        Param(CAPABILITIES_HEADER, "Capability needs for `auto`, e.g. `reasoning=3,speed=1`.", "header"),
    ),
    body=ChatCompletionRequest, reply=CHAT_COMPLETION, more_media={"text/event-stream": CHAT_STREAM},
    headers=CHAT_HEADERS, tags=("chat",), errors=(400, 404, 410, 413, 429, 502, 503, 504),
)
LIST_MODELS = Operation("List models", "Models, versions, routes and `auto`: every name a client may send.",
                        reply=MODEL_LIST, tags=("models",))
GET_MODEL = Operation("Retrieve a model", reply=MODEL, errors=(404,), tags=("models",))
HEALTHZ = Operation("Liveness", "The process answers.",
                    reply={"type": "object", "properties": {"status": {"const": "ok"}}}, tags=("operations",))
READYZ = Operation("Readiness", "Registry loaded and store reachable; 503 with the same body otherwise.",
                   reply=READINESS, more_replies={503: READINESS}, tags=("operations",))
METRICS = Operation("Prometheus metrics", "Prometheus text exposition (OpenMetrics when asked for).",
                    reply={"type": "string"}, media="text/plain", tags=("operations",))
OPENAPI = Operation("This document", "The OpenAPI 3.1 description of the HTTP API. It documents and "
                    "exposes no configuration: no key needed.", reply={"type": "object"}, tags=("operations",))
