"""The floor to compare against: a minimal Starlette pass-through with aiohttp as the client.

No auth, routing, validation or telemetry: it forwards the body to the upstream and relays
the answer. ``BENCH_UPSTREAM`` is the nginx base URL.
"""

from __future__ import annotations

import os

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18080")
session: dict[str, aiohttp.ClientSession] = {}


async def chat(request: Request) -> Response:
    body = await request.body()
    stream = b'"stream":true' in body or b'"stream": true' in body
    url = f"{UPSTREAM}/oai{'-sse' if stream else ''}/v1/chat/completions"
    client = session.get("s")
    if client is None:
        client = session["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    resp = await client.post(url, data=body, headers={"content-type": "application/json"})
    if not stream:
        data = await resp.read()
        resp.release()
        return Response(data, status_code=resp.status, media_type="application/json")

    async def relay():  # type: ignore[no-untyped-def]
        try:
            async for chunk in resp.content.iter_any():
                yield chunk
        finally:
            resp.release()

    return StreamingResponse(relay(), media_type="text/event-stream")


async def health(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/healthz", health)])
