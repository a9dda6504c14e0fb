"""In-process append-only streams: the memory store's equivalent of Redis streams.

Ids are ``"<ms>-<seq>"`` as Redis makes them (wall-clock milliseconds, a sequence within the
millisecond, never going back even when the clock does), so a reader's position means the
same on both backends. A blocked reader waits on an ``asyncio.Event`` that each append
fires: no polling.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from itertools import islice

StreamId = tuple[int, int]


def parse_stream_id(text: str) -> StreamId:
    """``"<ms>-<seq>"`` → (ms, seq); raises ValueError on anything else."""
    ms, sep, seq = text.partition("-")
    if not sep or not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"not a stream id: {text!r}")
    return int(ms), int(seq)


class _Stream:
    __slots__ = ("entries", "last", "changed")

    def __init__(self) -> None:
        self.entries: deque[tuple[StreamId, str, bytes]] = deque()
        self.last: StreamId = (0, 0)
        self.changed: asyncio.Event | None = None  # made by the first reader that waits


class MemoryStreams:
    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}

    def append(self, name: str, entries: Sequence[bytes], max_len: int) -> list[str]:
        stream = self._streams.setdefault(name, _Stream())
        ids: list[str] = []
        for value in entries:
            ms, seq = stream.last
            now = int(time.time() * 1000)
            stream.last = (now, 0) if now > ms else (ms, seq + 1)
            text = f"{stream.last[0]}-{stream.last[1]}"
            stream.entries.append((stream.last, text, bytes(value)))
            ids.append(text)
        while len(stream.entries) > max_len:
            stream.entries.popleft()
        if stream.changed is not None:
            stream.changed.set()
            stream.changed = None
        return ids

    async def read(self, name: str, after: str, limit: int, block_ms: int = 0) -> list[tuple[str, bytes]]:
        position = parse_stream_id(after)
        found = self._after(name, position, limit)
        if found or block_ms <= 0:
            return found
        stream = self._streams.setdefault(name, _Stream())
        if stream.changed is None:
            stream.changed = asyncio.Event()
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
            async with asyncio.timeout(block_ms / 1000):
                await stream.changed.wait()
        except TimeoutError:
            return []
        return self._after(name, position, limit)

    def last_id(self, name: str) -> str:
        stream = self._streams.get(name)
        if stream is None or not stream.entries:
            return "0-0"
        return stream.entries[-1][1]

    def clear(self) -> None:
        for stream in self._streams.values():
            if stream.changed is not None:
                stream.changed.set()  # blocked readers return (empty) rather than wait on
        self._streams.clear()

    def _after(self, name: str, position: StreamId, limit: int) -> list[tuple[str, bytes]]:
        stream = self._streams.get(name)
        if stream is None:
            return []
        newer = ((text, value) for key, text, value in stream.entries if key > position)
        return list(islice(newer, limit))
