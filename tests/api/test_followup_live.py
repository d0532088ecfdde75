"""Follow-up over HTTP under gunicorn, with real keys: decisions open tasks, an officer
completes one, an overdue task changes the next decision through overdue_follow_up; and
the README's Follow-up examples, run as pasted, in order, in one shell."""
from __future__ import annotations

import copy
import datetime as dt
import json
import shutil

import pytest

from tests.api.test_readme import run_block, sh_blocks
from tests.conftest import DELINQUENT_SNAPSHOT, decision_request
from tests.service.test_followup import loan

pytestmark = pytest.mark.live


@pytest.fixture
def server(make_server, tmp_path):
    clock_file = tmp_path / "clock"
    server = make_server(env={"VIGIL_CLOCK_FILE": str(clock_file)})
    server.clock_file = clock_file
    server.migrate()
    server.start()
    return server


def call(server, method, path, body=None, key="admin"):
    status, _, data = server.request(method, path, body, key=key)
    return status, json.loads(data) if data else None


def snapshot(customer_id: str, manager: str, overdue: int = 2, worst: int = 45) -> dict:
    snap = copy.deepcopy(DELINQUENT_SNAPSHOT)
    snap["customer"].update({"id": customer_id, "account_manager": manager})
    snap["credit_report"]["other_banks"].update(
        {"overdue_accounts_6m": overdue, "overdue_accounts_12m": overdue, "overdue_accounts_24m": overdue,
         "worst_dpd": worst})
    return snap


def test_decisions_open_tasks_an_officer_completes_one_and_an_overdue_one_escalates(server):
    officer = server.create_key("officer", owner="RM-0042")
    other = server.create_key("officer", owner="rm-0099")
    # two workers: the decisions and the task calls land on either
    for customer in ("C-1", "C-2"):
        status, decision = call(server, "POST", "/v1/decisions",
                                decision_request(snapshot(customer, "rm-0042"), client_request_id=f"r-{customer}"))
        assert status == 201 and decision["level"] == "orange"
    status, again = call(server, "POST", "/v1/decisions",
                         decision_request(snapshot("C-1", "rm-0042"), client_request_id="r-C-1"))
    assert status == 200  # a retry: no second task
    status, page = call(server, "GET", "/v1/tasks", key=officer)
    assert status == 200
    assert [(t["customer_id"], t["action"], t["owner"]) for t in page["tasks"]] == [
        ("C-1", "contact_customer", "rm-0042"), ("C-2", "contact_customer", "rm-0042")]
    first, second = page["tasks"]
    assert call(server, "GET", "/v1/tasks", key=other)[1]["tasks"] == []
    assert call(server, "GET", f"/v1/tasks/{first['id']}", key=other)[0] == 404
    # an officer reads nothing but its tasks
    assert call(server, "GET", "/v1/rulesets", key=officer)[0] == 403

    status, bad = call(server, "POST", f"/v1/tasks/{first['id']}/complete", {"evidence": {"outcome": "maybe"}},
                       key=officer)
    assert status == 422 and {d["path"] for d in bad["error"]["details"]} == {
        "evidence.note", "evidence.contact_date", "evidence.outcome"}
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    status, done = call(server, "POST", f"/v1/tasks/{first['id']}/complete",
                        {"evidence": {"note": "Called.", "contact_date": today, "outcome": "reached"}}, key=officer)
    assert status == 200 and done["status"] == "done" and done["done_by"] == "RM-0042"
    status, events = call(server, "GET", f"/v1/audit-events?target=task:{first['id']}")
    assert [(e["action"], e["actor"]) for e in events["events"]] == [("task.complete", "RM-0042")]

    # two personal loan borrowers of rm-0042: a contact within 15 days (yellow) each
    for customer in ("L-1", "L-2"):
        status, decision = call(server, "POST", "/v1/decisions",
                                decision_request(loan(customer, "rm-0042"), ruleset_id="personal_loan"))
        assert status == 201 and decision["level"] == "yellow"
    status, page = call(server, "GET", "/v1/tasks?status=open", key=officer)
    loans = {t["customer_id"]: t for t in page["tasks"] if t["customer_id"].startswith("L-")}
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    status, _ = call(server, "POST", f"/v1/tasks/{loans['L-1']['id']}/complete",
                     {"evidence": {"note": "Reached.", "contact_date": today, "outcome": "reached"}}, key=officer)
    assert status == 200
    # sixteen days on, L-2's contact is overdue (and C-2's), L-1's was done in time
    moved = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=16)
    server.clock_file.write_text(moved.strftime("%Y-%m-%dT%H:%M:%SZ"))
    status, overdue = call(server, "GET", "/v1/tasks?overdue=true", key=officer)
    assert {t["id"] for t in overdue["tasks"]} == {second["id"], loans["L-2"]["id"]}
    results = []
    for customer in ("L-1", "L-2"):  # both now clean elsewhere
        status, decision = call(server, "POST", "/v1/decisions",
                                decision_request(loan(customer, "rm-0042", overdue=0), ruleset_id="personal_loan"))
        assert status == 201
        results.append(decision)
    on_time, missed = results
    assert not {"FUP-001", "FUP-002"} & set(on_time["fired"]) and on_time["level"] == "green"
    assert {"FUP-001", "FUP-002"} <= set(missed["fired"]) and missed["level"] == "orange"
    assert missed["decided_at"].startswith(moved.date().isoformat())
    status, replay = call(server, "POST", f"/v1/decisions/{missed['decision_id']}/replay")
    assert status == 200 and replay["identical"] is True
    status, task = call(server, "GET", f"/v1/tasks/{loans['L-2']['id']}", key=officer)
    assert task["status"] == "open" and missed["decision_id"] in task["decision_ids"]


def test_the_readme_follow_up_examples_run_as_pasted(server):
    assert shutil.which("curl")
    out = run_block("\n".join(sh_blocks("Follow-up")), server, server.key).splitlines()
    assert out[0] == "red ['contact_customer', 'freeze_card', 'plan_exit']"
    contact, exit_plan = out[1].split(), out[2].split()
    assert contact[:4] == ["C-200001", "contact_customer", "red", "rm-0042"] and contact[5:] == ["open", "on", "time"]
    assert exit_plan[:4] == ["C-200001", "plan_exit", "red", "rm-0042"]
    assert out[3] == "validation_error ['evidence.contact_date', 'evidence.outcome']"
    assert out[4] == "done rm-0042 ['opened', 'done']"
    assert out[5] == "True"
    assert out[6] == "waived rm-0042 True"
    assert out[7] == "yellow ['watchlist', 'contact_customer'] []"
    overdue = out[8].split()
    assert overdue[:4] == ["L-300001", "contact_customer", "yellow", "rm-0042"] and overdue[-1] == "overdue"
    assert out[9] == "orange ['watchlist', 'contact_customer'] ['FUP-001', 'FUP-002']"
    # the evaluation, sixteen days on: the contact done on time, the exit plan waived, the loan's contact overdue
    assert out[10] == ("rm-0042 {'opened': 3, 'done_on_time': 1, 'done_late': 0, 'waived': 1, 'overdue_now': 1, "
                       "'open': 0} [('yellow', 1), ('red', 2)]")
    assert out[11:16] == ["by,group,level,opened,done_on_time,done_late,waived,overdue_now,open",
                          "branch,,all,1,0,0,0,1,0", "branch,,yellow,1,0,0,0,1,0",
                          "branch,B-017,all,2,1,0,1,0,0", "branch,B-017,red,2,1,0,1,0,0"]
    # queues: rm-0042 hands the loan contact to the branch's queue, rm-0077 (who works it) claims it
    assert out[16] == "None branch:B-017"
    assert out[17] == "[('L-300001', 'branch:B-017')]"
    assert out[18] == "rm-0077 None claimed"
    assert out[19:] == ["task_taken rm-0077 owns the task already; nothing was changed."]
