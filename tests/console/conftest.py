"""One live gunicorn server and one Chromium for every console test in the session.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright for Python; Playwright
never downloads a browser of its own. Each test gets a fresh browser context (its own
cookies), so tests sign in independently on the shared server."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.conftest import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# The people on the shared server, and the roles of their keys.
PEOPLE = {
    "alice": ("alice.author", ["author"]),
    "alice_both": ("alice.author", ["author", "approve"]),
    "erin": ("erin.author", ["author"]),
    "bob": ("bob.approver", ["approve"]),
    "carol": ("carol.compliance", ["audit"]),
    "lee": ("lee.legal", ["legal"]),
    "loan": ("card-platform", ["decide"]),
}


# How often each worker looks for a change of policies (a publication, a rollback): what
# one worker changed, the other serves within this many seconds (app/api/serving.py).
POLICY_CHECK_SECONDS = 0.2


@pytest.fixture(scope="session")
def console_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("console"), workers=2, threads=4,
                        env={"VIGIL_POLICY_CHECK_SECONDS": str(POLICY_CHECK_SECONDS)})
    server.migrate()
    server.keys = {name: server.create_key(*roles, owner=owner, name=f"{name}-console")
                   for name, (owner, roles) in PEOPLE.items()}
    server.start()
    server.url = f"http://127.0.0.1:{server.port}"
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def new_page(browser, console_server):
    """new_page(): a page in a browser context of its own (its own cookies)."""
    contexts = []

    def make(**options):
        context = browser.new_context(base_url=console_server.url, **options)
        context.set_default_timeout(15000)
        contexts.append(context)
        page = context.new_page()
        # what the browser refused or failed to run (a content policy violation, a script error)
        page.console_errors = []
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page, key: str, next_path: str = "/console/rulesets"):
    page.goto(next_path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    return page


def sessions_db(server):
    return sqlite3.connect(server.db_path, timeout=10)


def current_version_number(page) -> int:
    return int(re.search(r"/versions/(\d+)", page.url).group(1))
