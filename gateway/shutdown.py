"""Tells endless responses that the server is shutting down, before the server waits on them.

On SIGTERM or SIGINT, uvicorn stops accepting connections and then waits for every open one
to finish before it runs the app's lifespan shutdown. A response that never ends by itself
(the admin event stream) would hold the process up for ever. So while the app runs, a
callback is chained in front of the server's own handler for those signals: the callback
runs on the event loop (streams end), then the server's handler does what it always does.

Only where the server has installed Python signal handlers (uvicorn does, in the main
thread); elsewhere (an app run in a thread, by tests) this does nothing.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def on_shutdown_signal(callback: Callable[[], None]) -> Iterator[bool]:
    """Run ``callback`` on the running loop when a shutdown signal arrives; yields whether
    the hook is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    chained = {sig: handler for sig, handler in previous.items() if callable(handler)}

    def handler(sig: int, frame: FrameType | None) -> None:
        # Signal handlers run between two bytecodes of whatever the loop is doing: hand the
        # callback to the loop rather than run it here.
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop has already closed: nothing left to tell
            pass
        chained[sig](sig, frame)

    for sig in chained:
        signal.signal(sig, handler)
    try:
        yield bool(chained)
    finally:
        for sig, original in chained.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, original)
