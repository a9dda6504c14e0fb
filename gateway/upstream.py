"""The shared upstream HTTP client: one aiohttp session and connection pool per process.

aiohttp, not httpx's default transport: on one core it measured ~2,900 req/s against
~500 for httpx (see DESIGN.md). This is the only module that imports aiohttp; its
errors become the gateway's upstream errors here, and every response is released
when the ``send`` context exits, whatever happened inside.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from gateway.errors import UpstreamBadResponse, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from gateway.providers.base import UpstreamRequest


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float = 5.0
    total_s: float = 60.0


class UpstreamResponse:
    __slots__ = ("_resp", "status", "headers", "_label")

    def __init__(self, resp: aiohttp.ClientResponse, label: str) -> None:
        self._resp = resp
        self._label = label
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _translate(exc, self._label) from None

    async def events(self) -> AsyncIterator[tuple[str | None, bytes]]:
        """Server-sent events as ``(event, data)`` pairs, yielded as soon as each is complete."""
        try:
            async for item in self._events():
                yield item
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _translate(exc, self._label) from None

    async def _events(self) -> AsyncIterator[tuple[str | None, bytes]]:
        event: str | None = None
        data: list[bytes] = []
        async for raw in self._resp.content:
            line = raw.rstrip(b"\r\n")
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


class UpstreamPool:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def send(
        self, req: UpstreamRequest, timeouts: Timeouts, label: str, *, stream: bool = False
    ) -> AsyncIterator[UpstreamResponse]:
        assert self._session is not None, "UpstreamPool.start() was not called"
        # A stream may run long: bound the silence between reads, not its whole length.
        timeout = (
            aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect_s, sock_read=timeouts.total_s)
            if stream
            else aiohttp.ClientTimeout(total=timeouts.total_s, sock_connect=timeouts.connect_s)
        )
        try:
            async with self._session.post(req.url, data=req.body, headers=req.headers, timeout=timeout) as resp:
                yield UpstreamResponse(resp, label)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _translate(exc, label) from None


def _translate(exc: BaseException, label: str) -> UpstreamError:
    """aiohttp's errors → the gateway's tree, naming the provider but never a URL or header."""
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError)):
        return UpstreamUnavailable(f"could not reach upstream {label} ({type(exc).__name__})")
    if isinstance(exc, asyncio.TimeoutError):
        return UpstreamTimeout(f"upstream {label} timed out")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamBadResponse(f"upstream {label} broke off its response")
    return UpstreamBadResponse(f"upstream {label} failed ({type(exc).__name__})")
