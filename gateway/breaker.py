"""Circuit breakers per deployment, shared by every replica through the store.

Before each attempt the pipeline asks ``allow(key)``; after it, it reports
``record_success`` or ``record_failure`` (with the upstream's Retry-After, if any). The
state machine (closed → open → half-open → closed, in ``store/breaker_machine``) runs
atomically inside the store, so a breaker opened by one replica is open for every replica
from its next request on. With Redis, times come from the Redis server clock: replicas'
own clocks may disagree, the server's is one clock for all.

Promises:
- ``allow`` costs at most one store round trip. A success reported while the breaker is
  plainly closed (no failure streak) costs none: it is counted here and carried to the
  store, for the failure-ratio window, by the next ``allow`` or failure report. With the
  in-process store (no other replica can change a breaker) ``allow`` on a plainly closed
  breaker costs no store step either, for ``CARRY_S`` after the last one: successes reach
  the window at most that late, far inside its bucket of a tenth of the window.
- A store that fails or is slow never raises to the caller. The breakers switch to local
  state (the same machine in a private memory store), warn once per outage, and go back to
  the shared state as soon as the store answers again.
- Every transition this replica causes is published once (``breaker.opened``,
  ``breaker.half_open``, ``breaker.closed``): the store's atomic step says what the state was
  before, so a transition is seen by exactly one replica. Admin actions always publish.
- What this replica found open it remembers for a moment (``recently_open``), so the router
  can leave it out without asking the store on every request; an admin reset forgets it.
- For a breaker this replica saw open, ``wait(key)`` says how long until it half-opens and
  whether an upstream rate limit (a 429 reported here) is what holds it open: a refusal
  carries that wait as ``Retry-After``, and a 429 when every candidate is rate limiting. The
  open period is the store's (Redis server's) clock against this replica's: NTP-close, and
  rounded up to whole seconds where it is used.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from gateway.retry_after import Wait
from gateway.store import Store, StoreUnavailable
from gateway.store.breaker_machine import (
    ALLOW, FAILURE, FORCE_OPEN, OPEN, RESET, STATE_NAMES, SUCCESS, Event, Reply, Rules, State, current,
)
from gateway.store.memory import MemoryStore

log = logging.getLogger("grove.breaker")

KEY_PREFIX = "grove:breaker:"

# Longest open period accepted from a Retry-After or an admin: keeps the machine's integer
# milliseconds far inside the 2**53 that Lua's doubles hold exactly.
_MAX_OPEN_S = 365 * 86400.0

# How long a deployment found open is left out by the router before the breaker is asked again.
OPEN_RECHECK_S = 1.0
# In-process store: how long a plainly closed breaker is allowed without a store step.
CARRY_S = 0.1
# The event published on entering each state.
EVENT_KINDS = ("breaker.closed", "breaker.opened", "breaker.half_open")

StateName = Literal["closed", "open", "half_open"]
Publish = Callable[[str, Mapping[str, Any]], None]
T = TypeVar("T")


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    window_s: float = 30
    failure_ratio: float = 0.5
    min_requests: int = 20
    cooldown_s: float = 10
    max_cooldown_s: float = 300
    half_open_probes: int = 1
    # A half-open probe that never reports (cancelled, replica died) frees its slot after this.
    probe_lease_s: float = 60

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.min_requests < 1 or self.half_open_probes < 1:
            raise ValueError("failure_threshold, min_requests and half_open_probes must be at least 1")
        if not 0 < self.failure_ratio <= 1:
            raise ValueError("failure_ratio must be in (0, 1]")
        if min(self.window_s, self.cooldown_s, self.probe_lease_s) <= 0:
            raise ValueError("window_s, cooldown_s and probe_lease_s must be positive")
        if self.max_cooldown_s < self.cooldown_s:
            raise ValueError("max_cooldown_s must be at least cooldown_s")

    def rules(self) -> Rules:
        return Rules(
            failure_threshold=self.failure_threshold, window_ms=_ms(self.window_s),
            failure_ratio=float(self.failure_ratio), min_requests=self.min_requests,
            cooldown_ms=_ms(self.cooldown_s), max_cooldown_ms=_ms(self.max_cooldown_s),
            half_open_probes=self.half_open_probes, probe_lease_ms=_ms(self.probe_lease_s),
        )


@dataclass(frozen=True)
class BreakerView:
    """One breaker as admin, router and telemetry see it. Times are epoch seconds."""

    key: str
    state: StateName
    consecutive_failures: int
    opened_until: float | None
    trips: int


class Breakers:
    def __init__(
        self,
        store: Store,
        policy: BreakerPolicy = BreakerPolicy(),
        *,
        clock: Callable[[], float] | None = None,
        store_timeout_s: float = 0.25,
        recheck_s: float = 1.0,
        publish: Publish | None = None,
    ) -> None:
        """``clock`` (epoch seconds) replaces the store's clock; tests use it to step time.

        ``store_timeout_s`` bounds each store call: past it the request goes on local state.
        During an outage the shared store is tried again at most every ``recheck_s``.
        ``publish`` (``Events.publish``) receives the transition events.
        """
        self.policy = policy
        self._store = store
        self._rules = policy.rules()
        self._clock = clock
        self._timeout_s = store_timeout_s
        self._recheck_s = recheck_s
        self._local = MemoryStore()
        self._in_process = isinstance(store, MemoryStore)
        self._down = False
        self._next_recheck = 0.0
        self._plain: dict[str, bool] = {}  # last reply said closed with no failure streak
        self._pending: dict[str, int] = {}  # successes not yet carried to the store
        self._open_until: dict[str, float] = {}  # found open here, until (monotonic)
        self._stepped_until: dict[str, float] = {}  # in-process store: allowed without a step until
        self._reopens: dict[str, float] = {}  # seen open here: half-opens at (monotonic)
        self._rate_limited: set[str] = set()  # seen open here after a 429 this replica reported
        self._publish = publish

    @property
    def shared(self) -> bool:
        """False while the store is unreachable and the breakers run on local state."""
        return not self._down

    async def allow(self, key: str) -> tuple[bool, StateName]:
        """May ``key`` be tried now? A half-open probe slot is taken atomically when granted.
        A refusal is remembered for ``recently_open``."""
        if self._in_process and self._plain.get(key, False) and self._seconds() < self._stepped_until.get(key, 0.0):
            return True, "closed"
        reply = await self._step(key, Event(ALLOW, successes=self._pending.pop(key, 0)))
        if not reply.allowed:
            self._open_until[key] = time.monotonic() + OPEN_RECHECK_S
        return reply.allowed, _name(reply.state)

    def recently_open(self) -> frozenset[str]:
        """Deployments this replica found open within the last ``OPEN_RECHECK_S``: no store call."""
        if not self._open_until:
            return frozenset()
        now = time.monotonic()
        for key in [k for k, until in self._open_until.items() if until <= now]:
            del self._open_until[key]
        return frozenset(self._open_until)

    async def record_success(self, key: str) -> None:
        if self._plain.get(key, False):
            self._pending[key] = self._pending.get(key, 0) + 1
            return
        await self._step(key, Event(SUCCESS, successes=self._pending.pop(key, 0)))

    async def record_failure(self, key: str, retry_after_s: float | None = None, rate_limited: bool = False) -> None:
        """A failed attempt; ``retry_after_s`` (from a 429/503) opens the breaker at least that long.
        ``rate_limited``: the upstream said 429 (a refusal while it holds the breaker open says so)."""
        retry_after_ms = 0
        if retry_after_s is not None and retry_after_s > 0:  # NaN fails this test too
            retry_after_ms = math.ceil(min(retry_after_s, _MAX_OPEN_S) * 1000)
        reply = await self._step(key, Event(FAILURE, successes=self._pending.pop(key, 0),
                                            retry_after_ms=retry_after_ms))
        if rate_limited and reply.state == OPEN:
            self._rate_limited.add(key)

    def wait(self, key: str) -> Wait | None:
        """For a breaker last seen open here: the time left until it half-opens (0 if past), and
        whether a rate limit holds it open. None when it was not seen open."""
        reopens = self._reopens.get(key)
        if reopens is None:
            return None
        return Wait(max(0.0, reopens - time.monotonic()), key in self._rate_limited)

    async def view(self, key: str) -> BreakerView:
        return (await self.views([key]))[0]

    async def views(self, keys: Iterable[str]) -> list[BreakerView]:
        """Every breaker in ``keys``, read in one store round trip."""
        names = list(keys)
        store_keys = [KEY_PREFIX + name for name in names]
        now = self._now_ms()
        read_at, states = await self._run(lambda store: store.breaker_read(store_keys, now))
        return [_view(name, current(state, read_at), read_at) for name, state in zip(names, states)]

    async def force_open(self, key: str, for_s: float) -> None:
        """Admin action: open now for ``for_s`` seconds, whatever the counters say (every
        replica skips it from its next request: the state is in the store)."""
        self._pending.pop(key, None)
        self._rate_limited.discard(key)  # held open by the admin now, not by a rate limit
        open_ms = math.ceil(min(max(0.0, for_s), _MAX_OPEN_S) * 1000)
        await self._step(key, Event(FORCE_OPEN, open_ms=open_ms), by="admin")
        self._open_until[key] = time.monotonic() + OPEN_RECHECK_S

    async def reset(self, key: str) -> None:
        """Admin action: closed, with every count and trip forgotten."""
        self._pending.pop(key, None)
        self._open_until.pop(key, None)
        await self._step(key, Event(RESET), by="admin")
        # Local state from an outage must not come back with the next one.
        await self._local.breaker_clear(KEY_PREFIX + key)

    async def _step(self, key: str, event: Event, by: str | None = None) -> Reply:
        store_key = KEY_PREFIX + key
        now = self._now_ms()
        reply = await self._run(lambda store: store.breaker_step(store_key, event, self._rules, now))
        self._plain[key] = reply.plain
        if reply.state == OPEN:
            self._saw_open(key, reply.opened_until_ms, now)
        elif self._reopens:
            self._reopens.pop(key, None)
            self._rate_limited.discard(key)
        if self._in_process:
            self._stepped_until[key] = self._seconds() + CARRY_S
        publish = self._publish
        if publish is not None and (reply.state != reply.previous or by is not None):
            publish(EVENT_KINDS[reply.state], self._transition(key, reply, by))
        return reply

    def _saw_open(self, key: str, opened_until_ms: int, now_ms: int | None) -> None:
        store_now = now_ms if now_ms is not None else time.time() * 1000  # the store's clock, as near as known
        self._reopens[key] = time.monotonic() + max(0.0, opened_until_ms - store_now) / 1000

    def _transition(self, key: str, reply: Reply, by: str | None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "deployment": key, "from": STATE_NAMES[reply.previous], "to": STATE_NAMES[reply.state],
            "consecutive_failures": reply.consecutive_failures,
            "opened_until": reply.opened_until_ms / 1000 if reply.state == OPEN else None,
            "shared": not self._down,  # False: this replica's local state, the store was unreachable
        }
        if by is not None:
            data["by"] = by
        return data

    async def _run(self, op: Callable[[Store], Awaitable[T]]) -> T:
        """``op`` on the shared store, or on local state when the shared store fails or stalls."""
        if self._in_process:  # the embedded store neither fails nor stalls: no timer to arm
            return await op(self._store)
        if self._try_shared():
            try:
                async with asyncio.timeout(self._timeout_s):
                    result = await op(self._store)
            except Exception as exc:  # noqa: BLE001 - a store failure must never reach the caller
                self._lost(exc)
            else:
                if self._down:
                    self._down = False
                    log.info("breaker store answers again: back on shared breaker state")
                return result
        return await op(self._local)

    def _try_shared(self) -> bool:
        if not self._down:
            return True
        now = time.monotonic()
        if now < self._next_recheck:
            return False
        # Claimed before the await, so concurrent requests send one recheck, not one each.
        self._next_recheck = now + self._recheck_s
        return True

    def _lost(self, exc: Exception) -> None:
        self._next_recheck = time.monotonic() + self._recheck_s
        if self._down:
            return
        self._down = True
        # Start from clean local state: a previous outage's leftovers are older than anything
        # the shared state said since.
        self._local = MemoryStore()
        if isinstance(exc, (StoreUnavailable, TimeoutError)):
            reason = str(exc) or f"no answer within {self._timeout_s:g}s"
            log.warning("breaker store unreachable (%s): using local breaker state until it answers", reason)
        else:
            log.error("breaker store call failed: using local breaker state until it answers", exc_info=exc)

    def _now_ms(self) -> int | None:
        return None if self._clock is None else round(self._clock() * 1000)

    def _seconds(self) -> float:
        return time.monotonic() if self._clock is None else self._clock()


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _name(state: int) -> StateName:
    return cast(StateName, STATE_NAMES[state])


def _view(key: str, s: State, now_ms: int) -> BreakerView:
    if s.state == OPEN and now_ms >= s.opened_until_ms:
        # The cooldown is over; the next allow() turns it half-open and lets a probe through.
        return BreakerView(key, "half_open", s.consecutive_failures, None, s.trips)
    until = s.opened_until_ms / 1000 if s.state == OPEN else None
    return BreakerView(key, _name(s.state), s.consecutive_failures, until, s.trips)
