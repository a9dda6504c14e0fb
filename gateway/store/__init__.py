"""Shared state behind a small protocol: in-memory (embedded default) or Redis.

Everything replicas must agree on (the published registry, the circuit breakers, usage
counters, client-key quotas, live events and logs) goes through a ``Store``. Backends translate
their failures into ``StoreUnavailable`` so callers can degrade to local state instead of failing
a request; ``StoreBusy`` says the store is there but the gateway's own load has every connection
in use, which a caller must not take for an outage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from gateway.store.breaker_machine import Event, Reply, Rules, State
from gateway.store.quota import Quota, Verdict


class StoreUnavailable(Exception):
    """The shared store could not be reached; the caller falls back to local state."""


class StoreBusy(StoreUnavailable):
    """No connection to the store came free in time: the gateway's own load, not an outage."""


class Store(Protocol):
    backend: str
    quota_slots: int | None
    """How many quota calls may be in flight at once without waiting for a connection (each has
    one of its own); None when quota calls never wait (the in-process store)."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...

    # Circuit breakers (the machine is ``gateway/store/breaker_machine.py``). ``now_ms`` None
    # means the store's own clock: Redis server time, so replicas agree whatever their clocks.

    async def breaker_step(self, key: str, event: Event, rules: Rules, now_ms: int | None = None) -> Reply:
        """Apply one event to one breaker atomically."""
        ...

    async def breaker_read(
        self, keys: Sequence[str], now_ms: int | None = None
    ) -> tuple[int, list[State | None]]:
        """The stored states (unexpired or not) and the store's ``now`` they are to be read at."""
        ...

    async def breaker_clear(self, key: str) -> None: ...

    # Bounded logs (the routing decision log): the newest ``max_len`` entries by id, the
    # oldest dropped atomically as new ones arrive.

    async def log_append(self, log: str, entries: Sequence[tuple[str, bytes]], max_len: int) -> None: ...

    async def log_get(self, log: str, entry_id: str) -> bytes | None: ...

    async def log_recent(self, log: str, limit: int) -> list[bytes]:
        """Newest first."""
        ...


    # Counters (usage sums): named numeric fields under a key, incremented atomically.

    async def counters_add(self, updates: Mapping[str, Mapping[str, int | float]], ttl_s: float | None = None) -> None:
        """Add each value to its field, for every key, as one atomic step; ``ttl_s`` (re)sets
        each touched key's expiry. Ints stay exact; floats are added as floats."""
        ...

    async def counters_get(self, key: str) -> dict[str, float]:
        """Every field of ``key`` (empty when it does not exist)."""
        ...

    async def counters_get_many(self, keys: Sequence[str]) -> list[dict[str, float]]:
        """Every field of each key, in the order of ``keys``, in one round trip."""
        ...

    # Client-key quotas (the rules are ``gateway/store/quota.py``). ``key`` names one client
    # key's state; ``request_id`` is unique per request (never ``#``).

    async def quota_admit(self, key: str, request_id: str, quota: Quota, tokens: int,
                          now_ms: int | None = None) -> Verdict:
        """Check every limit of ``quota``; only if all allow, count the request and reserve
        ``tokens`` (capped at the tpm limit). One atomic step."""
        ...

    async def quota_settle(self, key: str, request_id: str, used_tokens: int | None, cost_usd: float,
                           now_ms: int | None = None) -> None:
        """Replace the request's token reservation with ``used_tokens`` (None: keep it) and add
        ``cost_usd`` to the day's and the month's spend. One atomic step."""

    # Versioned documents (the registry's runtime changes): a body and a revision number. A
    # writer replaces the body only if nobody wrote since it read (compare-and-set), and sets the
    # keys it publishes in the same atomic step, so what is published always matches the body.

    async def doc_read(self, key: str) -> tuple[int, bytes | None]:
        """The revision (0 when the document does not exist) and the body."""
        ...

    async def doc_write(
        self, key: str, revision: int, body: bytes | None, publish: Sequence[tuple[str, bytes]] = ()
    ) -> int | None:
        """If ``key`` is still at ``revision``: store ``body`` as the next revision (``None``: keep
        body and revision) and set every ``publish`` key, atomically. Returns the revision now
        stored, or None when another writer came first (read again, redo the change, retry)."""

    # Append-only streams (live events): entries get ids ``"<ms>-<seq>"`` from the store,
    # increasing across every writer; the oldest are trimmed past about ``max_len``.

    async def stream_append(self, stream: str, entries: Sequence[bytes], max_len: int) -> list[str]:
        """Append in order; returns the new ids. At least the newest ``max_len`` are kept."""
        ...

    async def stream_read(
        self, stream: str, after: str, limit: int, block_ms: int = 0
    ) -> list[tuple[str, bytes]]:
        """Up to ``limit`` entries with ids after ``after`` (a full ``ms-seq`` id), oldest first.
        With ``block_ms`` > 0 and none there yet, waits up to that long for one."""
        ...

    async def stream_last_id(self, stream: str) -> str:
        """The newest entry's id, ``"0-0"`` when the stream is empty."""
        ...


def make_store(redis_url: str | None) -> Store:
    """Redis when a URL is configured, otherwise the embedded in-memory store."""
    if redis_url:
        from gateway.store.redis import RedisStore

        return RedisStore(redis_url)
    from gateway.store.memory import MemoryStore

    return MemoryStore()
