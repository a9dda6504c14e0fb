"""``GET /admin/events`` as a response: one subscription written out as ``text/event-stream``.

Each event is ``id: <stream id>``, ``event: <kind>``, ``data: <event JSON>``; a comment line
goes out when nothing else has for ``heartbeat_s`` (proxies and clients see the connection is
alive). The stream ends cleanly, leaving no task behind, when the client goes away, when the
server shuts down (``Events.close_subscriptions``), or when the client falls too far behind
(it reconnects with ``Last-Event-ID`` and replays).
"""

from __future__ import annotations

import asyncio

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.events import Event, Events
from gateway.streaming import HEADERS, MEDIA_TYPE
from gateway.subscription import Subscription

HEARTBEAT = b": heartbeat\n\n"
# Sent first: the headers and a first byte go out at once, and EventSource clients learn to
# wait a few seconds before reconnecting.
OPENING = b"retry: 3000\n\n"


def frame(event: Event) -> bytes:
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event.id.encode(), event.kind.encode(), event.json)


class EventStream(Response):
    media_type = MEDIA_TYPE

    def __init__(self, events: Events, after: str | None, kinds: frozenset[str] | None,
                 heartbeat_s: float = 15.0) -> None:
        self.events = events
        self.after = after
        self.kinds = kinds
        self.heartbeat_s = heartbeat_s
        self.status_code = 200
        self.background = None
        self.init_headers({**HEADERS, "x-grove-replica": events.replica})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "HEAD":  # the headers alone: no subscription to hold open
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        # Subscribed (and replayed) before the headers go: whatever is published once the
        # client has seen the response start reaches it.
        async with self.events.subscribe(self.after, self.kinds) as sub:
            watcher = asyncio.get_running_loop().create_task(_watch(receive, sub), name="events-disconnect")
            try:
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                await _body(send, OPENING)
                while True:
                    event = await sub.next(self.heartbeat_s)
                    if event is None:
                        if sub.closed:
                            break
                        await _body(send, HEARTBEAT)
                    else:
                        await _body(send, frame(event))
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:
                pass  # the client went away mid-write (ASGI servers of spec 2.4 raise this)
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)


async def _body(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _watch(receive: Receive, sub: Subscription) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    sub.close(discard=True)
