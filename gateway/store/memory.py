"""The embedded store: process-local, no dependencies. State is lost on restart.

Breakers run the pure state machine of ``breaker_machine`` directly, quotas the ``QuotaBook``
of ``quota``; each step has no ``await`` inside, so on one event loop it is as atomic as the
Redis script.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from itertools import islice

from gateway.store import breaker_machine as machine
from gateway.store.quota import Quota, QuotaBook, Verdict
from gateway.store.memory_stream import MemoryStreams


def _wall_ms() -> int:
    # Wall time, not monotonic: breaker times are shown to operators as epoch seconds, as
    # Redis server time is.
    return int(time.time() * 1000)


class MemoryStore:
    backend = "memory"
    quota_slots = None

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._breakers: dict[str, machine.State] = {}
        self._logs: dict[str, OrderedDict[str, bytes]] = {}
        self._counters: dict[str, tuple[dict[str, int | float], float | None]] = {}
        self._quotas = QuotaBook()
        self._docs: dict[str, tuple[int, bytes]] = {}
        self._streams = MemoryStreams()

    async def get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        expires = None if ttl_s is None else time.monotonic() + ttl_s
        self._data[key] = (value, expires)

    async def delete(self, key: str) -> bool:
        return await self.get(key) is not None and self._data.pop(key, None) is not None

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()
        self._breakers.clear()
        self._logs.clear()
        self._counters.clear()
        self._quotas.clear()
        self._docs.clear()
        self._streams.clear()

    async def log_append(self, log: str, entries: Sequence[tuple[str, bytes]], max_len: int) -> None:
        items = self._logs.setdefault(log, OrderedDict())
        for entry_id, value in entries:
            items[entry_id] = value
            items.move_to_end(entry_id)
        while len(items) > max_len:
            items.popitem(last=False)

    async def log_get(self, log: str, entry_id: str) -> bytes | None:
        return self._logs.get(log, {}).get(entry_id)

    async def log_recent(self, log: str, limit: int) -> list[bytes]:
        items = self._logs.get(log)
        if not items:
            return []
        return [items[k] for k in islice(reversed(items), limit)]

    async def counters_add(self, updates: Mapping[str, Mapping[str, int | float]], ttl_s: float | None = None) -> None:
        now = time.monotonic()
        for key, fields in updates.items():
            item = self._counters.get(key)
            if item is None or (item[1] is not None and item[1] <= now):
                item = ({}, None)
            values, expires = item
            for name, value in fields.items():
                values[name] = values.get(name, 0) + value
            self._counters[key] = (values, expires if ttl_s is None else now + ttl_s)

    async def counters_get(self, key: str) -> dict[str, float]:
        item = self._counters.get(key)
        if item is None or (item[1] is not None and item[1] <= time.monotonic()):
            return {}
        return {name: float(value) for name, value in item[0].items()}

    async def counters_get_many(self, keys: Sequence[str]) -> list[dict[str, float]]:
        return [await self.counters_get(key) for key in keys]

    async def doc_read(self, key: str) -> tuple[int, bytes | None]:
        item = self._docs.get(key)
        return (0, None) if item is None else item

    async def doc_write(
        self, key: str, revision: int, body: bytes | None, publish: Sequence[tuple[str, bytes]] = ()
    ) -> int | None:
        # No await inside: on one event loop this is as atomic as the Redis script.
        stored = self._docs.get(key, (0, b""))[0]
        if stored != revision:
            return None
        if body is not None:
            stored += 1
            self._docs[key] = (stored, body)
        for name, value in publish:
            self._data[name] = (value, None)
        return stored
    async def stream_append(self, stream: str, entries: Sequence[bytes], max_len: int) -> list[str]:
        return self._streams.append(stream, entries, max_len)

    async def stream_read(
        self, stream: str, after: str, limit: int, block_ms: int = 0
    ) -> list[tuple[str, bytes]]:
        return await self._streams.read(stream, after, limit, block_ms)

    async def stream_last_id(self, stream: str) -> str:
        return self._streams.last_id(stream)

    async def breaker_step(
        self, key: str, event: machine.Event, rules: machine.Rules, now_ms: int | None = None
    ) -> machine.Reply:
        now = _wall_ms() if now_ms is None else now_ms
        # An idled-out state stays stored (``machine.current`` reads it as fresh), as a Redis key
        # does until its PEXPIRE passes in real time: one entry per deployment, so it stays small.
        new, reply = machine.step(self._breakers.get(key), event, rules, now)
        if new is not None:
            self._breakers[key] = new
        return reply

    async def breaker_read(
        self, keys: Sequence[str], now_ms: int | None = None
    ) -> tuple[int, list[machine.State | None]]:
        now = _wall_ms() if now_ms is None else now_ms
        return now, [self._breakers.get(key) for key in keys]

    async def breaker_clear(self, key: str) -> None:
        self._breakers.pop(key, None)

    async def quota_admit(self, key: str, request_id: str, quota: Quota, tokens: int,
                          now_ms: int | None = None) -> Verdict:
        return self._quotas.admit(key, request_id, quota, tokens, _wall_ms() if now_ms is None else now_ms)

    async def quota_settle(self, key: str, request_id: str, used_tokens: int | None, cost_usd: float,
                           now_ms: int | None = None) -> None:
        self._quotas.settle(key, request_id, used_tokens, cost_usd, _wall_ms() if now_ms is None else now_ms)
