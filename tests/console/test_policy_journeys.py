"""A policy change end to end in the browser, by two people, on a live gunicorn:
journeys 2 (edit a draft), 3 (run scenarios), 5 (compare), 6 (simulate) and 7 (four
eyes), then checked over the API. And the other journeys one by one."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from playwright.sync_api import expect

from tests.conftest import clean_snapshot, decision_request
from tests.console import steps
from tests.console.conftest import POLICY_CHECK_SECONDS

pytestmark = [pytest.mark.live, pytest.mark.browser]


def api(server, method, path, body=None, key="admin"):
    status, _, raw = server.request(method, path, body, key=key)
    return status, json.loads(raw) if raw else None


def served_now(server) -> dict:
    """The ruleset in effect over the API once every worker has had time to notice a
    change made through the console: each looks again after POLICY_CHECK_SECONDS, on
    its next request, and a request may go to either worker."""
    time.sleep(POLICY_CHECK_SECONDS * 3)
    status, served = api(server, "GET", "/v1/rulesets/retail_card")
    assert status == 200, served
    return served


def decide(server, customer: str, delinquent: bool) -> dict:
    snapshot = decision_request()["snapshot"] if delinquent else clean_snapshot(customer)
    snapshot["customer"]["id"] = customer
    status, body = api(server, "POST", "/v1/decisions", decision_request(snapshot, customer_id=customer))
    assert status == 201, body
    return body


def test_a_change_from_draft_to_in_effect_by_two_people(new_page, console_server):
    server = console_server
    logged = [decide(server, f"C-J{n}", delinquent=n % 2 == 0) for n in range(6)]  # for the simulation
    cut_by_act010 = sorted(d["customer_id"] for d in logged if "ACT-010" in d["fired"])
    assert cut_by_act010 == ["C-J0", "C-J2", "C-J4"]
    alice = steps.sign_in(new_page(), server.keys["alice"])
    version = steps.start_draft(alice)

    # 2: a mistake marked at its line, fixed, saved
    steps.edit_with_a_mistake_then_fix(alice, percent=35)
    status, stored = api(server, "GET", f"/v1/rulesets/retail_card/versions/{version}")
    assert stored["status"] == "draft" and stored["updated_by"] == "alice.author"
    act010 = next(r for r in stored["document"]["rules"] if r["id"] == "ACT-010")
    assert act010["actions"][0] == {"reduce_limit": {"percent": 35}}

    # 3: the scenario that expects a 30% cut now fails, expected beside got
    outcome = steps.run_scenarios(alice)
    assert outcome["failed"] == 1 and outcome["passed"] > 20
    failed = alice.locator("#scenario-results tr.fail")
    expect(failed).to_contain_text("DOMAIN example")
    params_row = failed.locator("tr.differs", has=alice.locator("th", has_text="params"))
    expect(params_row.locator("td").nth(0)).to_contain_text("reduce_limit percent 30")
    expect(params_row.locator("td").nth(1)).to_contain_text("reduce_limit percent 35")
    level_row = failed.locator("tr", has=alice.locator("th", has_text="level"))
    expect(level_row).not_to_have_class("differs")  # the same level: only what differs is marked
    steps.fix_scenario(alice, percent=35)
    alice.goto(f"/console/rulesets/retail_card/versions/{version}/scenarios")
    alice.get_by_role("button", name="Run the scenarios").click()
    expect(alice.locator("#summary")).to_contain_text(" 0 failed")

    # 5: the diff names exactly the rule that changed, old and new side by side
    steps.compare_with_in_effect(alice, version)
    expect(alice.locator("#diff-summary")).to_have_text("1 changed, 0 added, 0 removed")
    actions = alice.locator("#changed-ACT-010 tr.differs", has=alice.locator("th", has_text="actions"))
    expect(actions.locator("td").nth(0)).to_contain_text("reduce_limit: {percent: 30}")
    expect(actions.locator("td").nth(0).locator("del")).to_have_text("30")
    expect(actions.locator("td").nth(1).locator("ins")).to_have_text("35")
    # the rest of the rule is shown beside it, unmarked
    when = alice.locator("#changed-ACT-010 tr", has=alice.locator("th", has_text="when"))
    expect(when).not_to_have_class("differs")
    expect(when.locator("td").nth(1)).to_contain_text("card.utilization > 0.80")

    # 6: the simulation over the log: the delinquent customers' cut changes
    steps.simulate_on_the_log(alice, version)
    summary = alice.locator("#sim-summary").inner_text()
    assert "customers would get a different outcome" in summary
    assert int(summary.split(" of ")[0]) >= len(cut_by_act010)
    changed_rows = alice.locator("table.grid").last
    for customer in cut_by_act010:
        expect(changed_rows).to_contain_text(customer)
    expect(changed_rows).not_to_contain_text("C-J1")

    # 7: submit with a note; the author, even with an approve key, is not offered approval
    steps.submit(alice, version, "ACT-010 cuts 35% from May (RCP-2026 5.1 revised)")
    both = steps.sign_in(new_page(), server.keys["alice_both"])
    both.goto(f"/console/rulesets/retail_card/versions/{version}")
    expect(both.get_by_text("someone else must approve it")).to_be_visible()
    expect(both.get_by_role("button", name="Approve")).to_have_count(0)
    token = both.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = both.request.post(f"/console/rulesets/retail_card/versions/{version}/approve",
                                form={"csrf_token": token})
    assert refused.status == 403 and "someone else must approve" in refused.text()

    bob = steps.sign_in(new_page(), server.keys["bob"])
    bob.goto(f"/console/rulesets/retail_card/versions/{version}")
    expect(bob.locator(".timeline")).to_contain_text("ACT-010 cuts 35% from May")
    steps.approve_and_publish(bob, version)

    # over the API: the new version is in effect and decides with the 35% cut
    served = served_now(server)
    assert served["version"] == version and served["in_effect"] is True
    decision = decide(server, "C-J-after", delinquent=True)
    assert decision["ruleset"]["version"] == version
    cut = next(a for a in decision["actions"] if a["action"] == "reduce_limit")
    assert cut["params"] == {"percent": 35}

    # roll back, then schedule it for tomorrow morning: each step in the history
    bob.goto("/console/rulesets/retail_card")
    bob.get_by_label("Put back in effect now").select_option("")
    bob.get_by_role("button", name="Roll back").click()
    expect(bob.locator(".notice")).to_contain_text("Rolled back")
    assert served_now(server)["version"] != version
    bob.goto(f"/console/rulesets/retail_card/versions/{version}")
    tomorrow = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).replace(hour=6, minute=0, second=0)
    bob.get_by_label("At", exact=True).check()
    bob.get_by_label("Effective at (UTC)").fill(tomorrow.strftime("%Y-%m-%dT%H:%M:%S"))
    bob.get_by_role("button", name="Publish").click()
    expect(bob.locator(".notice")).to_contain_text("Scheduled")
    bob.goto("/console/rulesets/retail_card")
    row = bob.locator(f"tr#v{version}")
    expect(row.locator(".badge-published, .badge-scheduled").first).to_be_visible()
    expect(row).to_contain_text("alice.author")
    expect(row).to_contain_text("approved by bob.approver")
    status, pubs = api(server, "GET", "/v1/rulesets/retail_card/publications")
    kinds = [p["kind"] for p in pubs["publications"] if p["version"] == version]
    assert kinds == ["publish", "schedule"]
    expect(bob.locator("table.grid").nth(1)).to_contain_text("schedule")
    expect(bob.locator("table.grid").nth(1)).to_contain_text("rollback")
    events = api(server, "GET", f"/v1/audit-events?target=ruleset:retail_card@{version}")[1]["events"]
    assert [(e["actor"], e["action"]) for e in events if e["action"] != "version.approve_refused"][:5] == [
        ("alice.author", "version.create"), ("alice.author", "version.edit"), ("alice.author", "version.edit"),
        ("alice.author", "version.submit"), ("bob.approver", "version.approve")]
    assert any(e["action"] == "version.approve_refused" and e["actor"] == "alice.author" for e in events)
    # every page loaded its stylesheet and script under the console's content policy
    assert alice.console_errors == [] and bob.console_errors == []
