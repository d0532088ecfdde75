"""`flask --app wsgi decisions verify|head|export|purge` and `holds place|list|release`."""

import csv
import io
import json
import sqlite3

from app import create_app, store
from app.store import audit
from app.store import decision_log
from tests.store.test_chain import make


def runner_for(path, **config):
    return create_app({"VIGIL_DATABASE": path, **config}).test_cli_runner()


def fill(path: str, n: int = 6) -> None:
    db = store.connect(path)
    decision_log.record(db, [make(i, f"C-{i % 2}") for i in range(1, n + 1)])
    db.close()


def actions(path: str) -> list[tuple[str, str]]:
    db = store.connect(path)
    try:
        return [(e.action, e.actor) for e in audit.list_events(db, action="decision.", limit=1000).events]
    finally:
        db.close()


def test_verify_and_head_from_the_command_line(db_path, tmp_path):
    fill(db_path)
    runner = runner_for(db_path)
    head_file = tmp_path / "head.json"
    assert runner.invoke(args=["decisions", "head", "-o", str(head_file)]).exit_code == 0
    head = json.loads(head_file.read_text())
    assert (head["seq"], head["count"]) == (6, 6)
    ok = runner.invoke(args=["decisions", "verify", "--head", str(head_file)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("ok: 6 decisions verified") and "reaches the exported head at seq 6" in ok.output
    # Cut the tail, and the sequence too, as someone with the file could.
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER decisions_no_delete")
    conn.execute("DELETE FROM decisions WHERE seq > 4")
    conn.execute("UPDATE sqlite_sequence SET seq = 4 WHERE name = 'decisions'")
    conn.commit()
    conn.close()
    assert runner.invoke(args=["decisions", "verify"]).exit_code == 0
    broken = runner.invoke(args=["decisions", "verify", "--head", str(head_file)])
    assert broken.exit_code == 1
    assert broken.output.startswith("BROKEN at seq 5: truncated:")
    report = json.loads(runner.invoke(args=["decisions", "verify", "--json", "--head", str(head_file)]).output)
    assert report["problem"]["kind"] == "truncated" and report["against_head"]["ok"] is False
    assert [a for a, _ in actions(db_path)] == ["decision.head"] + ["decision.verify"] * 4
    assert all(actor.endswith("(command line)") for _, actor in actions(db_path))


def test_verify_from_the_command_line_names_a_broken_audit_event(db_path):
    fill(db_path)
    runner = runner_for(db_path)
    ok = runner.invoke(args=["decisions", "verify"])
    assert ok.exit_code == 0 and "audit events verified" in ok.output
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER audit_events_no_delete")
    conn.execute("DELETE FROM audit_events WHERE seq = 2")
    conn.commit()
    conn.close()
    broken = runner.invoke(args=["decisions", "verify"])
    assert broken.exit_code == 1
    assert "BROKEN audit event at seq 3: deleted:" in broken.output
    report = json.loads(runner.invoke(args=["decisions", "verify", "--json"]).output)
    assert report["ok"] is False and report["problem"] is None
    assert report["audit_events"]["problem"]["kind"] == "deleted"


def test_a_head_file_that_is_not_a_head_is_refused(db_path, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"seq": "x"}')
    result = runner_for(db_path).invoke(args=["decisions", "verify", "--head", str(bad)])
    assert result.exit_code == 1 and "not an exported head" in result.output


def test_export_from_the_command_line(db_path, tmp_path):
    fill(db_path)
    out = tmp_path / "c1.csv"
    result = runner_for(db_path).invoke(args=["decisions", "export", "--customer", "C-1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["decision_id"] for r in rows] == ["dec-0005", "dec-0003", "dec-0001"]
    jsonl = runner_for(db_path).invoke(args=["decisions", "export", "--format", "jsonl", "--rule", "EXT-001",
                                             "--from", "2026-04-01T00:00:04Z"])
    assert [json.loads(line)["seq"] for line in jsonl.stdout.splitlines()] == [6, 5, 4]
    details = [e for e in actions(db_path) if e[0] == "decision.export"]
    assert len(details) == 2
    bad = runner_for(db_path).invoke(args=["decisions", "export", "--from", "yesterday"])
    assert bad.exit_code == 2


def test_index_from_the_command_line(db_path, monkeypatch):
    from app.store import search as store_search

    monkeypatch.setattr(store_search, "INDEX_BATCH", 4)
    fill(db_path, 10)
    result = runner_for(db_path).invoke(args=["decisions", "index"])
    assert result.exit_code == 0, result.output
    assert "indexed through seq 10 (10 decisions indexed now)" in result.stdout
    db = store.connect(db_path)
    try:
        assert store_search.coverage(db).to_dict() == {"indexed_through": 10, "newest": 10, "complete": True}
        assert db.execute("SELECT count(*) FROM decision_texts").fetchone()[0] == 10
    finally:
        db.close()
    again = runner_for(db_path).invoke(args=["decisions", "index"])
    assert "(0 decisions indexed now)" in again.stdout


def test_holds_and_purge_from_the_command_line(db_path):
    fill(db_path)
    runner = runner_for(db_path, VIGIL_RETENTION_DAYS=30)  # the made-up decisions are from 2026-04-01
    placed = runner.invoke(args=["holds", "place", "C-1", "--reason", "complaint 118"])
    assert placed.exit_code == 0 and placed.output.startswith("hold ")
    hold_id = placed.output.split()[1]
    listed = runner.invoke(args=["holds", "list"]).output
    assert hold_id in listed and "C-1" in listed and "active" in listed
    dry = runner.invoke(args=["decisions", "purge", "--dry-run"])
    assert dry.exit_code == 0 and "dry run: 3 decisions" in dry.output and "3 kept by legal holds" in dry.output
    done = runner.invoke(args=["decisions", "purge"])
    assert done.exit_code == 0 and done.output.startswith("purged 3 decisions")
    assert runner.invoke(args=["decisions", "verify"]).output.startswith("ok: 6 decisions verified (3 purged)")
    released = runner.invoke(args=["holds", "release", hold_id, "--reason", "closed"])
    assert released.exit_code == 0
    assert runner.invoke(args=["holds", "release", hold_id]).exit_code == 1
    assert runner.invoke(args=["holds", "list"]).output == ""
    assert "released" in runner.invoke(args=["holds", "list", "--all"]).output
    assert runner.invoke(args=["decisions", "purge"]).output.startswith("purged 3 decisions")
