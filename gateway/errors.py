"""The gateway's one error tree.

Every error knows its HTTP status and renders OpenAI's error body
``{"error": {"message", "type", "param", "code"}}``. Third-party errors are
translated into this tree at the edge (the provider adapters, the store), so the
pipeline can decide between falling back, retrying and returning.
"""

from __future__ import annotations

import math
from typing import ClassVar

from gateway import jsonio


class GatewayError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers = headers or {}

    def to_dict(self) -> dict[str, object]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def body(self) -> bytes:
        return jsonio.dumps(self.to_dict())


# --- the client's own mistakes (never retried, never a fallback) -------------


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    default_code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class Conflict(GatewayError):
    """The request clashes with the current state (an id already taken, a model still in use)."""

    status = 409
    type = "invalid_request_error"
    default_code = "conflict"


class InvalidConfig(InvalidRequest):
    """A config (or a runtime change to it) that does not validate. Besides OpenAI's ``error``,
    the body lists every problem under ``errors`` as ``{file, line, path, message}``."""

    default_code = "invalid_config"

    def __init__(self, message: str, issues: list[dict[str, object]], *, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.issues = issues

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "errors": self.issues}


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class ModelGone(GatewayError):
    status = 410
    type = "invalid_request_error"
    default_code = "model_retired"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class UnsupportedMediaType(GatewayError):
    status = 415
    type = "invalid_request_error"
    default_code = "unsupported_media_type"


class ClientGone(GatewayError):
    """The client hung up before its answer started: the answer (499, nginx's "client closed
    request") goes to nobody, but the request's decision record and logs say what happened."""

    status = 499
    type = "invalid_request_error"
    default_code = "client_closed_request"


# --- a client key over one of its own limits (refused before any upstream call) ----------


class LimitExceeded(GatewayError):
    """429 with ``Retry-After`` in whole seconds (at least 1); ``limit`` names the limit."""

    status = 429

    def __init__(self, message: str, *, limit: str, retry_after_s: float) -> None:
        super().__init__(message, headers={"retry-after": str(max(1, math.ceil(retry_after_s)))})
        self.limit = limit
        self.retry_after_s = retry_after_s


class RequestRateExceeded(LimitExceeded):
    """Over requests per minute; ``type`` as OpenAI sends it for RPM."""

    type = "requests"
    default_code = "rate_limit_exceeded"


class TokenRateExceeded(LimitExceeded):
    """Over tokens per minute; ``type`` as OpenAI sends it for TPM."""

    type = "tokens"
    default_code = "rate_limit_exceeded"


class QuotaExceeded(LimitExceeded):
    """At or over a spend budget: OpenAI's "insufficient_quota"."""

    type = "insufficient_quota"
    default_code = "insufficient_quota"


class ServiceUnavailable(GatewayError):
    """The gateway cannot do this right now (its shared store is unreachable); try again."""

    status = 503
    type = "service_unavailable"
    default_code = "service_unavailable"


# --- upstream failures ------------------------------------------------------


class UpstreamError(GatewayError):
    """A failure of an upstream attempt. ``retryable`` tells the pipeline it may fall back."""

    status = 502
    type = "upstream_error"
    default_code = "upstream_error"
    retryable: ClassVar[bool] = True
    """Another deployment may succeed: fall back."""
    transient: ClassVar[bool] = True
    """The same deployment may succeed if tried again shortly."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, param=param, code=code, headers=headers)
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers.setdefault("retry-after", str(max(0, round(retry_after))))


class UpstreamBadRequest(UpstreamError):
    """The upstream refused the request itself (the client's fault): returned as is, no fallback."""

    status = 400
    type = "invalid_request_error"
    default_code = "invalid_request"
    retryable = False


class ContextTooLong(UpstreamError):
    """The prompt does not fit the model: a fallback to a larger window may succeed."""

    status = 400
    type = "invalid_request_error"
    default_code = "context_length_exceeded"
    transient = False


class UpstreamRateLimited(UpstreamError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class UpstreamAuthFailed(UpstreamError):
    """The gateway's own provider credentials were refused: an operator problem, not the client's."""

    status = 502
    default_code = "upstream_auth_failed"
    transient = False


class UpstreamUnavailable(UpstreamError):
    status = 503
    type = "service_unavailable"
    default_code = "upstream_unavailable"


class UpstreamBadResponse(UpstreamError):
    status = 502
    default_code = "bad_upstream_response"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout"
    default_code = "upstream_timeout"
