"""Follow-up tasks: opened with the decision that asks for them, merged, escalated,
completed, handed on, waived by a second person, and overdue (which the next decision
reads through overdue_follow_up)."""
from __future__ import annotations

import copy
import datetime as dt
import json
import re

import pytest

from app import store
from app.core import clock
from app.service import followup
from app.store import tasks
from app.store.audit import Actor
from app.store.errors import FourEyes
from tests.conftest import DELINQUENT_SNAPSHOT, clean_snapshot, console_client, decision_request

# After the shipped policies' publication (at the real time the test database was made).
T0 = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=30)).replace(hour=9, minute=0, second=0, microsecond=0)
RM = "rm-0042"


def iso(days: float) -> str:
    """The store time T0 + days."""
    return (T0 + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day(days: int) -> str:
    return (T0 + dt.timedelta(days=days)).date().isoformat()


@pytest.fixture
def at(app):
    """at(days): move the clock to T0 + days (the app was made with real time)."""
    def move(days: float = 0) -> dt.datetime:
        moment = T0 + dt.timedelta(days=days)
        clock.configure(fixed=moment)
        return moment
    move(0)
    yield move
    clock.configure()


@pytest.fixture
def db(db_path):
    db = store.connect(db_path)
    yield db
    db.close()


def orange(customer_id="C-1", manager=RM, branch=None) -> dict:
    """Two accounts overdue elsewhere and the card 85% used: orange, cut and contact."""
    snap = copy.deepcopy(DELINQUENT_SNAPSHOT)
    snap["customer"]["id"] = customer_id
    if manager:
        snap["customer"]["account_manager"] = manager
    if branch:
        snap["customer"]["branch"] = branch
    return snap


def red(customer_id="C-1", manager=RM) -> dict:
    snap = orange(customer_id, manager)
    snap["credit_report"]["other_banks"]["worst_dpd"] = 120
    return snap


def clean(customer_id="C-1", manager=RM) -> dict:
    snap = clean_snapshot(customer_id)
    snap["customer"]["account_manager"] = manager
    return snap


def loan(customer_id="L-1", manager=RM, overdue: int = 2) -> dict:
    """A personal loan borrower (the ruleset that escalates a missed contact): two accounts
    overdue elsewhere is yellow with a contact in 15 days; none is green."""
    return {"customer": {"id": customer_id, "segment": "mass", "months_on_book": 36, "account_manager": manager},
            "loans": [{"account_id": f"PL-{customer_id}", "product": "unsecured_consumer", "outstanding": "60000.00",
                       "installment": "2200.00", "dpd": 0, "worst_dpd_12m": 0, "restructured": False}],
            "credit_report": {"as_of": "2026-03-31", "other_banks": {
                "overdue_accounts_6m": overdue, "overdue_accounts_12m": overdue, "overdue_accounts_24m": overdue,
                "worst_dpd": 45 if overdue else 0, "debt": "40000.00", "new_accounts_3m": 0, "hard_inquiries_3m": 0,
                "hard_inquiries_6m": 0}}}


def decide(client, snapshot, **fields) -> dict:
    if "loans" in snapshot:
        fields.setdefault("ruleset_id", "personal_loan")
    response = client.post("/v1/decisions", json=decision_request(snapshot, **fields))
    assert response.status_code in (200, 201), response.data
    return response.get_json()


def open_tasks(db, customer_id="C-1") -> list[dict]:
    return followup.list_tasks(db, customer_id=customer_id, status="open")["tasks"]


def test_a_decision_with_contact_customer_opens_one_task_for_the_manager_named(client, db, at):
    decision = decide(client, orange())
    [task] = open_tasks(db)
    assert task["action"] == "contact_customer" and task["owner"] == RM and task["queue"] is None
    assert task["role"] == "relationship_manager" and task["level"] == "orange"
    assert task["decision_id"] == decision["decision_id"] and task["rules"] == ["ACT-010"]
    # orange: within 5 days of the decision, calendar days
    assert task["opened_at"] == decision["decided_at"] == iso(0)
    assert task["due_at"] == iso(5)
    assert task["evidence_asked"] == ["note", "contact_date", "outcome"]
    assert task["status"] == "open" and task["still_asked"] and not task["overdue"]
    assert followup.list_tasks(db, owner=" RM-0042 ")["tasks"][0]["id"] == task["id"]


def test_without_a_manager_the_task_goes_to_the_branch_queue_else_the_default_queue(client, db, at):
    decide(client, orange("C-2", manager=None, branch="B-017"))
    decide(client, orange("C-3", manager=None))
    assert [(t["owner"], t["queue"]) for t in open_tasks(db, "C-2")] == [(None, "branch:B-017")]
    assert [(t["owner"], t["queue"]) for t in open_tasks(db, "C-3")] == [(None, "default")]


def test_a_retry_with_the_same_client_request_id_opens_nothing_twice(client, db, at):
    first = decide(client, orange(), client_request_id="r-1")
    again = decide(client, orange(), client_request_id="r-1")
    assert first == again
    [task] = open_tasks(db)
    assert [e["kind"] for e in followup.get_task(db, task["id"])["events"]] == ["opened"]


def test_a_later_decision_updates_the_open_task_and_an_escalation_shortens_its_due_time(client, db, at):
    first = decide(client, orange())
    at(1)
    second = decide(client, orange())
    [task] = open_tasks(db)
    assert task["due_at"] == iso(5)  # 1 + 5 days is later: kept
    at(2)
    third = decide(client, red())
    task = next(t for t in open_tasks(db) if t["action"] == "contact_customer")
    assert task["level"] == "red" and task["due_at"] == iso(4)  # day 2 + 2 days
    detail = followup.get_task(db, task["id"])
    # The second decision changed nothing about the task: it is counted, not an event;
    # the third escalated it (same rules, so no asked_again beside the escalation).
    assert detail["asked_count"] == 3 and detail["last_decision_id"] == third["decision_id"]
    assert detail["decision_ids"] == [first["decision_id"], third["decision_id"]]
    kinds = [(e["kind"], e["decision_id"]) for e in detail["events"]]
    assert kinds == [("opened", first["decision_id"]), ("escalated", third["decision_id"])]
    escalated = detail["events"][-1]["details"]
    assert escalated == {"from_level": "orange", "to_level": "red", "from_due_at": iso(5),
                         "to_due_at": iso(4)}
    # the red decision asked for an exit plan too: its own task, for the credit officer's 10 days
    assert {t["action"] for t in open_tasks(db)} == {"contact_customer", "plan_exit"}


def test_asking_again_without_changing_the_task_counts_the_decision_and_adds_no_event(client, db, at):
    # A customer decided on every day keeps one task whose history stays one line long;
    # the task names the last decision, and every decision that asked is in the log.
    first = decide(client, orange())
    later = []
    for day_ in range(1, 11):
        at(day_ / 10)  # due later than the first decision asked: no escalation
        later.append(decide(client, orange()))
    [task] = open_tasks(db)
    detail = followup.get_task(db, task["id"])
    assert [e["kind"] for e in detail["events"]] == ["opened"]
    assert detail["asked_count"] == 11 and detail["due_at"] == iso(5)
    assert detail["last_decision_id"] == later[-1]["decision_id"]
    assert detail["decision_ids"] == [first["decision_id"], later[-1]["decision_id"]]
    from app.service import log_search
    from app.store.search import Filters

    found = log_search.search(db, Filters(customer_id=task["customer_id"], action=task["action"],
                                          since=task["opened_at"]), limit=50)
    assert {d["decision_id"] for d in found.decisions} == {d["decision_id"] for d in [first, *later]}


def test_a_decision_that_no_longer_asks_leaves_the_task_open_and_says_so(client, db, at):
    decide(client, orange())
    at(1)
    later = decide(client, clean())
    [task] = open_tasks(db)
    assert task["status"] == "open" and task["still_asked"] is False
    assert followup.get_task(db, task["id"])["events"][-1] == {
        "seq": followup.get_task(db, task["id"])["events"][-1]["seq"], "at": iso(1),
        "kind": "no_longer_asked", "actor": None, "decision_id": later["decision_id"], "details": {}}
    at(2)
    again = decide(client, orange())
    assert open_tasks(db)[0]["still_asked"] is True
    # asked again after it was no longer asked: a change, so an event
    detail = followup.get_task(db, task["id"])
    assert [(e["kind"], e["decision_id"]) for e in detail["events"]][-1] == ("asked_again", again["decision_id"])
    assert detail["asked_count"] == 2  # the decision that no longer asked is not counted


def test_completing_needs_the_evidence_the_policy_asks_for(client, db, at):
    decide(client, orange())
    [task] = open_tasks(db)
    at(1)
    with pytest.raises(followup.EvidenceInvalid) as bad:
        followup.complete(db, task["id"], Actor(RM), {"note": " ", "contact_date": day(8),
                                                       "outcome": "sold_the_house", "mood": "fine"})
    assert {d["path"] for d in bad.value.details} == {"evidence.note", "evidence.contact_date",
                                                      "evidence.outcome", "evidence.mood"}
    assert open_tasks(db)[0]["status"] == "open"  # nothing changed
    done = followup.complete(db, task["id"], Actor(RM), {"note": "Called, will pay on the 15th.",
                                                         "contact_date": day(1), "outcome": "promised_to_pay"})
    assert done["status"] == "done" and done["done_by"] == RM and done["done_at"] == iso(1)
    assert done["evidence"] == {"note": "Called, will pay on the 15th.", "contact_date": day(1),
                                "outcome": "promised_to_pay"}
    assert done["events"][-1]["kind"] == "done" and done["events"][-1]["details"]["on_time"] is True
    with pytest.raises(followup.TaskClosed):
        followup.complete(db, task["id"], Actor(RM), done["evidence"])
    events = db.execute("SELECT actor, action, target FROM audit_events WHERE action LIKE 'task.%'").fetchall()
    assert events == [(RM, "task.complete", f"task:{task['id']}")]
    # the next decision that asks for a contact opens a new task
    decide(client, orange())
    assert len(open_tasks(db)) == 1 and open_tasks(db)[0]["id"] != task["id"]


def test_a_waiver_needs_a_reason_and_a_second_person(client, db, at):
    decide(client, orange())
    [task] = open_tasks(db)
    with pytest.raises(Exception) as empty:
        followup.request_waiver(db, task["id"], Actor(RM), "  ")
    assert empty.value.reason == "validation_error"
    asked = followup.request_waiver(db, task["id"], Actor(RM), "Repaid in full on 1 April.")
    assert asked["status"] == "open" and asked["waiver_requested"] is True
    with pytest.raises(FourEyes):
        followup.approve_waiver(db, task["id"], Actor("Rm-0042"))
    with pytest.raises(FourEyes):  # nor with a key the asker made for someone else
        followup.approve_waiver(db, task["id"], Actor("stand.in", "k1", key_created_by=RM))
    assert open_tasks(db)[0]["status"] == "open"
    waived = followup.approve_waiver(db, task["id"], Actor("bob.approver"))
    assert waived["status"] == "waived" and waived["waiver"] == {
        "requested_by": RM, "requested_at": iso(0), "reason": "Repaid in full on 1 April.",
        "approved_by": "bob.approver"}
    actions = [r[0] for r in db.execute("SELECT action FROM audit_events WHERE action LIKE 'task.%' ORDER BY seq")]
    assert actions == ["task.waiver_request", "task.waive_refused", "task.waive_refused", "task.waive"]


def test_handing_on_moves_the_task_to_another_owner_or_queue(client, db, at):
    decide(client, orange())
    [task] = open_tasks(db)
    moved = followup.hand_on(db, task["id"], Actor(RM), {"owner": "rm-0077"}, "on leave")
    assert moved["owner"] == "rm-0077" and followup.list_tasks(db, owner=RM)["tasks"] == []
    queued = followup.hand_on(db, task["id"], Actor("rm-0077"), {"queue": "collections"}, "no answer for weeks")
    assert queued["owner"] is None and queued["queue"] == "collections"
    with pytest.raises(Exception) as both:
        followup.hand_on(db, task["id"], Actor(RM), {"owner": "x", "queue": "y"}, "both")
    assert both.value.reason == "validation_error"
    assert [e["kind"] for e in queued["events"]] == ["opened", "handed_on", "handed_on"]


def test_the_console_hands_a_task_on_to_a_person_or_to_a_queue(app, api_keys, client, db, at):
    decide(client, orange())
    [task] = open_tasks(db)
    console = console_client(app, api_keys["officer"])  # rm-0042, the task's owner
    page = console.get(f"/console/tasks/{task['id']}").get_data(as_text=True)
    assert 'name="to_kind" value="queue"' in page and "<code>default</code>" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    handed = console.post(f"/console/tasks/{task['id']}/hand-on",
                          data={"csrf_token": token, "to_kind": "queue", "to": "branch:0101", "reason": "branch work"})
    assert handed.status_code == 303, handed.data
    moved = followup.get_task(db, task["id"])
    assert (moved["owner"], moved["queue"]) == (None, "branch:0101")
    assert moved["events"][-1]["details"]["to"] == {"owner": None, "queue": "branch:0101"}
    # No longer the officer's: the console does not show it to them any more.
    assert console.get(f"/console/tasks/{task['id']}").status_code == 404
    approver = console_client(app, api_keys["approve"])
    page = approver.get(f"/console/tasks/{task['id']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    back = approver.post(f"/console/tasks/{task['id']}/hand-on",
                         data={"csrf_token": token, "to_kind": "owner", "to": RM, "reason": "the RM is back"})
    assert back.status_code == 303
    assert (followup.get_task(db, task["id"])["owner"], followup.get_task(db, task["id"])["queue"]) == (RM, None)


def test_an_overdue_contact_escalates_the_next_decision_and_the_facts_are_logged(client, db, at):
    first = decide(client, loan())
    assert first["level"] == "yellow"
    at(15)  # due at day 15 09:00: not yet past
    quiet = decide(client, loan(overdue=0))
    assert "FUP-001" not in quiet["fired"] and [a["action"] for a in quiet["actions"]] == ["maintain"]
    at(15.5)
    [task] = open_tasks(db, "L-1")
    assert task["overdue"] is True and task["still_asked"] is False
    assert followup.list_tasks(db, overdue=True)["tasks"][0]["id"] == task["id"]
    late = decide(client, loan(overdue=0))
    assert {"FUP-001", "FUP-002"} <= set(late["fired"]) and late["level"] == "orange"
    assert {a["action"] for a in late["actions"]} == {"watchlist", "contact_customer"}
    fired = next(t for t in late["trail"] if t["rule"] == "FUP-001")
    assert fired["values"] == {"overdue_follow_up(contact_customer)": True}
    logged = json.loads(db.execute("SELECT snapshot FROM decisions WHERE id = ?", [late["decision_id"]]).fetchone()[0])
    assert logged["$follow_up"] == {"overdue": ["contact_customer"]}
    # the same task was asked again (and is still asked), not a second one
    [again] = open_tasks(db, "L-1")
    assert again["id"] == task["id"] and again["still_asked"] is True
    replay = client.post(f"/v1/decisions/{late['decision_id']}/replay").get_json()
    assert replay["identical"] is True, replay
    explained = client.get(f"/v1/decisions/{late['decision_id']}/explanation")
    assert explained.status_code == 200 and explained.get_json()["thresholds_from"] == "ruleset"
    # a ruleset that does not read follow-up facts is given none
    card = decide(client, clean("C-9"))
    logged = json.loads(db.execute("SELECT snapshot FROM decisions WHERE id = ?", [card["decision_id"]]).fetchone()[0])
    assert "$follow_up" not in logged


def test_a_caller_cannot_send_follow_up_facts(client, at):
    snap = loan(overdue=0)
    snap["$follow_up"] = {"overdue": ["contact_customer"]}
    response = client.post("/v1/decisions", json=decision_request(snap, ruleset_id="personal_loan"))
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["path"] == "$follow_up"


def test_non_working_days_are_not_counted():
    try:
        clock.configure(non_working="sat sun 2026-04-06")
        friday = dt.datetime(2026, 4, 3, 10, 0, tzinfo=dt.timezone.utc)
        # Sat, Sun and Monday the 6th do not count: Tue 7th is day 1, Wed 8th day 2
        assert clock.calendar().add_days(friday, 2) == dt.datetime(2026, 4, 8, 10, 0, tzinfo=dt.timezone.utc)
        clock.configure()
        assert clock.calendar().add_days(friday, 2) == dt.datetime(2026, 4, 5, 10, 0, tzinfo=dt.timezone.utc)
        with pytest.raises(clock.ClockError):
            clock.configure(non_working="mon tue wed thu fri sat sun")
    finally:
        clock.configure()


def test_a_clock_file_moves_the_time_of_a_running_service(tmp_path):
    path = tmp_path / "clock"
    try:
        clock.configure(file=str(path))
        assert abs((clock.now() - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 5  # no file: real time
        path.write_text("2026-05-01T09:00:00Z\n")
        assert clock.now() == dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.timezone.utc)
        path.write_text("2026-05-09T09:00:00+02:00")
        assert clock.now() == dt.datetime(2026, 5, 9, 7, 0, tzinfo=dt.timezone.utc)
    finally:
        clock.configure()


def test_tasks_open_inside_the_decision_transaction(client, db, at, monkeypatch):
    # A failure while opening the task leaves neither the decision nor a task.
    before = db.execute("SELECT count(*) FROM decisions").fetchone()[0]

    def broken(*args, **kwargs):
        raise tasks.sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(tasks, "_open", broken)
    response = client.post("/v1/decisions", json=decision_request(orange()))
    assert response.status_code == 503
    assert db.execute("SELECT count(*) FROM decisions").fetchone()[0] == before
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 0


def queue_officer(client, person="rm-0100", queues=("branch:B-017",)) -> str:
    """A new officer key that works ``queues``; its token."""
    made = client.post("/v1/keys", json={"name": f"officer-{person}", "owner": person, "roles": ["officer"],
                                         "queues": list(queues)})
    assert made.status_code == 201, made.data
    assert made.get_json()["queues"] == list(queues)
    return made.get_json()["key"]


def test_an_officer_sees_the_tasks_waiting_in_their_queues_and_claims_one(client, anonymous, api_keys, db, at):
    decide(client, orange("C-2", manager=None, branch="B-017"))
    decide(client, orange("C-3", manager=None, branch="B-999"))
    decide(client, orange("C-4"))  # rm-0042's own
    token = queue_officer(client)
    officer = {"Authorization": f"Bearer {token}"}
    listed = anonymous.get("/v1/tasks", headers=officer).get_json()["tasks"]
    assert [(t["customer_id"], t["owner"], t["queue"]) for t in listed] == [("C-2", None, "branch:B-017")]
    [queued] = listed
    [elsewhere] = open_tasks(db, "C-3")
    assert anonymous.get(f"/v1/tasks/{elsewhere['id']}", headers=officer).status_code == 404
    assert anonymous.post(f"/v1/tasks/{elsewhere['id']}/claim", headers=officer).status_code == 404
    # The officer who works no queue sees neither.
    rm = {"Authorization": f"Bearer {api_keys['officer']}"}
    assert anonymous.get(f"/v1/tasks/{queued['id']}", headers=rm).status_code == 404
    assert [t["customer_id"] for t in anonymous.get("/v1/tasks", headers=rm).get_json()["tasks"]] == ["C-4"]

    # Seen, not yet theirs: claimed first, then worked.
    unclaimed = anonymous.post(f"/v1/tasks/{queued['id']}/complete", headers=officer,
                               json={"evidence": {"note": "Called.", "contact_date": day(0), "outcome": "no_answer"}})
    assert unclaimed.status_code == 409 and unclaimed.get_json()["error"]["reason"] == "not_claimed"
    assert "branch:B-017" in unclaimed.get_json()["error"]["message"]
    assert anonymous.post(f"/v1/tasks/{queued['id']}/hand-on", headers=officer,
                          json={"owner": "rm-0100", "reason": "mine"}).status_code == 409
    assert followup.get_task(db, queued["id"])["events"][-1]["kind"] == "opened"
    claimed = anonymous.post(f"/v1/tasks/{queued['id']}/claim", headers=officer)
    assert claimed.status_code == 200, claimed.data
    body = claimed.get_json()
    assert (body["owner"], body["queue"]) == ("rm-0100", None)
    assert body["events"][-1]["kind"] == "claimed" and body["events"][-1]["details"] == {"from_queue": "branch:B-017"}
    # Someone else was first: told who, nothing changed.
    again = client.post(f"/v1/tasks/{queued['id']}/claim")
    assert again.status_code == 409 and again.get_json()["error"]["reason"] == "task_taken"
    assert "rm-0100" in again.get_json()["error"]["message"]
    assert followup.get_task(db, queued["id"])["owner"] == "rm-0100"
    # It is the officer's now, and still in their list.
    assert [t["id"] for t in anonymous.get("/v1/tasks", headers=officer).get_json()["tasks"]] == [queued["id"]]
    [event] = db.execute("SELECT actor, details FROM audit_events WHERE action = 'task.claim'").fetchall()
    assert event[0] == "rm-0100" and json.loads(event[1])["from_queue"] == "branch:B-017"


def test_only_an_officer_key_works_queues_and_within_bounds(client, db):
    refused = client.post("/v1/keys", json={"name": "q", "owner": "x", "roles": ["decide"], "queues": ["default"]})
    assert refused.status_code == 422 and refused.get_json()["error"]["details"][0]["path"] == "queues"
    many = client.post("/v1/keys", json={"name": "q", "owner": "x", "roles": ["officer"],
                                         "queues": [f"branch:{i}" for i in range(21)]})
    assert many.status_code == 422
    assert db.execute("SELECT count(*) FROM api_keys WHERE name = 'q'").fetchone()[0] == 0


def test_two_people_claiming_the_same_task_one_gets_it(client, db, db_path, at):
    import threading

    decide(client, orange("C-2", manager=None, branch="B-017"))
    [task] = open_tasks(db, "C-2")
    start, results = threading.Barrier(2), {}

    def claim(person):
        conn = store.connect(db_path)
        try:
            start.wait()
            results[person] = followup.claim(conn, task["id"], Actor(person), ["officer"], ["branch:B-017"])["owner"]
        except followup.TaskTaken as exc:
            results[person] = exc
        finally:
            conn.close()

    threads = [threading.Thread(target=claim, args=(p,)) for p in ("rm-1", "rm-2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    owners = [v for v in results.values() if isinstance(v, str)]
    refused = [v for v in results.values() if isinstance(v, followup.TaskTaken)]
    assert len(owners) == 1 and len(refused) == 1
    assert owners[0] in refused[0].message and followup.get_task(db, task["id"])["owner"] == owners[0]
    assert [e["kind"] for e in followup.get_task(db, task["id"])["events"]].count("claimed") == 1


def test_the_console_lists_queue_tasks_and_claims_one(app, client, db, at):
    decide(client, orange("C-2", manager=None, branch="B-017"))
    [task] = open_tasks(db, "C-2")
    console = console_client(app, queue_officer(client))
    listing = console.get("/console/tasks").get_data(as_text=True)
    assert f'data-task="{task["id"]}"' in listing and "branch:B-017" in listing
    page = console.get(f"/console/tasks/{task['id']}").get_data(as_text=True)
    assert 'id="claim"' in page and 'id="complete"' not in page and 'id="hand-on"' not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    claimed = console.post(f"/console/tasks/{task['id']}/claim", data={"csrf_token": token})
    assert claimed.status_code == 303, claimed.data
    assert followup.get_task(db, task["id"])["owner"] == "rm-0100"
    page = console.get(f"/console/tasks/{task['id']}?done=claimed").get_data(as_text=True)
    assert 'id="claim"' not in page and "the task is yours now" in page and 'id="complete"' in page
    # A second claim, from a stale page: refused on the page, nothing changed.
    again = console.post(f"/console/tasks/{task['id']}/claim", data={"csrf_token": token})
    assert again.status_code == 409 and "owns the task already" in again.get_data(as_text=True)


def test_an_admin_changes_the_queues_an_officer_works_from_their_next_request(client, anonymous, db, at):
    decide(client, orange("C-2", manager=None, branch="B-017"))
    decide(client, orange("C-3", manager=None, branch="B-999"))
    token = queue_officer(client)
    officer = {"Authorization": f"Bearer {token}"}

    def seen():
        return [t["customer_id"] for t in anonymous.get("/v1/tasks", headers=officer).get_json()["tasks"]]

    assert seen() == ["C-2"]  # and the key is now remembered by this worker
    key_id = token.split("_")[1]
    moved = client.put(f"/v1/keys/{key_id}/queues", json={"queues": ["branch:B-999"]})
    assert moved.status_code == 200 and moved.get_json()["queues"] == ["branch:B-999"]
    assert seen() == ["C-3"]
    [event] = db.execute("SELECT details FROM audit_events WHERE action = 'key.queues'").fetchall()
    assert json.loads(event[0])["from"] == ["branch:B-017"] and json.loads(event[0])["to"] == ["branch:B-999"]
    # The same queues again: nothing changes, nothing is recorded.
    assert client.put(f"/v1/keys/{key_id}/queues", json={"queues": ["branch:B-999"]}).status_code == 200
    assert db.execute("SELECT count(*) FROM audit_events WHERE action = 'key.queues'").fetchone()[0] == 1
    assert client.put(f"/v1/keys/{key_id}/queues", json={"queues": []}).get_json()["queues"] == []
    assert seen() == []
    # Only an active officer key works queues.
    decide_key = client.post("/v1/keys", json={"name": "d", "owner": "d", "roles": ["decide"]}).get_json()["key_id"]
    refused = client.put(f"/v1/keys/{decide_key}/queues", json={"queues": ["default"]})
    assert refused.status_code == 422 and "officer" in refused.get_json()["error"]["message"]
    assert client.put("/v1/keys/000000000000/queues", json={"queues": []}).status_code == 404
    assert client.post(f"/v1/keys/{key_id}/revoke").status_code == 200
    assert client.put(f"/v1/keys/{key_id}/queues", json={"queues": ["default"]}).status_code == 422


def test_an_approver_looks_at_a_queue_in_the_console(app, api_keys, client, db, at):
    decide(client, orange("C-2", manager=None, branch="B-017"))
    decide(client, orange("C-3", manager=None, branch="B-999"))
    decide(client, orange("C-4"))
    [queued] = open_tasks(db, "C-2")
    approver = console_client(app, api_keys["approve"])
    page = approver.get("/console/tasks?queue=branch:B-017").get_data(as_text=True)
    assert re.findall(r'data-task="([^"]+)"', page.split('id="waivers"')[0]) == [queued["id"]]
    assert 'name="queue" value="branch:B-017"' in page
    # An officer's filters are not theirs to set: their own list whatever the address says.
    officer = console_client(app, api_keys["officer"])
    page = officer.get("/console/tasks?queue=branch:B-017").get_data(as_text=True)
    assert queued["id"] not in page and 'name="queue"' not in page
