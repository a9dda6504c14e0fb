"""The web console in a real browser: headless Chromium (Debian's, at /usr/bin/chromium) driven by
Playwright, against a gateway with the fake providers. Each test signs in through the login page,
works the pages as an operator would (keyboard included) and checks what they show; axe-core
checks every page for serious or critical accessibility problems; each page's screenshot goes to
docs/console/<page>.png (1440×900), overwritten on each run.

Waiting is Playwright's auto-waiting ``expect`` on page elements: no sleeps.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gateway.fakes.run import Fakes
from tests.admin_support import ADMIN_KEY, AUTH, AdminGateway, AdminGateways, admin_gateways, write_config  # noqa: F401

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "console"
VIEWPORT = {"width": 1440, "height": 900}
WAIT_MS = 15_000  # the overview polls every 2 s; performance sums reach the store within a flush
expect.set_options(timeout=10_000)  # a loaded 2-core CI machine is slower than Playwright's 5 s default assumes


# Reports every Content-Security-Policy violation of a page to the test (the init script itself
# is injected by the browser's debugging protocol, which the policy does not govern).
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) =>
  window.groveCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile || location.pathname}`));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # The system Chromium: no browser download (never `playwright install`).
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def console(admin_gateways: AdminGateways, tmp_path: Path, fakes: Fakes) -> AdminGateway:
    """A gateway with the admin key (so the console exists) and two models on the fake OpenAI."""
    # A long cooldown keeps an opened breaker open while the page looks at it.
    return admin_gateways.start(write_config(tmp_path / "config", fakes), breaker_cooldown_s=300)


@pytest.fixture
def page(browser: Browser, console: AdminGateway) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=console.url)
    page = context.new_page()
    errors: list[str] = []
    refused: list[str] = []
    elsewhere: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: None if req.url.startswith(console.url) else elsewhere.append(req.url))
    # The Content-Security-Policy refuses inline code and other origins: the pages must not need them.
    page.expose_function("groveCspViolation", lambda text: refused.append(text))
    page.add_init_script(CSP_WATCH)
    sign_in(page)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert refused == [], f"The page broke its Content-Security-Policy: {refused}"
    assert elsewhere == [], f"The page fetched from outside the gateway: {elsewhere}"


def sign_in(page: Page) -> None:
    page.goto("/console/login")
    page.get_by_label("Admin key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


def check_accessibility(page: Page, what: str) -> None:
    """axe-core (vendored in axe-playwright-python) finds no serious or critical violation."""
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    report = "\n".join(f"{v['impact']}: {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']]}"
                       for v in bad)
    found = ", ".join(f"{v['id']} ({v['impact']})" for v in results.response["violations"]) or "none"
    print(f"axe on {what}: {found}")
    assert not bad, f"axe found serious or critical problems on {what}:\n{report}"


def screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def client(console: AdminGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{console.url}/v1", api_key="any", max_retries=0)


def served_by(console: AdminGateway, model: str) -> str:
    """The deployment (x-grove-model) that served one chat request for ``model``."""
    raw = client(console).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}])
    return raw.headers["x-grove-model"]


# --- sign-in ---------------------------------------------------------------------------------


def test_login_page_refuses_a_wrong_key_and_is_accessible(browser: Browser, console: AdminGateway) -> None:
    context = browser.new_context(viewport=VIEWPORT, base_url=console.url)
    page = context.new_page()
    page.goto("/console/")  # not signed in: sent to the login page
    expect(page).to_have_url(re.compile(r"/console/login$"))
    check_accessibility(page, "the login page")
    screenshot(page, "login")
    page.get_by_label("Admin key").fill("not-the-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That is not the admin key.")
    assert "not-the-key" not in page.content()
    check_accessibility(page, "the login page with its error")
    sign_in(page)
    # The first Tab reaches the skip link, which leads past the navigation.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    page.goto("/console/models.html")  # signed out: back to the login page
    expect(page).to_have_url(re.compile(r"/console/login$"))
    assert [c for c in context.cookies() if c["name"] == "grove_console"] == []  # the session cookie is gone
    context.close()


# --- 1. the overview updates while traffic flows -----------------------------------------------


def test_overview_updates_without_a_reload_while_traffic_flows(page: Page, console: AdminGateway) -> None:
    requests = page.locator('[data-stat="requests"]')
    expect(requests).to_have_text("0", timeout=WAIT_MS)
    page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded
    chat = client(console)
    for _ in range(6):
        chat.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    expect(requests).to_have_text("6", timeout=WAIT_MS)
    expect(page.locator('[data-stat="rps"]')).not_to_have_text(re.compile(r"^(–|0)$"))
    expect(page.locator('#per-model tr[data-name="gpt-4.1-mini@1"]')).to_be_visible()
    expect(page.locator('#per-route tr[data-name="default"]')).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True
    # The recent decisions list shows them; one opens to its full provenance.
    decisions = page.locator("#decisions details")
    expect(decisions).to_have_count(6, timeout=WAIT_MS)
    first = decisions.first
    first.locator("summary").focus()  # by keyboard
    page.keyboard.press("Enter")
    expect(first.get_by_role("table", name="Candidates")).to_be_visible()
    expect(first.get_by_role("table", name="Attempts")).to_contain_text("gpt-4.1-mini@1")
    expect(first.locator(".chain-list li").first).to_have_text("gpt-4.1-mini@1")
    check_accessibility(page, "the overview")


# --- 2. a model added through the wizard is then served ----------------------------------------


def test_wizard_tests_then_activates_a_model_that_is_then_served(page: Page, console: AdminGateway) -> None:
    page.get_by_role("link", name="Add a model").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a model")
    page.get_by_label("Provider", exact=True).select_option("fake-openai")
    check_accessibility(page, "the wizard, step 1")
    # Step 1 does not go on without a model id.
    page.get_by_role("button", name="Next: capabilities").click()
    expect(page.get_by_label("Model id")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Model id").fill("gpt-4o-mini")  # taken
    page.get_by_role("button", name="Next: capabilities").click()
    expect(page.locator("#status")).to_have_text("gpt-4o-mini is a model already: add a version on its page instead.")
    page.get_by_label("Model id").fill("gpt-4.1-nano")
    page.get_by_role("button", name="Next: capabilities").click()

    expect(page.get_by_role("heading", name=re.compile("Step 2 of 3"))).to_be_focused()
    for name, value in (("Reasoning", "4"), ("Creativity", "5"), ("Precision", "5"), ("Speed", "10"), ("Context", "8")):
        page.get_by_label(name, exact=True).fill(value)
    page.get_by_label("Context window (tokens)").fill("1047576")
    page.get_by_label("Max output tokens").fill("32768")
    page.get_by_label("Input", exact=True).fill("0.1")
    page.get_by_label("Output", exact=True).fill("0.4")
    check_accessibility(page, "the wizard, step 2")
    page.get_by_role("button", name="Next: test").click()

    activate = page.get_by_role("button", name="Activate the model")
    expect(activate).to_be_disabled()  # not before a test succeeded
    page.get_by_role("button", name="Send test request").click()
    result = page.locator('[data-test="ok"]')
    expect(result).to_contain_text("Hello from fake-openai (gpt-4.1-nano)")
    assert "gpt-4.1-nano" not in [m.id for m in client(console).models.list()]  # tested, not registered
    check_accessibility(page, "the wizard, step 3")
    screenshot(page, "add-model")
    expect(activate).to_be_enabled()
    activate.click()
    expect(page.locator("#status")).to_have_text(re.compile(r"^Activated gpt-4.1-nano"))
    assert served_by(console, "gpt-4.1-nano") == "gpt-4.1-nano@1"


def test_wizard_shows_a_failing_test_and_keeps_activation_off(page: Page, console: AdminGateway, fakes: Fakes) -> None:
    fakes.openai.state.set(model="gpt-4.1-nano", status=500)
    page.goto("/console/add-model.html")
    page.get_by_label("Model id").fill("gpt-4.1-nano")
    page.get_by_role("button", name="Next: capabilities").click()
    page.get_by_role("button", name="Next: test").click()
    page.get_by_role("button", name="Send test request").click()
    expect(page.locator('[data-test="failed"]')).to_contain_text("The test failed")
    expect(page.get_by_role("button", name="Activate the model")).to_be_disabled()


# --- 3. a route edit changes where a request goes ----------------------------------------------


def test_route_editor_previews_then_saves_a_new_chain_order(page: Page, console: AdminGateway) -> None:
    assert served_by(console, "default") == "gpt-4.1-mini@1"
    page.get_by_role("link", name="Routes").click()
    expect(page.get_by_role("row", name=re.compile("^default"))).to_contain_text("gpt-4.1-mini → gpt-4o-mini")
    page.get_by_role("button", name="Edit route default").click()
    primary = page.locator("#preview-primary")
    expect(primary).to_have_text("gpt-4.1-mini@1")

    # Keyboard: focus the second model's "up" button and press Enter.
    page.get_by_role("button", name="Move gpt-4o-mini up").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#chain li").first).to_have_attribute("data-model", "gpt-4o-mini")
    expect(primary).to_have_text("gpt-4o-mini@2024-07-18")  # the explain preview, before saving
    assert served_by(console, "default") == "gpt-4.1-mini@1"  # nothing saved yet

    # Validation as you type: a bad value shows the server's reason and blocks saving.
    fallbacks = page.get_by_label("Most deployments to try")
    fallbacks.fill("0")
    expect(page.locator("#problems")).to_contain_text("fallbacks")
    expect(page.get_by_role("button", name="Save route")).to_be_disabled()
    fallbacks.fill("")
    expect(page.locator("#problems")).to_be_empty()
    check_accessibility(page, "the route editor")
    screenshot(page, "routes")

    page.get_by_role("button", name="Save route").click()
    expect(page.locator("#status")).to_have_text(re.compile(r"^Saved route default"))
    expect(page.get_by_role("row", name=re.compile("^default"))).to_contain_text("gpt-4o-mini → gpt-4.1-mini")
    assert served_by(console, "default") == "gpt-4o-mini@2024-07-18"


# --- 4. a breaker opened by injected faults shows as open --------------------------------------


def test_breaker_opened_by_faults_shows_open_on_the_overview(page: Page, console: AdminGateway, fakes: Fakes) -> None:
    row = page.locator('#breakers tr[data-deployment="gpt-4.1-mini@1"]')
    expect(row.locator("[data-state]")).to_have_text("closed")
    fakes.openai.state.set(model="gpt-4.1-mini", status=500)
    chat = client(console)
    deadline = time.monotonic() + 30
    while breaker_state(console, "gpt-4.1-mini@1") != "open":  # each request is one more failure
        assert time.monotonic() < deadline, "the breaker did not open"
        with pytest.raises(openai.InternalServerError):
            chat.chat.completions.create(model="gpt-4.1-mini", messages=[{"role": "user", "content": "hi"}])
    expect(row.locator("[data-state]")).to_have_text("open", timeout=WAIT_MS)
    expect(page.locator('#breakers tr[data-deployment="gpt-4o-mini@2024-07-18"] [data-state]')).to_have_text("closed")
    # Requests to the route fall back meanwhile; the overview counts them as fallbacks.
    chat.chat.completions.create(model="default", messages=[{"role": "user", "content": "hi"}])
    expect(page.locator('[data-stat="fallback_rate"]')).not_to_have_text(re.compile(r"^(–|0 %)$"), timeout=WAIT_MS)
    check_accessibility(page, "the overview with an open breaker")
    screenshot(page, "overview")  # errors, a fallback and an open breaker: the README's picture


def breaker_state(console: AdminGateway, deployment: str) -> str:
    breakers = httpx.get(f"{console.url}/admin/breakers", headers=AUTH).json()["data"]
    return next(b["state"] for b in breakers if b["deployment"] == deployment)


# --- models and one model ----------------------------------------------------------------------


def test_models_page_shows_a_card_per_model_with_its_capabilities(page: Page) -> None:
    page.get_by_role("link", name="Models").click()
    cards = page.locator(".card")
    expect(cards).to_have_count(2)
    card = page.locator('.card[data-model="gpt-4.1-mini"]')
    expect(card).to_contain_text("fake-openai")
    expect(card).to_contain_text("1,047,576 tokens")
    chart = card.get_by_role("img")
    expect(chart).to_have_attribute("aria-label", re.compile("reasoning 7, creativity 6, precision 7, speed 8, context 9"))
    check_accessibility(page, "the models page")
    screenshot(page, "models")


def test_model_page_charts_and_confirmed_lifecycle_actions(page: Page, console: AdminGateway) -> None:
    chat = client(console)
    for _ in range(3):
        chat.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    page.goto("/console/models.html")
    page.get_by_role("link", name="gpt-4o-mini").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("gpt-4o-mini")
    expect(page.locator("#charts svg[role=img]")).to_have_count(3)
    expect(page.get_by_role("img", name=re.compile("^Latency"))).to_be_visible()
    screenshot(page, "model")

    # Deprecate: a dialog asks first; cancelling changes nothing and gives the focus back.
    deprecate = page.get_by_role("button", name="Deprecate…")
    deprecate.click()
    dialog = page.get_by_role("dialog", name="Deprecate gpt-4o-mini?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Successor")).to_be_focused()
    check_accessibility(page, "the model page with a confirm dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(deprecate).to_be_focused()
    expect(page.locator("#facts .badge")).to_have_text("active")

    deprecate.click()
    dialog.get_by_label("Successor").select_option("gpt-4.1-mini")
    dialog.get_by_role("button", name="Deprecate").click()
    expect(page.locator("#facts .badge")).to_have_text("deprecated")
    expect(page.locator("#facts")).to_contain_text("gpt-4.1-mini")
    model = httpx.get(f"{console.url}/admin/models/gpt-4o-mini", headers=AUTH).json()
    assert model["status"] == "deprecated" and model["versions"][0]["successor"] == "gpt-4.1-mini"

    # A new version, confirmed the same way.
    page.get_by_role("button", name="New version…").click()
    version = page.get_by_role("dialog", name="Add a version of gpt-4o-mini")
    version.get_by_label("Version name").fill("2025-01-01")
    version.get_by_role("button", name="Add version").click()
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    check_accessibility(page, "the model page")
