"""The console's serving and sign-in (``gateway/admin/console.py``, ``gateway/admin/session.py``):
a real gateway on a loopback port serving a console folder of the test's own, raw requests where
the path must arrive exactly as written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.admin import session
from gateway.admin.console import HEADERS, WRONG_KEY
from gateway.app import create_app
from gateway.catalog import load_catalog
from gateway.fakes.background import BackgroundServer
from gateway.settings import Settings
from tests.test_admin_auth import raw_request

ADMIN = "the-admin-key-for-console-tests"
HTML = {"accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}
LOGIN = "<!doctype html><title>Sign in</title><main><!--grove:message--><form>...</form></main>"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "console"
    (root / "js").mkdir(parents=True)
    (root / "login.html").write_text(LOGIN)
    (root / "index.html").write_text("<!doctype html><title>Overview</title>")
    (root / "console.css").write_text("body { color: #111; }")
    (root / "js" / "overview.js").write_text("export const x = 1;")
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    (root / "out").symlink_to(tmp_path / "secret.txt")
    return root


def serve(start: list[BackgroundServer], config: Path, folder: Path, admin_key: str | None = ADMIN) -> str:
    app = create_app(Settings(config_dir=config, admin_key=admin_key), env={}, catalog=load_catalog(config),
                     console_dir=folder)
    server = BackgroundServer(app).start()
    start.append(server)
    return server.url


@pytest.fixture
def servers() -> Iterator[list[BackgroundServer]]:
    running: list[BackgroundServer] = []
    yield running
    for server in running:
        server.stop()


@pytest.fixture
def url(servers: list[BackgroundServer], demo_config: Path, folder: Path) -> str:
    return serve(servers, demo_config, folder)


def sign_in(url: str, key: str = ADMIN) -> httpx.Response:
    return httpx.post(f"{url}/console/session", data={"admin_key": key}, follow_redirects=False)


def cookie_of(url: str) -> dict[str, str]:
    response = sign_in(url)
    assert response.status_code == 303
    return {"cookie": f"{session.COOKIE}={response.cookies[session.COOKIE]}"}


def assert_secured(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers[name] == value, name


def test_the_login_page_is_open_to_all_and_secured(url: str) -> None:
    response = httpx.get(f"{url}/console/login")
    assert response.status_code == 200 and response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == LOGIN.replace("<!--grove:message-->", "")
    assert_secured(response)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_the_admin_key_signs_in_with_a_stateless_12_hour_cookie(url: str) -> None:
    before = time.time()
    response = sign_in(url)
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    assert_secured(response)
    header = response.headers["set-cookie"]
    token = response.cookies[session.COOKIE]
    assert header == f"{session.COOKIE}={token}; Max-Age=43200; Path=/; HttpOnly; SameSite=Strict"
    expiry, nonce, signature = token.split(".")
    assert before + 12 * 3600 - 1 <= int(expiry) <= time.time() + 12 * 3600
    assert len(nonce) == 16 and len(signature) == 64 and session.valid(token, ADMIN.encode(), time.time())
    assert sign_in(url).cookies[session.COOKIE] != token  # every sign-in its own token
    assert ADMIN not in response.text and ADMIN not in header


def test_the_cookie_is_secure_over_https(demo_config: Path, folder: Path) -> None:
    app = create_app(Settings(config_dir=demo_config, admin_key=ADMIN), env={}, catalog=load_catalog(demo_config),
                     console_dir=folder)

    async def main() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console.test") as c:
            return await c.post("/console/session", data={"admin_key": ADMIN})

    response = asyncio.run(main())
    assert response.status_code == 303 and response.headers["set-cookie"].endswith("; SameSite=Strict; Secure")


def test_a_wrong_key_gets_the_login_page_with_a_message_and_no_cookie(url: str) -> None:
    for wrong in ("nope", "", ADMIN + "x", ADMIN[:-1], "<script>alert(1)</script>"):
        response = sign_in(url, wrong)
        assert response.status_code == 401 and "set-cookie" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
        assert f'<p class="login-message" role="alert">{WRONG_KEY}</p><form>' in response.text
        assert (wrong not in response.text) if wrong else True
        assert_secured(response)
    missing = httpx.post(f"{url}/console/session", data={"other": "x"})
    assert missing.status_code == 401


def test_the_form_must_be_a_small_urlencoded_one(url: str) -> None:
    as_json = httpx.post(f"{url}/console/session", json={"admin_key": ADMIN})
    assert as_json.status_code == 415 and as_json.json()["error"]["code"] == "unsupported_media_type"
    big = httpx.post(f"{url}/console/session", data={"admin_key": "x" * 5000})
    assert big.status_code == 413
    bad = httpx.post(f"{url}/console/session", content=b"admin_key=%ff%fe",
                     headers={"content-type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 401 and WRONG_KEY in bad.text  # undecodable bytes are no key


def test_pages_need_the_cookie_browsers_are_sent_to_sign_in(url: str) -> None:
    bare = httpx.get(f"{url}/console", headers=HTML)
    assert bare.status_code == 307 and bare.headers["location"].endswith("/console/")
    for path in ("/console/", "/console/index.html", "/console/js/overview.js", "/console/nope.html"):
        browser = httpx.get(f"{url}{path}", headers=HTML)
        assert browser.status_code == 303 and browser.headers["location"] == "/console/login", path
        assert_secured(browser)
        script = httpx.get(f"{url}{path}")
        assert script.status_code == 401 and script.json()["error"]["code"] == "not_signed_in", path
        assert_secured(script)
    # The login page's stylesheet alone is open: the login page cannot be styled inline.
    css = httpx.get(f"{url}/console/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert_secured(css)


def test_signed_in_pages_are_served_with_types_and_validators(url: str) -> None:
    cookie = cookie_of(url)
    index = httpx.get(f"{url}/console/", headers={**cookie, **HTML})
    assert index.status_code == 200 and index.text == "<!doctype html><title>Overview</title>"
    assert index.headers["content-type"] == "text/html; charset=utf-8"
    assert_secured(index)
    css = httpx.get(f"{url}/console/console.css", headers=cookie)
    assert css.headers["content-type"] == "text/css; charset=utf-8" and css.text.startswith("body")
    js = httpx.get(f"{url}/console/js/overview.js", headers=cookie)
    assert js.status_code == 200 and js.headers["content-type"] == "text/javascript; charset=utf-8"
    etag, modified = css.headers["etag"], css.headers["last-modified"]
    again = httpx.get(f"{url}/console/console.css", headers={**cookie, "if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert_secured(again)
    since = httpx.get(f"{url}/console/console.css", headers={**cookie, "if-modified-since": modified})
    assert since.status_code == 304
    stale = httpx.get(f"{url}/console/console.css", headers={**cookie, "if-none-match": '"other"'})
    assert stale.status_code == 200
    assert httpx.head(f"{url}/console/console.css", headers=cookie).status_code == 200
    missing = httpx.get(f"{url}/console/nope.js", headers=cookie)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "console_file_not_found"
    assert httpx.get(f"{url}/console/js", headers=cookie).status_code == 404  # a folder is not a file


@pytest.mark.parametrize("path", [
    "/console/../secret.txt", "/console/%2e%2e/secret.txt", "/console/%2E%2E/secret.txt",
    "/console/%2e%2e%2fsecret.txt", "/console/js/../../secret.txt", "/console/js/%2e%2e/%2e%2e/secret.txt",
    "/console/..%2f..%2fsecret.txt", "/console//etc/passwd", "/console/%2fetc%2fpasswd", "/console/out",
    "/console/./../secret.txt", "/console/%00", "/console/login.html%00.css", "/console/..\\secret.txt",
])  # fmt: skip
def test_no_path_leaves_the_console_folder(url: str, path: str) -> None:
    port = int(url.rsplit(":", 1)[1])
    cookie = cookie_of(url)["cookie"]
    status, body = raw_request(port, "GET", path, "127.0.0.1", f"Cookie: {cookie}\r\n")
    assert status in (400, 404), (path, status, body[:200])
    assert b"TOP-SECRET" not in body and b"root:" not in body


def test_forged_expired_and_foreign_cookies_are_refused(url: str, demo_config: Path, folder: Path,
                                                        servers: list[BackgroundServer]) -> None:
    now = time.time()
    bad = {
        "forged": f"{int(now) + 3600}.{'0' * 64}",
        "expired": session.issue(ADMIN.encode(), now - 12 * 3600 - 5),
        "other key": session.issue(b"another-admin-key", now),
        "the admin key itself": ADMIN,
        "too far ahead": _signed(int(now) + 30 * 86400),
        "not a number": "abc." + "0" * 64,
        "empty": "",
    }
    for name, token in bad.items():
        headers = {"cookie": f"{session.COOKIE}={token}"}
        assert httpx.get(f"{url}/console/", headers={**headers, **HTML}).status_code == 303, name
        assert httpx.get(f"{url}/console/js/overview.js", headers=headers).status_code == 401, name
    # Stateless: a cookie from one replica works on another with the same key, not on one without.
    other = serve(servers, demo_config, folder)
    assert httpx.get(f"{other}/console/", headers=cookie_of(url)).status_code == 200
    rekeyed = serve(servers, demo_config, folder, admin_key="a-new-admin-key")
    assert httpx.get(f"{rekeyed}/console/", headers=cookie_of(url)).status_code == 401


def _signed(expiry: int) -> str:
    return f"{expiry}.{'a' * 16}.{session._signature(ADMIN.encode(), f'{expiry}.' + 'a' * 16)}"


def test_the_session_token_checks() -> None:
    key, now = b"k", 1_800_000_000.0
    token = session.issue(key, now)
    assert session.valid(token, key, now) and session.valid(token, key, now + session.LIFETIME_S - 1)
    assert not session.valid(token, key, now + session.LIFETIME_S)
    assert not session.valid(token, b"other", now)
    assert not session.valid(token + "0", key, now) and not session.valid(token[:-1], key, now)
    assert not session.valid("x" * 200, key, now) and not session.valid("١٢٣." + "0" * 64, key, now)
    assert not session.valid(token.replace(".", "", 1), key, now)


def test_sign_out_clears_the_cookie_and_revokes_it(url: str) -> None:
    cookie = cookie_of(url)
    assert httpx.get(f"{url}/admin/keys", headers=cookie).status_code == 200
    response = httpx.post(f"{url}/console/logout", headers=cookie)
    assert response.status_code == 303 and response.headers["location"] == "/console/login"
    assert response.headers["set-cookie"] == f"{session.COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"
    assert_secured(response)
    # A copy of the cookie kept after signing out opens nothing any more; a new sign-in does.
    assert httpx.get(f"{url}/admin/keys", headers=cookie).status_code == 401
    assert httpx.get(f"{url}/console/", headers={**cookie, **HTML}).status_code == 303
    assert httpx.get(f"{url}/admin/keys", headers=cookie_of(url)).status_code == 200


def test_without_an_admin_key_there_is_no_console(servers: list[BackgroundServer], demo_config: Path,
                                                  folder: Path) -> None:
    url = serve(servers, demo_config, folder, admin_key=None)
    forged = {"cookie": f"{session.COOKIE}={session.issue(b'', time.time())}"}
    for method, path in [("GET", "/console/login"), ("POST", "/console/session"), ("POST", "/console/logout"),
                         ("GET", "/console/"), ("GET", "/console/index.html")]:
        response = httpx.request(method, f"{url}{path}", headers=forged, data={"admin_key": ""})
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["message"].startswith("The console is disabled")


def test_without_its_login_page_the_console_still_signs_in(servers: list[BackgroundServer], demo_config: Path,
                                                           tmp_path: Path) -> None:
    url = serve(servers, demo_config, tmp_path / "empty")
    page = httpx.get(f"{url}/console/login")
    assert page.status_code == 200 and 'name="admin_key"' in page.text
    wrong = sign_in(url, "nope")
    assert wrong.status_code == 401 and WRONG_KEY in wrong.text
    assert sign_in(url).status_code == 303


def test_the_login_message_goes_before_the_form_without_a_mark(servers: list[BackgroundServer],
                                                               demo_config: Path, folder: Path) -> None:
    (folder / "login.html").write_text("<main><form method=post></form></main>")
    url = serve(servers, demo_config, folder)
    assert f'{WRONG_KEY}</p><form method=post>' in sign_in(url, "nope").text
    (folder / "login.html").write_text("<main>no form</main>")
    assert sign_in(url, "nope").text.endswith(f"{WRONG_KEY}</p>")
