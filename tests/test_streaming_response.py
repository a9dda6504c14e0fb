"""The chat stream's response (gateway/streaming.py SSEResponse): on a real loopback server, a
stream reaches the client whole with StreamingResponse's headers and the connection serves the
next request; a client that hangs up stops the stream at once, while it waits for its upstream.
In process: a cancellation from elsewhere goes on up, and a disconnect reported as the stream
ends leaves no cancellation behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.responses import StreamingResponse

from gateway.fakes.background import BackgroundServer
from gateway.streaming import HEADERS, SSEResponse

ENDED: dict[str, threading.Event] = {}  # per path: the stream's body has been closed


async def _events(path: str, held: bool) -> AsyncIterator[bytes]:
    try:
        for i in range(3):
            yield b"data: %d\n\n" % i
        if held:  # an upstream that goes quiet
            await asyncio.Event().wait()
    finally:
        ENDED[path].set()


async def app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    ENDED[path] = threading.Event()
    body = _events(path, held=path.startswith("/held"))
    response = StreamingResponse(body, media_type="text/event-stream", headers=HEADERS) \
        if path == "/starlette" else SSEResponse(body, HEADERS)
    await response(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(app) as srv:
        yield srv


def test_a_stream_arrives_whole_as_starlettes_and_the_connection_goes_on(server: BackgroundServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        ours, theirs = client.get("/whole"), client.get("/starlette")
        again = client.get("/again")  # the same connection: nothing of the first stream left on it
    assert ours.content == theirs.content == again.content == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert [(k, v) for k, v in ours.headers.items() if k != "date"] == \
        [(k, v) for k, v in theirs.headers.items() if k != "date"]
    assert ours.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert ENDED["/whole"].is_set() and ENDED["/again"].is_set()


def test_a_client_that_hangs_up_stops_a_stream_that_waits(server: BackgroundServer) -> None:
    with httpx.Client(base_url=server.url) as client, client.stream("GET", "/held") as resp:
        assert next(resp.iter_lines()) == "data: 0"
    assert ENDED["/held"].wait(5)  # the body was cancelled while it waited, not at a next chunk


def _scope() -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "method": "GET", "path": "/"}


async def _chunks() -> AsyncIterator[bytes]:
    yield b"data: 0\n\n"


def test_a_cancellation_from_elsewhere_goes_on_up() -> None:
    async def main() -> None:
        sent: list[dict[str, Any]] = []
        started = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message.get("more_body"):
                started.set()
                await asyncio.Event().wait()  # a client that reads slowly

        async def receive() -> dict[str, Any]:
            await asyncio.Event().wait()  # the client stays
            raise AssertionError

        task = asyncio.ensure_future(SSEResponse(_chunks(), {})(_scope(), receive, send))
        await started.wait()
        task.cancel()  # the server shutting down, say
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]

    asyncio.run(main())


@pytest.mark.parametrize("yields", [1, 3])
def test_a_disconnect_reported_as_the_stream_ends_leaves_no_cancellation(yields: int) -> None:
    """uvicorn reports ``http.disconnect`` once the response is complete; here the last send
    also yields to the loop: once, and the watcher is done but has not called back when the
    response returns; three times, and it calls back while the stream is still in its send."""
    async def main() -> None:
        complete = asyncio.Event()

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message["more_body"]:
                complete.set()
                for _ in range(yields):
                    await asyncio.sleep(0)  # a write that waits for the socket: the watcher runs

        async def receive() -> dict[str, Any]:
            await complete.wait()
            return {"type": "http.disconnect"}

        await SSEResponse(_chunks(), {})(_scope(), receive, send)
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        for _ in range(3):
            await asyncio.sleep(0)  # a stray cancellation would land here
        assert len(asyncio.all_tasks()) == 1  # the watcher is gone too

    asyncio.run(main())


def test_a_receive_that_fails_ends_the_stream_as_a_hang_up_does() -> None:
    async def main() -> None:
        closed = asyncio.Event()

        async def held() -> AsyncIterator[bytes]:
            try:
                yield b"data: 0\n\n"
                await asyncio.Event().wait()
            finally:
                closed.set()

        async def send(message: dict[str, Any]) -> None:
            pass

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(0)
            raise OSError("the connection broke")

        await asyncio.wait_for(SSEResponse(held(), {})(_scope(), receive, send), 5)  # the stream is ended
        assert closed.is_set()

    asyncio.run(main())
