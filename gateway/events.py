"""Live events: what operators should see as it happens (breaker transitions, limits hit,
admin changes), from every replica, as one ordered stream.

Promises:
- ``publish(kind, data)`` is synchronous, cheap, never raises and never waits on the store:
  it serialises the event into a bounded buffer (thread-safe) and wakes a background task
  that appends batches to the shared stream in the store.
- Each event is ``{"id", "time", "kind", "replica", "data"}``; ``id`` is the stream's own id
  (``"<ms>-<seq>"``), increasing across replicas. Secrets are masked before an event is stored.
- Subscribers on every replica sharing the store see every replica's events. One reader task
  per process feeds them all, and runs only while someone is subscribed.
- A subscription can first replay what the stream still holds after a given id, then goes on
  live with no gap and no duplicate.
- While the store is unreachable, events wait in the buffer (the oldest dropped past its
  bound, with a warning) and are appended when it answers again.

With Redis the stream is a Redis stream (XADD MAXLEN ~ 1000, XREAD BLOCK), not pub/sub:
its ids order every replica's events, a reconnecting client can replay what it missed, and
history stays bounded; pub/sub would drop whatever is published while a reader reconnects
and has no ids to resume from.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from gateway import jsonio
from gateway.flusher import Flusher, honour_cancel
from gateway.outage import Outage
from gateway.store import Store, StoreUnavailable
from gateway.store.memory_stream import parse_stream_id
from gateway.subscription import Event, Subscription

log = logging.getLogger("grove.events")

STREAM = "grove:events"
KIND = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_ID = re.compile(r"^\d{1,19}-\d{1,19}$")

__all__ = ["Event", "Events", "Subscription", "STREAM", "KIND", "valid_id", "default_replica"]


def valid_id(text: str) -> bool:
    """A full stream id, as ``Last-Event-ID`` must be."""
    return bool(_ID.match(text)) and all(part < 2**64 for part in parse_stream_id(text))


def default_replica() -> str:
    """This process: host, pid and a few random hex digits (pids are reused across restarts)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Events:
    def __init__(
        self,
        store: Store,
        *,
        replica: str | None = None,
        max_len: int = 1000,
        buffer: int = 10_000,
        block_ms: int = 5000,
        retry_s: float = 1.0,
        queue: int = 1000,
        flush_interval_s: float = 1.0,
    ) -> None:
        """``max_len``: events the stream keeps for replay. ``buffer``: events waiting to be
        stored. ``queue``: events one subscriber may fall behind by before its stream is ended
        (it reconnects with ``Last-Event-ID`` and replays)."""
        self.store = store
        self.replica = replica or default_replica()
        self.max_len = max_len
        self.block_ms = block_ms
        self.retry_s = retry_s
        self.queue = queue
        # Set by the app once the secrets are known; applied off the request path, at flush.
        self.redact: Callable[[str], str] = _same
        self._pending: deque[bytes] = deque(maxlen=buffer)
        self._dropped = 0
        self._flusher = Flusher("events", flush_interval_s, self.flush)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._outage = Outage(log, "events")
        self._subs: set[Subscription] = set()
        self._reader: asyncio.Task[None] | None = None
        self._reader_lock = asyncio.Lock()
        self._cursor: str | None = None  # the reader's position in the stream
        self._closed = False

    # --- publishing --------------------------------------------------------------------

    def publish(self, kind: str, data: Mapping[str, Any]) -> None:
        """Queue one event. ``data``: JSON-serialisable, no secrets (masked anyway)."""
        try:
            if not isinstance(kind, str) or not KIND.match(kind):
                raise ValueError("kind must be 1-64 letters, digits, '_', '.', ':' or '-'")
            raw = jsonio.dumps({"time": round(time.time(), 3), "kind": kind, "replica": self.replica,
                                "data": data})
        except Exception as exc:  # noqa: BLE001 - publishing must never fail the caller
            # Neither the data nor the message may carry a secret: name the kind and the type.
            log.error("event %r dropped: %s", kind if isinstance(kind, str) else type(kind).__name__,
                      type(exc).__name__)
            return
        if len(self._pending) == self._pending.maxlen:
            self._dropped += 1
        self._pending.append(raw)
        self._wake()

    def _wake(self) -> None:
        loop = self._loop
        if loop is None:
            return  # not started: the first flush takes what is waiting
        if threading.get_ident() == self._loop_thread:
            self._flusher.wake()
            return
        try:
            loop.call_soon_threadsafe(self._flusher.wake)
        except RuntimeError:  # the loop has closed: nothing will flush any more
            pass

    async def flush(self) -> None:
        """Append what is waiting to the stream (the background task calls this)."""
        if self._dropped:
            log.warning("events: %d dropped, the buffer was full (store unreachable?)", self._dropped)
            self._dropped = 0
        if not self._pending:
            return
        # popleft one by one: another thread may be appending meanwhile.
        batch = [self._pending.popleft() for _ in range(len(self._pending))]
        entries = [self.redact(raw.decode()).encode() for raw in batch]
        try:
            await self.store.stream_append(STREAM, entries, self.max_len)
        except StoreUnavailable as exc:
            # Back in front of anything published meanwhile; past the bound the oldest go.
            newer = [self._pending.popleft() for _ in range(len(self._pending))]
            self._pending.extend(batch + newer)
            self._outage.failed(exc, f"{len(self._pending)} waiting")
            return
        self._outage.ok()

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._closed = False
        self._flusher.start()
        if self._pending:
            self._flusher.wake()

    def close_subscriptions(self) -> None:
        """End every open subscription now (shutdown begins); new ones end at once."""
        self._closed = True
        for sub in list(self._subs):
            sub.close()

    async def stop(self) -> None:
        """Close subscriptions, stop the reader, flush what is waiting."""
        self.close_subscriptions()
        await self._stop_reader(force=True)
        await self._flusher.stop()
        self._loop = self._loop_thread = None

    # --- subscribing -------------------------------------------------------------------

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    @property
    def reading(self) -> bool:
        """Whether this process's reader task runs (only while someone is subscribed)."""
        return self._reader is not None

    @asynccontextmanager
    async def subscribe(self, after: str | None = None,
                        kinds: frozenset[str] | None = None) -> AsyncIterator[Subscription]:
        """Live events from now on (and first, with ``after``, those the stream still holds
        after that id), only ``kinds`` if given. Events published after this has entered
        are delivered."""
        sub = Subscription(kinds, self.queue)
        self._subs.add(sub)
        try:
            if self._closed:
                sub.close()
            else:
                await self._start_reader()
                if after is not None:
                    await self._replay(sub, after)
            yield sub
        finally:
            sub.close()
            self._subs.discard(sub)
            if not self._subs:
                await self._stop_reader()

    async def _replay(self, sub: Subscription, after: str) -> None:
        cursor, found = after, []
        try:
            while len(found) < 2 * self.max_len:  # the stream holds ~max_len: this ends
                batch = await self.store.stream_read(STREAM, cursor, self.max_len)
                if not batch:
                    break
                found += batch
                cursor = batch[-1][0]
        except StoreUnavailable as exc:
            log.warning("events: replay after %s unavailable (%s)", after, exc)
        sub.replay([e for e in (_decode(i, raw) for i, raw in found) if e is not None])

    async def _start_reader(self) -> None:
        async with self._reader_lock:
            if self._reader is not None:
                return
            try:
                self._cursor = await self.store.stream_last_id(STREAM)
            except StoreUnavailable:
                self._cursor = None  # the reader asks again until the store answers
            self._reader = asyncio.get_running_loop().create_task(self._read(), name="events-reader")

    async def _stop_reader(self, force: bool = False) -> None:
        async with self._reader_lock:
            if self._reader is None or (self._subs and not force):
                return
            task, self._reader = self._reader, None
            task.cancel()
            # The reader's own CancelledError is a result here; ours, if we are cancelled, raises.
            await asyncio.gather(task, return_exceptions=True)

    async def _read(self) -> None:
        down = False
        while True:
            try:
                if self._cursor is None:
                    self._cursor = await self.store.stream_last_id(STREAM)
                entries = await self.store.stream_read(STREAM, self._cursor, 500, self.block_ms)
                honour_cancel()  # block_ms bounds how long a swallowed cancel lasts
            except StoreUnavailable as exc:
                if not down:
                    down = True
                    log.warning("events: cannot read the stream (%s); retrying every %gs", exc, self.retry_s)
                await asyncio.sleep(self.retry_s)
                continue
            down = False
            for entry_id, raw in entries:
                self._cursor = entry_id
                event = _decode(entry_id, raw)
                if event is not None:
                    for sub in list(self._subs):
                        sub.offer(event)


def _decode(entry_id: str, raw: bytes) -> Event | None:
    try:
        body = jsonio.loads(raw)
        kind = body["kind"]
    except (jsonio.JSONDecodeError, KeyError, TypeError):
        log.warning("events: entry %s is not an event, skipped", entry_id)
        return None
    # The stored JSON with the id put in front: no second serialisation per event.
    return Event(entry_id, str(kind), b'{"id":"' + entry_id.encode() + b'",' + raw[1:])


def _same(text: str) -> str:
    return text
