"""SSE framing towards the client, in OpenAI's format."""

from __future__ import annotations

from gateway.errors import GatewayError

DONE = b"data: [DONE]\n\n"
HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
MEDIA_TYPE = "text/event-stream"


def frame(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def error_event(error: GatewayError) -> bytes:
    """The event that ends a stream which failed after its first byte: the openai SDK raises on it."""
    return frame(error.body())
