"""The shutdown-signal hook: runs the callback on the loop, then the server's own handler; puts
the server's handler back when the app stops; does nothing where signals are not the app's."""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType

from gateway.shutdown import on_shutdown_signal


def test_a_signal_runs_the_callback_on_the_loop_then_the_servers_handler() -> None:
    server_saw: list[int] = []

    def server_handler(sig: int, frame: FrameType | None) -> None:  # what uvicorn installs
        server_saw.append(sig)

    async def main() -> None:
        told = asyncio.Event()
        with on_shutdown_signal(told.set) as installed:
            assert installed
            signal.raise_signal(signal.SIGTERM)
            await asyncio.wait_for(told.wait(), 5)
            assert server_saw == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is server_handler  # put back on the way out

    previous = signal.signal(signal.SIGTERM, server_handler)
    try:
        asyncio.run(main())
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_outside_the_main_thread_it_stays_out_of_the_way() -> None:
    results: list[bool] = []

    async def main() -> None:
        with on_shutdown_signal(lambda: None) as installed:
            results.append(installed)

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    thread.join()
    assert results == [False]


def test_signals_left_to_the_system_are_not_taken_over() -> None:
    async def main() -> None:
        with on_shutdown_signal(lambda: None):
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        asyncio.run(main())
    finally:
        signal.signal(signal.SIGTERM, previous)
