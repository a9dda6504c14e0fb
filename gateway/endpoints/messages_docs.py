"""OpenAPI operations of the Anthropic Messages front door (``/v1/messages``, ``count_tokens``).

The request schemas are the pydantic models that validate the requests (``messages_wire``).
"""

from __future__ import annotations

from typing import Any

from gateway.api_docs import CHAT_HEADERS
from gateway.endpoints.messages_wire import CountTokensRequest, MessagesRequest
from gateway.openapi import Operation, Param
from gateway.routing import CAPABILITIES_HEADER, COMPONENT_HEADER

_ERRORS_NOTE = (" Errors on this path are in Anthropic's shape, `{\"type\": \"error\", \"error\": {\"type\", "
                "\"message\"}}`, with Anthropic's status codes (a failed upstream is 500 `api_error`, no "
                "deployment able to answer 529 `overloaded_error`), so the Anthropic SDK raises its own "
                "exception classes.")
_CLIENT_HEADERS = (
    Param("x-api-key", "The client key (as the Anthropic SDK sends it); or 'Authorization: Bearer <key>'.",
          "header"),
    Param("anthropic-version", "Forwarded to Anthropic upstreams.", "header"),
    Param("anthropic-beta", "Forwarded to Anthropic upstreams.", "header"),
)

MESSAGE: dict[str, Any] = {
    "type": "object",
    "description": "Anthropic's message object: as the Anthropic upstream made it, or translated from the "
                   "answer of another provider.",
    "required": ["id", "type", "role", "model", "content", "stop_reason", "usage"],
    "properties": {
        "id": {"type": "string"},
        "type": {"const": "message"},
        "role": {"const": "assistant"},
        "model": {"type": "string"},
        "content": {"type": "array", "items": {"type": "object", "required": ["type"],
                                               "properties": {"type": {"type": "string"}}}},
        "stop_reason": {"type": ["string", "null"]},
        "stop_sequence": {"type": ["string", "null"]},
        "usage": {"type": "object", "properties": {"input_tokens": {"type": "integer"},
                                                   "output_tokens": {"type": "integer"}}},
    },
}
MESSAGE_STREAM = {
    "type": "string",
    "description": "With stream: true, Anthropic's server-sent events: message_start, content_block_start, "
                   "content_block_delta, content_block_stop, message_delta, message_stop (and ping). A "
                   "failure after the first event ends the stream with an 'event: error'.",
}
ANTHROPIC_ERROR = {
    "type": "object", "required": ["type", "error"],
    "description": "Anthropic's error body: the Anthropic SDK raises its own exception classes on it.",
    "properties": {"type": {"const": "error"}, "error": {
        "type": "object", "required": ["type", "message"],
        "properties": {"type": {"type": "string", "examples": ["invalid_request_error", "rate_limit_error"]},
                       "message": {"type": "string"}}}},
}
TOKEN_COUNT = {"type": "object", "required": ["input_tokens"],
               "properties": {"input_tokens": {"type": "integer"}}}

MESSAGES = Operation(
    "Create a message (Anthropic Messages API)",
    "Anthropic-compatible: point the Anthropic SDK's `base_url` at the gateway. `model` is a model id, "
    "a route, or `auto`; the gateway routes it and falls back along the route's chain like chat "
    "completions. Anthropic upstreams get the request as sent; others get it translated." + _ERRORS_NOTE,
    params=(*_CLIENT_HEADERS,
            Param(COMPONENT_HEADER, "The calling component: sends `auto` to the route configured for it.", "header"),
            Param(CAPABILITIES_HEADER, "Capability needs for `auto`, e.g. `reasoning=3,speed=1`.", "header")),
    body=MessagesRequest, reply=MESSAGE, more_media={"text/event-stream": MESSAGE_STREAM},
    headers=CHAT_HEADERS, tags=("messages",), errors=(400, 404, 413, 429, 500, 504, 529),
    error_body=ANTHROPIC_ERROR,
)
COUNT_TOKENS = Operation(
    "Count the input tokens of a message",
    "The model is routed like a Messages request: an Anthropic deployment counts with its own "
    "`count_tokens`; for another provider's model the gateway estimates the count itself (about "
    "4 characters a token). Not counted against a key's limits." + _ERRORS_NOTE,
    params=_CLIENT_HEADERS, body=CountTokensRequest, reply=TOKEN_COUNT,
    headers=("x-grove-request-id", "x-grove-route", "x-grove-model"), tags=("messages",),
    errors=(400, 404, 413, 429, 500, 504, 529), error_body=ANTHROPIC_ERROR,
)
