"""Every admin route × every credential: only the admin key gets in, whatever the request looks like.

The routes come from the app's own route table, so a route added later is covered without
touching this file. Requests go to a real ``grove-gateway serve`` process over raw sockets
(odd Host headers and paths exactly as sent, no client-side normalisation) and straight to
the ASGI app (no server-side normalisation either).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.admin import session
from gateway.app import create_app
from gateway.catalog import load_catalog
from gateway.settings import Settings
from tests.conftest import GatewayProcess, free_port

ADMIN = "the-admin-key-for-the-matrix"
CLIENT = "sk-client-key-for-the-matrix"
_PARAM = re.compile(r"\{[^}]+\}")
DENIED = {401, 403}


def admin_routes(app: Starlette) -> list[tuple[str, str]]:
    """(method, concrete path) for every method of every route under /admin in the app."""
    out: list[tuple[str, str]] = []
    for route in app.routes:
        path = getattr(route, "path", "")
        if not path.lower().startswith("/admin"):
            continue
        methods = sorted((route.methods or {"GET"}) - {"HEAD"}) if isinstance(route, Route) else ["GET"]
        out += [(method, _PARAM.sub("x", path)) for method in methods]
    return out


def configure(config: Path) -> Path:
    (config / "keys.yaml").write_text(
        f"keys: [{{name: app, sha256: {hashlib.sha256(CLIENT.encode()).hexdigest()}}}]\n")
    return config


@pytest.fixture
def config(demo_config: Path) -> Path:
    return configure(demo_config)


@pytest.fixture
def served(config: Path) -> Iterator[GatewayProcess]:
    # Every route is tried with every wrong credential: more failures than the throttle allows.
    process = GatewayProcess(config, free_port(), {"GROVE_ADMIN_KEY": ADMIN, "GROVE_ADMIN_FAILURES_PER_MINUTE": "100000"})
    try:
        yield process
    finally:
        logs = process.stop()
        assert "Traceback" not in logs and ADMIN not in logs


def status_of(url: str, method: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Status and (for a finite body) the body; an event stream is left after its headers."""
    with httpx.stream(method, url, headers=headers, timeout=10) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.status_code, b""
        return response.status_code, response.read()


CREDENTIALS: dict[str, dict[str, str]] = {
    "none": {},
    "client key": {"authorization": f"Bearer {CLIENT}"},
    "wrong key": {"authorization": "Bearer not-the-admin-key"},
    "admin key, wrong scheme": {"authorization": f"Basic {ADMIN}"},
    "admin key as x-api-key": {"x-api-key": ADMIN},
    "admin key in the query": {},  # see below: ?key=...
}


def test_the_route_table_has_the_admin_routes_this_test_must_cover(config: Path) -> None:
    app = create_app(Settings(config_dir=config, admin_key=ADMIN), env={}, catalog=load_catalog(config))
    covered = admin_routes(app)
    # A floor, not the list: routes added later are covered too, by the loop over the table.
    for expected in [("GET", "/admin/breakers"), ("POST", "/admin/breakers/x/open"),
                     ("POST", "/admin/breakers/x/reset"), ("GET", "/admin/events"), ("GET", "/admin/decisions/x")]:
        assert expected in covered


def test_every_admin_route_takes_only_the_admin_key(served: GatewayProcess) -> None:
    app = create_app(Settings(admin_key=ADMIN), env={}, catalog=None)
    client_ok = httpx.get(f"{served.url}/v1/models", headers={"authorization": f"Bearer {CLIENT}"})
    assert client_ok.status_code == 200  # the client key is a real, working key
    for method, path in admin_routes(app):
        url = f"{served.url}{path}"
        for name, headers in CREDENTIALS.items():
            target = f"{url}?key={ADMIN}&api_key={ADMIN}" if name == "admin key in the query" else url
            status, body = status_of(target, method, headers)
            expected = {401} if name in ("none", "admin key, wrong scheme", "admin key as x-api-key",
                                         "admin key in the query") else DENIED
            assert status in expected, (method, path, name, status)
            error = httpx.Response(status, content=body).json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and ADMIN.encode() not in body
        status, body = status_of(url, method, {"authorization": f"Bearer {ADMIN}"})
        assert status not in DENIED and status < 500, (method, path, status, body)
        assert ADMIN.encode() not in body


def console_cookie(token: str) -> dict[str, str]:
    return {"cookie": f"{session.COOKIE}={token}", session.CSRF_HEADER: "1"}


def bad_cookies() -> dict[str, dict[str, str]]:
    """Console cookies that must never pass, each sent with the console's CSRF header."""
    now = time.time()
    return {
        "forged cookie": console_cookie(f"{int(now) + 3600}.{'0' * 16}.{'0' * 64}"),
        "expired cookie": console_cookie(session.issue(ADMIN.encode(), now - session.LIFETIME_S - 5)),
        "cookie signed by another key": console_cookie(session.issue(b"not-the-admin-key", now)),
        "client key as the cookie": console_cookie(CLIENT),
        "admin key as the cookie": console_cookie(ADMIN),
        "client key with a valid cookie's signature": console_cookie(
            f"{CLIENT}.{session.issue(ADMIN.encode(), now).split('.', 1)[1]}"),
    }


def test_every_admin_route_refuses_a_bad_console_cookie_and_a_cookie_without_the_header(
        served: GatewayProcess) -> None:
    app = create_app(Settings(admin_key=ADMIN), env={}, catalog=None)
    signed_in = httpx.post(f"{served.url}/console/session", data={"admin_key": ADMIN})
    token = signed_in.cookies[session.COOKIE]
    valid = console_cookie(token)
    without_header = {"cookie": valid["cookie"]}
    wrong_header = {**valid, session.CSRF_HEADER: "true"}
    for method, path in admin_routes(app):
        url = f"{served.url}{path}"
        for name, headers in bad_cookies().items():
            status, body = status_of(url, method, headers)
            assert status == 401, (method, path, name, status)
            assert httpx.Response(status, content=body).json()["error"]["code"] == "invalid_session"
        # A client key alongside a valid cookie is judged as the client key it is.
        status, _ = status_of(url, method, {**valid, "authorization": f"Bearer {CLIENT}"})
        assert status == 403, (method, path, status)
        if method in ("GET", "HEAD"):
            status, body = status_of(url, method, without_header)
            assert status not in DENIED and status < 500, (method, path, status, body)
        else:
            for headers in (without_header, wrong_header):
                status, body = status_of(url, method, headers)
                assert status == 403, (method, path, status)
                assert httpx.Response(status, content=body).json()["error"]["code"] == "missing_console_header"
        status, body = status_of(url, method, valid)
        assert status not in DENIED and status < 500, (method, path, status, body)
        assert ADMIN.encode() not in body and token.encode() not in body


def test_without_an_admin_key_the_admin_api_refuses_everything(config: Path) -> None:
    process = GatewayProcess(config, free_port(), {})
    try:
        app = create_app(Settings(), env={}, catalog=None)
        for method, path in admin_routes(app):
            for headers in ({}, {"authorization": f"Bearer {CLIENT}"}, {"authorization": "Bearer anything"},
                            {"authorization": "Bearer"}, console_cookie(session.issue(b"", time.time())),
                            *bad_cookies().values()):
                status, body = status_of(f"{process.url}{path}", method, headers)
                assert status in DENIED, (method, path, headers, status)
    finally:
        process.stop()


# --- odd hosts and paths ------------------------------------------------------------------

HOSTS = ["evil/admin", "x?", "x#", "127.0.0.1/admin/breakers", "@evil", "evil:80/../admin", ""]
PATHS = [
    "/admin/breakers", "/breakers", "//admin/breakers", "/admin//breakers", "/admin/%62reakers",
    "/%61dmin/breakers", "/Admin/breakers", "/ADMIN/BREAKERS", "/admin/breakers/", "/v1/../admin/breakers",
    "/admin/./breakers", "/v1/%2e%2e/admin/breakers", "/admin%2Fbreakers", "/admin/breakers%00",
    "/admin/breakers?limit=1", "/admin/decisions%3Flimit=1", "/admin/breakers;x", "/admin/events",
    f"/admin/breakers/{'gpt-4.1-mini@1'}/open", "/admin/breakers/gpt-4.1-mini@1/%6fpen",
    "/admin/breakers/gpt-4.1-mini@1/../../usage", "/admin/breakers/a/b/open",
]
ADMIN_DATA = re.compile(rb'"object":"(list|usage)"|"state":"|^(id|event):', re.MULTILINE)


def raw_request(port: int, method: str, path: str, host: str, extra: str = "") -> tuple[int, bytes]:
    """One HTTP/1.1 request exactly as written; returns the status (0: the server hung up) and the
    first bytes of the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: 0\r\n"
                     f"Connection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 "):
            return 0, b""
        if b"text/event-stream" not in head.lower():  # an endless stream: its headers say enough
            while chunk := sock.recv(65536):
                body += chunk
        return int(head.split()[1]), body


def test_odd_hosts_and_paths_reach_nothing_admin_on_a_served_gateway(served: GatewayProcess) -> None:
    assert raw_request(served.port, "GET", "/admin/breakers", "127.0.0.1",
                       f"Authorization: Bearer {ADMIN}\r\n")[0] == 200  # the probe itself works
    for host in HOSTS:
        for path in PATHS:
            for method in ("GET", "POST"):
                for auth in ("", f"Authorization: Bearer {CLIENT}\r\n"):
                    status, body = raw_request(served.port, method, path, host, auth)
                    assert not 200 <= status < 300 and status < 500, (method, path, host, auth, status)
                    assert not ADMIN_DATA.search(body), (method, path, host, body[:200])


def test_odd_hosts_and_paths_reach_nothing_admin_in_the_asgi_app(config: Path) -> None:
    app = create_app(Settings(config_dir=config, admin_key=ADMIN), env={}, catalog=load_catalog(config))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            ok = await asgi_request(app, "GET", "/admin/breakers", "x", {"authorization": f"Bearer {ADMIN}"})
            assert ok[0] == 200  # the probe itself works
            for host in HOSTS:
                for path in PATHS:
                    for method in ("GET", "POST"):
                        for decoded in (True, False):  # as uvicorn builds the scope, and undecoded
                            status, body = await asgi_request(app, method, path, host,
                                                              {"authorization": f"Bearer {CLIENT}"}, decoded)
                            assert not 200 <= status < 300 and status < 500, (method, path, host, decoded, status)
                            assert not ADMIN_DATA.search(body), (method, path, host, body[:200])

    asyncio.run(main())


async def asgi_request(app: Any, method: str, target: str, host: str, headers: dict[str, str],
                       decoded: bool = True) -> tuple[int, bytes]:
    raw_path, _, query = target.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": method, "scheme": "http", "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000),
        "path": unquote(raw_path) if decoded else raw_path, "raw_path": raw_path.encode(), "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", host.encode())] + [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    done = asyncio.Event()
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.start":
            if any(k == b"content-type" and v.startswith(b"text/event-stream") for k, v in message["headers"]):
                done.set()  # a stream: hang up after its headers
        elif not message.get("more_body", False):
            done.set()

    await asyncio.wait_for(app(scope, receive, send), 10)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return int(start["status"]), b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
