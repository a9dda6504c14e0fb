"""The gateway's HTTP protocol (gateway/httpserver.py) on a real loopback server: a response
leaves in one write, a stream's chunk is not held back for the next one, and a response the
server closes the connection after arrives whole."""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import GatewayProcess, free_port
from gateway import httpserver
from gateway.httpserver import AFTER_WRITES, HttpProtocol

WRITES: list[bytes] = []  # what reached the real transports of the server below


class _Recording:
    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class RecordingProtocol(HttpProtocol):
    """The gateway's protocol over a transport that records each write it is given."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Recording(transport))  # type: ignore[arg-type]


class App:
    def __init__(self) -> None:
        self.release: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.after_ran = threading.Event()
        self.loop_errors: list[dict[str, Any]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            self.loop, self.release = asyncio.get_running_loop(), asyncio.Event()
            self.loop.set_exception_handler(lambda loop, context: self.loop_errors.append(context))
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        if path == "/after":  # work to do once the answer is out: a failing callback, then one that looks
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
            await send({"type": "http.response.body", "body": b"hello"})
            after = scope[AFTER_WRITES]
            after(_fail, "bookkeeping failed")
            after(self._after, len(WRITES))
            return
        if path == "/reused":  # a bytearray body the app changes before the turn is over
            buffer = bytearray(b"first")
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
            await send({"type": "http.response.body", "body": buffer, "more_body": True})
            buffer[:] = b"after"
            await send({"type": "http.response.body", "body": b"-last", "more_body": False})
            return
        if path == "/burst":  # chunks written in one turn, as from one upstream read of many events
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            for part in (b"one", b"two", b"three"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if path == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"first chunk", "more_body": True})
            assert self.release is not None
            await self.release.wait()  # the test lets the stream go on once the first chunk arrived
            await send({"type": "http.response.body", "body": b"second chunk", "more_body": False})
            return
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
        if path == "/bad-name":
            headers.append((b"x bad", b"1"))
        if path == "/bad-value":
            headers.append((b"x-good", b"1\r\nx-injected: 1"))
        if path == "/close":
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})


    def _after(self, writes_when_registered: int) -> None:
        WRITES.append(b"after: %d writes before it was registered" % writes_when_registered)
        self.after_ran.set()


def _fail(message: str) -> None:
    raise RuntimeError(message)


@pytest.fixture
def server() -> Iterator[tuple[BackgroundServer, App]]:
    app = App()
    WRITES.clear()
    with BackgroundServer(app, http=RecordingProtocol) as running:
        yield running, app


def _connect(server: BackgroundServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port))
    sock.settimeout(10)  # a bound on a failure, not a wait: every read below has its bytes coming
    return sock


def _get(path: str) -> bytes:
    return b"GET %s HTTP/1.1\r\nhost: test\r\n\r\n" % path.encode()


def _read_until(sock: socket.socket, marker: bytes, got: bytes = b"") -> bytes:
    while marker not in got:
        data = sock.recv(65536)
        if not data:
            break
        got += data
    return got


def test_a_response_leaves_in_one_write_and_keep_alive_goes_on(server: tuple[BackgroundServer, App]) -> None:
    running, _ = server
    with _connect(running) as sock:
        for _ in range(2):
            sock.sendall(_get("/small"))
            reply = _read_until(sock, b"\r\n\r\nhello")
            assert reply.startswith(b"HTTP/1.1 200 OK\r\n") and reply.endswith(b"\r\n\r\nhello")
    assert len(WRITES) == 2  # uvicorn's own protocol writes four times: headers, then body, twice
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") and w.endswith(b"hello") for w in WRITES)


def test_keep_alive_closes_an_idle_connection_not_a_busy_one() -> None:
    app = App()
    with BackgroundServer(app, http=RecordingProtocol, timeout_keep_alive=1) as running, _connect(running) as sock:
        sock.sendall(_get("/small"))  # its response arms the keep-alive timer: 1 s
        assert _read_until(sock, b"\r\n\r\nhello").endswith(b"hello")
        sock.sendall(_get("/stream"))  # in progress until released
        assert b"first chunk" in _read_until(sock, b"first chunk")
        time.sleep(1.5)  # the keep-alive timeout passes while the request is in progress: what is under test
        assert app.loop is not None and app.release is not None
        app.loop.call_soon_threadsafe(app.release.set)
        assert b"second chunk" in _read_until(sock, b"0\r\n\r\n")  # the stream ends whole
        sock.sendall(_get("/small"))  # the connection still serves
        assert _read_until(sock, b"\r\n\r\nhello").endswith(b"hello")
        started = time.monotonic()
        assert sock.recv(65536) == b""  # then, idle, it is closed
        assert time.monotonic() - started >= 0.9


def test_a_header_with_a_forbidden_byte_is_never_sent(server: tuple[BackgroundServer, App]) -> None:
    running, _ = server
    for path in ("/bad-name", "/bad-value"):
        with _connect(running) as sock:
            sock.sendall(_get(path))
            assert _read_until(sock, b"never") == b""  # the connection closes with nothing written
    with _connect(running) as sock:  # and the server goes on serving
        sock.sendall(_get("/small"))
        assert _read_until(sock, b"\r\n\r\nhello").endswith(b"hello")


def test_a_stream_chunk_goes_out_before_the_next_is_written(server: tuple[BackgroundServer, App]) -> None:
    running, app = server
    with _connect(running) as sock:
        sock.sendall(_get("/stream"))
        got = _read_until(sock, b"first chunk")  # the app is still waiting: nothing else could carry it
        assert b"first chunk" in got and b"second chunk" not in got
        assert app.loop is not None and app.release is not None
        app.loop.call_soon_threadsafe(app.release.set)
        got = _read_until(sock, b"0\r\n\r\n", got)
    assert b"second chunk" in got and got.endswith(b"0\r\n\r\n")


def test_a_response_before_the_server_closes_arrives_whole(server: tuple[BackgroundServer, App]) -> None:
    running, _ = server
    with _connect(running) as sock:
        sock.sendall(_get("/close"))
        got = b""
        while data := sock.recv(65536):  # to the end of the connection: the server closed it
            got += data
    assert got.startswith(b"HTTP/1.1 200 OK\r\n") and got.endswith(b"\r\n\r\nhello")
    assert b"connection: close\r\n" in got


def _fetch(server: BackgroundServer, path: str, until: bytes) -> bytes:
    """One GET on a connection of its own, read until ``until``."""
    with _connect(server) as sock:
        sock.sendall(_get(path))
        return _read_until(sock, until)


def test_a_body_given_as_a_bytearray_is_sent_as_it_was_when_written(server: tuple[BackgroundServer, App]) -> None:
    assert _fetch(server[0], "/reused", b"-last").endswith(b"\r\n\r\nfirst-last")


def test_a_burst_of_chunks_does_not_hold_the_first_until_the_last(server: tuple[BackgroundServer, App]) -> None:
    got = _fetch(server[0], "/burst", b"0\r\n\r\n")
    assert got.endswith(b"3\r\none\r\n3\r\ntwo\r\n5\r\nthree\r\n0\r\n\r\n")
    # The head goes out with the first chunks, before the last is even written.
    assert WRITES[0].startswith(b"HTTP/1.1 200 OK\r\n") and b"one" in WRITES[0] and b"three" not in WRITES[0]
    assert b"".join(WRITES) == got


def test_work_after_a_response_runs_once_the_response_went_out(server: tuple[BackgroundServer, App]) -> None:
    """What a request registers with ``scope[AFTER_WRITES]`` (the telemetry's bookkeeping) runs
    after the turn's writes went out, not before them; a callback that fails is reported to the
    loop and the ones after it still run."""
    running, app = server
    with _connect(running) as sock:
        sock.sendall(_get("/after"))
        assert _read_until(sock, b"\r\n\r\nhello").endswith(b"hello")
    assert app.after_ran.wait(10)
    # When the app registered it, the response was only waiting for the turn's end (0 writes);
    # when it ran, the response had been written.
    assert WRITES[-1] == b"after: 0 writes before it was registered"
    assert len(WRITES) == 2 and WRITES[0].startswith(b"HTTP/1.1 200 OK\r\n") and WRITES[0].endswith(b"hello")
    assert [str(e.get("exception")) for e in app.loop_errors] == ["bookkeeping failed"]


def test_a_servers_turn_end_goes_with_the_server() -> None:
    """The end-of-turn object a server's connections share is the server's: nothing of a
    stopped server (its loop included) is kept."""
    def serve_one_request() -> None:
        with BackgroundServer(App(), http=RecordingProtocol) as running, _connect(running) as sock:
            sock.sendall(_get("/small"))
            assert _read_until(sock, b"\r\n\r\nhello").endswith(b"hello")
            assert len(httpserver._TURNS) == before + 1

    gc.collect()  # the servers of the tests before
    before = len(httpserver._TURNS)
    serve_one_request()
    gc.collect()
    assert len(httpserver._TURNS) == before


class QuickHeads(HttpProtocol):
    HEAD_TIMEOUT_S = 0.5


@pytest.mark.parametrize("size", [20 * 1024, 1024 * 1024])
def test_a_head_over_the_limit_is_refused_and_the_server_goes_on(server: tuple[BackgroundServer, App],
                                                                 size: int) -> None:
    running, _ = server
    with _connect(running) as sock:
        try:  # one huge header, or many: the server answers and closes before taking it all
            sock.sendall(b"GET /small HTTP/1.1\r\nhost: test\r\nx-big: " + b"a" * size + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = _read_until(sock, b"too large.")
        assert reply.startswith(b"HTTP/1.1 431 ") and b"connection: close" in reply
    with _connect(running) as sock:
        sock.sendall(b"GET /small HTTP/1.1\r\nhost: test\r\n" + b"x-h: %s\r\n" % (b"v" * 100) * 100 + b"\r\n")
        assert _read_until(sock, b"\r\n\r\nhello").endswith(b"hello")  # 10 KB of headers: within the limit


def test_a_slow_head_is_cut_off_and_others_are_served() -> None:
    app = App()
    with BackgroundServer(app, http=QuickHeads) as running, _connect(running) as slow:
        slow.sendall(b"GET /small HTTP/1.1\r\n")
        sent = 0
        reply = b""
        for sent in range(1, 100):  # a header line a while, never the end of the head
            with _connect(running) as other:  # meanwhile everyone else is served
                other.sendall(_get("/small"))
                assert _read_until(other, b"\r\n\r\nhello").endswith(b"hello")
            try:
                slow.sendall(b"x-slow-%d: 1\r\n" % sent)
            except (BrokenPipeError, ConnectionResetError):
                break
            slow.settimeout(0.05)
            try:
                reply = slow.recv(65536)
            except TimeoutError:
                continue
            break
        assert reply.startswith(b"HTTP/1.1 408 "), reply
        assert sent < 99


def test_a_connection_that_never_speaks_is_closed() -> None:
    app = App()
    with BackgroundServer(app, http=RecordingProtocol, timeout_keep_alive=1) as running, _connect(running) as sock:
        assert sock.recv(65536) == b""  # closed by the server: recv would otherwise wait out its 10 s


def test_a_worker_takes_at_most_its_connections(demo_config: Path, fakes: Fakes) -> None:
    """GROVE_MAX_CONNECTIONS: past it a new connection's request gets 503; the others are served."""
    gateway = GatewayProcess(demo_config, free_port(), {"GROVE_MAX_CONNECTIONS": "2"})
    try:
        held = [_connect_url(gateway.url) for _ in range(2)]
        extra = _connect_url(gateway.url)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        assert _read_until(extra, b"\r\n\r\n").startswith(b"HTTP/1.1 503 ")
        extra.close()
        for sock in held:
            sock.close()
        assert httpx.get(f"{gateway.url}/healthz").status_code == 200  # room again
    finally:
        gateway.stop()


def _connect_url(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(10)
    return sock
