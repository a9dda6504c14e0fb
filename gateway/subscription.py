"""One subscriber's view of the live events: the replayed ones first, then live ones, each
once, in stream order, in a bounded queue.

A subscriber that falls ``limit`` events behind is closed rather than allowed to grow without
bound: what it was sent stays valid, and it can come back with the last id it saw and replay
the rest from the store.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.store.memory_stream import StreamId, parse_stream_id


@dataclass(frozen=True, slots=True)
class Event:
    id: str  # the stream id, "<ms>-<seq>"
    kind: str
    json: bytes  # the whole event: {"id", "time", "kind", "replica", "data"}

    @property
    def position(self) -> StreamId:
        return parse_stream_id(self.id)


class Subscription:
    def __init__(self, kinds: frozenset[str] | None, limit: int) -> None:
        self.kinds = kinds or None
        self.closed = False
        self.overflowed = False
        self._limit = limit
        self._items: deque[Event] = deque()
        self._replayed_to: StreamId | None = None  # live events up to here came by replay
        self._signal = asyncio.Event()

    def offer(self, event: Event) -> None:
        """A live event from the reader."""
        if self.closed or (self.kinds is not None and event.kind not in self.kinds):
            return
        if self._replayed_to is not None and event.position <= self._replayed_to:
            return
        if len(self._items) >= self._limit:
            self.overflowed = True
            self.close()
            return
        self._items.append(event)
        self._signal.set()

    def replay(self, events: Iterable[Event]) -> None:
        """Put replayed events (oldest first) in front of the live ones that came meanwhile,
        dropping those live ones the replay already holds."""
        replayed = list(events)
        if not replayed:
            return
        self._replayed_to = replayed[-1].position
        live = [e for e in self._items if e.position > self._replayed_to]
        self._items.clear()
        self._items.extend(e for e in replayed if self.kinds is None or e.kind in self.kinds)
        self._items.extend(live)
        if self._items:
            self._signal.set()

    def close(self, discard: bool = False) -> None:
        """No more live events; ``discard``: nor those still queued (the client has gone)."""
        self.closed = True
        if discard:
            self._items.clear()
        self._signal.set()

    async def next(self, timeout_s: float) -> Event | None:
        """The next event; None when ``timeout_s`` passes first, or when closed and drained."""
        while not self._items:
            if self.closed:
                return None
            self._signal.clear()
            try:
                async with asyncio.timeout(timeout_s):  # not wait_for: see memory_stream.read
                    await self._signal.wait()
            except TimeoutError:
                return None
        return self._items.popleft()
