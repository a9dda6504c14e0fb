"""Playing one planned answer on the wire: delays, headers, then a body or stream events, with faults.

A provider fake decides *what* to answer (status, headers, a JSON body, or its
framed stream events); an ``Exchange`` decides *when* and *how*, applying the
timing and fault knobs the same way for every provider. Every delay races the
client's disconnect, so a slow or hung answer ends as soon as the client leaves.

Cutting a connection (``cut_after_chunks``) closes the server's transport, so the
client sees a broken response (no terminating chunk), never a clean end.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway import jsonio
from gateway.fakes.knobs import FakeState, Knobs, RecordedRequest

RAW_SEND = "grove.fakes.raw_send"
_CUT_GRACE_S = 5.0


class FakeApp(Starlette):
    """A Starlette app that keeps the server's own ``send`` in the scope.

    Starlette's middleware wraps ``send`` in closures; the server's bound method is
    the one way to reach the connection's transport and drop it on purpose.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[RAW_SEND] = send
        if scope["type"] == "http":
            _no_delay(send)
        await super().__call__(scope, receive, send)


def _transport(send: object) -> Any:
    return getattr(getattr(send, "__self__", None), "transport", None)


def _no_delay(send: Send) -> None:
    # asyncio sets TCP_NODELAY only on sockets created with proto=IPPROTO_TCP, which a
    # pre-bound listening socket (BackgroundServer's) is not. Without it, Nagle holds
    # the body behind the headers until the client's delayed ACK: ~40 ms a response.
    transport = _transport(send)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class StreamCut(Exception):
    """Raised to make the server drop a connection when its transport is out of reach."""


@dataclass(frozen=True, slots=True)
class Stream:
    events: Sequence[bytes]  # framed events, in order
    terminal: int  # how many trailing events make the clean end (they are never "chunks")
    malformed: bytes  # a framed event whose JSON is broken
    error_event: bytes  # the provider's in-stream error event


async def read_json(request: Request, state: FakeState) -> tuple[Any, bool]:
    """The request's JSON body (None when absent or broken) and whether it parsed; records the request."""
    raw = await request.body()
    try:
        body, ok = jsonio.loads(raw), True
    except jsonio.JSONDecodeError:
        body, ok = None, False
    state.record(
        RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers=dict(request.headers),
            body=body,
        )
    )
    return body, ok


class Exchange(Response):
    """An ASGI response that plays a planned answer under the knobs."""

    def __init__(
        self,
        state: FakeState,
        knobs: Knobs,
        *,
        status: int = 200,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        stream: Stream | None = None,
        faults: bool = False,
        hang: bool = False,
        steps: int = 0,
    ) -> None:
        # Response.__init__ is not called: this class renders its own messages.
        self.status_code = status
        self.background = None
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        self._state = state
        self._knobs = knobs
        self._body = body
        self._stream = stream
        self._faults = faults
        self._hang = hang
        # A non-stream answer leaves when the whole reply would have been generated.
        self._steps = steps
        self._watch = bool(
            knobs.latency_ms
            or knobs.ttft_ms
            or knobs.chunk_interval_ms
            or hang
            or (faults and knobs.cut_after_chunks is not None)
            or knobs.hold_after_chunks is not None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch(receive, gone)) if self._watch else None
        try:
            if not await self._play(scope, send, gone):
                self._state.count("disconnects")
        finally:
            if watcher is not None:
                watcher.cancel()

    # Each path counts its outcome *before* its last send, so a client that has
    # seen the end of a response also sees it in the counters.

    async def _play(self, scope: Scope, send: Send, gone: asyncio.Event) -> bool:
        """Play the answer; False when the client left first."""
        if not await _pause(self._knobs.latency_ms, gone):
            return False
        if self._hang:
            self._state.count("hangs")
            await gone.wait()
            return False
        if self._stream is None:
            return await self._send_body(scope, send, gone)
        return await self._send_stream(self._stream, scope, send, gone)

    async def _send_body(self, scope: Scope, send: Send, gone: asyncio.Event) -> bool:
        k = self._knobs
        if self._steps and not await _pause(k.ttft_ms + k.chunk_interval_ms * (self._steps - 1), gone):
            return False
        body = self._body
        if self._faults and k.cut_after_chunks is not None and k.malformed_chunk_at is None:
            await self._start(send, len(body))
            await _chunk(send, body[: len(body) // 2])
            self._state.count("cuts")
            await _cut(scope, gone)
            return True
        if self._faults and k.malformed_chunk_at is not None:
            body = body[: len(body) // 2]
            self._state.count("malformed")
        else:
            self._state.count("errors" if self.status_code >= 400 else "completed")
        await self._start(send, len(body))
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return True

    async def _send_stream(self, stream: Stream, scope: Scope, send: Send, gone: asyncio.Event) -> bool:
        k = self._knobs
        await self._start(send, None)
        if not await _pause(k.ttft_ms, gone):
            return False
        chunks = len(stream.events) - stream.terminal
        cut = self._position(k.cut_after_chunks, chunks)
        error = self._position(k.error_event_after_chunks, chunks)
        bad = self._position(k.malformed_chunk_at, chunks)
        for i, event in enumerate(stream.events):
            if i and not await _pause(k.chunk_interval_ms, gone):
                return False
            if i == bad:
                self._state.count("malformed")
                await _chunk(send, stream.malformed)
            if i == cut:
                self._state.count("cuts")
                await _cut(scope, gone)
                return True
            if i == error:
                self._state.count("error_events")
                await send({"type": "http.response.body", "body": stream.error_event, "more_body": False})
                return True
            await _chunk(send, event)
            if k.hold_after_chunks is not None and i + 1 == k.hold_after_chunks:
                if not await _until(self._state.hold(), gone):
                    return False
        self._state.count("completed")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    def _position(self, knob: int | None, chunks: int) -> int | None:
        # Past the last chunk means just before the terminal events: the clean end is never sent.
        return None if knob is None or not self._faults else min(knob, chunks)

    async def _start(self, send: Send, length: int | None) -> None:
        headers = self.raw_headers
        if length is not None:
            headers = [*headers, (b"content-length", str(length).encode())]
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})


async def _chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _watch(receive: Receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


async def _pause(ms: float, gone: asyncio.Event) -> bool:
    """Wait ``ms`` milliseconds; False as soon as the client has gone."""
    if gone.is_set():
        return False
    if ms <= 0:
        return True
    try:
        await asyncio.wait_for(gone.wait(), ms / 1000)
    except TimeoutError:
        return True
    return False


async def _until(released: asyncio.Event, gone: asyncio.Event) -> bool:
    """Wait for ``released``; False if the client went away first."""
    waits = [asyncio.ensure_future(released.wait()), asyncio.ensure_future(gone.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return released.is_set()


async def _cut(scope: Scope, gone: asyncio.Event) -> None:
    """Drop the connection mid-response: the client sees a broken body, not a clean end."""
    transport = _transport(scope.get(RAW_SEND))
    if transport is None:
        raise StreamCut("connection cut on purpose (cut_after_chunks)")
    transport.close()
    # Return only once the server has seen the connection go, so it does not
    # report an unfinished response.
    try:
        await asyncio.wait_for(gone.wait(), _CUT_GRACE_S)
    except TimeoutError:
        raise StreamCut("connection cut on purpose (cut_after_chunks)") from None


@dataclass(frozen=True, slots=True)
class Faults:
    """What the fault knobs do to one request."""

    active: bool  # the fault knobs apply (``fail_times`` may have run out)
    hang: bool = False
    status: int | None = None  # answer with this error instead of a reply


NO_FAULTS = Faults(active=False)


def decide_faults(
    state: FakeState, model: str | None, knobs: Knobs, *, stream: bool, failure_status: int
) -> Faults:
    """Which fault this request gets; ``failure_status`` is the provider's stock 5xx."""
    if not knobs.has_fault or not state.admit_fault(model, knobs):
        return NO_FAULTS
    if knobs.hang:
        return Faults(active=True, hang=True)
    if stream and knobs.error_event_after_chunks is not None:
        return Faults(active=True)  # the error rides in the stream, with knobs.status as its kind
    if knobs.status is not None:
        return Faults(active=True, status=knobs.status)
    if knobs.cut_after_chunks is not None or knobs.malformed_chunk_at is not None:
        return Faults(active=True)  # these act on the body or the stream
    # An in-stream error asked of a non-stream answer, or fail_times alone: a plain failure.
    return Faults(active=True, status=failure_status)


def retry_after_headers(knobs: Knobs) -> list[tuple[str, str]]:
    if knobs.retry_after is None:
        return []
    return [("retry-after", f"{knobs.retry_after:g}")]
