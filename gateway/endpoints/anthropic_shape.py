"""Errors and stream events in Anthropic's own shape, for the Messages front door.

Every ``GatewayError`` (a bad request, a client-key limit, an upstream failure) answers as
Anthropic does: ``{"type": "error", "error": {"type", "message"}}`` with Anthropic's status
codes, so that the Anthropic SDK raises its own exception classes (``BadRequestError``,
``AuthenticationError``, ``RateLimitError``, ``OverloadedError``, ...). The gateway's
``Retry-After`` and ``x-grove-*`` headers stay on the response.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from starlette.responses import Response

from gateway import jsonio
from gateway.endpoints import StreamFormat
from gateway.errors import GatewayError, LimitExceeded, PayloadTooLarge, UpstreamRateLimited

JSON = "application/json"

# Anthropic's error type for each status it uses; a gateway status Anthropic does not use is
# first mapped onto the nearest one it does (``_STATUS``).
_TYPE_OF_STATUS: Mapping[int, str] = MappingProxyType({
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
})
_STATUS: Mapping[int, int] = MappingProxyType({
    502: 500,  # the upstream failed or answered nonsense: Anthropic's own failure is a 500 api_error
    503: 529,  # no deployment could answer now: Anthropic says "overloaded"
})


def anthropic_status(exc: GatewayError) -> tuple[int, str]:
    """The status and Anthropic error type ``exc`` is answered with."""
    if isinstance(exc, (LimitExceeded, UpstreamRateLimited)):
        return 429, "rate_limit_error"
    if isinstance(exc, PayloadTooLarge):
        return 413, "request_too_large"
    status = _STATUS.get(exc.status, exc.status)
    kind = _TYPE_OF_STATUS.get(status)
    if kind is None:  # 405, 409, 410, 415...: the client's mistake, under its own status
        kind = "invalid_request_error" if status < 500 else "api_error"
    return status, kind


def error_body(exc: GatewayError) -> bytes:
    _, kind = anthropic_status(exc)
    return jsonio.dumps({"type": "error", "error": {"type": kind, "message": exc.message}})


def error_response(exc: GatewayError, headers: Mapping[str, str] | None = None) -> Response:
    status, _ = anthropic_status(exc)
    return Response(error_body(exc), status_code=status, media_type=JSON,
                    headers={**(headers or {}), **exc.headers})


def error_event(exc: GatewayError) -> bytes:
    """The event that ends a stream broken after its first byte: the Anthropic SDK raises on it."""
    return b"event: error\ndata: " + error_body(exc) + b"\n\n"


def _identity(payload: bytes) -> bytes:
    return payload


ANTHROPIC_SSE = StreamFormat(_identity, b"", error_event)
"""Translators hand over complete ``event:``/``data:`` frames; Anthropic's stream ends with its
``message_stop`` event, not with a closing line of the gateway's."""
