"""``GET /admin/perf`` and ``GET /admin/perf/series``: live performance for the console's overview
and model pages, from the figures every replica writes (``gateway/telemetry/perf.py``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.admin import docs_console as docs
from gateway.admin.common import Guard, respond
from gateway.errors import InvalidRequest
from gateway.openapi import ApiRoute
from gateway.telemetry.perf import BUCKET_S, TTL_S, PerfLog

MAX_MINUTES = int(TTL_S // 60)  # so at most 720 points (10-second steps over 2 h)


def routes(guard: Guard, perf: PerfLog) -> list[ApiRoute]:
    api = PerfAdmin(perf)
    return [ApiRoute("/admin/perf", guard(api.summary), methods={"GET": docs.PERF}),
            ApiRoute("/admin/perf/series", guard(api.series), methods={"GET": docs.PERF_SERIES_OP})]


class PerfAdmin:
    def __init__(self, perf: PerfLog) -> None:
        self.perf = perf

    async def summary(self, request: Request) -> Response:
        window = _int(request, "window_s", 60, 10, 3600, f"an integer from 10 to 3600 in steps of {BUCKET_S}")
        if window % BUCKET_S:
            raise InvalidRequest(f"'window_s' must be an integer from 10 to 3600 in steps of {BUCKET_S}.",
                                 param="window_s")
        return respond(await self.perf.summary(window))

    async def series(self, request: Request) -> Response:
        minutes = _int(request, "minutes", 60, 1, MAX_MINUTES, f"an integer from 1 to {MAX_MINUTES}")
        step = _int(request, "step_s", 60, BUCKET_S, 3600, f"an integer from 10 to 3600 in steps of {BUCKET_S}")
        if step % BUCKET_S:
            raise InvalidRequest(f"'step_s' must be an integer from 10 to 3600 in steps of {BUCKET_S}.",
                                 param="step_s")
        model = request.query_params.get("model") or None
        route = request.query_params.get("route") or None
        return respond(await self.perf.series(minutes, step, model, route))


def _int(request: Request, name: str, default: int, low: int, high: int, what: str) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise InvalidRequest(f"'{name}' must be {what}.", param=name)
    return int(raw)
