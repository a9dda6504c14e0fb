"""OpenAPI operations of the Responses API routes (``gateway.endpoints.responses``)."""

from __future__ import annotations

from typing import Any

from gateway.api_docs import CHAT_HEADERS
from gateway.endpoints.responses_wire import ResponsesCreate
from gateway.openapi import Operation, Param

RESPONSE: dict[str, Any] = {
    "type": "object",
    "description": "OpenAI's Response object: as the upstream made it where it serves the Responses API, "
                   "built from its chat reply otherwise.",
    "required": ["id", "object", "created_at", "status", "model", "output"],
    "properties": {
        "id": {"type": "string"}, "object": {"const": "response"}, "created_at": {"type": "number"},
        "status": {"type": "string"}, "model": {"type": "string"},
        "output": {"type": "array", "items": {"type": "object"}},
        "usage": {"type": ["object", "null"]},
    },
}
STREAM = {
    "type": "string",
    "description": "With stream: true, server-sent events 'event: <type>' / 'data: <event JSON>': "
                   "response.created, response.in_progress, response.output_item.added, "
                   "response.content_part.added, response.output_text.delta, "
                   "response.function_call_arguments.delta, ... .done, then response.completed (usage "
                   "inside). A failure after the first event ends the stream with an 'error' event.",
}
ITEM_LIST = {"type": "object", "required": ["object", "data"], "properties": {
    "object": {"const": "list"}, "data": {"type": "array", "items": {"type": "object"}},
    "first_id": {"type": ["string", "null"]}, "last_id": {"type": ["string", "null"]},
    "has_more": {"type": "boolean"}}}
DELETED = {"type": "object", "properties": {"id": {"type": "string"}, "object": {"const": "response.deleted"},
                                            "deleted": {"const": True}}}
_ID = Param("response_id", "The response's id.", "path", required=True)

CREATE = Operation(
    "Create a model response",
    "OpenAI's Responses API. `model` is a model id, a route or `auto`, routed and fallen back like chat. "
    "`previous_response_id` continues a stored response (on any replica, with any provider); `store: "
    "false` keeps nothing. Upstreams that serve the Responses API get it as bytes, the others through chat.",
    body=ResponsesCreate, reply=RESPONSE, more_media={"text/event-stream": STREAM}, headers=CHAT_HEADERS,
    tags=("responses",), errors=(400, 404, 410, 413, 429, 502, 503, 504),
)
GET = Operation("Retrieve a model response", "A stored response, to the key that created it.", params=(_ID,),
                reply=RESPONSE, errors=(404,), tags=("responses",))
DELETE = Operation("Delete a model response", params=(_ID,), reply=DELETED, errors=(404,), tags=("responses",))
INPUT_ITEMS = Operation(
    "List a response's input items", "The input items of a stored response (without the earlier turns).",
    params=(_ID, Param("limit", "1 to 100 (default 20).", schema={"type": "integer"}),
            Param("order", "`asc` or `desc` (default).", schema={"enum": ["asc", "desc"]}),
            Param("after", "An item id: list the items after it.")),
    reply=ITEM_LIST, errors=(400, 404), tags=("responses",),
)
