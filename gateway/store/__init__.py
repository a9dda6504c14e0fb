"""Shared state behind a small protocol: in-memory (embedded default) or Redis.

Everything replicas must agree on (the published registry, later breakers, limits
and logs) goes through a ``Store``. Backends translate their failures into
``StoreUnavailable`` so callers can degrade to local state instead of failing a
request.
"""

from __future__ import annotations

from typing import Protocol


class StoreUnavailable(Exception):
    """The shared store could not be reached; the caller falls back to local state."""


class Store(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def make_store(redis_url: str | None) -> Store:
    """Redis when a URL is configured, otherwise the embedded in-memory store."""
    if redis_url:
        from gateway.store.redis import RedisStore

        return RedisStore(redis_url)
    from gateway.store.memory import MemoryStore

    return MemoryStore()
