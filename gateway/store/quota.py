"""Client-key quotas as the stores keep them: the rules, written once in Python.

A key's quota has up to four limits. ``admit`` checks them all and, only if every one allows,
records the request; ``settle`` corrects its token reservation to what was used and adds its
cost. The memory store runs ``QuotaBook`` directly; the Redis store runs a Lua mirror of it
(``gateway/store/quota_lua.py``), one atomic script per call, so the limits hold across every
replica together. Tests run both through the same expectations (``tests/test_quota_store.py``).

- ``rpm``: at most N admitted requests in any trailing minute (a sliding log: a burst of N is
  fine, N + 1 in 60 s never is). The retry time is when the oldest one that must go has aged out.
- ``tpm``: at most N tokens in any trailing minute, counted when a request is admitted: the
  estimate is reserved (capped at N, so a request bigger than the whole limit still passes on
  an idle key) and ``settle`` replaces it with the real usage. Usage above the estimate counts
  against the minute, so a key that went over waits until it has aged out.
- ``usd_day`` / ``usd_month``: spend per UTC day / month; a key at or over either is refused
  until the next day / month begins. Spend is added at ``settle``.

Refused requests leave no trace. Times are integer epoch milliseconds, as for the breakers.
"""

from __future__ import annotations

from bisect import insort
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

WINDOW_MS = 60_000
DAY_MS = 86_400_000
SPEND_TTL_MS = 32 * DAY_MS
"""An untouched spend record is kept this long: past it, its day and month are both over."""

RPM, TPM, USD_DAY, USD_MONTH = "rpm", "tpm", "budget_usd_day", "budget_usd_month"
LIMITS = (RPM, TPM, USD_DAY, USD_MONTH)
"""The limit names, in the order they are checked (``Verdict.limit`` is one of them)."""


@dataclass(frozen=True, slots=True)
class Quota:
    """The limits of one key; None means unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    usd_day: float | None = None
    usd_month: float | None = None

    @property
    def empty(self) -> bool:
        return self.rpm is None and self.tpm is None and self.usd_day is None and self.usd_month is None

    @property
    def budgets(self) -> bool:
        return self.usd_day is not None or self.usd_month is not None


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: str | None = None
    """Which limit refused (one of ``LIMITS``), None when allowed."""
    retry_after_ms: int = 0
    """When the refused request would pass, if nothing else happens meanwhile."""


ALLOWED = Verdict(True)


def month_index(now_ms: int) -> int:
    """The UTC month of ``now_ms`` as ``year * 12 + month - 1``."""
    moment = datetime.fromtimestamp(now_ms // 1000, timezone.utc)
    return moment.year * 12 + moment.month - 1


def month_start_ms(index: int) -> int:
    """Epoch milliseconds at the start of the UTC month ``index`` (see ``month_index``)."""
    start = datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)
    return int(start.timestamp()) * 1000


@dataclass(slots=True)
class _Window:
    """One trailing-minute log: (time, request id) in time order, each id's weight, their sum."""

    log: deque[tuple[int, str]] = field(default_factory=deque)
    weights: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def trim(self, now: int) -> None:
        cutoff = now - WINDOW_MS
        while self.log and self.log[0][0] <= cutoff:
            _, request_id = self.log.popleft()
            self.total -= self.weights.pop(request_id)

    def add(self, now: int, request_id: str, weight: int) -> None:
        if self.log and now < self.log[-1][0]:  # an injected clock stepped back: keep the order
            insort(self.log, (now, request_id))
        else:
            self.log.append((now, request_id))
        self.weights[request_id] = weight
        self.total += weight

    def retry_ms(self, now: int, weight: int, limit: int) -> int:
        """How long until enough of the oldest entries have aged out for ``weight`` to fit."""
        over = self.total + weight - limit
        for at, request_id in self.log:
            over -= self.weights[request_id]
            if over <= 0:
                return at + WINDOW_MS - now
        return WINDOW_MS  # not reached: a weight is capped at the limit


@dataclass(slots=True)
class _Spend:
    day: int = -1
    day_usd: float = 0.0
    month: int = -1
    month_usd: float = 0.0
    expires_ms: int = 0


class QuotaBook:
    """Every key's quota state in this process. Each call runs without an ``await``, so on one
    event loop it is as atomic as the Redis script."""

    def __init__(self) -> None:
        self._rpm: dict[str, _Window] = {}
        self._tpm: dict[str, _Window] = {}
        self._spend: dict[str, _Spend] = {}

    def admit(self, key: str, request_id: str, quota: Quota, tokens: int, now: int) -> Verdict:
        spend = self._spend_of(key, now)
        if quota.usd_day is not None and spend.day == now // DAY_MS and spend.day_usd >= quota.usd_day:
            return Verdict(False, USD_DAY, (now // DAY_MS + 1) * DAY_MS - now)
        month = month_index(now)
        if quota.usd_month is not None and spend.month == month and spend.month_usd >= quota.usd_month:
            return Verdict(False, USD_MONTH, month_start_ms(month + 1) - now)
        rpm = tpm = None
        if quota.rpm is not None:
            rpm = self._window(self._rpm, key, now)
            if rpm.total + 1 > quota.rpm:
                return Verdict(False, RPM, rpm.retry_ms(now, 1, quota.rpm))
        weight = 0
        if quota.tpm is not None:
            weight = max(0, min(tokens, quota.tpm))
            tpm = self._window(self._tpm, key, now)
            if tpm.total + weight > quota.tpm:
                return Verdict(False, TPM, tpm.retry_ms(now, weight, quota.tpm))
        if rpm is not None:
            rpm.add(now, request_id, 1)
        if tpm is not None:
            tpm.add(now, request_id, weight)
        return ALLOWED

    def settle(self, key: str, request_id: str, used_tokens: int | None, cost_usd: float, now: int) -> None:
        if used_tokens is not None:
            tpm = self._tpm.get(key)
            if tpm is not None:
                tpm.trim(now)
                reserved = tpm.weights.get(request_id)
                if reserved is not None:  # not yet aged out of the minute it was counted in
                    tpm.weights[request_id] = used_tokens
                    tpm.total += used_tokens - reserved
        if cost_usd > 0:
            spend = self._spend_of(key, now)
            day, month = now // DAY_MS, month_index(now)
            if spend.day != day:
                spend.day, spend.day_usd = day, 0.0
            if spend.month != month:
                spend.month, spend.month_usd = month, 0.0
            spend.day_usd += cost_usd
            spend.month_usd += cost_usd
            spend.expires_ms = now + SPEND_TTL_MS
            self._spend[key] = spend

    def clear(self) -> None:
        self._rpm.clear()
        self._tpm.clear()
        self._spend.clear()

    def _window(self, windows: dict[str, _Window], key: str, now: int) -> _Window:
        window = windows.get(key)
        if window is None:
            window = windows[key] = _Window()
        window.trim(now)
        return window

    def _spend_of(self, key: str, now: int) -> _Spend:
        spend = self._spend.get(key)
        if spend is None or spend.expires_ms <= now:
            return _Spend()
        return spend
