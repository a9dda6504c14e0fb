"""Admin endpoints: routing decisions and breakers (more arrive with the operators' issue).

Every route checks the admin key (``GROVE_ADMIN_KEY``) with a constant-time comparison; a
client key never passes. With no admin key configured the admin API is disabled.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import jsonio
from gateway.breaker import Breakers
from gateway.decisions import DecisionLog
from gateway.errors import AuthenticationFailed, GatewayError, InvalidRequest, NotFound, PermissionDenied
from gateway.registry import Registry

JSON = "application/json"


class AdminAPI:
    def __init__(self, admin_key: str | None, registry: Registry, decisions: DecisionLog, breakers: Breakers) -> None:
        self._key = admin_key.encode() if admin_key else None
        self.registry = registry
        self.decisions = decisions
        self.breakers = breakers

    def routes(self) -> list[Route]:
        return [
            Route("/admin/decisions", self._guard(self.list_decisions), methods=["GET"]),
            Route("/admin/decisions/{decision_id}", self._guard(self.get_decision), methods=["GET"]),
            Route("/admin/breakers", self._guard(self.list_breakers), methods=["GET"]),
        ]

    def _guard(self, handler):  # type: ignore[no-untyped-def]
        async def guarded(request: Request) -> Response:
            try:
                self._authorize(request)
                return await handler(request)
            except GatewayError as exc:
                return Response(exc.body(), status_code=exc.status, media_type=JSON, headers=exc.headers)

        return guarded

    def _authorize(self, request: Request) -> None:
        if self._key is None:
            raise PermissionDenied("The admin API is disabled: set GROVE_ADMIN_KEY to enable it.")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("The admin API needs 'Authorization: Bearer <admin key>'.",
                                       code="missing_api_key")
        if not hmac.compare_digest(token.strip().encode(), self._key):
            raise PermissionDenied("This key is not the admin key.", code="not_admin")

    async def list_decisions(self, request: Request) -> Response:
        raw = request.query_params.get("limit", "50")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise InvalidRequest("'limit' must be an integer from 1 to 1000.", param="limit")
        records = await self.decisions.recent(int(raw))
        return Response(jsonio.dumps({"object": "list", "data": records}), media_type=JSON)

    async def get_decision(self, request: Request) -> Response:
        decision_id = request.path_params["decision_id"]
        record = await self.decisions.get(decision_id)
        if record is None:
            raise NotFound(f"No decision '{decision_id}' (the log keeps the most recent ones).",
                           code="decision_not_found")
        return Response(jsonio.dumps(record), media_type=JSON)

    async def list_breakers(self, request: Request) -> Response:
        keys: Iterable[str] = self.registry.snapshot.deployments_by_key.keys()
        views = await self.breakers.views(keys)
        data = [
            {"deployment": v.key, "state": v.state, "consecutive_failures": v.consecutive_failures,
             "opened_until": v.opened_until, "trips": v.trips}
            for v in views
        ]
        return Response(jsonio.dumps({"object": "list", "data": data}), media_type=JSON)
