"""The upstream pool parses SSE exactly as sent, however it is split on the wire."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import subprocess
from pathlib import Path
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.errors import UpstreamBadResponse, UpstreamTimeout, UpstreamUnavailable
from gateway.fakes.background import BackgroundServer
from gateway.providers.base import UpstreamRequest
from gateway.upstream import Timeouts, UpstreamPool
from tests.conftest import free_port

WIRE = [
    b": a comment line\n\n",
    b"event: first\ndata: {\"a\": 1}\n\n",
    b"data: {\"b\":",  # one event split across two writes
    b" 2}\r\n\r\n",
    b"data: line one\ndata: line two\n\n",
    b"data:no-space\n\n",
    b"id: 7\nretry: 10\ndata: [DONE]\n\n",
    b"data: trailing without blank line",
]


async def sse(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for piece in WIRE:
            yield piece

    return StreamingResponse(body(), media_type="text/event-stream")


async def slow(request: Request) -> Response:
    await asyncio.sleep(5)
    return Response(b"{}")


@pytest.fixture(scope="module")
def server() -> BackgroundServer:
    with BackgroundServer(Starlette(routes=[Route("/sse", sse, methods=["POST"]),
                                            Route("/slow", slow, methods=["POST"])])) as running:
        yield running


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_sse_events_parsed(server: BackgroundServer) -> None:
    async def run() -> list[tuple[str | None, bytes]]:
        pool = UpstreamPool()
        await pool.start()
        try:
            async with pool.send(UpstreamRequest(f"{server.url}/sse", {}, b"{}"), Timeouts(), "t", stream=True) as r:
                assert r.status == 200
                return [event async for event in r.events()]
        finally:
            await pool.close()

    assert _run(run()) == [
        ("first", b'{"a": 1}'),
        (None, b'{"b": 2}'),
        (None, b"line one\nline two"),
        (None, b"no-space"),
        (None, b"[DONE]"),
        (None, b"trailing without blank line"),
    ]


def test_timeout_and_refused_connection_map_to_gateway_errors(server: BackgroundServer) -> None:
    async def run() -> None:
        pool = UpstreamPool()
        await pool.start()
        try:
            with pytest.raises(UpstreamTimeout):
                async with pool.send(UpstreamRequest(f"{server.url}/slow", {}, b"{}"), Timeouts(total_s=0.2), "t"):
                    pass
            with pytest.raises(UpstreamUnavailable) as info:
                async with pool.send(UpstreamRequest(f"http://127.0.0.1:{free_port()}/x", {}, b"{}"),
                                     Timeouts(), "gone-provider"):
                    pass
            assert "gone-provider" in str(info.value)
        finally:
            await pool.close()

    _run(run())


# --- the connection pool, against a raw HTTP server on loopback that answers what each test scripts ---

class RawServer:
    """A loopback TCP server: each request (read up to the end of its body) gets the next scripted
    answer; ``None`` as an answer closes the connection without a word, and so does an answer that
    says ``connection: close`` once written. With ``hold``, each answer is followed by a wait for
    that event, then the connection is closed. Counts connections."""

    def __init__(self, answers: list[bytes | None], hold: asyncio.Event | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.answers = answers
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.hold = hold
        self._serving: list[tuple[asyncio.Task[None], asyncio.StreamWriter]] = []

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        scheme = "https" if self.tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1/x"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        for task, writer in self._serving:  # connections still open end now, and their handlers with them
            writer.close()
            task.cancel()
        await asyncio.gather(*(task for task, _ in self._serving), return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._serving.append((asyncio.current_task(), writer))  # type: ignore[arg-type]
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answers.pop(0)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer:
                    break
                if self.hold is not None:
                    await self.hold.wait()
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def _ok(body: bytes, *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), b"".join(extra), body)


async def _post(pool: UpstreamPool, url: str, *, headers: dict[str, str] | None = None,
                timeouts: Timeouts = Timeouts()) -> tuple[int, bytes]:
    async with pool.send(UpstreamRequest(url, headers or {}, b'{"q":1}'), timeouts, "raw") as resp:
        return resp.status, await resp.read()


def _with_pool(test):  # type: ignore[no-untyped-def]
    async def run() -> None:
        pool = UpstreamPool()
        await pool.start()
        try:
            await test(pool)
        finally:
            await pool.close()

    asyncio.run(run())


def test_keep_alive_reuses_one_connection_and_writes_the_request_as_given() -> None:
    async def test(pool: UpstreamPool) -> None:
        async with RawServer([_ok(b"one"), _ok(b"two")]) as server:
            assert await _post(pool, server.url, headers={"authorization": "Bearer k"}) == (200, b"one")
            assert await _post(pool, server.url) == (200, b"two")
            assert server.connections == 1
            first = server.requests[0]
            assert first.startswith(b"POST /v1/x HTTP/1.1\r\nhost: 127.0.0.1:")
            assert b"authorization: Bearer k\r\n" in first and first.endswith(b'content-length: 7\r\n\r\n{"q":1}')

    _with_pool(test)


def test_connection_close_answer_is_not_reused() -> None:
    async def test(pool: UpstreamPool) -> None:
        async with RawServer([_ok(b"one", b"connection: close\r\n")]) as first, RawServer([_ok(b"x")]):
            assert await _post(pool, first.url) == (200, b"one")
            first.answers.append(_ok(b"two"))
            assert await _post(pool, first.url) == (200, b"two")
            assert first.connections == 2

    _with_pool(test)


def test_idle_connection_closed_by_the_server_is_replaced() -> None:
    async def test(pool: UpstreamPool) -> None:
        async with RawServer([_ok(b"one"), None, _ok(b"two")]) as server:
            assert await _post(pool, server.url) == (200, b"one")
            # The server closes the kept-alive connection at its next request: the client sees it go.
            with pytest.raises(UpstreamUnavailable, match="could not reach upstream raw"):
                await _post(pool, server.url)
            assert await _post(pool, server.url) == (200, b"two")
            assert server.connections == 2

    _with_pool(test)


def test_bodies_chunked_close_delimited_gzip_and_interim_answers() -> None:
    packed = gzip.compress(b'{"packed":true}')
    answers = [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        _ok(packed, b"content-encoding: gzip\r\n"),
        b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(b"after interim"),
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nto the end",
    ]

    async def test(pool: UpstreamPool) -> None:
        async with RawServer(answers) as server:
            assert await _post(pool, server.url) == (200, b"abcde")
            assert await _post(pool, server.url) == (200, b'{"packed":true}')
            assert await _post(pool, server.url) == (200, b"after interim")
            assert await _post(pool, server.url) == (200, b"to the end")

    _with_pool(test)


def test_response_headers_by_any_case_repeated_ones_joined() -> None:
    async def test(pool: UpstreamPool) -> None:
        async with RawServer([_ok(b"{}", b"Retry-After: 3\r\nX-Many: a\r\nx-many: b\r\n")]) as server:
            async with pool.send(UpstreamRequest(server.url, {}, b"{}"), Timeouts(), "raw") as resp:
                assert resp.headers.get("retry-after") == resp.headers["Retry-After"] == "3"
                assert resp.headers.get("x-many") == "a, b" and "X-MANY" in resp.headers

    _with_pool(test)


def test_broken_answers_map_to_gateway_errors() -> None:
    async def test(pool: UpstreamPool) -> None:
        cut_short = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\nonly this"
        async with RawServer([cut_short]) as server:
            with pytest.raises(UpstreamBadResponse, match="broke off its response"):
                await _post(pool, server.url)
        async with RawServer([b"NOT HTTP AT ALL\r\n\r\n"]) as server:
            with pytest.raises(UpstreamBadResponse, match="malformed HTTP response"):
                await _post(pool, server.url)
        async with RawServer([_ok(b"x", b"content-encoding: br\r\n")]) as server:
            with pytest.raises(UpstreamBadResponse, match="unsupported content encoding"):
                await _post(pool, server.url)
        async with RawServer([_ok(b"not gzip", b"content-encoding: gzip\r\n")]) as server:
            with pytest.raises(UpstreamBadResponse, match="corrupt compressed body"):
                await _post(pool, server.url)

    _with_pool(test)


def test_a_header_with_a_line_break_is_never_sent() -> None:
    async def test(pool: UpstreamPool) -> None:
        async with RawServer([_ok(b"{}")]) as server:
            for headers in ({"x-api-key": "k\r\nx-injected: 1"}, {"x-api-key": "clé ✓"}):
                with pytest.raises(UpstreamBadResponse, match="the request was not sent"):
                    await _post(pool, server.url, headers=headers)
            assert server.connections == 0 and server.requests == []

    _with_pool(test)


def test_a_stream_left_early_closes_its_connection_and_a_finished_one_is_reused() -> None:
    events = b"data: 1\n\n" * 3
    partial = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(events), events)
    whole = partial + b"0\r\n\r\n"

    async def test(pool: UpstreamPool) -> None:
        async with RawServer([partial, whole, _ok(b"last")]) as server:
            async with pool.send(UpstreamRequest(server.url, {}, b"{}"), Timeouts(), "raw", stream=True) as resp:
                async for event in resp.events():
                    assert event == (None, b"1")
                    break  # the client went away mid-stream
            async with pool.send(UpstreamRequest(server.url, {}, b"{}"), Timeouts(), "raw", stream=True) as resp:
                assert [e async for e in resp.events()] == [(None, b"1")] * 3
            assert await _post(pool, server.url) == (200, b"last")
            assert server.connections == 2  # the abandoned stream's connection was not reused

    _with_pool(test)


def test_stream_timeout_bounds_silence_not_length() -> None:
    release = asyncio.Event()

    async def test(pool: UpstreamPool) -> None:
        head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        async with RawServer([head + b"9\r\ndata: 1\n\n\r\n"], hold=release) as server:
            async with pool.send(UpstreamRequest(server.url, {}, b"{}"), Timeouts(total_s=0.2), "raw",
                                 stream=True) as resp:
                seen = []
                with pytest.raises(UpstreamTimeout, match="upstream raw timed out"):
                    async for event in resp.events():
                        seen.append(event)
                assert seen == [(None, b"1")]  # what came before the silence was delivered
        release.set()

        async def paced(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            """An upstream streaming for ~0.8 s, an event every 0.1 s: longer than the timeout."""
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head)
            for _ in range(8):
                writer.write(b"9\r\ndata: 2\n\n\r\n")
                await writer.drain()
                await asyncio.sleep(0.1)  # the upstream's pace, which is what is under test
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(paced, "127.0.0.1", 0)
        try:
            url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/x"
            async with pool.send(UpstreamRequest(url, {}, b""), Timeouts(total_s=0.5), "raw", stream=True) as resp:
                assert [event async for event in resp.events()] == [(None, b"2")] * 8
        finally:
            server.close()

    _with_pool(test)


def test_each_exchange_on_a_reused_connection_has_its_own_deadline() -> None:
    """The connection's timer is left armed from one exchange to the next: when it fires during a
    later exchange, that exchange's own deadline counts."""
    delays = [0.3, 0.35, None]  # seconds before each answer; None: no answer at all
    connections = 0

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        for delay in delays:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(7)
            if delay is None:
                await reader.read()  # until the client gives up
                break
            await asyncio.sleep(delay)  # the upstream's pace, which is what is under test
            writer.write(_ok(b"ok"))
            await writer.drain()
        writer.close()

    async def test(pool: UpstreamPool) -> None:
        server = await asyncio.start_server(upstream, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/x"
        loop = asyncio.get_running_loop()
        try:
            # The first exchange's deadline (0.5 s) passes during the second (which takes 0.35 s)
            assert await _post(pool, url, timeouts=Timeouts(total_s=0.5)) == (200, b"ok")
            assert await _post(pool, url, timeouts=Timeouts(total_s=0.5)) == (200, b"ok")
            started = loop.time()
            with pytest.raises(UpstreamTimeout):
                await asyncio.wait_for(_post(pool, url, timeouts=Timeouts(total_s=0.5)), 10)
            assert loop.time() - started >= 0.5  # its own deadline, not the timer's earlier turn
            assert connections == 1
        finally:
            server.close()

    _with_pool(test)


def test_a_large_answer_is_read_whole() -> None:
    body = b"x" * 3_000_000  # well past the point where a stream's reading would pause

    async def test(pool: UpstreamPool) -> None:
        async with RawServer([_ok(body)]) as server:
            assert await _post(pool, server.url) == (200, body)

    _with_pool(test)


def test_a_large_stream_read_slowly_pauses_reading_and_arrives_whole() -> None:
    """Past 256 KiB unread the client stops reading from the socket, and resumes as it is read."""
    line = b"data: " + b"x" * 1000 + b"\n\n"
    body = line * 1000  # ~1 MB

    async def test(pool: UpstreamPool) -> None:
        async with RawServer([_ok(body)]) as server:
            async with pool.send(UpstreamRequest(server.url, {}, b"{}"), Timeouts(), "raw", stream=True) as resp:
                events = resp.events()
                assert await events.__anext__() == (None, b"x" * 1000)
                conn = resp._conn  # noqa: SLF001 - the connection whose reading must pause while we do not read
                for _ in range(100_000):  # the loop runs the socket's reads meanwhile
                    if conn.paused:
                        break
                    await asyncio.sleep(0)
                assert conn.paused and conn.buffered > 256 * 1024
                rest = [data async for _, data in events]
                assert rest == [b"x" * 1000] * 999 and not conn.paused

    _with_pool(test)


def test_idle_connections_the_server_closed_are_dropped_not_reused() -> None:
    release = asyncio.Event()

    async def test(pool: UpstreamPool) -> None:
        async with RawServer([_ok(b"a"), _ok(b"b")], hold=release) as server:
            # Two at once: two connections, both kept idle afterwards.
            assert await asyncio.gather(_post(pool, server.url), _post(pool, server.url)) == [(200, b"a"), (200, b"b")]
            idle = pool._idle[pool.target(server.url).origin]  # noqa: SLF001
            assert len(idle) == 2 and server.connections == 2
            release.set()  # the server closes both (an idle timeout of its own)
            for _ in range(1000):  # until the client has seen both closes
                if not any(conn.open for conn in idle):
                    break
                await asyncio.sleep(0)
            assert not any(conn.open for conn in idle)
            server.answers.append(_ok(b"c"))
            assert await _post(pool, server.url) == (200, b"c")  # on a new connection
            assert server.connections == 3
            assert len(idle) == 1 and idle[0].open  # the closed ones were dropped on the way

    _with_pool(test)


def test_connections_idle_too_long_are_closed_even_below_a_fresh_one() -> None:
    now = [0.0]

    async def run() -> None:
        pool = UpstreamPool(clock=lambda: now[0])
        await pool.start()
        try:
            async with RawServer([_ok(b"a"), _ok(b"b"), _ok(b"c"), _ok(b"d")]) as server:
                await asyncio.gather(_post(pool, server.url), _post(pool, server.url))
                idle = pool._idle[pool.target(server.url).origin]  # noqa: SLF001
                older, newer = idle
                now[0] = 20.0
                assert await _post(pool, server.url) == (200, b"c")  # the newest is reused...
                assert idle == [older, newer] and older.open
                now[0] = 40.0
                assert await _post(pool, server.url) == (200, b"d")
                assert idle == [newer] and not older.open  # ...and the other, idle 40 s, is closed
                assert server.connections == 2
        finally:
            await pool.close()

    asyncio.run(run())


def test_a_url_that_is_not_http_is_refused_and_a_connect_that_hangs_times_out() -> None:
    async def test(pool: UpstreamPool) -> None:
        with pytest.raises(UpstreamBadResponse, match="must be http:// or https://"):
            await _post(pool, "ftp://127.0.0.1/x")
        # A listener that never accepts, its backlog full: the kernel drops further handshakes.
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            port = listener.getsockname()[1]
            fillers = [socket.socket() for _ in range(4)]
            try:
                for filler in fillers:
                    filler.setblocking(False)
                    filler.connect_ex(("127.0.0.1", port))
                with pytest.raises(UpstreamTimeout, match="timed out connecting"):
                    await _post(pool, f"http://127.0.0.1:{port}/x", timeouts=Timeouts(connect_s=0.2))
            finally:
                for filler in fillers:
                    filler.close()

    _with_pool(test)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made by the openssl command) and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=grove-test",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_https_upstreams_are_verified(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = certificate
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)

    async def untrusted(pool: UpstreamPool) -> None:
        async with RawServer([_ok(b"secret")], tls=server_tls) as server:
            with pytest.raises(UpstreamUnavailable, match=r"could not reach upstream raw \(SSLCertVerificationError\)"):
                await _post(pool, server.url)

    _with_pool(untrusted)  # the system's CAs do not know this certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # an operator's own CA, the OpenSSL way

    async def trusted(pool: UpstreamPool) -> None:
        async with RawServer([_ok(b"over tls"), _ok(b"again")], tls=server_tls) as server:
            assert await _post(pool, server.url) == (200, b"over tls")
            assert await _post(pool, server.url) == (200, b"again")
            assert server.connections == 1  # kept alive over TLS too

    _with_pool(trusted)
