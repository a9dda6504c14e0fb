"""The web console at ``/console``: its static files (``gateway/console/``), served by the gateway
itself behind a sign-in with the admin key.

``GET /console/login`` is the only page open to all, with the one stylesheet it needs
(``PUBLIC``: it holds nothing about the deployment). ``POST /console/session`` takes the admin key
from a form and answers with a session cookie (``gateway/admin/session.py``); every other console
file needs that cookie (a browser is sent to the login page, anything else gets a 401). The admin
API takes the same cookie (``AdminAPI._authorize``). Files are looked up inside the console folder
only: a path that resolves outside it (``..``, ``%2e%2e``, absolute, a symlink out) is a 404. With
no admin key configured the console does not exist (404), as the admin API is off.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path
from urllib.parse import parse_qs

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from gateway.admin import docs_console as docs
from gateway.admin.throttle import Throttle
from gateway.store import Store
from gateway.store.memory import MemoryStore
from gateway.admin import session
from gateway.errors import AuthenticationFailed, GatewayError, InvalidRequest, NotFound, PayloadTooLarge
from gateway.errors import UnsupportedMediaType
from gateway.openapi import ApiRoute

ROOT = Path(__file__).resolve().parent.parent / "console"
MAX_FORM_BYTES = 4096
HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
# Explicit, so the answer does not depend on the host's /etc/mime.types.
MEDIA = {
    ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
    ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
}
MESSAGE_MARK = "<!--grove:message-->"
WRONG_KEY = "That is not the admin key."
# What the login page needs before sign-in (the policy forbids inline styles).
PUBLIC = frozenset({"console.css"})
# Served only when the folder has no login.html (the pages are not installed).
FALLBACK_LOGIN = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · Grove console"
                  "</title></head><body><main><h1>Sign in</h1>" + MESSAGE_MARK + "<form method=\"post\" "
                  "action=\"/console/session\"><label>Admin key <input type=\"password\" name=\"admin_key\" "
                  "autocomplete=\"current-password\" required></label> <button>Sign in</button></form></main>"
                  "</body></html>")


class Console:
    def __init__(self, admin_key: str | None, root: Path = ROOT, clock: Callable[[], float] = time.time,
                 throttle: Throttle | None = None, store: Store | None = None) -> None:
        self._key = admin_key.encode() if admin_key else None
        self.root = root.resolve()
        self.clock = clock
        self.throttle = throttle or Throttle()
        self.revocations = session.Revocations(store or MemoryStore())

    def routes(self) -> list[ApiRoute]:
        return [
            ApiRoute("/console/login", self._wrap(self.login), methods={"GET": docs.LOGIN}),
            ApiRoute("/console/session", self._wrap(self.sign_in), methods={"POST": docs.SIGN_IN}),
            ApiRoute("/console/logout", self._wrap(self.sign_out), methods={"POST": docs.SIGN_OUT}),
            ApiRoute("/console/", self._wrap(self.page), methods={"GET": docs.INDEX}),
            ApiRoute("/console/{path:path}", self._wrap(self.page), methods={"GET": docs.FILE}),
        ]

    def _wrap(self, handler: Callable[[Request, bytes], Awaitable[Response]]
              ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                if self._key is None:
                    raise NotFound("The console is disabled: set GROVE_ADMIN_KEY to enable it.")
                response = await handler(request, self._key)
            except GatewayError as exc:
                response = Response(exc.body(), status_code=exc.status, media_type="application/json",
                                    headers=exc.headers)
            response.headers.update(HEADERS)
            return response

        return wrapped

    async def signed_in(self, request: Request, key: bytes) -> bool:
        token = request.cookies.get(session.COOKIE)
        return token is not None and session.valid(token, key, self.clock()) \
            and not await self.revocations.revoked(token)

    async def login(self, request: Request, key: bytes) -> Response:
        return await self._login_page(200)

    async def sign_in(self, request: Request, key: bytes) -> Response:
        given = (await _form(request)).get("admin_key", "")
        address = request.client.host if request.client else ""
        self.throttle.check(address)
        if not hmac.compare_digest(given.encode(), key):
            self.throttle.failed(address)
            return await self._login_page(401, WRONG_KEY)
        token = session.issue(key, self.clock())
        secure = "; Secure" if request.url.scheme == "https" else ""
        return Response(status_code=303, headers={
            "location": "/console/", "cache-control": "no-store",
            "set-cookie": f"{session.COOKIE}={token}; Max-Age={session.LIFETIME_S}; Path=/; HttpOnly; "
                          f"SameSite=Strict{secure}"})

    async def sign_out(self, request: Request, key: bytes) -> Response:
        token = request.cookies.get(session.COOKIE)
        if token is not None and session.valid(token, key, self.clock()):
            await self.revocations.revoke(token, self.clock())  # the cookie may have been copied: revoked
        secure = "; Secure" if request.url.scheme == "https" else ""
        return Response(status_code=303, headers={
            "location": "/console/login", "cache-control": "no-store",
            "set-cookie": f"{session.COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict{secure}"})

    async def page(self, request: Request, key: bytes) -> Response:
        relative = request.path_params.get("path") or "index.html"
        if relative not in PUBLIC and not await self.signed_in(request, key):
            if "text/html" in request.headers.get("accept", ""):
                return Response(status_code=303, headers={"location": "/console/login", "cache-control": "no-store"})
            raise AuthenticationFailed("Sign in to the console first: POST /console/session.", code="not_signed_in")
        path = self._find(relative)
        stat = await anyio.to_thread.run_sync(os.stat, path)
        response = FileResponse(path, stat_result=stat, media_type=MEDIA.get(path.suffix.lower()),
                                headers={"cache-control": "private, no-cache"})
        if _not_modified(request, response):
            return Response(status_code=304, headers={name: response.headers[name] for name in
                                                      ("etag", "last-modified", "cache-control")})
        return response

    def _find(self, relative: str) -> Path:
        """The file ``relative`` names inside the console folder, or a 404."""
        missing = NotFound(f"There is no console file '{relative[:200]}'.", code="console_file_not_found")
        try:
            path = (self.root / relative).resolve()
        except (OSError, ValueError):  # a NUL byte, a symlink loop
            raise missing from None
        if not path.is_relative_to(self.root) or not path.is_file():
            raise missing
        return path

    async def _login_page(self, status: int, message: str = "") -> Response:
        page = self.root / "login.html"
        html = await anyio.to_thread.run_sync(_read, page)
        note = f'<p class="login-message" role="alert">{escape(message)}</p>' if message else ""
        if MESSAGE_MARK in html:
            html = html.replace(MESSAGE_MARK, note, 1)
        else:
            at = html.find("<form")
            html = html[:at] + note + html[at:] if at >= 0 else html + note
        return Response(html, status_code=status, media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-store"})


def _read(page: Path) -> str:
    try:
        return page.read_text(encoding="utf-8")
    except FileNotFoundError:
        return FALLBACK_LOGIN


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the login form); the first value of each field."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Send the form as application/x-www-form-urlencoded.")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"The sign-in form exceeds {MAX_FORM_BYTES} bytes.")
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The form is not valid urlencoded UTF-8.", code="invalid_form") from None
    return {name: values[0] for name, values in fields.items()}


def _not_modified(request: Request, response: Response) -> bool:
    """The browser's copy is current (If-None-Match, else If-Modified-Since)."""
    tags = request.headers.get("if-none-match")
    if tags is not None:
        return response.headers["etag"] in [tag.strip().removeprefix("W/") for tag in tags.split(",")]
    return request.headers.get("if-modified-since") == response.headers["last-modified"]
