"""Admin endpoints: routing decisions, breakers (and their admin actions), usage, live events
here; runtime changes to models, routes, keys and the config in ``admin/models.py``,
``routes.py``, ``keys.py``, ``config.py``.

Every route checks the admin key (``GROVE_ADMIN_KEY``) with a constant-time comparison; a
client key never passes. The web console's session cookie (``gateway/admin/session.py``) passes
too, when no ``Authorization`` header is sent; on methods other than GET and HEAD only with the
header ``x-grove-console: 1`` besides (a cross-site form cannot set it). With no admin key
configured the admin API is disabled. Each route is an ``ApiRoute`` carrying its OpenAPI
operation (``gateway/admin/docs.py``).
"""

from __future__ import annotations

import hmac
import re
import time
from datetime import date
from collections.abc import Callable, Iterable, Sequence

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from gateway import jsonio
from gateway.admin import config as config_admin
from gateway.admin import keys as keys_admin
from gateway.admin import models as models_admin
from gateway.admin import routes as routes_admin
from gateway.admin import docs
from gateway.admin import explain
from gateway.admin.throttle import Throttle
from gateway.endpoints import Endpoint
from gateway.endpoints.chat import CHAT
from gateway.admin import model_test
from gateway.admin import perf as perf_admin
from gateway.admin import session
from gateway.admin.sse import EventStream
from gateway.breaker import BreakerView, Breakers
from gateway.decisions import DecisionLog
from gateway.livecatalog import LiveCatalog
from gateway.errors import AuthenticationFailed, GatewayError, InvalidRequest, NotFound, PermissionDenied
from gateway.events import KIND, Events, valid_id
from gateway.openapi import ApiRoute
from gateway.registry import Registry
from gateway.routing import Health
from gateway.telemetry.perf import PerfLog
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
                 usage: UsageLog | None = None, events: Events | None = None, live: LiveCatalog | None = None,
                 health: Callable[[], Health] = Health, perf: PerfLog | None = None,
                 tester: model_test.ModelTester | None = None, throttle: Throttle | None = None,
                 endpoints: Sequence[Endpoint] = ()) -> None:
        self._key = admin_key.encode() if admin_key else None
        self.throttle = throttle or Throttle()
        """Failed admin-key attempts per client address (shared with the console's sign-in)."""
        self.revocations = session.Revocations(registry.store)
        self.endpoints = tuple(endpoints) or (CHAT,)
        """The model endpoints, for /admin/explain."""
        self.registry = registry
        self.decisions = decisions
        self.breakers = breakers
        self.usage = usage
        self.events = events
        self.live = live
        self.health = health
        self.perf = perf
        self.tester = tester

    def routes(self) -> list[ApiRoute]:
        routes = [
            ApiRoute("/admin/decisions", self._guard(self.list_decisions), methods={"GET": docs.LIST_DECISIONS}),
            ApiRoute("/admin/decisions/{decision_id}", self._guard(self.get_decision),
                     methods={"GET": docs.GET_DECISION}),
            ApiRoute("/admin/breakers", self._guard(self.list_breakers), methods={"GET": docs.LIST_BREAKERS}),
            # {deployment:path}: model ids may contain '/'.
            ApiRoute("/admin/breakers/{deployment:path}/open", self._guard(self.force_open),
                     methods={"POST": docs.FORCE_OPEN}),
            ApiRoute("/admin/breakers/{deployment:path}/reset", self._guard(self.reset_breaker),
                     methods={"POST": docs.RESET}),
            ApiRoute("/admin/usage", self._guard(self.get_usage), methods={"GET": docs.USAGE}),
        ]
        if self.events is not None:
            routes.append(ApiRoute("/admin/events", self._guard(self.stream_events), methods={"GET": docs.EVENTS}))
        if self.perf is not None:
            routes += perf_admin.routes(self._guard, self.perf)
        if self.tester is not None:
            routes += model_test.routes(self._guard, self.tester)
        if self.live is not None:
            for module in (models_admin, routes_admin, keys_admin, config_admin):
                routes += module.routes(self._guard, self.live)
            routes += explain.routes(self._guard, self.live, self.health, self.endpoints)
        return routes

    def _guard(self, handler):  # type: ignore[no-untyped-def]
        async def guarded(request: Request) -> Response:
            try:
                await self._authorize(request)
                return await handler(request)
            except GatewayError as exc:
                return Response(exc.body(), status_code=exc.status, media_type=JSON, headers=exc.headers)

        return guarded

    async def _authorize(self, request: Request) -> None:
        if self._key is None:
            raise PermissionDenied("The admin API is disabled: set GROVE_ADMIN_KEY to enable it.")
        cookie = request.cookies.get(session.COOKIE)
        if cookie is not None and "authorization" not in request.headers:
            await self._authorize_console(request, cookie)
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("The admin API needs 'Authorization: Bearer <admin key>'.",
                                       code="missing_api_key")
        address = request.client.host if request.client else ""
        self.throttle.check(address)
        if not hmac.compare_digest(token.strip().encode(), self._key):
            self.throttle.failed(address)
            raise PermissionDenied("This key is not the admin key.", code="not_admin")

    async def _authorize_console(self, request: Request, cookie: str) -> None:
        assert self._key is not None
        if not session.valid(cookie, self._key, time.time()) or await self.revocations.revoked(cookie):
            raise AuthenticationFailed("The console session is invalid or has expired: sign in again at "
                                       "/console/login.", code="invalid_session")
        if request.method not in ("GET", "HEAD") and request.headers.get(session.CSRF_HEADER) != "1":
            raise PermissionDenied(f"A console request that changes something needs the header "
                                   f"'{session.CSRF_HEADER}: 1'.", code="missing_console_header")

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
        return Response(jsonio.dumps({"object": "list", "data": [_breaker(v) for v in views]}), media_type=JSON)

    async def force_open(self, request: Request) -> Response:
        """Open for ``seconds`` (default: the configured cooldown), on every replica."""
        key = self._deployment(request)
        body = await _force_open_body(request)
        seconds = body.seconds if body.seconds is not None else self.breakers.policy.cooldown_s
        await self.breakers.force_open(key, seconds)
        return Response(jsonio.dumps(_breaker(await self.breakers.view(key))), media_type=JSON)

    async def reset_breaker(self, request: Request) -> Response:
        key = self._deployment(request)
        await self.breakers.reset(key)
        return Response(jsonio.dumps(_breaker(await self.breakers.view(key))), media_type=JSON)

    def _deployment(self, request: Request) -> str:
        key = request.path_params["deployment"]
        if key not in self.registry.snapshot.deployments_by_key:
            raise NotFound(f"No deployment '{key}': breakers are per 'model@version' (GET /admin/breakers).",
                           code="deployment_not_found")
        return str(key)

    async def stream_events(self, request: Request) -> Response:
        """Server-sent events; ``Last-Event-ID`` replays first, ``?kinds=a,b`` filters."""
        assert self.events is not None  # the route exists only with events
        after = request.headers.get("last-event-id") or None
        if after is not None and not valid_id(after.strip()):
            raise InvalidRequest("'Last-Event-ID' must be an event id like 1763800000000-0.", param="Last-Event-ID")
        kinds: frozenset[str] | None = None
        raw = request.query_params.get("kinds")
        if raw is not None:
            kinds = frozenset(k.strip() for k in raw.split(",") if k.strip())
            if not kinds or not all(KIND.match(k) for k in kinds):
                raise InvalidRequest("'kinds' must be event kinds separated by commas, e.g. "
                                     "breaker.opened,breaker.closed.", param="kinds")
        return EventStream(self.events, after.strip() if after else None, kinds)

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


def _breaker(v: BreakerView) -> dict[str, object]:
    return {"deployment": v.key, "state": v.state, "consecutive_failures": v.consecutive_failures,
            "opened_until": v.opened_until, "trips": v.trips}


async def _force_open_body(request: Request) -> docs.ForceOpenBody:
    raw = await request.body()
    if not raw.strip():
        return docs.ForceOpenBody()
    try:
        return docs.ForceOpenBody.model_validate(jsonio.loads(raw))
    except jsonio.JSONDecodeError:
        raise InvalidRequest("The body must be JSON, e.g. {\"seconds\": 60}, or empty.", code="invalid_json") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidRequest(f"Invalid body: {first['msg']}. Send {{\"seconds\": N}} with 0 < N <= "
                             f"{docs.MAX_FORCE_OPEN_S}, or no body.", param=param, code="invalid_value") from None
