"""The shared upstream HTTP client: keep-alive HTTP/1.1 connections per origin, one pool per process.

Why not aiohttp (which this replaced): on one core its per-request bookkeeping (URL and header
objects, cookie jar, trace hooks, a timer context, a payload object per body) measured ~156 µs
per POST against ~38 µs for this client, and it was over a quarter of the gateway's CPU at full
load. The wire work is not ours: ``httptools`` (llhttp, the parser uvicorn uses) parses every
response, chunked bodies included; asyncio does TCP and TLS. What is left here is the glue: one
request at a time per connection, idle connections reused newest first, a timer per connection
(armed once and left armed from one exchange to the next: when it fires it looks at the deadline
of the exchange in progress, if any, rather than being set and cancelled for each request).

A request is written from a callback (``loop.call_soon``), so that the requests started in one
turn of the event loop are written one after the other: written at once, each woke the upstream
server (another process, often on another core) on its own; together, one wake-up serves
several. Measured with ``bench.compete``-style load on one core, OpenAI path: ~1.06 times the
requests per second (docs/benchmarks.md).

Promises:
- The request is written as one buffer; a header value with a line break is refused, never sent.
- ``send`` is an async context manager: a response not read to its end when the context exits
  (a cancelled client, an error) closes its connection; only a finished keep-alive exchange
  returns its connection to the pool. A connection is never shared by two requests.
- Non-stream: ``Timeouts.total_s`` bounds the whole exchange. Stream: it bounds the silence
  between two reads (a long stream is fine, a stalled one is not). Connecting: ``connect_s``.
  While reading is paused because the caller fell behind (its client is not reading), the
  upstream's silence is ours, not the upstream's: it is not timed, and the silence is timed
  again from when reading resumes. The client's own stall is bounded by the server's write
  deadline (``httpserver``).
- A stream's body reaches ``events()`` as it arrives; reading pauses when the caller falls behind
  (256 KiB unread). A non-stream answer is read whole, whatever its size.
- Errors become the gateway's upstream errors here, naming the provider, never a URL or a header.
- No ``Accept-Encoding`` is sent; a body the upstream compresses anyway (gzip, deflate) is
  inflated.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

import httptools

from gateway.errors import UpstreamBadResponse, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from gateway.providers.base import UpstreamRequest

_PAUSE_AT = 256 * 1024  # bytes of a stream buffered before reading pauses
_IDLE_S = 30.0  # an idle connection older than this is closed rather than reused
_URLS_CACHED = 4096


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float = 5.0
    total_s: float = 60.0


class Headers(dict[str, str]):
    """Response headers by lower-case name; a repeated header keeps its values comma-joined."""

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


@dataclass(frozen=True, slots=True)
class _Target:
    origin: tuple[str, str, int]  # scheme, host, port: the pool's key
    path: bytes
    host_header: bytes


class _Connection(asyncio.Protocol):
    """One upstream TCP (or TLS) connection, carrying one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.open = True
        self.idle_since = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.due: float | None = None  # the exchange in progress times out then (loop time); None: no exchange
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.error: UpstreamError | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.inflate: zlib._Decompress | None = None
        self.last_read = 0.0
        self.idle_limit = 0.0  # > 0: a stream, bounded by silence rather than by a deadline
        self.label = ""

    # --- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_read = self.loop.time() if self.idle_limit else 0.0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raised = exc.__context__  # what a callback of ours raised, if that is what stopped the parser
            self._fail(raised if isinstance(raised, UpstreamError) else
                       UpstreamBadResponse(f"upstream {self.label} sent a malformed HTTP response"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.complete or self.error is not None:
            return
        if self.headers_done and self._close_delimited():
            self.on_message_complete()  # the body ran to the end of the connection, as HTTP/1.0 allows
        elif self.headers_done:
            self._fail(UpstreamBadResponse(f"upstream {self.label} broke off its response"))
        else:
            self._fail(UpstreamUnavailable(f"could not reach upstream {self.label} (connection closed)"))

    # --- httptools callbacks ---------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 1xx: an interim answer; the real one follows on the same connection
            self.raw_headers = []
            return
        self.status = status
        self.headers_done = True
        for name, value in self.raw_headers:
            if len(name) == 16 and name.lower() == b"content-encoding":
                coding = value.strip().lower()
                if coding in (b"gzip", b"deflate", b"x-gzip"):
                    self.inflate = zlib.decompressobj(wbits=47)  # 32 + 15: zlib or gzip, told by its header
                elif coding != b"identity":
                    raise UpstreamBadResponse(f"upstream {self.label} sent an unsupported content encoding")
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.inflate is not None:
            try:
                body = self.inflate.decompress(body)
            except zlib.error:
                raise UpstreamBadResponse(f"upstream {self.label} sent a corrupt compressed body") from None
        if body:
            self.chunks.append(body)
            self.buffered += len(body)
            # Only a stream's reader can fall behind: a whole answer is waited for, not read along.
            if self.idle_limit and self.buffered > _PAUSE_AT and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        if not self.headers_done:
            return  # the end of a 1xx answer
        if self.inflate is not None:
            rest = self.inflate.flush()
            if rest:
                self.chunks.append(rest)
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # llhttp forgets it once the message is over
        self.due = None
        self._wake()

    # --- the exchange ----------------------------------------------------------------------------

    def start(self, payload: bytes, label: str, timeouts: Timeouts, stream: bool) -> None:
        self._reset()
        self.label = label
        now = self.loop.time()
        if stream:  # bounded by silence: the deadline moves with each read (``_check``)
            self.idle_limit = timeouts.total_s
            self.last_read = now
        self.due = now + timeouts.total_s
        if self.timer is None or self.timer.when() > self.due:
            self._arm(self.due)
        self.loop.call_soon(self._write, payload)  # with the turn's other writes: see the module's docstring

    def _write(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():  # not given up meanwhile
            self.transport.write(payload)

    async def wait(self, until_complete: bool) -> None:
        while self.error is None and not (self.complete if until_complete else self.headers_done):
            await self._woken()
        if self.error is not None:
            raise self.error

    async def wait_data(self) -> None:
        """Until more body has come (or the end); a failure is raised once what came before it is taken."""
        while not self.chunks and not self.complete:
            if self.error is not None:
                raise self.error
            await self._woken()

    async def _woken(self) -> None:
        """Until the next callback that could change what a waiter waits for (``_wake``)."""
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def reusable_after(self, oldest: float) -> bool:
        """Still open, and idle since ``oldest`` or later (pool clock)."""
        return self.open and self.idle_since >= oldest

    def take(self) -> bytes:
        """The body received so far (all of it once ``complete``)."""
        chunks = self.chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.last_read = self.loop.time()  # the silence is the upstream's again from now
            self.transport.resume_reading()
        return data

    def finish(self) -> bool:
        """The exchange is over: True if the connection can carry the next one."""
        self.due = None
        reusable = self.complete and self.keep_alive and self.error is None and self.open
        if not reusable and self.transport is not None:
            self.open = False
            self._stop_timer()
            self.transport.abort()
        return reusable

    def close(self) -> None:
        self.open = False
        self._stop_timer()
        if self.transport is not None:
            self.transport.abort()

    def _close_delimited(self) -> bool:
        return not any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self.raw_headers)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self.error is None:
            self.error = error
        self._stop_timer()
        self.open = False
        if self.transport is not None:
            self.transport.abort()
        self._wake()

    def _stop_timer(self) -> None:
        """The connection is done with: no exchange will need the timer."""
        self.due = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_at(when, self._check)

    def _check(self) -> None:
        """The timer fired: fail the exchange in progress if its time is up, else look again when it
        would be (a later exchange's deadline; a stream's silence that data has interrupted)."""
        self.timer = None
        if self.due is None:
            return  # no exchange in progress: the next one arms the timer
        if self.paused:  # a stream we stopped reading: its silence is not the upstream's
            self._arm(self.loop.time() + self.idle_limit)
            return
        due = self.last_read + self.idle_limit if self.idle_limit else self.due
        if self.loop.time() >= due:
            self._fail(UpstreamTimeout(f"upstream {self.label} timed out"))
        else:
            self._arm(due)


class UpstreamResponse:
    __slots__ = ("_conn", "status", "_headers")

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self.status = conn.status
        self._headers: Headers | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        if self._headers is None:
            headers = Headers()
            for name, value in self._conn.raw_headers:
                key, text = name.decode("latin-1").lower(), value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            self._headers = headers
        return self._headers

    async def read(self) -> bytes:
        await self._conn.wait(until_complete=True)
        return self._conn.take()

    async def events(self) -> AsyncIterator[tuple[str | None, bytes]]:
        """Server-sent events as ``(event, data)`` pairs, yielded as soon as each is complete."""
        event: str | None = None
        data: list[bytes] = []
        async for line in self._lines():
            line = line.rstrip(b"\r")
            if not line:
                if data:
                    yield event, data[0] if len(data) == 1 else b"\n".join(data)
                event, data = None, []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode("utf-8", "replace")
            # ":" comments, "id:" and "retry:" fields carry nothing we use.
        if data:
            yield event, data[0] if len(data) == 1 else b"\n".join(data)

    async def _lines(self) -> AsyncIterator[bytes]:
        conn = self._conn
        rest = b""
        while True:
            if not conn.chunks:
                if conn.complete:
                    break
                await conn.wait_data()
                continue
            lines = (rest + conn.take()).split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield line
        if rest:
            yield rest


class _Exchange:
    """``async with pool.send(...) as response``: the connection is the exchange's until it exits."""

    __slots__ = ("_pool", "_req", "_timeouts", "_label", "_stream", "_conn", "_target")

    def __init__(self, pool: UpstreamPool, req: UpstreamRequest, timeouts: Timeouts, label: str,
                 stream: bool) -> None:
        self._pool, self._req, self._timeouts, self._label, self._stream = pool, req, timeouts, label, stream
        self._conn: _Connection | None = None
        self._target: _Target | None = None

    async def __aenter__(self) -> UpstreamResponse:
        pool, label = self._pool, self._label
        target = self._target = pool.target(self._req.url)
        payload = _payload(target, self._req, label)
        conn = self._conn = await pool.acquire(target, self._timeouts.connect_s, label)
        try:
            conn.start(payload, label, self._timeouts, self._stream)
            await conn.wait(until_complete=not self._stream)  # a non-stream answer is read whole at once
        except BaseException:  # __aexit__ will not run: the connection goes now
            self._conn = None
            conn.close()
            raise
        return UpstreamResponse(conn)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            if conn.finish():
                self._pool.release(self._target, conn)


class UpstreamPool:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` (seconds) ages idle connections; tests step it."""
        self._clock = clock
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None
        self._started = False

    async def start(self) -> None:
        self._started = True

    async def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        self._started = False

    def send(self, req: UpstreamRequest, timeouts: Timeouts, label: str, *, stream: bool = False) -> _Exchange:
        assert self._started, "UpstreamPool.start() was not called"
        return _Exchange(self, req, timeouts, label, stream)

    def target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https") or not parts.hostname:
                raise UpstreamBadResponse("an upstream URL must be http:// or https:// with a host")
            port = parts.port or (443 if scheme == "https" else 80)
            default = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
            host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            target = _Target((scheme, parts.hostname, port), path.encode("ascii"),
                             (host if default else f"{host}:{port}").encode("ascii"))
            if len(self._targets) >= _URLS_CACHED:  # URLs come from config; this only bounds a surprise
                self._targets.clear()
            self._targets[url] = target
        return target

    async def acquire(self, target: _Target, connect_s: float, label: str) -> _Connection:
        idle = self._idle.get(target.origin)
        if idle:
            oldest = self._clock() - _IDLE_S
            while idle:
                conn = idle.pop()
                if conn.reusable_after(oldest):
                    return conn
                conn.close()
        scheme, host, port = target.origin
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(connect_s):
                _, conn = await loop.create_connection(lambda: _Connection(loop), host, port, ssl=tls,
                                                       server_hostname=host if tls else None)
        except TimeoutError:
            raise UpstreamTimeout(f"upstream {label} timed out connecting") from None
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake
            raise UpstreamUnavailable(f"could not reach upstream {label} ({type(exc).__name__})") from None
        return conn

    def release(self, target: _Target | None, conn: _Connection) -> None:
        assert target is not None
        now = conn.idle_since = self._clock()
        idle = self._idle.setdefault(target.origin, [])
        idle.append(conn)
        oldest = now - _IDLE_S
        if not idle[0].reusable_after(oldest):
            # Reuse takes the newest, so the oldest are the ones left to go stale or be closed by
            # the server (after a burst, say): drop them all now rather than keep them forever.
            for stale in [c for c in idle if not c.reusable_after(oldest)]:
                stale.close()
            idle[:] = [c for c in idle if c.open]

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


def _payload(target: _Target, req: UpstreamRequest, label: str) -> bytes:
    lines = [b"POST ", target.path, b" HTTP/1.1\r\nhost: ", target.host_header, b"\r\n"]
    for name, value in req.headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise UpstreamBadResponse(f"a header for upstream {label} holds a line break; the request was not sent")
        try:
            lines.append(f"{name}: {value}\r\n".encode("latin-1"))
        except UnicodeEncodeError:
            raise UpstreamBadResponse(
                f"a header for upstream {label} is not Latin-1 text; the request was not sent") from None
    lines.append(b"content-length: %d\r\n\r\n" % len(req.body))
    lines.append(req.body)
    return b"".join(lines)
