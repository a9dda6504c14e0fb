"""The Redis store: state shared by every replica. The only module that imports ``redis``.

Breaker transitions run server-side as one Lua script per event (``breaker_lua``), called
by EVALSHA with a fallback to EVAL when Redis has not cached the script (NOSCRIPT: after a
restart or SCRIPT FLUSH); EVAL caches it again for the next call. Client-key quotas are one
script per admit or settle (``quota_lua``), run the same way. Counters are hash fields
bumped by HINCRBY / HINCRBYFLOAT inside one MULTI/EXEC, so a batch lands whole or not at all.
Live events are a Redis stream (XADD MAXLEN ~, XREAD [BLOCK]).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from gateway.store import StoreBusy, StoreUnavailable
from gateway.store import breaker_machine as machine
from gateway.store.breaker_lua import RULE_ORDER, SCRIPT
from gateway.store.quota import LIMITS, Quota, Verdict
from gateway.store.quota_lua import SCRIPT as QUOTA_SCRIPT

_SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def _rule_args(rules: machine.Rules) -> list[str]:
    values = {
        "failure_threshold": rules.failure_threshold, "window_ms": rules.window_ms,
        # repr round-trips a float exactly, so Lua's tonumber sees the same double.
        "failure_ratio": repr(float(rules.failure_ratio)), "min_requests": rules.min_requests,
        "cooldown_ms": rules.cooldown_ms, "max_cooldown_ms": rules.max_cooldown_ms,
        "half_open_probes": rules.half_open_probes, "probe_lease_ms": rules.probe_lease_ms,
        "bucket_ms": rules.bucket_ms, "idle_ms": rules.idle_ms, "window_buckets": machine.WINDOW_BUCKETS,
    }
    return [str(values[name]) for name in RULE_ORDER]

# Short timeouts: a slow or lost Redis must degrade the gateway, never stall requests.
_SOCKET_TIMEOUT_S = 0.5
# Blocking stream reads wait at most this long, on their own connection pool with no socket
# timeout (the main pool's would cut every one of them short) but a deadline of their own.
# Without a socket timeout redis-py also skips its asyncio.wait_for around writes, which on
# Python 3.11 can swallow a cancellation: the reader must stop when cancelled.
MAX_BLOCK_MS = 5000
_BLOCK_MARGIN_S = 1.0
# A burst of requests must wait for a connection, not fail: redis-py's default pool raises as soon
# as its connections are all in use, and the callers took that for an outage (the client-key
# limits then served without limits). The pools here wait; a wait that runs out is StoreBusy.
POOL_CONNECTIONS = 100
POOL_WAIT_S = 2.0
# Quota calls have a pool of their own, and the limiter never has more of them in flight than it
# has connections (``quota_slots``): a quota call never waits for a connection, so its deadline
# measures Redis alone, and waiting for a turn (our own load) is told apart from an outage.
QUOTA_CONNECTIONS = 32


def _pool(url: str, connections: int) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=connections, timeout=POOL_WAIT_S,
        socket_timeout=_SOCKET_TIMEOUT_S, socket_connect_timeout=_SOCKET_TIMEOUT_S, health_check_interval=30,
    )
    return aioredis.Redis.from_pool(pool)


def _failed(what: str, exc: BaseException) -> StoreUnavailable:
    """The store's error for a failed Redis call. redis-py's blocking pool reports a wait for a
    connection that ran out as a ConnectionError caused by a TimeoutError (tested:
    ``test_a_full_pool_is_busy_not_unavailable``)."""
    if isinstance(exc, RedisConnectionError) and isinstance(exc.__cause__, TimeoutError):
        return StoreBusy(f"redis {what}: no free connection within {POOL_WAIT_S:g}s")
    return StoreUnavailable(f"redis {what} failed: {type(exc).__name__}")


_LOG_APPEND = """
local ids, items = KEYS[1], KEYS[2]
for i = 2, #ARGV, 2 do
  redis.call('HSET', items, ARGV[i], ARGV[i + 1])
  redis.call('LPUSH', ids, ARGV[i])
end
local extra = redis.call('LLEN', ids) - tonumber(ARGV[1])
for _ = 1, extra do
  redis.call('HDEL', items, redis.call('RPOP', ids))
end
return extra
"""


# Compare-and-set of a versioned document (a hash: rev, body) plus the keys it publishes.
# KEYS: the document, then the published keys; ARGV: expected revision, "1" to write the body
# (else keep it), the body, then one value per published key. Returns the stored revision or -1.
_DOC_WRITE = """
local rev = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0')
if rev ~= tonumber(ARGV[1]) then
  return -1
end
if ARGV[2] == '1' then
  rev = rev + 1
  redis.call('HSET', KEYS[1], 'rev', rev, 'body', ARGV[3])
end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 2])
end
return rev
"""


class RedisStore:
    backend = "redis"
    quota_slots = QUOTA_CONNECTIONS

    def __init__(self, url: str) -> None:
        self._redis = _pool(url, POOL_CONNECTIONS)
        self._quota_redis = _pool(url, QUOTA_CONNECTIONS)
        self._url = url
        self._blocking: aioredis.Redis | None = None
        self._rules_cache: dict[machine.Rules, list[str]] = {}
        # Append, then drop the oldest past max_len, atomically: ids in a list, entries in a hash.
        self._log_append = self._redis.register_script(_LOG_APPEND)
        self._quota = self._quota_redis.register_script(QUOTA_SCRIPT)

        self._doc_write = self._redis.register_script(_DOC_WRITE)

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            raise _failed("get", exc) from None
        return value if value is None else bytes(value)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        try:
            await self._redis.set(key, value, px=None if ttl_s is None else int(ttl_s * 1000))
        except (RedisError, OSError) as exc:
            raise _failed("set", exc) from None

    async def delete(self, key: str) -> bool:
        try:
            return bool(await self._redis.delete(key))
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"redis delete failed: {type(exc).__name__}") from None

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
        await self._quota_redis.aclose()
        if self._blocking is not None:
            await self._blocking.aclose()
            self._blocking = None

    async def log_append(self, log: str, entries: Sequence[tuple[str, bytes]], max_len: int) -> None:
        args: list[bytes | str | int] = [max_len]
        for entry_id, value in entries:
            args += [entry_id, value]
        try:
            await self._log_append(keys=[f"{log}:ids", f"{log}:items"], args=args)
        except (RedisError, OSError) as exc:
            raise _failed("log append", exc) from None

    async def log_get(self, log: str, entry_id: str) -> bytes | None:
        try:
            value = await self._redis.hget(f"{log}:items", entry_id)
        except (RedisError, OSError) as exc:
            raise _failed("log read", exc) from None
        return None if value is None else bytes(value)

    async def log_recent(self, log: str, limit: int) -> list[bytes]:
        try:
            ids = await self._redis.lrange(f"{log}:ids", 0, limit - 1)
            values = await self._redis.hmget(f"{log}:items", ids) if ids else []
        except (RedisError, OSError) as exc:
            raise _failed("log read", exc) from None
        return [bytes(v) for v in values if v is not None]

    async def counters_add(self, updates: Mapping[str, Mapping[str, int | float]], ttl_s: float | None = None) -> None:
        if not updates:
            return
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for key, fields in updates.items():
                    for name, value in fields.items():
                        if isinstance(value, int):
                            pipe.hincrby(key, name, value)
                        else:
                            pipe.hincrbyfloat(key, name, value)
                    if ttl_s is not None:
                        pipe.pexpire(key, max(1, int(ttl_s * 1000)))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _failed("counters update", exc) from None

    async def counters_get(self, key: str) -> dict[str, float]:
        try:
            raw: dict[Any, Any] = await self._redis.hgetall(key)
        except (RedisError, OSError) as exc:
            raise _failed("counters read", exc) from None
        return {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}

    async def counters_get_many(self, keys: Sequence[str]) -> list[dict[str, float]]:
        if not keys:
            return []
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hgetall(key)
                replies: list[Any] = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _failed("counters read", exc) from None
        return [{(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}
                for raw in replies]

    async def quota_admit(self, key: str, request_id: str, quota: Quota, tokens: int,
                          now_ms: int | None = None) -> Verdict:
        args: list[str | int] = ["admit", request_id, _opt(now_ms), tokens, _opt(quota.rpm), _opt(quota.tpm),
                                 _opt(quota.usd_day), _opt(quota.usd_month)]
        try:
            raw: Any = await self._quota(keys=_quota_keys(key), args=args)
        except (RedisError, OSError) as exc:
            raise _failed("quota admit", exc) from None
        allowed, limit, retry_after_ms = (int(x) for x in raw)
        return Verdict(bool(allowed), LIMITS[limit - 1] if limit else None, retry_after_ms)

    async def quota_settle(self, key: str, request_id: str, used_tokens: int | None, cost_usd: float,
                           now_ms: int | None = None) -> None:
        args = ["settle", request_id, _opt(now_ms), _opt(used_tokens), repr(float(cost_usd))]
        try:
            await self._quota(keys=_quota_keys(key), args=args)
        except (RedisError, OSError) as exc:
            raise _failed("quota settle", exc) from None

    async def doc_read(self, key: str) -> tuple[int, bytes | None]:
        try:
            rev, body = await self._redis.hmget(key, ["rev", "body"])
        except (RedisError, OSError) as exc:
            raise _failed("document read", exc) from None
        return (0, None) if rev is None else (int(rev), None if body is None else bytes(body))

    async def doc_write(
        self, key: str, revision: int, body: bytes | None, publish: Sequence[tuple[str, bytes]] = ()
    ) -> int | None:
        keys = [key, *(name for name, _ in publish)]
        args: list[bytes | str | int] = [revision, "0" if body is None else "1", body or b""]
        args += [value for _, value in publish]
        try:
            stored = int(await self._doc_write(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            raise _failed("document write", exc) from None
        return None if stored < 0 else stored

    async def stream_append(self, stream: str, entries: Sequence[bytes], max_len: int) -> list[str]:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for value in entries:
                    # "~": Redis trims whole internal nodes, cheaply, keeping at least max_len.
                    pipe.xadd(stream, {"e": value}, maxlen=max_len, approximate=True)
                ids: list[Any] = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _failed("stream append", exc) from None
        return [_text(i) for i in ids]

    async def stream_read(
        self, stream: str, after: str, limit: int, block_ms: int = 0
    ) -> list[tuple[str, bytes]]:
        client = self._redis
        block: int | None = None
        deadline_s = None
        if block_ms > 0:
            client, block = self._blocking_client(), min(block_ms, MAX_BLOCK_MS)
            deadline_s = block / 1000 + _BLOCK_MARGIN_S
        try:
            async with asyncio.timeout(deadline_s):
                reply: Any = await client.xread({stream: after}, count=limit, block=block)
        except (RedisError, OSError, TimeoutError) as exc:
            raise _failed("stream read", exc) from None
        if not reply:
            return []
        _, entries = reply[0]
        return [(_text(entry_id), bytes(fields.get(b"e", b""))) for entry_id, fields in entries]

    async def stream_last_id(self, stream: str) -> str:
        try:
            newest: Any = await self._redis.xrevrange(stream, "+", "-", count=1)
        except (RedisError, OSError) as exc:
            raise _failed("stream read", exc) from None
        return _text(newest[0][0]) if newest else "0-0"

    def _blocking_client(self) -> aioredis.Redis:
        if self._blocking is None:
            self._blocking = aioredis.Redis.from_url(
                self._url, socket_timeout=None, socket_connect_timeout=_SOCKET_TIMEOUT_S, socket_keepalive=True,
            )
        return self._blocking

    async def breaker_step(
        self, key: str, event: machine.Event, rules: machine.Rules, now_ms: int | None = None
    ) -> machine.Reply:
        args = [
            event.kind, event.successes, event.retry_after_ms, event.open_ms,
            "" if now_ms is None else now_ms, *self._rule_args_for(rules),
        ]
        try:
            try:
                raw: Any = await self._redis.evalsha(_SCRIPT_SHA, 1, key, *args)
            except NoScriptError:
                raw = await self._redis.eval(SCRIPT, 1, key, *args)
        except (RedisError, OSError) as exc:
            raise _failed("breaker step", exc) from None
        return machine.Reply(bool(raw[0]), int(raw[1]), int(raw[2]), int(raw[3]), int(raw[4]))

    async def breaker_read(
        self, keys: Sequence[str], now_ms: int | None = None
    ) -> tuple[int, list[machine.State | None]]:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                if now_ms is None:
                    pipe.time()
                for key in keys:
                    pipe.hgetall(key)
                results: list[Any] = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _failed("breaker read", exc) from None
        if now_ms is None:
            seconds, micros = results.pop(0)
            now_ms = int(seconds) * 1000 + int(micros) // 1000
        return now_ms, [machine.decode(fields) for fields in results]

    async def breaker_clear(self, key: str) -> None:
        try:
            await self._redis.delete(key)
        except (RedisError, OSError) as exc:
            raise _failed("breaker clear", exc) from None

    def _rule_args_for(self, rules: machine.Rules) -> list[str]:
        # The same few policies are asked for on every request: encode each once.
        cached = self._rules_cache.get(rules)
        if cached is None:
            cached = self._rules_cache[rules] = _rule_args(rules)
        return cached


def _quota_keys(key: str) -> list[str]:
    return [f"{key}:requests", f"{key}:tokens", f"{key}:weights", f"{key}:spend"]


def _opt(value: int | float | None) -> str:
    # repr round-trips a float exactly, so Lua's tonumber sees the same double; '' is "none".
    return "" if value is None else repr(value)

def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
