"""Live performance figures per 10-second bucket, served model and route, for the console.

Promises:
- Recording is off the hot path, as for the usage sums (``gateway/telemetry/usage.py``): a
  request adds to an in-memory group (a dict lookup, a bisect and a few additions, under a
  microsecond); a background task writes the groups to the store every ``flush_interval_s`` in
  one atomic batch, so every replica's requests sum into the same counters.
- A bucket is ``grove:perf:<unix s of its start>``, one hash whose fields are
  ``<JSON [model, route]>|<figure>``: ``requests``, ``errors``, ``fallbacks``, ``cost_usd`` and
  ``h0``..``h24``, the counts of a latency histogram with fixed log-spaced bounds (``BOUNDS_MS``,
  1 ms to 120 s), so percentiles survive summing across replicas. Buckets expire after 2 h.
- What counts (``RequestTelemetry._record``): a chat request that reached the upstream side (at
  least one deployment tried or skipped). Its model is the deployment that served it, else the
  chain's first choice. An *error* is a request answered 5xx, or 429 after an attempt (upstream
  failures, every deployment failing or open, a stream cut after its first byte); the client's
  own 4xx are not errors. A *fallback* is a request that went on to another deployment than
  the chain's first choice (served by it, or tried it and failed); retrying the same deployment
  is not one, nor is a deployment the router left out (an open breaker: see the decision's
  exclusions). Latency is the whole request as the client saw it (for a stream, to its last
  byte).
- With the store unreachable, the figures are this replica's unsent ones (``complete`` false);
  they stay pending for the next flush, bounded by ``max_groups``.
"""

from __future__ import annotations

import logging
import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

from gateway import jsonio
from gateway.flusher import Flusher
from gateway.outage import Outage
from gateway.store import Store, StoreUnavailable

log = logging.getLogger("grove.perf")

KEY = "grove:perf:{start}"
BUCKET_S = 10
TTL_S = 2 * 3600.0
BOUNDS_MS: tuple[float, ...] = tuple(round(120_000 ** (i / 23), 3) for i in range(24))
"""Upper bounds of the latency bins (ms): 1, 1.663, 2.765, ... 120000; a 25th bin takes the rest."""
_BOUNDS_S = tuple(b / 1000 for b in BOUNDS_MS)
NAMES = ("requests", "errors", "fallbacks", "cost_usd", *(f"h{i}" for i in range(len(BOUNDS_MS) + 1)))
_INDEX = {name: i for i, name in enumerate(NAMES)}
_HIST = 4  # where the histogram starts in a group's sums
Group = tuple[int, str, str]
"""(bucket start, model, route)."""
Sums = list[float]


class PerfLog:
    def __init__(self, store: Store, *, flush_interval_s: float = 1.0, max_groups: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.max_groups = max_groups
        self.clock = clock
        self._pending: dict[Group, Sums] = {}
        self._flusher = Flusher("perf-log", flush_interval_s, self.flush)
        self._outage = Outage(log, "perf")
        self._dropped = 0
        self._start = 0  # the current bucket's start

    def record(self, model: str, route: str, error: bool, fallback: bool, cost_usd: float | None,
               latency_s: float) -> None:
        now = self.clock()
        if not self._start <= now < self._start + BUCKET_S:  # a new bucket every 10 s: not per request
            self._start = int(now) - int(now) % BUCKET_S
        group = (self._start, model, route)
        sums = self._pending.get(group)
        if sums is None:
            if len(self._pending) >= self.max_groups:
                self._drop()
                return
            sums = self._pending[group] = [0.0] * len(NAMES)
        sums[0] += 1
        if error:
            sums[1] += 1
        if fallback:
            sums[2] += 1
        if cost_usd:
            sums[3] += cost_usd
        sums[_HIST + bisect_left(_BOUNDS_S, latency_s)] += 1

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        updates: dict[str, dict[str, int | float]] = {}
        for (start, model, route), sums in batch.items():
            fields = updates.setdefault(KEY.format(start=start), {})
            prefix = jsonio.dumps([model, route]).decode() + "|"
            for name, value in zip(NAMES, sums):
                if value:
                    fields[prefix + name] = value if name == "cost_usd" else int(value)
        try:
            await self.store.counters_add(updates, TTL_S)
            self._outage.ok()
        except StoreUnavailable as exc:
            self._outage.failed(exc, f"{len(batch)} groups kept for the next flush")
            for group, sums in batch.items():
                self._merge(self._pending, group, sums)

    def start(self) -> None:
        self._flusher.start()

    async def stop(self) -> None:
        await self._flusher.stop()

    # --- reading ---------------------------------------------------------------------------------

    async def buckets(self, first: int, last: int) -> tuple[dict[Group, Sums], bool]:
        """Every group of the buckets starting from ``first`` to ``last`` (multiples of
        ``BUCKET_S``), this replica's unsent figures included, and whether the store answered."""
        await self.flush()
        starts = list(range(first, last + 1, BUCKET_S))
        out: dict[Group, Sums] = {}
        try:
            stored = await self.store.counters_get_many([KEY.format(start=s) for s in starts])
            complete = True
        except StoreUnavailable:
            stored, complete = [], False
        names: dict[str, tuple[str, str]] = {}
        for start, fields in zip(starts, stored):
            for raw, value in fields.items():
                prefix, _, name = raw.rpartition("|")
                index = _INDEX.get(name)
                if index is None:
                    continue
                pair = names.get(prefix)
                if pair is None:
                    model, route = jsonio.loads(prefix)
                    pair = names[prefix] = (str(model), str(route))
                sums = out.get((start, *pair))
                if sums is None:
                    sums = out[(start, *pair)] = [0.0] * len(NAMES)
                sums[index] += value
        for group, sums in self._pending.items():  # what the store did not take
            if first <= group[0] <= last:
                self._merge(out, group, list(sums))
        return out, complete

    async def summary(self, window_s: int) -> dict[str, Any]:
        now = self.clock()
        last = int(now) - int(now) % BUCKET_S
        first = last - window_s + BUCKET_S
        groups, complete = await self.buckets(first, last)
        span_s = max(1.0, now - first)  # the buckets cover the window up to now
        totals: Sums = [0.0] * len(NAMES)
        models: dict[str, Sums] = {}
        routes: dict[str, Sums] = {}
        for (_, model, route), sums in groups.items():
            for target in (totals, models.setdefault(model, [0.0] * len(NAMES)),
                           routes.setdefault(route, [0.0] * len(NAMES))):
                _add(target, sums)
        return {
            "object": "perf.summary", "window_s": window_s, "totals": figures(totals, span_s),
            "models": {m: figures(s, span_s) for m, s in sorted(models.items())},
            "routes": {r: figures(s, span_s) for r, s in sorted(routes.items())},
            "complete": complete,
        }

    async def series(self, minutes: int, step_s: int, model: str | None, route: str | None) -> dict[str, Any]:
        now = int(self.clock())
        last_step = now - now % step_s
        count = math.ceil(minutes * 60 / step_s)
        first_step = last_step - (count - 1) * step_s
        groups, complete = await self.buckets(first_step - first_step % BUCKET_S, now - now % BUCKET_S)
        steps = {first_step + i * step_s: [0.0] * len(NAMES) for i in range(count)}
        for (start, served, via), sums in groups.items():
            if route is not None and via != route:
                continue
            if model is not None and served != model and served.rpartition("@")[0] != model:
                continue
            at = start - (start - first_step) % step_s
            if at in steps:
                _add(steps[at], sums)
        points = [{"t": t, "requests": int(s[0]), "errors": int(s[1]), "fallbacks": int(s[2]),
                   "p50_ms": percentile(s[_HIST:], 0.5), "p95_ms": percentile(s[_HIST:], 0.95),
                   "cost_usd": round(s[3], 10)} for t, s in steps.items()]
        return {"object": "perf.series", "step_s": step_s, "points": points, "complete": complete}

    # --- helpers -----------------------------------------------------------------------------------

    def _merge(self, into: dict[Group, Sums], group: Group, sums: Sums) -> None:
        current = into.get(group)
        if current is not None:
            _add(current, sums)
        elif into is not self._pending or len(into) < self.max_groups:
            into[group] = sums
        else:
            self._drop()

    def _drop(self) -> None:
        self._dropped += 1
        if self._dropped == 1 or self._dropped % 1000 == 0:
            log.warning("perf: %d pending groups, the limit; %d records dropped", self.max_groups, self._dropped)


def _add(target: Sums, sums: Iterable[float]) -> None:
    for i, value in enumerate(sums):
        target[i] += value


def figures(sums: Sums, span_s: float) -> dict[str, Any]:
    requests = int(sums[0])
    return {
        "requests": requests, "rps": round(requests / span_s, 3),
        "errors": int(sums[1]), "error_rate": round(sums[1] / requests, 4) if requests else 0.0,
        "fallbacks": int(sums[2]), "fallback_rate": round(sums[2] / requests, 4) if requests else 0.0,
        "p50_ms": percentile(sums[_HIST:], 0.5), "p95_ms": percentile(sums[_HIST:], 0.95),
        "cost_usd": round(sums[3], 10), "cost_usd_per_min": round(sums[3] * 60 / span_s, 10),
    }


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (ms) of a latency histogram, interpolated linearly inside its bin;
    None when it is empty. The last bin (over 120 s) answers its lower bound."""
    total = sum(values)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for i, count in enumerate(values):
        if count and seen + count >= rank:
            if i >= len(BOUNDS_MS):
                return BOUNDS_MS[-1]
            lower = BOUNDS_MS[i - 1] if i else 0.0
            return round(lower + (BOUNDS_MS[i] - lower) * (rank - seen) / count, 3)
        seen += count
    return BOUNDS_MS[-1]  # pragma: no cover - the loop always reaches the rank
