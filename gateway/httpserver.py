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
for the turn's end, gave no gain: it comes from a turn's answers leaving together.

The turn's end is one callback for all of a loop's connections (``_TurnEnd``): the writes that
waited go out one after the other, then what requests asked to run after their answers
(``scope[AFTER_WRITES]``: the telemetry's bookkeeping). When that bookkeeping ran at the end of
the request, before the turn's end, each answer waited for it: at one connection the added
latency fell by ~0.06 ms without it in the way (0.78 -> 0.72 ms, interleaved runs), and
``bench.compete`` gave 1.02 times the requests per second (median of ten runs, 0.975-1.071).

Two more of uvicorn's per-request costs are cut, behaviour unchanged:
- A response's headers are checked for forbidden bytes with one search over all the names and
  one over all the values, where uvicorn searches each name and each value (two regular
  expression calls per header, ~12 headers per chat answer).
- The keep-alive timeout: uvicorn arms a timer when a response completes and cancels it when the
  next request's bytes arrive, a timer per request. Here a connection keeps one timer armed
  while it is in use; when it fires it closes the connection if it has been idle for the
  timeout, and otherwise arms itself for when that would be (or not at all, while a request is
  in progress: the next response arms it).

And two limits uvicorn's httptools protocol does not have (its h11 protocol has the first):
- A request's head (request line and headers) may be at most ``h11_max_incomplete_event_size``
  bytes (uvicorn's setting, 16 KiB by default): a larger one is answered 431 and the connection
  closed, before any of it reaches the app. A head still incomplete past the limit is refused as
  it arrives (so one huge header never costs more than one read's memory); one that came whole
  in a single read is measured once its headers are parsed.
- A head must arrive whole within ``HEAD_TIMEOUT_S`` of its first byte (408 and closed
  otherwise: slowloris), and a connection that never sends a byte is closed after the
  keep-alive timeout like an idle one. One timer per connection again, left armed while heads
  keep completing in time.

And a write deadline: a client that stops reading (its connection's send buffer past the
high-water mark, the response's writer waiting: back-pressure) has ``WRITE_TIMEOUT_S`` to read
again (the app may set it: ``WRITE_TIMEOUT_KEY`` in its lifespan state), after which its
connection is aborted: the app sees ``http.disconnect`` and only that response ends. One timer,
armed only while writing is paused: nothing per request. Without it a stalled stream held its
upstream connection until the upstream was blamed for the silence.

Everything else is uvicorn's: parsing, flow control, the ASGI cycle; every other transport
method is the real transport's.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.server import ServerState


log = logging.getLogger("grove.http")

WRITE_TIMEOUT_KEY = "grove.client_write_timeout_s"
"""The lifespan-state key of the write deadline in seconds (``HttpProtocol.WRITE_TIMEOUT_S`` if absent)."""

ON_HANGUP = "grove.on_hangup"
"""The scope key of ``on_hangup(callback)``: ``callback()`` runs if the client's connection is lost
before the response is complete (``on_hangup(None)``: no longer). Only this protocol's requests
have it (``hangup.watch`` uses it)."""

AFTER_WRITES = "grove.after_writes"
"""The scope key of ``after(callback, *args)``: ``callback(*args)`` runs once the responses written
in this turn of the event loop have gone out (``_TurnEnd``). Only this protocol's requests have it."""


class _TurnEnd:
    """The end of an event loop's turn, one for all its connections: the writes that waited go
    out one after the other, then the callbacks that were to run after them (a request's
    bookkeeping: ``telemetry.middleware``), so that no answer waits for them."""

    __slots__ = ("_loop", "_transports", "_after", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transports: list[_GatheringTransport] = []
        self._after: list[tuple[Callable[..., object], tuple[Any, ...]]] = []
        self._scheduled = False

    def wrote(self, transport: _GatheringTransport) -> None:
        self._transports.append(transport)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def after(self, callback: Callable[..., object], *args: Any) -> None:
        self._after.append((callback, args))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        transports, self._transports = self._transports, []
        after, self._after = self._after, []
        for transport in transports:
            self._guarded(transport.end_of_turn, ())
        for callback, args in after:
            self._guarded(callback, args)

    def _guarded(self, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            callback(*args)
        except Exception as exc:  # noqa: BLE001 - reported as the loop reports a failed callback; the others still run
            self._loop.call_exception_handler({"message": f"Exception in callback {callback!r}", "exception": exc})


_TURNS: weakref.WeakKeyDictionary[ServerState, _TurnEnd] = weakref.WeakKeyDictionary()
"""A server's turn end, by the state uvicorn shares among the server's connections (one server,
one loop): it goes with the server. (Keyed by the loop, the entry would keep its own key alive.)"""


def _turn_end(state: ServerState, loop: asyncio.AbstractEventLoop) -> _TurnEnd:
    turn = _TURNS.get(state)
    if turn is None:
        turn = _TURNS[state] = _TurnEnd(loop)
    return turn


class _GatheringTransport:
    """The connection's transport as uvicorn sees it: writes wait for the end of the turn, or until
    ``BURST`` of them are waiting."""

    __slots__ = ("_transport", "_turn", "_pending", "_scheduled")
    BURST = 3

    def __init__(self, transport: asyncio.Transport, turn: _TurnEnd) -> None:
        self._transport = transport
        self._turn = turn
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
            self._turn.wrote(self)

    def end_of_turn(self) -> None:
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

    def is_closing(self) -> bool:  # asked once per request: not through __getattr__
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_FRAMING = frozenset((b"content-length", b"transfer-encoding", b"connection"))


class _Cycle(RequestResponseCycle):
    """uvicorn's request-response cycle; ``http.response.start`` is written as uvicorn writes it,
    with its headers checked in two searches rather than two per header."""

    async def send(self, message: Any) -> None:
        if self.response_started or self.disconnected or self.flow.write_paused or self.access_log \
                or message["type"] != "http.response.start":
            await super().send(message)  # the body, and every case but the usual start
            return
        self.response_started = True
        self.waiting_for_100_continue = False
        status_code = message["status"]
        headers = self.default_headers + list(message.get("headers", []))
        # The forbidden bytes of a name are forbidden in a run of names too (and a tab, allowed
        # in values, cannot make a value look bad): one search finds any header's.
        if HEADER_RE.search(b"".join([name for name, _ in headers])):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(b"\t".join([value for _, value in headers])):
            raise RuntimeError("Invalid HTTP header value.")
        content = [STATUS_LINE[status_code]]
        has_connection_close = False
        for name, value in headers:
            name = name.lower()
            if name in _FRAMING:
                if name == b"content-length" and self.chunked_encoding is None:
                    self.expected_content_length = int(value.decode())
                    self.chunked_encoding = False
                elif name == b"transfer-encoding" and value.lower() == b"chunked":
                    self.expected_content_length = 0
                    self.chunked_encoding = True
                elif name == b"connection":
                    if b"close" in [token.lower().strip() for token in value.split(b",")]:
                        self.keep_alive = False
                        has_connection_close = True
            content += (name, b": ", value, b"\r\n")
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status_code not in (204, 304):
            self.chunked_encoding = True  # neither content-length nor transfer-encoding given
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self.transport.write(b"".join(content))


class HttpProtocol(HttpToolsProtocol):
    """``uvicorn.run(..., http=HttpProtocol)``."""

    HEAD_TIMEOUT_S = 10.0
    WRITE_TIMEOUT_S = 30.0
    _write_timer: asyncio.TimerHandle | None = None  # armed while the client is not reading
    _hangup: Callable[[], None] | None = None  # the current request's ``ON_HANGUP`` callback
    _idle_since: float | None = None  # loop time the last response completed; None while one is in progress
    _head: int | None = 0  # bytes received of the request head in progress; None once its headers are in
    _head_started: float | None = None  # loop time of the head's first byte
    _head_timer: asyncio.TimerHandle | None = None
    _refusing = 0  # the status that answers a parser error raised on purpose (431)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._turn = _turn_end(self.server_state, self.loop)
        self._on_hangup = self.on_hangup  # bound once per connection, not per request
        super().connection_made(_GatheringTransport(transport, self._turn))  # type: ignore[arg-type]
        self._head_limit = self.config.h11_max_incomplete_event_size or 16 * 1024
        self._idle_since = self.loop.time()  # a connection that never says anything is idle too
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    # --- the request head: its size and its time ---------------------------------------------------

    def data_received(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            if head == 0:
                self._head_began()
            self._head = head + len(data)
        super().data_received(data)
        if self._head is not None and self._head > self._head_limit and not self.transport.is_closing():
            self._refuse(431, "Request header fields too large.")  # still no end of the head in sight

    def on_headers_complete(self) -> None:
        received, self._head, self._head_started = self._head, None, None
        # Only a read larger than the limit can hold a head over it: that head is measured, once,
        # before the app sees it.
        if received is not None and received > self._head_limit and \
                len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers) > self._head_limit:
            self._refusing = 431
            raise httptools.HttpParserCallbackError("request head too large")  # the parser stops here
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.__class__ is RequestResponseCycle:
            cycle.__class__ = _Cycle  # the same object, its response start written by _Cycle.send
            cycle.scope[AFTER_WRITES] = self._turn.after
            cycle.scope[ON_HANGUP] = self._on_hangup

    # --- keep-alive: one timer while the connection is used (the module's docstring) -------------

    def _unset_keepalive_if_required(self) -> None:
        """uvicorn calls this when bytes arrive (and at a response's end): the connection is in use."""
        self._idle_since = None

    def on_response_complete(self) -> None:
        """uvicorn's, but for arming the keep-alive timer."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self._head = 0
        self._idle_since = None
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self._idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        if self._idle_since is None:
            return  # a request is in progress: its response arms the timer again
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.timeout_keep_alive_task = self.loop.call_later(left, self._keep_alive_due)
        else:
            self.timeout_keep_alive_handler()

    def on_hangup(self, callback: Callable[[], None] | None) -> None:
        self._hangup = callback

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        hangup = self._hangup
        if hangup is not None:
            self._hangup = None
            hangup()
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    # --- the write deadline: a client that stops reading (the module's docstring) ----------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            limit = float(self.app_state.get(WRITE_TIMEOUT_KEY, self.WRITE_TIMEOUT_S))
            self._write_timer = self.loop.call_later(limit, self._write_due)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_due(self) -> None:
        self._write_timer = None
        if self.flow.write_paused and not self.transport.is_closing():
            log.info("a client read nothing for %gs: its connection is closed",
                     float(self.app_state.get(WRITE_TIMEOUT_KEY, self.WRITE_TIMEOUT_S)))
            self.transport.abort()

    def _head_began(self) -> None:
        self._head_started = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.HEAD_TIMEOUT_S, self._head_due)

    def _head_due(self) -> None:
        self._head_timer = None
        if self._head_started is None:
            return  # no head in progress: the next one arms the timer again
        left = self._head_started + self.HEAD_TIMEOUT_S - self.loop.time()
        if left > 0:
            self._head_timer = self.loop.call_later(left, self._head_due)
        elif not self.transport.is_closing():
            self._refuse(408, "The request head did not arrive in time.")

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error; a head refused for its size is a 431."""
        if self._refusing:
            self._refuse(self._refusing, "Request header fields too large.")
        else:
            super().send_400_response(msg)

    def _refuse(self, status: int, message: str) -> None:
        body = message.encode("ascii")
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: ", str(len(body)).encode("ascii"), b"\r\n", b"connection: close\r\n\r\n", body]))
        self.transport.close()
