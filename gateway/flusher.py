"""A background task that flushes a buffer to the store: every interval, sooner when woken,
and once more on stop. Shared by the decision log and the usage sums, which keep the request
path free of store writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway.outage import Outage

log = logging.getLogger("grove.flusher")


def honour_cancel() -> None:
    """Raise if the running task was asked to stop. Python 3.11's ``asyncio.wait_for`` (inside
    redis-py) can swallow a cancellation that lands as a store call completes; a background
    loop then carries on as if never cancelled, and whoever awaits it on shutdown waits for
    ever. Every such loop calls this once per turn."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Flusher:
    def __init__(self, name: str, interval_s: float, flush: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.interval_s = interval_s
        self._flush = flush
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # An unexpected error (a store's comes as StoreUnavailable, handled by the flush itself):
        # its traceback once, then a count until a flush goes through.
        self._outage = Outage(log, name, problem="flush failed", recovered="flushes again", level=logging.ERROR)

    def wake(self) -> None:
        """Flush now rather than at the next tick (a buffer filling up)."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await self._flush()

    async def _run(self) -> None:
        while True:
            honour_cancel()
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self._flush()
            except Exception as exc:  # noqa: BLE001 - a flush failure must never take the gateway down
                self._outage.failed(exc, trace=True)
            else:
                self._outage.ok()
