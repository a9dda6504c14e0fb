"""The SERVER span of every HTTP request, as a tiny pure-ASGI middleware.

It opens a ``RequestTelemetry`` (continuing an incoming ``traceparent``), leaves it in the
scope for the handlers (``REQUEST_TELEMETRY``), adds ``traceparent`` and ``x-grove-trace-id``
to the response headers, and ends it when the app is done: for a stream, after its last byte.
With the gateway's own server (``httpserver``) the end (metrics, usage, access log, the span's
encoding) runs once the response's last bytes went out, so that the answer does not wait for it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.httpserver import AFTER_WRITES
from gateway.telemetry.core import Telemetry
from gateway.telemetry.request import RequestTelemetry

log = logging.getLogger("grove.telemetry")
REQUEST_TELEMETRY = "grove.telemetry"
_CONVERTER = re.compile(r"\{([^}:]+):[^}]+\}")


def request_telemetry(scope: Scope) -> RequestTelemetry:
    """The request's telemetry, opened by ``TelemetryMiddleware``."""
    rt: RequestTelemetry = scope[REQUEST_TELEMETRY]
    return rt


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry
        self._templates: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rt = self.telemetry.begin(scope)
        scope[REQUEST_TELEMETRY] = rt
        extra = rt.trace_headers
        status = 500

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            after = scope.get(AFTER_WRITES)
            if after is not None:  # the gateway's own server: once the response's last bytes went out
                after(self._end, rt, status, scope.get("route"))
            else:
                self._end(rt, status, scope.get("route"))

    def _end(self, rt: RequestTelemetry, status: int, route: Any) -> None:
        try:
            rt.end(status, self._template(route))
        except Exception:  # noqa: BLE001 - telemetry must never fail a request
            log.exception("recording the end of %s %s failed", rt.method, rt.path)

    def _template(self, route: Any) -> str | None:
        """``http.route``: the matched route's path, converters dropped (``{model_id:path}`` →
        ``{model_id}``); None when nothing matched."""
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            return None
        template = self._templates.get(path)
        if template is None:
            template = self._templates[path] = _CONVERTER.sub(r"{\1}", path)
        return template
