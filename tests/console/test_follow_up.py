"""Follow-through, live: decisions over the API open tasks; the customer's manager completes
one in the console (Chromium) with the evidence the policy asks for; a waiver is asked for
and approved by a second person; with the clock set forward a task is overdue and the next
decision (a personal loan: its policy escalates a missed contact) changes through
overdue_follow_up; the evaluation report, page and API, counts all of it."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import DELINQUENT_SNAPSHOT, LiveServer, clean_snapshot, decision_request
from tests.console.conftest import sign_in

pytestmark = [pytest.mark.live, pytest.mark.browser]

# The clock stands a day after the real time (the shipped policies are published now), at
# 09:00, then six days later: a contact due in 5 days is overdue.
START = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
T0 = START.strftime("%Y-%m-%dT%H:%M:%SZ")
DUE = (START + dt.timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S")  # a card customer's contact, orange
LOAN_DUE = (START + dt.timedelta(days=15)).strftime("%Y-%m-%dT%H:%M:%S")  # a loan customer's, yellow
LATER = (START + dt.timedelta(days=16)).strftime("%Y-%m-%dT%H:%M:%SZ")  # both overdue
MANAGER = "rm.li"
DAY_FROM, DAY_TO = (START - dt.timedelta(days=1)).date().isoformat(), (START + dt.timedelta(days=30)).date().isoformat()
PERIOD = {"from": f"{DAY_FROM}T00:00:00Z", "to": f"{DAY_TO}T00:00:00Z"}
# customer -> (account manager, branch); each decided orange: contact within 5 days
CUSTOMERS = {"C-810001": (MANAGER, "B01"), "C-810002": (MANAGER, "B01"), "L-810003": (MANAGER, "B01"),
             "C-810004": (None, "B02")}
OTHERS = {"L-810005": ("rm.zhou", "B03")}  # decided clean only: no task
PEOPLE = {"li": (MANAGER, ["officer"]), "wang": ("rm.wang", ["officer"]), "bob": ("bob.approver", ["approve"]),
          "carol": ("carol.compliance", ["audit"]), "loan": ("card-platform", ["decide"])}


def loan_snapshot(customer: str, overdue_elsewhere: int) -> dict:
    """A personal loan customer of the manager's; two accounts overdue elsewhere: yellow."""
    manager, branch = {**CUSTOMERS, **OTHERS}[customer]
    return {"customer": {"id": customer, "segment": "mass", "months_on_book": 36, "account_manager": manager,
                         "branch": branch},
            "loans": [{"account_id": f"PL-{customer}", "product": "unsecured_consumer", "outstanding": "60000.00",
                       "installment": "2200.00", "dpd": 0, "worst_dpd_12m": 0, "restructured": False}],
            "credit_report": {"as_of": "2026-03-31", "other_banks": {
                "overdue_accounts_6m": overdue_elsewhere, "overdue_accounts_12m": overdue_elsewhere,
                "overdue_accounts_24m": overdue_elsewhere, "worst_dpd": 45 if overdue_elsewhere else 0,
                "debt": "40000.00", "new_accounts_3m": 0, "hard_inquiries_3m": 0, "hard_inquiries_6m": 0}}}


def snapshot(customer: str, *, clean: bool = False) -> dict:
    snap = clean_snapshot(customer) if clean else copy.deepcopy(DELINQUENT_SNAPSHOT)
    snap["customer"]["id"] = customer
    manager, branch = CUSTOMERS.get(customer, (None, None))
    if manager:
        snap["customer"]["account_manager"] = manager
    if branch:
        snap["customer"]["branch"] = branch
    return snap


class Server(LiveServer):
    def set_clock(self, moment: str) -> None:
        self.clock.write_text(moment + "\n")

    def decide(self, customer: str, *, clean: bool = False) -> dict:
        if customer.startswith("L-"):
            body = {"ruleset_id": "personal_loan", "customer_id": customer,
                    "snapshot": loan_snapshot(customer, 0 if clean else 2)}
        else:
            body = decision_request(snapshot(customer, clean=clean))
        status, _, raw = self.request("POST", "/v1/decisions", body, key=self.keys["loan"])
        assert status == 201, raw
        return json.loads(raw)

    def get(self, path: str, person: str = "carol") -> tuple[int, bytes]:
        status, _, raw = self.request("GET", path, key=self.keys[person])
        return status, raw

    def rows(self, sql: str, params=()) -> list[tuple]:
        conn = sqlite3.connect(self.db_path, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("follow-up")
    clock = workdir / "clock"
    server = Server(workdir, workers=2, threads=4, env={"VIGIL_CLOCK_FILE": str(clock)})
    server.clock = clock
    server.set_clock(T0)
    server.migrate()
    server.keys = {name: server.create_key(*roles, owner=owner, name=f"{name}-follow-up")
                   for name, (owner, roles) in PEOPLE.items()}
    server.start()
    server.url = f"http://127.0.0.1:{server.port}"
    yield server
    server.stop()


@pytest.fixture
def page_as(browser, server):
    contexts = []

    def make(person: str, path: str):
        context = browser.new_context(base_url=server.url, accept_downloads=True)
        context.set_default_timeout(15000)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        return sign_in(page, server.keys[person], path)

    yield make
    for context in contexts:
        context.close()


def task_of(server, customer: str, action: str = "contact_customer") -> dict:
    [(task_id, status, due_at, opened_at)] = server.rows(
        "SELECT id, status, due_at, opened_at FROM tasks WHERE customer_id = ? AND action = ?", (customer, action))
    return {"id": task_id, "status": status, "due_at": due_at, "opened_at": opened_at}


def report_api(server, by: str) -> dict:
    status, raw = server.get(f"/v1/follow-up/report?by={by}&from={PERIOD['from']}&to={PERIOD['to']}")
    assert status == 200, raw
    return json.loads(raw)


def figures(group: dict) -> dict:
    return {k: group[k] for k in ("opened", "done_on_time", "done_late", "waived", "overdue_now", "open")}


def test_follow_through_end_to_end(server, page_as):
    # Decisions over the API open a task for each orange customer: due in 5 days.
    first = {c: server.decide(c) for c in CUSTOMERS}
    for customer, decision in first.items():
        assert decision["level"] == ("yellow" if customer.startswith("L-") else "orange"), decision
        assert "contact_customer" in {a["action"] for a in decision["actions"]}
        task = task_of(server, customer)
        assert task["status"] == "open" and task["due_at"].startswith(LOAN_DUE if customer.startswith("L-") else DUE)

    # The manager signs in with an officer key and lands on their tasks: follow-up, nothing more.
    li = page_as("li", "/console/")
    expect(li.get_by_role("heading", level=1)).to_have_text("My tasks")
    nav = li.locator("header nav")
    expect(nav.get_by_role("link", name="My tasks")).to_be_visible()
    for other in ("Evaluation", "Decisions", "Rulesets in force"):
        expect(nav.get_by_role("link", name=other)).to_have_count(0)
    assert li.goto("/console/follow-up/report").status == 403
    # a form without the session's token changes nothing
    third = task_of(server, "L-810003")["id"]
    assert li.request.post(f"/console/tasks/{third}/waiver", form={"reason": "no token"}).status == 403
    assert server.rows("SELECT waiver_requested_by FROM tasks WHERE id = ?", (third,)) == [(None,)]
    # soonest due first; another officer does not see them
    li.goto("/console/tasks")
    rows = li.locator("#tasks tbody tr")
    expect(rows).to_have_count(3)
    assert sorted(rows.nth(i).get_attribute("data-task") for i in range(3)) == sorted(
        task_of(server, c)["id"] for c in list(CUSTOMERS)[:3])
    expect(li.locator("#tasks .badge-overdue")).to_have_count(0)
    wang = page_as("wang", "/console/tasks")
    expect(wang.locator("#tasks tbody tr[data-task]")).to_have_count(0)
    assert wang.goto(f"/console/tasks/{task_of(server, 'C-810001')['id']}").status == 404

    # 1: completed in the console with the evidence the policy asks for.
    done_id = task_of(server, "C-810001")["id"]
    li.goto(f"/console/tasks/{done_id}")
    expect(li.locator("#decision")).to_contain_text(first["C-810001"]["decision_id"])
    expect(li.locator("#trail tbody tr")).to_have_count(len(first["C-810001"]["fired"]))
    li.get_by_role("button", name="Mark done").click()  # the browser asks for the evidence first
    assert task_of(server, "C-810001")["status"] == "open"
    li.get_by_label("What was done").fill("Called the customer; agreed a payment plan.")
    li.get_by_label("Date of contact").fill(START.date().isoformat())
    li.get_by_label("Outcome").select_option("promised_to_pay")
    li.get_by_role("button", name="Mark done").click()
    expect(li.locator(".notice")).to_contain_text("Done")
    expect(li.locator("#task-status")).to_have_text("done")
    expect(li.locator("#evidence [data-evidence='outcome']")).to_have_text("promised_to_pay")
    assert task_of(server, "C-810001")["status"] == "done"

    # 2: a waiver asked for by the manager, approved by a second person.
    waived_id = task_of(server, "C-810002")["id"]
    li.goto(f"/console/tasks/{waived_id}")
    li.get_by_label("Reason").fill("Customer repaid in full at the branch")
    li.get_by_role("button", name="Request a waiver").click()
    expect(li.locator(".notice")).to_contain_text("Waiver requested")
    expect(li.get_by_role("button", name="Approve the waiver")).to_have_count(0)  # not by who asked
    assert task_of(server, "C-810002")["status"] == "open"
    bob = page_as("bob", "/console/tasks")
    expect(bob.locator("#waivers tbody tr")).to_have_count(1)
    bob.locator("#waivers").get_by_role("link", name=waived_id).click()
    expect(bob.locator("#waiver")).to_contain_text("Customer repaid in full at the branch")
    bob.get_by_role("button", name="Approve the waiver").click()
    expect(bob.locator("#waived")).to_contain_text("bob.approver")
    assert task_of(server, "C-810002")["status"] == "waived"

    # 3: the clock set forward; the third task is overdue, visibly.
    server.set_clock(LATER)
    li.goto("/console/tasks")
    overdue_row = li.locator(f"#tasks tr[data-task='{third}']")
    expect(overdue_row.locator(".badge-overdue")).to_have_text("overdue")
    expect(li.locator("#tasks tbody tr")).to_have_count(1)

    # ... and changes the next decision: nothing overdue elsewhere any more, yet orange because
    # of the missed contact, where a customer with nothing missed is not escalated.
    escalated = server.decide("L-810003", clean=True)
    assert {"FUP-001", "FUP-002"} <= set(escalated["fired"]) and escalated["level"] == "orange"
    assert "watchlist" in {a["action"] for a in escalated["actions"]}
    calm = server.decide("L-810005", clean=True)
    assert "FUP-001" not in calm["fired"] and calm["level"] != "orange"
    assert task_of(server, "L-810003")["status"] == "open"  # asked again, not opened twice

    # The evaluation: per owner and per branch, API and page agree.
    by_owner = {g["key"]: g for g in report_api(server, "owner")["groups"]}
    assert figures(by_owner[MANAGER]) == {"opened": 3, "done_on_time": 1, "done_late": 0, "waived": 1,
                                          "overdue_now": 1, "open": 0}
    assert figures(by_owner[None]) == {"opened": 1, "done_on_time": 0, "done_late": 0, "waived": 0,
                                       "overdue_now": 1, "open": 0}
    assert [(lv["level"], lv["opened"], lv["overdue_now"]) for lv in by_owner[MANAGER]["levels"]] == [
        ("yellow", 1, 1), ("orange", 2, 0)]
    by_branch = {g["key"]: figures(g) for g in report_api(server, "branch")["groups"]}
    assert by_branch == {"B01": {"opened": 3, "done_on_time": 1, "done_late": 0, "waived": 1, "overdue_now": 1,
                                 "open": 0},
                         "B02": {"opened": 1, "done_on_time": 0, "done_late": 0, "waived": 0, "overdue_now": 1,
                                 "open": 0}}

    carol = page_as("carol", f"/console/follow-up/report?from={DAY_FROM}&to={DAY_TO}&by=owner")
    expect(carol.get_by_role("heading", level=1)).to_have_text("Follow-up evaluation")
    mine = carol.locator(f"#report tbody[data-group='{MANAGER}'] tr.group-total")
    for name, value in figures(by_owner[MANAGER]).items():
        expect(mine.locator(f"[data-figure='{name}']")).to_have_text(str(value))
    chart = carol.locator(f"#report-chart g[data-group='{MANAGER}']")
    assert {chart.locator("rect").nth(i).get_attribute("data-segment"): chart.locator("rect").nth(i).get_attribute(
        "data-value") for i in range(chart.locator("rect").count())} == {
        "done_on_time": "1", "waived": "1", "overdue_now": "1"}
    expect(carol.locator("#totals [data-figure='opened']")).to_have_text("4")
    with carol.expect_download() as info:
        carol.get_by_role("link", name="CSV").click()
    exported = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    assert [(r["group"], r["level"], r["opened"], r["overdue_now"]) for r in exported] == [
        ("", "all", "1", "1"), ("", "orange", "1", "1"), (MANAGER, "all", "3", "1"), (MANAGER, "orange", "2", "0"),
        (MANAGER, "yellow", "1", "1")]
    # compliance opens any task: its decision, trail, history and evidence
    carol.goto(f"/console/tasks/{done_id}")
    expect(carol.locator("#evidence")).to_contain_text("agreed a payment plan")
    expect(carol.locator("#history li[data-kind='done']")).to_contain_text(MANAGER)
    expect(carol.get_by_role("button", name="Mark done")).to_have_count(0)
    # ... and, for a task asked for by more than one decision, finds each of them in the log
    [(asked_id, asked_count)] = server.rows(
        "SELECT id, asked_count FROM tasks WHERE customer_id = 'L-810003' AND action = 'contact_customer'", ())
    assert asked_count == 2
    carol.goto(f"/console/tasks/{asked_id}")
    expect(carol.locator("body")).to_contain_text("in 2 decisions")
    carol.locator("#asked-by a").click()
    expect(carol.locator("tr[data-seq]")).to_have_count(2)
    # nothing refused by the pages' content policy, no script error (the 403 and 404 asked
    # for above are the only failed loads)
    for page in (li, bob, carol):
        assert all("status of 403" in e or "status of 404" in e for e in page.console_errors), page.console_errors
    assert not bob.console_errors and not carol.console_errors

    # Every action is an audit event, under the person who took it.
    events = server.rows("SELECT actor, action FROM audit_events WHERE action LIKE 'task.%' OR action LIKE "
                         "'follow_up.%' ORDER BY rowid")
    for who, what in ((MANAGER, "task.complete"), (MANAGER, "task.waiver_request"), ("bob.approver", "task.waive"),
                      ("carol.compliance", "follow_up.report"), ("carol.compliance", "follow_up.report_export")):
        assert (who, what) in events, (who, what, events)

