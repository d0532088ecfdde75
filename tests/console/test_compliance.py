"""The compliance journeys in a real Chromium against gunicorn: decisions made over the API
are found, read, replayed, exported and the chain verified; holds and the audit trail."""

from __future__ import annotations

import copy
import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import (
    DELINQUENT_SNAPSHOT,
    LiveServer,
    clean_snapshot,
    decision_request,
)
from tests.console.conftest import sign_in

pytestmark = [pytest.mark.live, pytest.mark.browser]

CUSTOMER = "C-730001"


def decide(server, body) -> dict:
    status, _, raw = server.request("POST", "/v1/decisions", body, key=server.keys["loan"])
    assert status == 201, raw
    return json.loads(raw)


@pytest.fixture(scope="module")
def history(console_server):
    """One customer decided three times, green then red then green again."""
    clean = clean_snapshot(CUSTOMER)
    bad = copy.deepcopy(DELINQUENT_SNAPSHOT)
    bad["customer"]["id"] = CUSTOMER
    return [decide(console_server, decision_request(snap, explain=explain))
            for snap, explain in ((clean, "summary"), (bad, "full"), (clean, "summary"))]


def log_rows(server, customer: str) -> list[dict]:
    conn = sqlite3.connect(server.db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM decisions WHERE customer_id = ? ORDER BY seq DESC",
                                              [customer])]
    finally:
        conn.close()


def audit_actions(server, actor: str) -> list[str]:
    conn = sqlite3.connect(server.db_path)
    try:
        return [r[0] for r in conn.execute("SELECT action FROM audit_events WHERE actor = ? ORDER BY seq", [actor])]
    finally:
        conn.close()


def test_find_read_replay_and_export(new_page, console_server, history):
    red = history[1]
    page = sign_in(new_page(), console_server.keys["carol"], "/console/decisions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Decisions")
    # 1 find: by customer, newest first, at a glance
    page.get_by_label("Customer").fill(CUSTOMER)
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text(red["decision_id"])
    expect(rows.nth(1)).to_contain_text("retail_card v1")
    expect(rows.nth(1).locator(".level")).to_have_text(red["level"])
    # by level and a rule that fired, narrowed to the one red decision
    page.get_by_label("Level").select_option(red["level"])
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(red["decision_id"])
    # full text over the explanation, and a bad version refused by field
    page.goto(f"/console/decisions?customer_id={CUSTOMER}&q=overdue")
    expect(rows).to_have_count(1)
    page.goto("/console/decisions?ruleset_version=abc")
    expect(page.locator(".error")).to_contain_text("ruleset_version")
    page.goto("/console/decisions?q=%22%22")
    expect(page.locator(".error")).to_contain_text("at least one word")

    # 2 read it: narrative first, actions, trail with clause and values, not fired
    page.goto(f"/console/decisions?customer_id={CUSTOMER}")
    page.get_by_role("link", name=red["decision_id"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Decision {red['decision_id']}")
    expect(page.locator("#narrative")).to_contain_text(f"Warning level {red['level']}")
    expect(page.locator("#actions > li")).to_have_count(len(red["actions"]))
    fired = red["fired"]
    trail_rows = page.locator("#trail tbody tr")
    expect(trail_rows).to_have_count(len(fired))
    expect(trail_rows.first).to_contain_text(fired[0])
    expect(page.locator("#not-fired tbody tr").first).to_be_visible()  # logged with a full explanation
    expect(page.locator("#ruleset-link")).to_have_attribute("href", "/console/rulesets/retail_card/versions/1")
    # the exact JSON answered
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the JSON answered").click()
    assert json.loads(Path(info.value.path()).read_text()) == red

    # 3 replay: identical
    page.get_by_role("button", name="Replay this decision").click()
    expect(page.locator("#verdict")).to_contain_text("Identical")

    # 6 export the customer's search as CSV, checked row by row against the log
    page.goto(f"/console/decisions?customer_id={CUSTOMER}")
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV").click()
    exported = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    logged = log_rows(console_server, CUSTOMER)
    assert [r["decision_id"] for r in exported] == [r["id"] for r in logged]
    for row, record in zip(exported, logged):
        assert int(row["seq"]) == record["seq"]
        assert row["chain_hash"] == record["chain_hash"] and row["content_hash"] == record["content_hash"]
        assert row["level"] == record["level"]
        assert row["fired"] == ";".join(json.loads(record["result"])["fired"])
    with page.expect_download() as info:
        page.get_by_role("link", name="JSON Lines").click()
    lines = [json.loads(line) for line in Path(info.value.path()).read_text().splitlines()]
    assert [(x["seq"], x["snapshot"]) for x in lines] == [(r["seq"], json.loads(r["snapshot"])) for r in logged]

    # every read recorded, as the API records it
    actions = audit_actions(console_server, "carol.compliance")
    for action in ("decision.search", "decision.explain", "decision.read", "decision.replay", "decision.export"):
        assert action in actions, action


def test_customer_history_timeline(new_page, console_server, history):
    page = sign_in(new_page(), console_server.keys["carol"], "/console/customers")
    page.get_by_label("Customer id").fill(CUSTOMER)
    page.get_by_role("button", name="Show history").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Customer {CUSTOMER}")
    dots = page.locator("#level-timeline circle")
    expect(dots).to_have_count(3)
    levels = [d["level"] for d in history]
    assert [dots.nth(i).get_attribute("data-level") for i in range(3)] == levels  # oldest first
    ys = [float(dots.nth(i).get_attribute("cy")) for i in range(3)]
    assert ys[1] < ys[0] and ys[2] == ys[0]  # red drawn above green
    expect(page.locator("#moves li")).to_have_count(3)
    expect(page.locator("#moves li").nth(1)).to_contain_text(history[1]["decision_id"])
    assert not page.console_errors


def test_verify_and_verify_against_a_head(new_page, console_server, history, tmp_path):
    page = sign_in(new_page(), console_server.keys["carol"], "/console/log")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the head").click()
    head = json.loads(Path(info.value.path()).read_text())
    assert head["count"] >= len(history)
    page.get_by_role("button", name="Verify the log").click()
    expect(page.locator("#result")).to_contain_text("The log is intact")
    expect(page.locator("#result")).to_contain_text(f"{head['count']} records verified")
    page.get_by_label("A head you kept earlier").set_input_files(info.value.path())
    page.get_by_role("button", name="Verify the log").click()
    expect(page.locator("#result")).to_contain_text(f"still reaches the head you gave (seq {head['seq']})")
    # a head that is not one
    bad = tmp_path / "head.json"
    bad.write_text('{"seq": "x"}')
    page.get_by_label("A head you kept earlier").set_input_files(str(bad))
    page.get_by_role("button", name="Verify the log").click()
    expect(page.locator(".error")).to_contain_text("not one this service exports")


def test_a_tampered_copy_names_the_edited_record(browser, console_server, history, tmp_path):
    copy_dir = tmp_path / "tampered"
    copy_dir.mkdir()
    server = LiveServer(copy_dir, workers=1, threads=2)
    source = sqlite3.connect(console_server.db_path)
    target = sqlite3.connect(server.db_path)
    source.backup(target)
    source.close()
    red = history[1]
    # as someone with the file could: the log's triggers out of the way
    target.execute("DROP TRIGGER decisions_only_purged")
    target.execute("UPDATE decisions SET level = 'green' WHERE id = ?", [red["decision_id"]])
    # and an audit event of the first decision's read, its reader changed
    target.execute("DROP TRIGGER audit_events_no_update")
    event_seq = target.execute("SELECT min(seq) FROM audit_events WHERE action = 'decision.read'").fetchone()[0] \
        or target.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
    target.execute("UPDATE audit_events SET actor = 'nobody' WHERE seq = ?", [event_seq])
    target.commit()
    seq = target.execute("SELECT seq FROM decisions WHERE id = ?", [red["decision_id"]]).fetchone()[0]
    target.close()
    server.start()
    try:
        context = browser.new_context(base_url=f"http://127.0.0.1:{server.port}")
        page = context.new_page()
        sign_in(page, console_server.keys["carol"], "/console/log")
        page.get_by_role("button", name="Verify the log").click()
        result = page.locator("#result")
        expect(result).to_contain_text("tampered with")
        expect(result.locator(".seq")).to_have_text(str(seq))
        expect(result.locator(".kind")).to_have_text("edited")
        expect(result.locator("#audit-problem .audit-seq")).to_have_text(str(event_seq))
        expect(result.locator("#audit-problem .audit-kind")).to_have_text("edited")
        context.close()
    finally:
        server.stop()


def test_the_verify_page_shows_progress_and_then_the_result(new_page, console_server, history):
    """A verification of a big log takes a while: its page shows how far it got and
    refreshes itself (no script) until the result is there."""
    from app import store
    from app.store import verifications
    from app.store.audit import Actor

    db = store.connect(console_server.db_path)
    job = verifications.create(db, Actor("carol.compliance"), None)
    verifications.progress(db, job.id, 5000, 20000)
    page = sign_in(new_page(), console_server.keys["carol"], f"/console/log/verifications/{job.id}")
    progress = page.locator("#progress progress")
    expect(progress).to_have_attribute("value", "5000")
    expect(progress).to_have_attribute("max", "20000")
    expect(page.locator("#progress")).to_contain_text("5,000 of 20,000 records and audit events checked")
    verifications.progress(db, job.id, 15000, 20000)
    expect(page.locator("#progress #done")).to_have_text("15,000", timeout=10000)  # refreshed by itself
    report = {"ok": True, "checked": 19990, "purged": 0, "problem": None, "against_head": None,
              "head": {"seq": 19990, "chain_hash": "0" * 64, "count": 19990, "at": "2026-04-01T00:00:00Z"},
              "audit_events": {"ok": True, "checked": 10, "last_seq": 10, "problem": None}}
    verifications.finish(db, job.id, report, 20000)
    db.close()
    expect(page.locator("#result")).to_contain_text("The log is intact. 19990 records verified", timeout=10000)
    expect(page.locator("#progress")).to_have_count(0)
    assert not page.console_errors  # nothing the content policy refused


def test_holds_and_purge_preview(new_page, console_server, history):
    page = sign_in(new_page(), console_server.keys["lee"], "/console/holds")
    page.get_by_role("button", name="Show what a purge would remove").click()
    expect(page.locator("#preview")).to_contain_text("would be purged")
    page.get_by_label("Customer id").fill(CUSTOMER)
    page.get_by_label("Reason", exact=True).fill("complaint 2026-118")
    page.get_by_role("button", name="Place hold").click()
    expect(page.locator(".notice")).to_have_text("Hold placed.")
    row = page.locator("#holds tbody tr", has_text=CUSTOMER)
    expect(row).to_contain_text("complaint 2026-118")
    expect(row).to_contain_text("lee.legal")
    row.get_by_placeholder("reason").fill("complaint closed")
    row.get_by_role("button", name="Release").click()
    expect(page.locator(".notice")).to_have_text("Hold released.")
    expect(page.locator("#holds tbody tr", has_text=CUSTOMER)).to_have_count(0)
    actions = audit_actions(console_server, "lee.legal")
    assert actions.count("hold.place") == 1 and actions.count("hold.release") == 1
    # the legal role reads holds, not the decision log
    expect(page.get_by_role("link", name="Decisions")).to_have_count(0)


def test_an_audit_key_sees_the_holds_but_cannot_place_one(new_page, console_server):
    held = "C-730099"
    lee = sign_in(new_page(), console_server.keys["lee"], "/console/holds")
    lee.get_by_label("Customer id").fill(held)
    lee.get_by_label("Reason", exact=True).fill("litigation 2026-7")
    lee.get_by_role("button", name="Place hold").click()
    expect(lee.locator(".notice")).to_have_text("Hold placed.")
    page = sign_in(new_page(), console_server.keys["carol"], "/console/holds")
    expect(page.get_by_role("heading", level=1)).to_have_text("Legal holds and retention")
    row = page.locator("#holds tbody tr", has_text=held)
    expect(row).to_contain_text("litigation 2026-7")
    expect(page.locator("#read-only")).to_contain_text("legal")
    expect(page.get_by_role("button", name="Place hold")).to_have_count(0)
    expect(page.get_by_role("button", name="Release")).to_have_count(0)
    expect(page.get_by_role("button", name="Show what a purge would remove")).to_have_count(0)
    # sent anyway, with the session's own form token, the console refuses it and places nothing
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    placed = page.request.post("/console/holds", form={"csrf_token": token, "customer_id": "C-730098",
                                                       "reason": "not mine to place"})
    assert placed.status == 403
    assert "Not allowed" in placed.text()
    hold_id = sqlite3.connect(console_server.db_path).execute(
        "SELECT hold_id FROM legal_holds WHERE customer_id = ?", [held]).fetchone()[0]
    released = page.request.post(f"/console/holds/{hold_id}/release", form={"csrf_token": token, "reason": "x"})
    preview = page.request.post("/console/holds/purge-preview", form={"csrf_token": token})
    assert (released.status, preview.status) == (403, 403)
    conn = sqlite3.connect(console_server.db_path)
    try:
        assert conn.execute("SELECT count(*) FROM legal_holds WHERE customer_id = 'C-730098'").fetchone()[0] == 0
        assert conn.execute("SELECT released_at FROM legal_holds WHERE hold_id = ?", [hold_id]).fetchone()[0] is None
    finally:
        conn.close()
    assert "hold.place" not in audit_actions(console_server, "carol.compliance")


def test_an_author_key_cannot_reach_the_log_or_place_a_hold(new_page, console_server):
    page = sign_in(new_page(), console_server.keys["alice"], "/console/decisions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("link", name="Legal holds")).to_have_count(0)
    response = page.request.post("/console/holds", form={"customer_id": "C-1", "reason": "x"})
    assert response.status == 403


def test_audit_trail_lists_reads_and_sign_ins(new_page, console_server, history):
    page = sign_in(new_page(), console_server.keys["carol"], "/console/audit")
    page.get_by_label("Person").fill("carol.compliance")
    page.get_by_role("button", name="Filter").click()
    events = page.locator("#events tbody tr")
    expect(events.first).to_be_visible()
    expect(page.locator("#events")).to_contain_text("carol.compliance")
    page.get_by_label("Action").fill("decision.")
    page.get_by_role("button", name="Filter").click()
    for text in page.locator("#events tbody tr td:nth-child(4)").all_inner_texts():
        assert text.startswith("decision.")
