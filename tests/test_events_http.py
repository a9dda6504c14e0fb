"""``GET /admin/events`` and the breaker admin actions on a real gateway (in-process uvicorn,
fakes on loopback), and the event-stream response on its own as an ASGI app."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.admin.sse import EventStream
from gateway.events import Events
from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from gateway.store.memory import MemoryStore
from tests.conftest import GatewayFactory
from tests.sse import SSE

ADMIN = "admin-key-for-event-tests"
AUTH = {"authorization": f"Bearer {ADMIN}"}
PRIMARY, FALLBACK = "gpt-4.1-mini@1", "claude-sonnet-4-5@1"
HI = [{"role": "user", "content": "hi"}]
COOLDOWN_S = 30.0
READ = httpx.Timeout(10.0)  # the deadline for an event that should come in milliseconds


@pytest.fixture
def gateway(start_gateway: GatewayFactory, demo_config: Path) -> BackgroundServer:
    return start_gateway(demo_config, admin_key=ADMIN, breaker_failures=2, breaker_cooldown_s=COOLDOWN_S,
                         retries=0)


def events_of(gateway: BackgroundServer) -> Events:
    events: Events = gateway.app.state.events
    return events


def chat(gateway: BackgroundServer) -> str:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="default", messages=HI)  # type: ignore[arg-type]
    return raw.headers["x-grove-model"]


def breakers(gateway: BackgroundServer) -> dict[str, dict[str, Any]]:
    data = httpx.get(f"{gateway.url}/admin/breakers", headers=AUTH).json()["data"]
    return {b["deployment"]: b for b in data}


def stream(gateway: BackgroundServer, query: str = "", **headers: str) -> Any:
    return httpx.stream("GET", f"{gateway.url}/admin/events{query}", headers={**AUTH, **headers}, timeout=READ)


def test_a_breaker_opened_by_upstream_faults_is_an_event(gateway: BackgroundServer, fakes: Fakes) -> None:
    with stream(gateway) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-grove-replica"] == events_of(gateway).replica
        events = SSE(response)
        fakes.openai.state.set(status=500)
        assert [chat(gateway) for _ in range(2)] == [FALLBACK, FALLBACK]
        opened = events.until("breaker.opened")
    body = opened.json()
    assert opened.id == body["id"] and body["kind"] == "breaker.opened"
    assert body["replica"] == events_of(gateway).replica
    assert body["data"] == {**body["data"], "deployment": PRIMARY, "from": "closed", "to": "open", "shared": True}
    assert breakers(gateway)[PRIMARY]["state"] == "open"
    assert "by" not in body["data"]  # the upstream's doing, not an admin's


def test_force_open_skips_the_deployment_and_reset_closes_it(gateway: BackgroundServer, fakes: Fakes) -> None:
    with stream(gateway, "?kinds=breaker.opened,breaker.closed") as response:
        events = SSE(response)
        before = time.time()
        forced = httpx.post(f"{gateway.url}/admin/breakers/{PRIMARY}/open", headers=AUTH)
        assert forced.status_code == 200, forced.text
        view = forced.json()
        assert view["deployment"] == PRIMARY and view["state"] == "open"
        assert before + COOLDOWN_S - 1 <= view["opened_until"] <= time.time() + COOLDOWN_S + 1  # the default
        sent = len(fakes.openai.state.requests)
        assert chat(gateway) == FALLBACK and len(fakes.openai.state.requests) == sent  # skipped, not sent to
        opened = events.until("breaker.opened").json()["data"]
        assert opened["by"] == "admin" and opened["deployment"] == PRIMARY

        longer = httpx.post(f"{gateway.url}/admin/breakers/{PRIMARY}/open", headers=AUTH, json={"seconds": 600})
        assert longer.json()["opened_until"] >= before + 599

        reset = httpx.post(f"{gateway.url}/admin/breakers/{PRIMARY}/reset", headers=AUTH)
        assert reset.status_code == 200 and reset.json() == {
            "deployment": PRIMARY, "state": "closed", "consecutive_failures": 0, "opened_until": None, "trips": 0}
        assert chat(gateway) == PRIMARY  # at once on this replica: nothing remembered it open
        closed = events.until("breaker.closed").json()["data"]
        assert closed["by"] == "admin" and closed["from"] == "open"


@pytest.mark.parametrize(("path", "body", "status", "param"), [
    ("/admin/breakers/no-such-model@1/open", None, 404, None),
    ("/admin/breakers/no-such-model@1/reset", None, 404, None),
    (f"/admin/breakers/{PRIMARY}/open", b'{"seconds": -1}', 400, "seconds"),
    (f"/admin/breakers/{PRIMARY}/open", b'{"seconds": 0}', 400, "seconds"),
    (f"/admin/breakers/{PRIMARY}/open", b'{"seconds": "60"}', 400, "seconds"),
    (f"/admin/breakers/{PRIMARY}/open", b'{"seconds": 1e12}', 400, "seconds"),
    (f"/admin/breakers/{PRIMARY}/open", b'{"second": 60}', 400, "second"),
    (f"/admin/breakers/{PRIMARY}/open", b"[60]", 400, None),
    (f"/admin/breakers/{PRIMARY}/open", b"{not json", 400, None),
])
def test_breaker_actions_refuse_what_they_cannot_do(gateway: BackgroundServer, path: str, body: bytes | None,
                                                    status: int, param: str | None) -> None:
    resp = httpx.post(f"{gateway.url}{path}", headers=AUTH, content=body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["param"] == param
    assert breakers(gateway)[PRIMARY]["state"] == "closed"


def test_a_force_open_of_whole_seconds_and_an_empty_body_are_fine(gateway: BackgroundServer) -> None:
    for body in (b'{"seconds": 5}', b"", b"{}", b"  "):
        resp = httpx.post(f"{gateway.url}/admin/breakers/{PRIMARY}/open", headers=AUTH, content=body)
        assert resp.status_code == 200 and resp.json()["state"] == "open", (body, resp.text)


def test_last_event_id_replays_what_came_after(gateway: BackgroundServer) -> None:
    events = events_of(gateway)
    with stream(gateway) as response:
        reader = SSE(response)
        for n in range(3):
            events.publish("test.replay", {"n": n})  # from this thread: the thread-safe path
        first = [reader.until("test.replay") for _ in range(3)]
    assert [e.json()["data"]["n"] for e in first] == [0, 1, 2]
    with stream(gateway, **{"last-event-id": str(first[0].id)}) as response:
        reader = SSE(response)
        events.publish("test.replay", {"n": 3})
        again = [reader.until("test.replay") for _ in range(3)]
    assert [e.id for e in again[:2]] == [first[1].id, first[2].id]
    assert again[2].json()["data"] == {"n": 3}


def test_kinds_filter_and_bad_parameters(gateway: BackgroundServer) -> None:
    events = events_of(gateway)
    with stream(gateway, "?kinds=wanted.one, wanted.two") as response:
        reader = SSE(response)
        for kind in ("unwanted", "wanted.two", "unwanted", "wanted.one"):
            events.publish(kind, {})
        assert [reader.next().event, reader.next().event] == ["wanted.two", "wanted.one"]  # type: ignore[union-attr]
    for query, headers, param in [("?kinds=", {}, "kinds"), ("?kinds=a%0Ab", {}, "kinds"),
                                  ("", {"last-event-id": "yesterday"}, "Last-Event-ID"),
                                  ("", {"last-event-id": "99999999999999999999-0"}, "Last-Event-ID")]:
        resp = httpx.get(f"{gateway.url}/admin/events{query}", headers={**AUTH, **headers})
        assert resp.status_code == 400 and resp.json()["error"]["param"] == param


def test_a_client_that_goes_away_leaves_nothing_running(gateway: BackgroundServer) -> None:
    events = events_of(gateway)
    for _ in range(2):
        with stream(gateway) as response:
            assert response.status_code == 200
            # The opening bytes: subscribed. Keep the iterator: a dropped one closes the
            # connection at once, and the server could see the hang-up before the check below.
            chunks = response.iter_raw()
            next(chunks)
            assert events.subscribers == 1 and events.reading
        # The server notices the hang-up; poll briefly for the other thread to converge.
        deadline = time.monotonic() + 5
        while (events.subscribers or events.reading) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert events.subscribers == 0 and not events.reading
    assert httpx.head(f"{gateway.url}/admin/events", headers=AUTH).status_code == 200
    assert events.subscribers == 0


# --- the response on its own: heartbeats, disconnect, shutdown, no task left behind ---------


class Client:
    """An ASGI client: what the server would send the app, and what the app sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self.got_body = asyncio.Event()
        self._requested = False

    async def receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body":
            self.got_body.set()

    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


SCOPE = {"type": "http", "method": "GET", "path": "/admin/events", "headers": []}


def test_heartbeats_then_a_disconnect_ends_it_with_no_task_left() -> None:
    async def main() -> None:
        events = Events(MemoryStore())
        events.start()
        client = Client()
        response = asyncio.create_task(EventStream(events, None, None, heartbeat_s=0.01)(SCOPE, client.receive,
                                                                                          client.send))
        while client.body().count(b": heartbeat\n\n") < 2:  # quiet: comments keep the line alive
            client.got_body.clear()
            await client.got_body.wait()
        events.publish("k", {"n": 1})
        while b"event: k\n" not in client.body():
            client.got_body.clear()
            await client.got_body.wait()
        client.gone.set()
        await asyncio.wait_for(response, 5)
        await events.stop()
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        assert client.sent[0]["status"] == 200 and client.body().startswith(b"retry: 3000\n\n")
        frame = client.body().split(b"\n\n")
        event = next(f for f in frame if f.startswith(b"id: "))
        lines = event.split(b"\n")
        assert lines[1] == b"event: k" and lines[2].startswith(b'data: {"id":"')

    asyncio.run(main())


def test_shutdown_ends_open_streams_cleanly() -> None:
    async def main() -> None:
        events = Events(MemoryStore())
        events.start()
        client = Client()
        response = asyncio.create_task(EventStream(events, None, None)(SCOPE, client.receive, client.send))
        await client.got_body.wait()
        events.close_subscriptions()  # what the SIGTERM hook calls
        await asyncio.wait_for(response, 5)
        assert client.sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        await events.stop()
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    asyncio.run(main())


def test_a_write_to_a_client_gone_mid_stream_ends_it_quietly() -> None:
    async def main() -> None:
        events = Events(MemoryStore())
        events.start()
        client = Client()

        async def send(message: dict[str, Any]) -> None:
            await client.send(message)
            if message["type"] == "http.response.body":
                raise OSError("connection reset")  # what an ASGI server of spec 2.4 raises

        await asyncio.wait_for(EventStream(events, None, None)(SCOPE, client.receive, send), 5)
        assert events.subscribers == 0
        await events.stop()
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    asyncio.run(main())
