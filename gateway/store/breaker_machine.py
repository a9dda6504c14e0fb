"""The circuit-breaker state machine, written once as a pure function.

``step(stored, event, rules, now_ms)`` is the whole machine: no I/O, no clock. The memory
store runs it as is; the Redis store runs a line-by-line Lua mirror of it
(``gateway/store/breaker_lua.py``) so that each transition is one atomic script on the
server. A property test feeds the same random events through both and asserts identical
states, so a change here must be made there too.

Times are integer milliseconds: Lua 5.1 numbers are doubles, which hold integers exactly up
to 2**53, while fractional seconds could round differently in the two languages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
STATE_NAMES = ("closed", "open", "half_open")

# Event kinds. FORCE_OPEN and RESET are the admin's: open for a given time whatever the
# counters say; closed with every count forgotten.
ALLOW, SUCCESS, FAILURE, FORCE_OPEN, RESET = 0, 1, 2, 3, 4

# The failure-ratio window is kept as this many time buckets: a rolling window to within a
# tenth of its length, in a bounded amount of state.
WINDOW_BUCKETS = 10


@dataclass(frozen=True, slots=True)
class Rules:
    """A breaker policy in the machine's units (integer milliseconds)."""

    failure_threshold: int
    window_ms: int
    failure_ratio: float
    min_requests: int
    cooldown_ms: int
    max_cooldown_ms: int
    half_open_probes: int
    probe_lease_ms: int

    @property
    def bucket_ms(self) -> int:
        return max(1, self.window_ms // WINDOW_BUCKETS)

    @property
    def idle_ms(self) -> int:
        """How long an untouched state is kept: a few of the longest periods it tracks."""
        return 3 * max(self.window_ms, self.max_cooldown_ms, self.probe_lease_ms)


@dataclass(frozen=True, slots=True)
class Event:
    kind: int
    # Successes counted locally since the last report: they feed the ratio window only,
    # because their order against other replicas' failures is unknown.
    successes: int = 0
    retry_after_ms: int = 0
    open_ms: int = 0


class State(NamedTuple):
    # A named tuple rather than a frozen dataclass: every request steps the machine, and
    # ``_replace`` costs a fraction of ``dataclasses.replace``.
    state: int = CLOSED
    consecutive_failures: int = 0
    trips: int = 0  # consecutive trips since the breaker last closed: the cooldown's exponent
    opened_until_ms: int = 0
    probes: int = 0  # half-open probes in flight
    probe_deadline_ms: int = 0  # after it, probes that never reported are given up
    window: tuple[tuple[int, int, int], ...] = ()  # (bucket index, successes, failures), ascending
    expires_ms: int = 0


@dataclass(frozen=True, slots=True)
class Reply:
    allowed: bool
    state: int
    consecutive_failures: int
    # The state before the event: the caller sees each transition it caused, exactly once
    # across replicas, since the step is atomic in the store.
    previous: int
    opened_until_ms: int

    @property
    def plain(self) -> bool:
        """Closed with no failure streak: a success here changes nothing but the window."""
        return self.state == CLOSED and self.consecutive_failures == 0


FRESH = State()


def current(stored: State | None, now_ms: int) -> State:
    """The stored state, or a fresh closed one when nothing is stored or it has idled out."""
    if stored is None or stored.expires_ms <= now_ms:
        return FRESH
    return stored


def step(stored: State | None, event: Event, rules: Rules, now_ms: int) -> tuple[State | None, Reply]:
    """Apply one event. Returns the state to store (None: nothing changed) and the reply."""
    old = current(stored, now_ms)
    new, allowed = _apply(old, event, rules, now_ms)
    reply = Reply(allowed, new.state, new.consecutive_failures, old.state, new.opened_until_ms)
    if new == old:
        return None, reply
    return new._replace(expires_ms=now_ms + rules.idle_ms + max(0, new.opened_until_ms - now_ms)), reply


def cooldown_ms(rules: Rules, trips: int) -> int:
    """The open period after the ``trips``-th consecutive trip: doubling, capped."""
    return min(rules.cooldown_ms * 2 ** min(trips - 1, 30), rules.max_cooldown_ms)


def window_totals(s: State, rules: Rules, now_ms: int) -> tuple[int, int]:
    """(successes, failures) inside the rolling window ending now."""
    oldest = now_ms // rules.bucket_ms - WINDOW_BUCKETS
    ok = bad = 0
    for index, successes, failures in s.window:
        if index > oldest:
            ok += successes
            bad += failures
    return ok, bad


def _apply(s: State, e: Event, r: Rules, now: int) -> tuple[State, bool]:
    if e.kind == FORCE_OPEN:
        return s._replace(state=OPEN, opened_until_ms=now + max(0, e.open_ms), probes=0, probe_deadline_ms=0), False
    if e.kind == RESET:
        return FRESH._replace(expires_ms=s.expires_ms), False
    if e.kind == ALLOW:
        return _allow(s, e, r, now)
    if s.state == CLOSED:
        return _closed_report(s, e, r, now), False
    if s.state == HALF_OPEN:
        if e.kind == SUCCESS:
            return FRESH._replace(expires_ms=s.expires_ms), False
        return _trip(s._replace(consecutive_failures=s.consecutive_failures + 1), r, now, e.retry_after_ms), False
    # Open: reports from requests let through before it opened change nothing, except that
    # an upstream's Retry-After is honoured whatever the counters say.
    if e.kind == FAILURE and e.retry_after_ms > 0:
        return s._replace(opened_until_ms=max(s.opened_until_ms, now + e.retry_after_ms)), False
    return s, False


def _allow(s: State, e: Event, r: Rules, now: int) -> tuple[State, bool]:
    if s.state == CLOSED:
        return _count(s, r, now, e.successes, 0), True
    if s.state == OPEN:
        if now < s.opened_until_ms:
            return s, False
        s = s._replace(state=HALF_OPEN, probes=0, probe_deadline_ms=0)
    probes = s.probes
    if probes >= r.half_open_probes and now >= s.probe_deadline_ms:
        probes = 0  # the probes in flight never reported (cancelled, crashed): free their slots
    if probes < r.half_open_probes:
        return s._replace(probes=probes + 1, probe_deadline_ms=now + r.probe_lease_ms), True
    return s, False


def _closed_report(s: State, e: Event, r: Rules, now: int) -> State:
    if e.kind == SUCCESS:
        return _count(s, r, now, e.successes + 1, 0)._replace(consecutive_failures=0)
    s = _count(s, r, now, e.successes, 1)
    s = s._replace(consecutive_failures=s.consecutive_failures + 1)
    ok, bad = window_totals(s, r, now)
    total = ok + bad
    if s.consecutive_failures >= r.failure_threshold or (
        total >= r.min_requests and bad / total > r.failure_ratio
    ):
        return _trip(s, r, now, e.retry_after_ms)
    if e.retry_after_ms > 0:
        # The upstream said when to come back: open for that long without counting a trip,
        # so the cooldown's growth stays driven by the breaker's own evidence.
        return s._replace(state=OPEN, opened_until_ms=now + e.retry_after_ms, probes=0, probe_deadline_ms=0)
    return s


def _trip(s: State, r: Rules, now: int, retry_after_ms: int) -> State:
    trips = s.trips + 1
    until = now + max(cooldown_ms(r, trips), retry_after_ms)
    return State(OPEN, s.consecutive_failures, trips, until, 0, 0, (), s.expires_ms)


def _count(s: State, r: Rules, now: int, successes: int, failures: int) -> State:
    if successes == 0 and failures == 0:
        return s
    index = now // r.bucket_ms
    kept = [b for b in s.window if b[0] > index - WINDOW_BUCKETS]
    # ">=": a clock that stepped back adds to the newest bucket rather than reordering them.
    if kept and kept[-1][0] >= index:
        last = kept.pop()
        kept.append((last[0], last[1] + successes, last[2] + failures))
    else:
        kept.append((index, successes, failures))
    return s._replace(window=tuple(kept))


def decode(fields: dict[bytes, bytes]) -> State | None:
    """A state from the Redis hash fields the Lua script writes; None when there is none."""
    if not fields:
        return None
    raw = {k.decode(): v.decode() for k, v in fields.items()}
    window = tuple(
        (int(i), int(ok), int(bad))
        for i, ok, bad in (item.split(":") for item in raw.get("w", "").split(",") if item)
    )
    return State(
        int(raw["st"]), int(raw["cf"]), int(raw["tr"]), int(raw["ou"]),
        int(raw["pr"]), int(raw["pd"]), window, int(raw["ex"]),
    )
