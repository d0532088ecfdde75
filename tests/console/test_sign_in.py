"""Signing in to the console, sessions, CSRF, and what each role is shown: in a real
Chromium against gunicorn."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.console.conftest import sessions_db, sign_in

pytestmark = [pytest.mark.live, pytest.mark.browser]


def test_a_page_needs_sign_in_and_comes_back_to_it(new_page, console_server):
    page = new_page()
    page.goto("/console/rulesets/retail_card")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "/console/sign-in?next=" in page.url
    page.get_by_label("API key").fill(console_server.keys["alice"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("retail_card")
    # the person and roles are visible on every page
    expect(page.locator(".who .person")).to_have_text("alice.author")
    expect(page.locator(".who .role")).to_have_text(["author"])


def test_session_cookie_is_httponly_and_strict(new_page, console_server):
    page = sign_in(new_page(), console_server.keys["alice"])
    [cookie] = [c for c in page.context.cookies() if c["name"] == "vigil_console"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    assert cookie["secure"] is False  # served over plain HTTP here; Secure over HTTPS
    assert page.evaluate("document.cookie") == ""


def test_a_decide_only_key_cannot_sign_in(new_page, console_server):
    page = sign_in(new_page(), console_server.keys["loan"])
    expect(page.locator("#api_key_error")).to_contain_text("only ask for decisions")
    assert not [c for c in page.context.cookies() if c["name"] == "vigil_console"]


def test_a_wrong_key_is_refused_next_to_the_field(new_page, console_server):
    page = sign_in(new_page(), "vgl_000000000000_notarealsecretnotarealsecret")
    expect(page.locator("#api_key_error")).to_contain_text("not valid")
    expect(page.get_by_label("API key")).to_have_attribute("aria-invalid", "true")


def test_journey_1_what_is_in_force(new_page, console_server):
    page = sign_in(new_page(), console_server.keys["carol"])
    table = page.locator("table.grid")
    for ruleset in ("personal_loan", "retail_card", "sme_loan"):
        row = table.locator("tbody tr", has=page.get_by_role("link", name=ruleset, exact=True))
        expect(row).to_contain_text("version 1")
    page.get_by_role("link", name="retail_card", exact=True).click()
    history = page.locator("tr#v1")
    expect(history).to_contain_text("published")
    expect(history).to_contain_text("in effect")
    expect(history).to_contain_text("system")  # the shipped policies are published by system
    expect(page.locator("h2", has_text="Publications")).to_be_visible()


def test_sign_in_and_out_are_audit_events_by_the_keys_owner(new_page, console_server):
    page = sign_in(new_page(), console_server.keys["carol"])
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/console/rulesets")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    status, _, body = console_server.request("GET", "/v1/audit-events?actor=carol.compliance&limit=1000")
    assert status == 200
    actions = [e["action"] for e in json.loads(body)["events"]]
    assert "console.sign_in" in actions and "console.sign_out" in actions


def test_a_form_posted_without_its_csrf_token_is_refused(new_page, console_server):
    page = sign_in(new_page(), console_server.keys["alice"])
    page.goto("/console/rulesets/retail_card")
    before = _version_count(console_server)
    # The same form, sent by the signed-in browser, without the token: refused, nothing made.
    response = page.request.post("/console/rulesets/retail_card/drafts", form={"from_version": "1"})
    assert response.status == 403
    assert "security token" in response.text()
    response = page.request.post("/console/rulesets/retail_card/drafts",
                                 form={"from_version": "1", "csrf_token": "forged"})
    assert response.status == 403
    assert _version_count(console_server) == before


def _version_count(server) -> int:
    status, _, body = server.request("GET", "/v1/rulesets/retail_card/versions")
    return len(json.loads(body)["versions"])


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
def test_an_expired_session_goes_back_to_sign_in(new_page, console_server, column):
    page = sign_in(new_page(), console_server.keys["carol"])
    expect(page.get_by_role("heading", name="Rulesets in force")).to_be_visible()
    # idle past VIGIL_CONSOLE_IDLE_SECONDS, or past the absolute expiry
    with sessions_db(console_server) as db:
        db.execute(f"UPDATE console_sessions SET {column} = '2000-01-01T00:00:00.000000Z' WHERE owner = ?",
                   ["carol.compliance"])
    page.goto("/console/rulesets/retail_card")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("Your session ended")).to_be_visible()
    page.get_by_label("API key").fill(console_server.keys["carol"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("retail_card")


def test_a_role_without_author_sees_no_edit_controls_and_is_refused(new_page, console_server):
    for person in ("bob", "carol"):
        page = sign_in(new_page(), console_server.keys[person])
        page.goto("/console/rulesets/retail_card")
        expect(page.get_by_role("heading", level=1)).to_contain_text("retail_card")
        expect(page.get_by_role("button", name="Start a draft")).to_have_count(0)
        expect(page.get_by_role("button", name="Upload as a draft")).to_have_count(0)
        page.goto("/console/rulesets/retail_card/versions/1")
        expect(page.get_by_role("link", name="Edit draft")).to_have_count(0)
        expect(page.get_by_role("button", name="Submit")).to_have_count(0)
        # and the server refuses it anyway, with a valid token
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        response = page.request.post("/console/rulesets/retail_card/drafts",
                                     form={"from_version": "1", "csrf_token": token})
        assert response.status == 403
    # audit may not simulate or try either (the API gives those to author and approve)
    page.goto("/console/rulesets/retail_card/versions/1")
    expect(page.get_by_role("link", name="Simulate")).to_have_count(0)
    assert page.request.get("/console/rulesets/retail_card/versions/1/try").status == 403
