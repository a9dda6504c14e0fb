"""Client-key limits on the request path: requests and tokens per minute, spend per UTC day and month.

The endpoints' handler (``gateway.api``) calls ``admit`` before any upstream call and ``settle``
once the request's usage and cost are known: a non-stream request at its end, a stream at its
close (``settle_later``). The counting is atomic in the store (``gateway/store/quota.py``, and its
Lua mirror in Redis), so with Redis the limits hold for every replica together, not per replica.

Promises:
- No key (the gateway runs open) or a key without limits costs nothing: no store call.
- ``admit`` is one store round trip. ``settle`` is one when the key has a tpm limit or a
  budget; an rpm-only key settles nothing.
- A refusal raises ``RequestRateExceeded`` or ``TokenRateExceeded`` (429
  ``rate_limit_exceeded``, type ``requests`` / ``tokens``, as OpenAI sends them) or
  ``QuotaExceeded`` (429 ``insufficient_quota``), each with ``Retry-After``, and first calls
  ``on_exceeded(key_name, limit, retry_after_s)``.
- The token reservation is the prompt estimate plus ``max_tokens`` (else
  ``default_output_tokens``); ``settle`` corrects it to the real usage, or releases it when no
  deployment answered. A stream that ends early is settled with the usage the pipeline charges
  for what it delivered (``gateway/pipeline.py``).
- The gateway's own load never lifts a limit. A store with a bounded number of connections
  (Redis: ``quota_slots``) has at most that many quota calls in flight; the others wait their
  turn, and an admission that waits longer than ``busy_wait_s`` is refused (503
  ``limits_busy`` with ``Retry-After``), never served unchecked. So a quota call never waits for
  a connection, and its deadline measures the store alone.
- An outage: when the store is unreachable (``StoreUnavailable``), or a call gets no answer
  within ``store_timeout_s`` after the store has answered nothing for ``LOST_AFTER_S`` (a slow
  answer alone may be our own load: that admission is refused with 503 ``limits_busy``), a
  key's limits fail open (served without limits, as the breakers keep serving) unless the key
  says ``on_store_outage: closed`` (503 ``limits_unavailable``); a warning is logged at most
  once per ``warn_every_s`` (a minute). Spend settled during the outage is not counted.
- Budgets are checked before a request and its cost is added after it, so the requests already
  in flight when a key reaches its budget still finish: a key overshoots by their cost.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from gateway.catalog_schema import KeySpec, LimitsSpec
from gateway.errors import LimitExceeded, QuotaExceeded, RequestRateExceeded, ServiceUnavailable, TokenRateExceeded
from gateway.providers.base import Usage
from gateway.routing import DEFAULT_OUTPUT_TOKENS, Features
from gateway.store import Store, StoreBusy, StoreUnavailable
from gateway.store.memory import MemoryStore
from gateway.store.quota import RPM, TPM, USD_DAY, Quota, Verdict

log = logging.getLogger("grove.limits")

KEY_PREFIX = "grove:quota:"
LOST_AFTER_S = 2.0
"""How long the store must have given no answer at all before a stalled call takes it for lost."""
OnExceeded = Callable[[str, str, float], None]
"""``(key name, limit name, retry after in seconds)``; the limit is one of ``quota.LIMITS``."""
T = TypeVar("T")


def _ignore(key_name: str, limit: str, retry_after_s: float) -> None:
    return None


@dataclass(slots=True)
class Ticket:
    """An admitted request of a limited key, until it is settled (once)."""

    key_name: str
    store_key: str
    request_id: str
    quota: Quota
    tokens: int
    settled: bool = False
    closed: bool = False
    """The key's limits refuse rather than fail open while the store is unreachable."""


class Limiter:
    def __init__(
        self,
        store: Store,
        *,
        on_exceeded: OnExceeded = _ignore,
        clock: Callable[[], float] | None = None,
        store_timeout_s: float = 0.25,
        busy_wait_s: float = 2.0,
        default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        warn_every_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` (epoch seconds) replaces the store's clock (Redis: its server time); tests
        use it to step time. ``monotonic`` paces the outage warnings."""
        self.on_exceeded = on_exceeded
        self._store = store
        self._clock = clock
        self._timeout_s = store_timeout_s
        self._busy_wait_s = busy_wait_s
        self._slots = asyncio.Semaphore(store.quota_slots) if store.quota_slots else None
        self._answered_at = monotonic()  # when the store last answered a quota call
        self._output_tokens = default_output_tokens
        self._warn_every_s = warn_every_s
        self._monotonic = monotonic
        self._in_process = isinstance(store, MemoryStore)
        self._quotas: dict[LimitsSpec, Quota] = {}
        self._warned_at: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def admit(self, key: KeySpec | None, request_id: str, features: Features) -> Ticket | None:
        """Count the request against its key's limits, or raise a ``LimitExceeded``. None for a
        key without limits (nothing to settle)."""
        if key is None or key.limits is None:
            return None
        quota = self._quota(key.limits)
        if quota.empty:
            return None
        tokens = features.input_tokens + (features.max_tokens or self._output_tokens) if quota.tpm else 0
        ticket = Ticket(key.name, KEY_PREFIX + key.name, request_id, quota, tokens,
                        closed=key.limits.on_store_outage == "closed")
        now = self._now_ms()
        verdict = await self._call(lambda store: store.quota_admit(ticket.store_key, request_id, quota, tokens, now),
                                   ticket, admitting=True)
        if verdict is None or verdict.allowed:  # None: the store is away, and limits fail open
            return ticket
        error = _refusal(key.name, quota, verdict, tokens)
        try:
            self.on_exceeded(key.name, error.limit, error.retry_after_s)
        except Exception:  # noqa: BLE001 - a listener's bug must not turn a 429 into a 500
            log.exception("on_exceeded callback failed")
        raise error

    async def settle(self, ticket: Ticket | None, usage: Usage | None, cost_usd: float | None, served: bool) -> None:
        """Correct the token reservation to ``usage`` and add ``cost_usd`` to the spend.
        ``served`` is False when no deployment answered: the reservation is released."""
        if ticket is None or ticket.settled:
            return
        ticket.settled = True
        quota = ticket.quota
        used: int | None = None
        if quota.tpm is not None:
            if usage is not None:
                used = usage.input_tokens + usage.output_tokens
            elif not served:
                used = 0
        cost = float(cost_usd) if quota.budgets and cost_usd and cost_usd > 0 else 0.0
        if used is None and cost == 0.0:
            return
        now = self._now_ms()
        await self._call(lambda store: store.quota_settle(ticket.store_key, ticket.request_id, used, cost, now),
                         ticket, admitting=False)

    def settle_later(self, ticket: Ticket | None, usage: Usage | None, cost_usd: float | None, served: bool) -> None:
        """``settle`` in a background task: for a stream's close, which cannot wait on the store."""
        if ticket is None or ticket.settled:
            return
        task = asyncio.get_running_loop().create_task(self.settle(ticket, usage, cost_usd, served))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Wait for the settles still in flight."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _quota(self, limits: LimitsSpec) -> Quota:
        quota = self._quotas.get(limits)
        if quota is None:
            quota = self._quotas[limits] = Quota(limits.rpm, limits.tpm, limits.budget_usd_day, limits.budget_usd_month)
        return quota

    async def _call(self, op: Callable[[Store], Awaitable[T]], ticket: Ticket, *, admitting: bool) -> T | None:
        """``op`` on the store, in its turn; None when the store failed or stalled and the key's
        limits fail open. Raises ``ServiceUnavailable`` for an admission that cannot be checked
        (no turn within ``busy_wait_s``; an outage for a key that fails closed)."""
        if self._in_process:  # the embedded store neither fails nor stalls: no timer to arm
            return await op(self._store)
        slots = self._slots
        if slots is not None:
            try:  # a settle waits as long as it takes: its request is served, only the count is left
                async with asyncio.timeout(self._busy_wait_s if admitting else None):
                    await slots.acquire()
            except TimeoutError:
                raise _busy(ticket) from None
        try:
            async with asyncio.timeout(self._timeout_s):
                result = await op(self._store)
            self._answered_at = self._monotonic()
            return result
        except StoreBusy:
            if admitting:
                raise _busy(ticket) from None
            log.warning("client-key limits: no store connection for a settle of key %s", ticket.key_name)
            return None
        except TimeoutError:
            # A slow answer may be our own load (a busy event loop, a busy machine), which must
            # never lift a limit: refused. Only a store that has answered nothing for
            # LOST_AFTER_S is taken for lost (a frozen Redis).
            if self._monotonic() - self._answered_at < LOST_AFTER_S:
                if admitting:
                    raise _busy(ticket) from None
                return None
            return self._fail_open(TimeoutError(), ticket, admitting)
        except Exception as exc:  # noqa: BLE001 - a store failure must never fail the request
            return self._fail_open(exc, ticket, admitting)
        finally:
            if slots is not None:
                slots.release()

    def _fail_open(self, exc: Exception, ticket: Ticket, admitting: bool) -> None:
        """The store is lost: limits fail open, unless the key says closed."""
        self._lost(exc)
        if admitting and ticket.closed:
            raise ServiceUnavailable(
                f"The limits of key '{ticket.key_name}' cannot be checked: the shared store is unreachable.",
                code="limits_unavailable", headers={"retry-after": "1"}) from None

    def _lost(self, exc: Exception) -> None:
        now = self._monotonic()
        if self._warned_at is not None and now - self._warned_at < self._warn_every_s:
            return
        self._warned_at = now
        if isinstance(exc, (StoreUnavailable, TimeoutError)):
            reason = str(exc) or f"no answer within {self._timeout_s:g}s"
            log.warning("client-key limits: store unreachable (%s): serving without limits", reason)
        else:
            log.error("client-key limits: store call failed: serving without limits", exc_info=exc)

    def _now_ms(self) -> int | None:
        return None if self._clock is None else round(self._clock() * 1000)


def _busy(ticket: Ticket) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"The gateway is too busy to check the limits of key '{ticket.key_name}' right now; try again shortly.",
        code="limits_busy", headers={"retry-after": "1"})


def _refusal(name: str, quota: Quota, verdict: Verdict, tokens: int) -> LimitExceeded:
    limit = verdict.limit or RPM
    retry_s = max(verdict.retry_after_ms, 0) / 1000
    wait = f"Please try again in {max(1, math.ceil(retry_s))}s."
    if limit == RPM:
        return RequestRateExceeded(
            f"Rate limit reached for key '{name}' on requests per min (RPM): Limit {quota.rpm}. {wait}",
            limit=limit, retry_after_s=retry_s,
        )
    if limit == TPM:
        return TokenRateExceeded(
            f"Rate limit reached for key '{name}' on tokens per min (TPM): Limit {quota.tpm}, "
            f"Requested {min(tokens, quota.tpm or tokens)}. {wait}",
            limit=limit, retry_after_s=retry_s,
        )
    period, budget = ("day", quota.usd_day) if limit == USD_DAY else ("month", quota.usd_month)
    return QuotaExceeded(
        f"Key '{name}' has used its budget of ${budget:g} for this UTC {period}; it resets at the start of the "
        f"next one (in {max(1, math.ceil(retry_s))}s).",
        limit=limit, retry_after_s=retry_s,
    )
