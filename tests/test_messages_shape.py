"""Anthropic's error shape and status codes for every error of the gateway's tree, and the
stream's error event."""

from __future__ import annotations

import pytest

from gateway import jsonio
from gateway.endpoints.anthropic_shape import ANTHROPIC_SSE, anthropic_status, error_response
from gateway.errors import (
    AuthenticationFailed, ContextTooLong, GatewayError, InvalidRequest, MethodNotAllowed, ModelGone, ModelNotFound,
    PayloadTooLarge, PermissionDenied, QuotaExceeded, RequestRateExceeded, ServiceUnavailable, UpstreamAuthFailed,
    UpstreamBadRequest, UpstreamBadResponse, UpstreamRateLimited, UpstreamTimeout, UpstreamUnavailable,
)


@pytest.mark.parametrize(("error", "status", "kind"), [
    (InvalidRequest("x"), 400, "invalid_request_error"),
    (AuthenticationFailed("x"), 401, "authentication_error"),
    (PermissionDenied("x"), 403, "permission_error"),
    (ModelNotFound("x"), 404, "not_found_error"),
    (MethodNotAllowed("x"), 405, "invalid_request_error"),
    (ModelGone("x"), 410, "invalid_request_error"),
    (PayloadTooLarge("x"), 413, "request_too_large"),
    (RequestRateExceeded("x", limit="rpm", retry_after_s=3), 429, "rate_limit_error"),
    (QuotaExceeded("x", limit="usd_day", retry_after_s=3), 429, "rate_limit_error"),
    (UpstreamBadRequest("x"), 400, "invalid_request_error"),
    (ContextTooLong("x"), 400, "invalid_request_error"),
    (UpstreamRateLimited("x", retry_after=2), 429, "rate_limit_error"),
    (GatewayError("x"), 500, "api_error"),
    (UpstreamBadResponse("x"), 500, "api_error"),
    (UpstreamAuthFailed("x"), 500, "api_error"),
    (UpstreamUnavailable("x"), 529, "overloaded_error"),
    (ServiceUnavailable("x"), 529, "overloaded_error"),
    (UpstreamTimeout("x"), 504, "timeout_error"),
])
def test_every_error_in_anthropics_shape(error: GatewayError, status: int, kind: str) -> None:
    assert anthropic_status(error) == (status, kind)
    response = error_response(error, {"x-grove-request-id": "r1"})
    assert response.status_code == status
    assert jsonio.loads(response.body) == {"type": "error", "error": {"type": kind, "message": "x"}}
    assert response.headers["x-grove-request-id"] == "r1"
    if "retry-after" in error.headers:
        assert response.headers["retry-after"] == error.headers["retry-after"]


def test_the_stream_error_event_and_framing() -> None:
    event = ANTHROPIC_SSE.error_event(UpstreamUnavailable("gone"))
    assert event == (b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"gone"}}'
                     b"\n\n")
    assert ANTHROPIC_SSE.frame(b"event: ping\ndata: {}\n\n") == b"event: ping\ndata: {}\n\n"
    assert ANTHROPIC_SSE.done == b""
