"""The hot routes' short way through the app: ``POST`` to a model endpoint (chat completions,
Responses, Messages, embeddings, ...) goes from the telemetry middleware straight to its handler.

Starlette's way runs it through the exception middleware, the router and the endpoint wrapper,
each wrapping ``send`` once more, so that every response and every stream chunk passed through
all of them. The endpoints' handler answers every error the client can cause itself (in the
endpoint's error shape); what it does not (a bug of ours) still reaches the outermost error
middleware and its 500. Every other request, and any other method on those paths (405), takes the
ordinary way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send


class HotPath:
    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute],
                 handlers: Mapping[str, Callable[[Request], Awaitable[Response]]]) -> None:
        """``handlers``: the POST handler of each path; ``routes``: the routes of those paths."""
        self.app = app
        self.hot = {path: (route, handlers[path]) for route in routes if (path := getattr(route, "path", "")) in handlers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            hot = self.hot.get(scope["path"])
            if hot is not None:
                scope["route"] = hot[0]  # what the router would have left for the telemetry (http.route)
                response = await hot[1](Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
