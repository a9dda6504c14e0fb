"""The hot route's short way through the app: ``POST /v1/chat/completions`` goes from the telemetry
middleware straight to its handler.

Starlette's way runs it through the exception middleware, the router and the endpoint wrapper,
each wrapping ``send`` once more, so that every response and every stream chunk passed through
all of them. The chat handler answers every error the client can cause itself (as OpenAI-style
errors); what it does not (a bug of ours) still reaches the outermost error middleware and its
500. Every other request, and any other method on that path (405), takes the ordinary way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send


class HotPath:
    def __init__(self, app: ASGIApp, route: BaseRoute, path: str,
                 handler: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.route = route
        self.path = path
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST" \
                and not scope.get("root_path"):
            scope["route"] = self.route  # what the router would have left for the telemetry (http.route)
            response = await self.handler(Request(scope, receive, send))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
