"""Usage sums per day, model, route and client key, kept in the store for ``GET /admin/usage``.

Promises:
- Recording is off the hot path: a request adds to an in-memory group (a dict lookup and five
  additions); a background task writes the groups to the store every ``flush_interval_s``, one
  atomic batch (Redis: one MULTI/EXEC of HINCRBY/HINCRBYFLOAT), so every replica's requests sum
  into the same counters.
- Days are UTC dates, of when the request ended. A day's counters expire after the retention.
- While the store is unreachable the sums stay here and are retried with the next flush; past
  ``max_groups`` pending groups, new groups are dropped (with a warning), so memory is bounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from gateway import jsonio
from gateway.flusher import Flusher
from gateway.outage import Outage
from gateway.providers.base import Usage
from gateway.store import Store, StoreUnavailable

log = logging.getLogger("grove.usage")

KEY = "grove:usage:{day}"
FIELDS = ("requests", "input_tokens", "output_tokens", "cached_input_tokens", "cost_usd")
Group = tuple[str, str, str, str]
"""(day, model, route, key)."""


def utc_day(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%d")


class UsageLog:
    def __init__(self, store: Store, *, retention_days: int = 400, flush_interval_s: float = 1.0,
                 max_groups: int = 10_000) -> None:
        self.store = store
        self.ttl_s = retention_days * 86400.0
        self.max_groups = max_groups
        self._pending: dict[Group, list[float]] = {}
        self._day = ""
        self._day_ends = 0.0
        self._flusher = Flusher("usage-log", flush_interval_s, self.flush)
        self._outage = Outage(log, "usage")
        self._dropped = 0

    def record(self, model: str, route: str, key: str, usage: Usage | None, cost_usd: float | None,
               now: float | None = None) -> None:
        group = (self._today(time.time() if now is None else now), model, route, key)
        sums = self._pending.get(group)
        if sums is None:
            if len(self._pending) >= self.max_groups:
                self._drop()
                return
            sums = self._pending[group] = [0, 0, 0, 0, 0.0]
        sums[0] += 1
        if usage is not None:
            sums[1] += usage.input_tokens
            sums[2] += usage.output_tokens
            sums[3] += usage.cached_input_tokens
        if cost_usd:
            sums[4] += cost_usd

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        updates: dict[str, dict[str, int | float]] = {}
        for (day, model, route, key), sums in batch.items():
            fields = updates.setdefault(KEY.format(day=day), {})
            for name, value in zip(FIELDS, sums):
                if value:
                    fields[_field(model, route, key, name)] = value if name == "cost_usd" else int(value)
        try:
            await self.store.counters_add(updates, self.ttl_s)
            self._outage.ok()
        except StoreUnavailable as exc:
            self._outage.failed(exc, f"{len(batch)} groups kept for the next flush")
            self._merge_back(batch)

    async def day(self, day: str) -> tuple[list[dict[str, Any]], bool]:
        """The day's rows (one per model, route and key), and whether the store answered (when
        it did not, the rows are this replica's unsent sums only)."""
        await self.flush()
        rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        try:
            stored = await self.store.counters_get(KEY.format(day=day))
            reachable = True
        except StoreUnavailable:
            stored, reachable = {}, False
        for raw, value in stored.items():
            model, route, key, name = _parse_field(raw)
            row = _row(rows, model, route, key)
            if name in row:
                row[name] += value
        for (group_day, model, route, key), sums in self._pending.items():  # not written yet
            if group_day == day:
                row = _row(rows, model, route, key)
                for name, value in zip(FIELDS, sums):
                    row[name] += value
        out = []
        for row in rows.values():
            for name in FIELDS[:-1]:
                row[name] = int(row[name])
            row["cost_usd"] = round(row["cost_usd"], 10)
            out.append(row)
        out.sort(key=lambda r: (r["model"], r["route"], r["key"] or ""))
        return out, reachable

    def start(self) -> None:
        self._flusher.start()

    async def stop(self) -> None:
        await self._flusher.stop()

    def _today(self, now: float) -> str:
        if now >= self._day_ends or now < self._day_ends - 86400:  # formatting a date costs µs: once a day
            self._day = utc_day(now)
            self._day_ends = (now // 86400 + 1) * 86400
        return self._day

    def _merge_back(self, batch: Mapping[Group, list[float]]) -> None:
        for group, sums in batch.items():
            current = self._pending.get(group)
            if current is None:
                if len(self._pending) >= self.max_groups:
                    self._drop()
                    continue
                self._pending[group] = sums
            else:
                for i, value in enumerate(sums):
                    current[i] += value

    def _drop(self) -> None:
        self._dropped += 1
        if self._dropped == 1 or self._dropped % 1000 == 0:
            log.warning("usage: %d pending groups, the limit; %d records dropped", self.max_groups, self._dropped)


def _field(model: str, route: str, key: str, name: str) -> str:
    # JSON, so no model, route or key name can collide with another's fields.
    return jsonio.dumps([model, route, key, name]).decode()


def _parse_field(raw: str) -> tuple[str, str, str, str]:
    model, route, key, name = jsonio.loads(raw)
    return str(model), str(route), str(key), str(name)


def _row(rows: dict[tuple[str, str, str], dict[str, Any]], model: str, route: str, key: str) -> dict[str, Any]:
    row = rows.get((model, route, key))
    if row is None:
        row = rows[(model, route, key)] = {"model": model, "route": route, "key": key or None,
                                           **{name: 0 for name in FIELDS}}
    return row
