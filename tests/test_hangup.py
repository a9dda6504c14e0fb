"""``hangup.watch`` without the gateway's own HTTP protocol (any ASGI server): a task waits for
``http.disconnect``; a cancellation that is not the client's goes on up."""

from __future__ import annotations

import asyncio

import pytest

from gateway import hangup
from gateway.errors import ClientGone


def test_a_disconnect_cancels_the_work_and_becomes_client_gone() -> None:
    async def run() -> None:
        gone = asyncio.Event()

        async def receive() -> dict:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def work() -> None:
            with hangup.watch({}, receive):
                gone.set()
                await asyncio.Event().wait()  # an attempt that would never end by itself

        with pytest.raises(ClientGone):
            await asyncio.wait_for(work(), 5)

    asyncio.run(run())


def test_a_cancellation_from_elsewhere_is_not_taken_back() -> None:
    async def run() -> None:
        async def receive() -> dict:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

        started = asyncio.Event()

        async def work() -> None:
            with hangup.watch({}, receive):
                started.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(work())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
