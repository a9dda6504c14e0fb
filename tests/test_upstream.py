"""The upstream pool parses SSE exactly as sent, however it is split on the wire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.errors import UpstreamTimeout, UpstreamUnavailable
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
