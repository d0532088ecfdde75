"""The policy-staff journeys as a person takes them in the browser: shared by the
end-to-end test, which asserts what each step shows, and by bin/screenshots, which
photographs the same pages for the README (``shot(page, name)``)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

RULESET = "retail_card"


def _nothing(page, name, full=False):
    return None


def sign_in(page, key: str, next_path: str = "/console/rulesets"):
    page.goto(next_path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".who .person")).to_be_visible()
    return page


def version_number(page) -> int:
    return int(re.search(r"/versions/(\d+)", page.url).group(1))


def replace_after(text: str, anchor: str, old: str, new: str) -> str:
    """``old`` replaced by ``new`` at its first place after ``anchor``."""
    at = text.index(anchor)
    hit = text.index(old, at)
    return text[:hit] + new + text[hit + len(old):]


def start_draft(page, shot=_nothing) -> int:
    """Journey 1 then 2: from the rulesets in force to a new draft of the version in effect."""
    page.goto("/console/rulesets")
    shot(page, "rulesets")
    page.get_by_role("link", name=RULESET, exact=True).click()
    shot(page, "ruleset")
    page.get_by_role("button", name="Start a draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Edit")
    return version_number(page)


def edit_with_a_mistake_then_fix(page, percent: int, shot=_nothing) -> None:
    """Journey 2: a misspelt field is marked at its line by Check (without leaving the
    page), then fixed; ACT-010 cuts the limit by ``percent`` and the draft is saved."""
    editor = page.locator("textarea#document")
    good = replace_after(editor.input_value(), "id: ACT-010", "percent: 30", f"percent: {percent}")
    bad = replace_after(good, "id: ACT-010", "card.utilization > 0.80", "card.utilisation > 0.80")
    editor.fill(bad)
    url = page.url
    page.get_by_role("button", name="Check").click()
    problem = page.locator("#problems li").first
    expect(problem).to_contain_text("did you mean card.utilization")
    expect(problem).to_contain_text("ACT-010")
    line = int(problem.get_attribute("data-line"))
    assert bad.split("\n")[line - 1].strip().startswith("when:") and "utilisation" in bad.split("\n")[line - 1]
    expect(page.locator(f"#document ~ pre, [data-gutter] .marked").first).to_have_text(str(line))
    assert page.url == url  # checked without leaving the page
    page.locator("#problems a.line").first.click()
    shot(page, "edit-check")
    editor.fill(good)
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#problems .ok")).to_contain_text("No problems")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".notice")).to_contain_text("Draft saved")


def run_scenarios(page, shot=_nothing) -> dict:
    """Journey 3: run the scenarios; returns {passed, failed} as the page says."""
    page.get_by_role("link", name="Done").click()
    page.get_by_role("link", name="Run scenarios").click()
    page.get_by_role("button", name="Run the scenarios").click()
    summary = page.locator("#summary").inner_text()
    passed, failed = map(int, re.search(r"(\d+) passed, (\d+) failed", summary).groups())
    shot(page, "scenarios", True)
    return {"passed": passed, "failed": failed}


def fix_scenario(page, percent: int) -> None:
    """Journey 2 again: the scenario that checks ACT-010's cut now expects ``percent``."""
    page.goto(page.url.replace("/scenarios", "/edit"))
    scenarios = page.locator("textarea#scenarios")
    scenarios.fill(replace_after(scenarios.input_value(), "DOMAIN example", "percent: 30", f"percent: {percent}"))
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".notice")).to_contain_text("Draft saved")


def compare_with_in_effect(page, version: int, shot=_nothing) -> None:
    """Journey 5: the rule-level diff of the version in effect and the draft."""
    page.goto(f"/console/rulesets/{RULESET}/compare?to={version}")
    shot(page, "compare")


def try_snapshot(page, version: int, shot=_nothing) -> None:
    """Journey 4: the draft tried on the first scenario's customer, from the form."""
    page.goto(f"/console/rulesets/{RULESET}/versions/{version}/try")
    page.get_by_label("overdue_accounts_6m").fill("2")
    page.get_by_label("utilization").fill("0.8500")
    page.get_by_role("button", name="Decide (trial)").click()
    expect(page.locator("#result")).to_be_visible()
    shot(page, "try", True)


def simulate_on_the_log(page, version: int, shot=_nothing) -> None:
    """Journey 6: simulate the draft on the decision log, watch it, read the report."""
    page.goto(f"/console/rulesets/{RULESET}/versions/{version}/simulate")
    page.get_by_label("from").fill("2000-01-01")
    page.get_by_label("until").fill("2100-01-01")
    page.get_by_role("button", name="Start the simulation").click()
    expect(page.locator("#sim-status .badge-done")).to_be_visible(timeout=60000)
    shot(page, "simulation", True)


def submit(page, version: int, note: str, shot=_nothing) -> None:
    """Journey 7: submit with a note."""
    page.goto(f"/console/rulesets/{RULESET}/versions/{version}")
    page.get_by_label("Note for the approver").fill(note)
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".notice")).to_contain_text("Submitted")


def approve_and_publish(page, version: int, shot=_nothing) -> None:
    """Journey 7: another person approves, then publishes now."""
    page.goto(f"/console/rulesets/{RULESET}/versions/{version}")
    shot(page, "review")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator(".notice")).to_contain_text("Approved")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".notice")).to_contain_text("Published")
    expect(page.locator("h1 .badge-in-effect")).to_be_visible()
    shot(page, "published")
