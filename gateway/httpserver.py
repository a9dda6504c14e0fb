"""The gateway's HTTP/1.1 server protocol: uvicorn's httptools protocol, with a response's status
line and headers sent together with its body.

uvicorn writes a response's status line and headers as soon as the app sends
``http.response.start``, and the body when it sends ``http.response.body``: two system calls
for one small answer, and two segments for the client to wake up for. Here a connection's writes
wait for the end of the current turn of the event loop (``loop.call_soon``) and go out together:
a non-stream response leaves in one write, and the answers of one turn leave one after the
other at its end. A stream's chunk waits for nothing but the end of the turn that wrote it;
when one upstream read carries many events (a turn writing chunk after chunk), every ``BURST``
writes go out at once rather than all at the end of the turn: holding the first chunk until the
whole burst was translated added ~1 ms to the time to first byte of the benchmark's Anthropic
streams, whose upstream answers in one read.

Measured with ``python -m bench.compete`` (this protocol's gateway and the one before it loaded
at once on one core, OpenAI path, 64 connections each): 1.055-1.096 times the requests per
second. Writing each write with the next one at once, the same system calls without waiting
for the turn's end, gave 0.995-1.016: the gain seems to come from a turn's answers leaving
together (our reading, not measured further). Everything else is uvicorn's: parsing,
keep-alive, flow control, timeouts; every other transport method is the real transport's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _GatheringTransport:
    """The connection's transport as uvicorn sees it: writes wait for the end of the turn, or until
    ``BURST`` of them are waiting."""

    __slots__ = ("_transport", "_loop", "_pending", "_scheduled")
    BURST = 3

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        if type(data) is not bytes:  # a bytearray the app may reuse: the real transport copies at once too
            data = bytes(data)
        pending = self._pending
        pending.append(data)
        if len(pending) >= self.BURST:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._end_of_turn)

    def _end_of_turn(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if not self._transport.is_closing():  # the client went away meanwhile: nothing to send to
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()  # what was written before close goes first, as with the real transport
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """``uvicorn.run(..., http=HttpProtocol)``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_GatheringTransport(transport, self.loop))  # type: ignore[arg-type]
