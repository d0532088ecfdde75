"""Journeys 2, 4 and 7 in their other branches: Check with scripts off, two people
saving one draft, an upload with mistakes, a trial decision that logs nothing, a
rejection with its reason, and a simulation on an uploaded file."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT, decision_request
from tests.console import steps

pytestmark = [pytest.mark.live, pytest.mark.browser]


def api(server, method, path, body=None, key="admin"):
    status, _, raw = server.request(method, path, body, key=key)
    return status, json.loads(raw) if raw else None


def test_check_without_scripts_posts_the_form_and_marks_the_problems(new_page, console_server):
    page = steps.sign_in(new_page(java_script_enabled=False), console_server.keys["alice"])
    version = steps.start_draft(page)
    editor = page.locator("textarea#document")
    text = steps.replace_after(editor.input_value(), "id: ACT-010", "level: orange", "level: ornage")
    editor.fill(text)
    page.get_by_role("button", name="Check").click()
    assert page.url.endswith(f"/versions/{version}/edit")  # the form came back
    problem = page.locator("#problems li").first
    expect(problem).to_contain_text("unknown level 'ornage'")
    line = int(problem.get_attribute("data-line"))
    assert text.split("\n")[line - 1].strip() == "level: ornage"
    expect(page.locator("[data-gutter] .marked")).to_have_text([str(line)])
    expect(page.locator("textarea#document")).to_have_value(text)  # the text as it was sent
    # and nothing was stored: the draft is still the version it was started from
    stored = api(console_server, "GET", f"/v1/rulesets/retail_card/versions/{version}")[1]
    act010 = next(r for r in stored["document"]["rules"] if r["id"] == "ACT-010")
    assert act010["level"] == "orange"


def test_two_people_saving_one_draft_the_second_is_refused_and_told_why(new_page, console_server):
    alice = steps.sign_in(new_page(), console_server.keys["alice"])
    version = steps.start_draft(alice)
    erin = steps.sign_in(new_page(), console_server.keys["erin"])
    erin.goto(f"/console/rulesets/retail_card/versions/{version}/edit")
    # Alice saves first
    editor = alice.locator("textarea#document")
    editor.fill(steps.replace_after(editor.input_value(), "id: ACT-010", "percent: 30", "percent: 40"))
    alice.get_by_role("button", name="Save draft").click()
    expect(alice.locator(".notice")).to_contain_text("Draft saved")
    # Erin, who opened the draft before, saves her own change: refused, says who and why
    editor = erin.locator("textarea#document")
    mine = steps.replace_after(editor.input_value(), "id: ACT-010", "percent: 30", "percent: 25")
    editor.fill(mine)
    erin.get_by_role("button", name="Save draft").click()
    expect(erin.locator("#conflict")).to_contain_text("alice.author saved version")
    expect(erin.locator("#conflict")).to_contain_text("your changes were not saved")
    expect(erin.locator("textarea#document")).to_have_value(mine)  # her text is still there to copy
    stored = api(console_server, "GET", f"/v1/rulesets/retail_card/versions/{version}")[1]
    act010 = next(r for r in stored["document"]["rules"] if r["id"] == "ACT-010")
    assert act010["actions"][0] == {"reduce_limit": {"percent": 40}}
    assert stored["contributors"] == ["alice.author"]


def test_an_uploaded_file_with_mistakes_is_refused_with_each_problem(new_page, console_server, tmp_path):
    page = steps.sign_in(new_page(), console_server.keys["alice"])
    page.goto("/console/rulesets/retail_card")
    before = len(api(console_server, "GET", "/v1/rulesets/retail_card/versions")[1]["versions"])
    bad = tmp_path / "retail_card.yaml"
    bad.write_text((ROOT / "rulesets" / "retail_card.yaml").read_text()
                   .replace("card.utilization > 0.80", "card.utilisation > 0.80", 1))
    page.get_by_label("Ruleset", exact=True).set_input_files(str(bad))
    page.get_by_role("button", name="Upload as a draft").click()
    expect(page.locator("#new-draft .error")).to_contain_text("did you mean card.utilization")
    expect(page.locator("#new-draft .error")).to_contain_text("UTL-001")
    assert len(api(console_server, "GET", "/v1/rulesets/retail_card/versions")[1]["versions"]) == before
    good = tmp_path / "good.yaml"
    good.write_text((ROOT / "rulesets" / "retail_card.yaml").read_text())
    page.get_by_label("Ruleset", exact=True).set_input_files(str(good))
    page.get_by_label("Scenarios", exact=True).set_input_files(str(ROOT / "rulesets" / "retail_card.scenarios.yaml"))
    page.get_by_role("button", name="Upload as a draft").click()
    expect(page.locator(".notice")).to_contain_text("Draft created")
    assert len(api(console_server, "GET", "/v1/rulesets/retail_card/versions")[1]["versions"]) == before + 1


def test_a_trial_decision_is_read_as_a_person_would_and_logs_nothing(new_page, console_server):
    page = steps.sign_in(new_page(), console_server.keys["bob"])
    count = lambda: api(console_server, "GET", "/v1/decisions/head")[1]["count"]  # noqa: E731
    before = count()
    steps.try_snapshot(page, 1)
    result = page.locator("#result")
    expect(result.locator(".level-orange")).to_be_visible()
    expect(result.locator(".action").first).to_contain_text("Reduce the credit limit")
    expect(result.locator(".action").first).to_contain_text("because External delinquency")
    expect(page.locator("#trail")).to_contain_text("credit_report.other_banks.overdue_accounts_6m")
    expect(page.locator("#trail")).to_contain_text("= 2")
    page.locator("#not-fired summary").click()
    expect(page.locator("#not-fired")).to_contain_text("MNT-001")
    # a value the contract refuses is shown next to its field
    page.get_by_label("utilization").fill("abc")
    page.get_by_role("button", name="Decide (trial)").click()
    expect(page.locator("#f\\:card\\.utilization-error")).to_contain_text("number")
    # and the JSON view
    page.get_by_role("link", name="JSON").click()
    page.get_by_label("Snapshot (JSON)").fill(json.dumps(decision_request()["snapshot"]))
    page.get_by_role("button", name="Decide (trial)").click()
    expect(page.locator("#result .level-orange")).to_be_visible()
    assert count() == before  # nothing was logged


def test_a_rejection_carries_its_reason_into_the_history(new_page, console_server):
    alice = steps.sign_in(new_page(), console_server.keys["alice"])
    version = steps.start_draft(alice)
    steps.submit(alice, version, "no change, for the record")
    bob = steps.sign_in(new_page(), console_server.keys["bob"])
    bob.goto(f"/console/rulesets/retail_card/versions/{version}")
    bob.get_by_role("button", name="Reject").click()
    expect(bob.locator("#review .error")).to_contain_text("reason")
    bob.get_by_label("Reason to reject").fill("Nothing changed against version 1.")
    bob.get_by_role("button", name="Reject").click()
    expect(bob.locator("h1 .badge-rejected")).to_be_visible()
    expect(bob.locator(".timeline")).to_contain_text("Nothing changed against version 1.")
    stored = api(console_server, "GET", f"/v1/rulesets/retail_card/versions/{version}")[1]
    assert stored["status"] == "rejected" and stored["rejected_by"] == "bob.approver"


def test_a_simulation_on_an_uploaded_portfolio_file(new_page, console_server, tmp_path):
    page = steps.sign_in(new_page(), console_server.keys["bob"])
    portfolio = tmp_path / "portfolio.jsonl"
    snapshot = decision_request()["snapshot"]
    portfolio.write_text("\n".join(json.dumps(snapshot) for _ in range(3)) + "\n")
    page.goto("/console/rulesets/retail_card/versions/1/simulate")
    page.get_by_label("a portfolio file").check()
    page.get_by_label("Portfolio file (JSON Lines)").set_input_files(str(portfolio))
    page.get_by_role("button", name="Start the simulation").click()
    expect(page.locator("#sim-status .badge-done")).to_be_visible(timeout=60000)
    expect(page.locator("#sim-summary")).to_contain_text("of 3 customers")
    # a file that is not JSON Lines is refused next to the field, nothing started
    portfolio.write_text("not json\n")
    page.goto("/console/rulesets/retail_card/versions/1/simulate")
    page.get_by_label("a portfolio file").check()
    page.get_by_label("Portfolio file (JSON Lines)").set_input_files(str(portfolio))
    page.get_by_role("button", name="Start the simulation").click()
    expect(page.locator(".field-error")).to_contain_text("Line 1 is not JSON")
