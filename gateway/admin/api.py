"""Admin endpoints: routing decisions, breakers and usage (more arrive with the operators' issue).

Every route checks the admin key (``GROVE_ADMIN_KEY``) with a constant-time comparison; a
client key never passes. With no admin key configured the admin API is disabled.
"""

from __future__ import annotations

import hmac
import re
import time
from datetime import date
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import jsonio
from gateway.breaker import Breakers
from gateway.decisions import DecisionLog
from gateway.errors import AuthenticationFailed, GatewayError, InvalidRequest, NotFound, PermissionDenied
from gateway.registry import Registry
from gateway.telemetry.usage import FIELDS, UsageLog, utc_day

JSON = "application/json"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_day(text: str) -> bool:
    try:
        return bool(_DAY.match(text)) and date.fromisoformat(text) is not None
    except ValueError:  # 2026-02-30
        return False


class AdminAPI:
    def __init__(self, admin_key: str | None, registry: Registry, decisions: DecisionLog, breakers: Breakers,
                 usage: UsageLog | None = None) -> None:
        self._key = admin_key.encode() if admin_key else None
        self.registry = registry
        self.decisions = decisions
        self.breakers = breakers
        self.usage = usage

    def routes(self) -> list[Route]:
        return [
            Route("/admin/decisions", self._guard(self.list_decisions), methods=["GET"]),
            Route("/admin/decisions/{decision_id}", self._guard(self.get_decision), methods=["GET"]),
            Route("/admin/breakers", self._guard(self.list_breakers), methods=["GET"]),
            Route("/admin/usage", self._guard(self.get_usage), methods=["GET"]),
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

    async def get_usage(self, request: Request) -> Response:
        """``?day=YYYY-MM-DD`` (UTC, default today): requests, tokens and cost per model, route and key."""
        if self.usage is None:
            raise NotFound("Usage is not recorded by this gateway.", code="usage_disabled")
        day = request.query_params.get("day") or utc_day(time.time())
        if not _is_day(day):
            raise InvalidRequest("'day' must be a date like 2025-01-31 (UTC).", param="day")
        rows, complete = await self.usage.day(day)
        total = {name: sum(row[name] for row in rows) for name in FIELDS}
        total["cost_usd"] = round(total["cost_usd"], 10)
        body = {"object": "usage", "day": day, "data": rows, "total": total, "complete": complete}
        return Response(jsonio.dumps(body), media_type=JSON)
