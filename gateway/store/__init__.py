"""Shared state behind a small protocol: in-memory (embedded default) or Redis.

Everything replicas must agree on (the published registry, the circuit breakers, usage
counters, later limits and logs) goes through a ``Store``. Backends translate their failures into
``StoreUnavailable`` so callers can degrade to local state instead of failing a
request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from gateway.store.breaker_machine import Event, Reply, Rules, State


class StoreUnavailable(Exception):
    """The shared store could not be reached; the caller falls back to local state."""


class Store(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

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


def make_store(redis_url: str | None) -> Store:
    """Redis when a URL is configured, otherwise the embedded in-memory store."""
    if redis_url:
        from gateway.store.redis import RedisStore

        return RedisStore(redis_url)
    from gateway.store.memory import MemoryStore

    return MemoryStore()
