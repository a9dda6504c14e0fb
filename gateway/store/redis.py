"""The Redis store: state shared by every replica. The only module that imports ``redis``."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.store import StoreUnavailable

# Short timeouts: a slow or lost Redis must degrade the gateway, never stall requests.
_SOCKET_TIMEOUT_S = 0.5


class RedisStore:
    backend = "redis"

    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(
            url,
            socket_timeout=_SOCKET_TIMEOUT_S,
            socket_connect_timeout=_SOCKET_TIMEOUT_S,
            health_check_interval=30,
        )

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis get failed: {type(exc).__name__}") from None
        return value if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        try:
            await self._redis.set(key, value, px=None if ttl_s is None else int(ttl_s * 1000))
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis set failed: {type(exc).__name__}") from None

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
