"""The decision log's hash chain: verify names the first broken record and how it broke,
for every way of tampering with the table by hand (triggers dropped, as an intruder with
the file would)."""

import json
import sqlite3
import threading

import pytest

from app import store
from app.store import chain
from app.store import decision_log


def make(n: int, customer: str | None = None) -> decision_log.Decision:
    result = {"level": "orange", "review_frequency": "monthly", "fired": ["EXT-001", "ACT-010"],
              "actions": [{"action": "reduce_limit", "title": "Reduce the credit limit", "params": {"percent": 30},
                           "adverse": True, "rules": ["ACT-010"]}], "overridden": [], "signals": ["x"]}
    trail = [{"order": 1, "rule": "EXT-001", "title": "Overdue elsewhere", "clause": "4.2(a)",
              "condition": "a >= 2", "values": {"a": 2}, "signals": ["x"], "used_by": ["ACT-010"]},
             {"order": 2, "rule": "ACT-010", "title": "Cut", "clause": "5.1", "condition": "signal(x)",
              "values": {}, "reads_signals": ["x"], "used_by": [], "level": "orange", "review": "monthly"}]
    return decision_log.Decision(
        id=f"dec-{n:04d}", decided_at=f"2026-04-01T00:00:{n % 60:02d}.000000Z", customer_id=customer or f"C-{n}",
        ruleset_id="retail_card", ruleset_version=1, ruleset_hash="sha256:h", client_request_id=None,
        request_hash=f"sha256:r{n}", level="orange", review_frequency="monthly",
        snapshot=json.dumps({"customer": {"id": customer or f"C-{n}"}, "n": n}), result=json.dumps(result),
        trail=json.dumps(trail), response=json.dumps({"decision_id": f"dec-{n:04d}", "n": n}),
        semantics_version=1)


@pytest.fixture
def log(log_db):
    decision_log.record(log_db, [make(n) for n in range(1, 11)])
    decision_log.record(log_db, [make(11)])
    decision_log.record(log_db, [make(n) for n in range(12, 21)])
    return log_db


def tamper(db, *statements, params=()):
    """Run statements with the log's triggers out of the way, as someone with the file could."""
    conn = sqlite3.connect(db.path, isolation_level=None)
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'decisions'"
                            ).fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        conn.execute(statement, params)
    for _, sql in triggers:
        conn.execute(sql)
    conn.close()


def broken(db, against=None) -> chain.Break:
    report = chain.verify(db, against)
    assert not report.ok
    return report.problem


def test_a_clean_log_verifies(log):
    report = chain.verify(log)
    assert report.ok and report.problem is None
    assert report.checked == 20 and report.purged == 0
    assert report.head.seq == 20 and report.head.count == 20


def test_an_empty_log_verifies(log_db):
    report = chain.verify(log_db)
    assert report.ok and report.checked == 0 and report.head.chain_hash == chain.GENESIS
    assert chain.verify(log_db, chain.head(log_db)).ok


def test_every_record_links_to_the_one_before(log):
    rows = log.execute("SELECT seq, content_hash, chain_hash FROM decisions ORDER BY seq").fetchall()
    previous = chain.GENESIS
    for seq, content, linked in rows:
        assert linked == chain.chain_hash(previous, content, seq)
        previous = linked


@pytest.mark.parametrize("column", ["id", "decided_at", "customer_id", "ruleset_id", "ruleset_hash", "request_hash",
                                    "level", "review_frequency", "snapshot", "result", "trail", "response"])
def test_one_changed_byte_in_any_column_is_an_edit_of_that_record(log, column):
    [value] = log.execute(f"SELECT CAST({column} AS BLOB) FROM decisions WHERE seq = 7").fetchone()
    changed = bytearray(value)
    changed[len(changed) // 2] ^= 0x01
    tamper(log, f"UPDATE decisions SET {column} = CAST(? AS TEXT) WHERE seq = 7", params=[bytes(changed)])
    problem = broken(log)
    assert (problem.kind, problem.seq) == ("edited", 7)
    assert "(seq 7)" in problem.message


def test_a_byte_made_invalid_utf8_is_still_an_edit(log):
    [value] = log.execute("SELECT CAST(response AS BLOB) FROM decisions WHERE seq = 3").fetchone()
    tamper(log, "UPDATE decisions SET response = ? WHERE seq = 3", params=[value[:5] + b"\xff" + value[6:]])
    assert (broken(log).kind, broken(log).seq) == ("edited", 3)


def test_a_changed_number_is_an_edit(log):
    tamper(log, "UPDATE decisions SET ruleset_version = 2 WHERE seq = 12")
    assert (broken(log).kind, broken(log).seq) == ("edited", 12)


def _rewrite(db, seq: int, chain_hash: str | None = None) -> None:
    """Rewrite a record's level and response, with its content hash recomputed to match;
    and its chain hash: "linked" links it to the record before, as the log would."""
    row = dict(zip(chain.KEPT + chain.PURGED, db.execute(
        f"SELECT {', '.join(chain.KEPT + chain.PURGED)} FROM decisions WHERE seq = ?", [seq]).fetchone()))
    row.update(level="green", response=row["response"].replace('"n"', '"was"'))
    content = chain.record_hash(row)
    if chain_hash == "linked":
        [previous] = db.execute("SELECT chain_hash FROM decisions WHERE seq = ?", [seq - 1]).fetchone()
        chain_hash = chain.chain_hash(previous, content, seq)
    [old] = db.execute("SELECT chain_hash FROM decisions WHERE seq = ?", [seq]).fetchone()
    tamper(db, "UPDATE decisions SET level = ?, response = ?, content_hash = ?, chain_hash = ? WHERE seq = ?",
           params=[row["level"], row["response"], content, chain_hash or old, seq])


@pytest.mark.parametrize("seq", [5, 1])
def test_an_edit_with_its_content_hash_recomputed_is_an_edit_of_that_record(log, seq):
    _rewrite(log, seq)
    problem = broken(log)
    assert (problem.kind, problem.seq, problem.related_seq) == ("edited", seq, seq - 1 or None)
    assert f"dec-{seq:04d} (seq {seq})" in problem.message


def test_an_edit_with_both_hashes_made_up_is_an_edit_of_that_record(log):
    _rewrite(log, 5, chain_hash="e" * 64)
    problem = broken(log)
    assert (problem.kind, problem.seq) == ("edited", 5)
    assert "dec-0005 (seq 5)" in problem.message


def test_an_edit_with_both_hashes_recomputed_names_the_edited_record(log):
    # The record is rewritten and linked to the one before as the log would: it verifies
    # by itself, and the break shows at the next record, which is untouched. That break
    # is the same as the next record's content rewritten with its content hash, so both
    # are named; the record that was changed is never left out.
    _rewrite(log, 5, chain_hash="linked")
    problem = broken(log)
    assert (problem.kind, problem.seq, problem.related_seq) == ("edited", 6, 5)
    assert "dec-0005 (seq 5) was changed with its content hash and chain hash recomputed" in problem.message
    assert "decision dec-0006 was changed with its content hash recomputed" in problem.message


def test_a_changed_chain_hash_is_an_edit(log):
    tamper(log, "UPDATE decisions SET chain_hash = ? WHERE seq = 9", params=["0" * 64])
    problem = broken(log)
    assert (problem.kind, problem.seq) == ("edited", 9)
    assert "chain hash" in problem.message


@pytest.mark.parametrize("seq, named", [(8, 9), (1, 2)])
def test_a_deleted_record_is_named_by_the_gap(log, seq, named):
    tamper(log, f"DELETE FROM decisions WHERE seq = {seq}")
    problem = broken(log)
    assert (problem.kind, problem.seq, problem.related_seq) == ("deleted", named, seq)
    assert f"records {seq} are missing" in problem.message


def test_deleting_the_last_record_shows_in_the_issued_sequence(log):
    tamper(log, "DELETE FROM decisions WHERE seq = 20")
    problem = broken(log)
    assert (problem.kind, problem.seq) == ("truncated", 20)


def test_a_tail_truncation_is_found_against_an_exported_head(log):
    exported = chain.head(log)
    assert (exported.seq, exported.count) == (20, 20)
    # The intruder also resets the sequence, so nothing in the file itself shows it.
    tamper(log, "DELETE FROM decisions WHERE seq > 17", "UPDATE sqlite_sequence SET seq = 17 WHERE name = 'decisions'")
    assert chain.verify(log).ok
    report = chain.verify(log, chain.Head.from_dict(json.loads(json.dumps(exported.to_dict()))))
    assert not report.ok and report.against["ok"] is False
    assert (report.problem.kind, report.problem.seq) == ("truncated", 18)
    assert "18 to 20" in report.problem.message


def test_a_head_still_verifies_after_more_decisions(log):
    exported = chain.head(log)
    decision_log.record(log, [make(21), make(22)])
    report = chain.verify(log, exported)
    assert report.ok and report.against["ok"] and report.checked == 22


def test_a_rewritten_log_does_not_reach_the_exported_head(log):
    exported = chain.head(log)
    # Rewrite the whole chain from seq 15 with recomputed hashes: it verifies by itself...
    tamper(log, "UPDATE decisions SET level = 'green' WHERE seq = 15")
    conn = sqlite3.connect(log.path, isolation_level=None)
    for name, in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'decisions'"
                              ).fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    previous = conn.execute("SELECT chain_hash FROM decisions WHERE seq = 14").fetchone()[0]
    for seq in range(15, 21):
        row = dict(zip(chain.KEPT + chain.PURGED, conn.execute(
            f"SELECT {', '.join(chain.KEPT + chain.PURGED)} FROM decisions WHERE seq = ?", [seq]).fetchone()))
        content = chain.record_hash(row)
        previous = chain.chain_hash(previous, content, seq)
        conn.execute("UPDATE decisions SET content_hash = ?, chain_hash = ? WHERE seq = ?", [content, previous, seq])
    conn.close()
    assert chain.verify(log).ok
    # ... but not against the head exported before.
    problem = broken(log, exported)
    assert (problem.kind, problem.seq) == ("edited", 20)


def _copy_of(db, seq: int, new_seq: int, new_id: str) -> tuple[str, list]:
    columns = [c for c in ("seq", *chain.KEPT, *chain.PURGED, "content_hash", "chain_hash")]
    row = dict(zip(columns, db.execute(f"SELECT {', '.join(columns)} FROM decisions WHERE seq = ?",
                                       [seq]).fetchone()))
    row.update(seq=new_seq, id=new_id, client_request_id=None)
    row["content_hash"] = chain.record_hash(row)  # a careful intruder hashes the content
    row["chain_hash"] = chain.chain_hash("f" * 64, row["content_hash"], new_seq)
    return f"INSERT INTO decisions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values())


def test_a_record_inserted_at_the_end_is_named(log):
    sql, params = _copy_of(log, 4, 21, "forged")
    tamper(log, sql, params=params)
    problem = broken(log)
    assert (problem.kind, problem.seq, problem.decision_id) == ("inserted", 21, "forged")


def test_a_record_inserted_in_the_middle_with_the_others_moved_on(log):
    sql, params = _copy_of(log, 4, 11, "forged")
    tamper(log, "UPDATE decisions SET seq = -seq WHERE seq >= 11", "UPDATE decisions SET seq = 1 - seq WHERE seq < 0")
    tamper(log, sql, params=params)
    problem = broken(log)
    assert (problem.kind, problem.seq, problem.decision_id) == ("inserted", 11, "forged")
    assert problem.related_seq == 12 and "dec-0011" in problem.message


@pytest.mark.parametrize("a, b", [(6, 13), (6, 7), (19, 20), (1, 2)])
def test_two_swapped_records_are_named(log, a, b):
    tamper(log, f"UPDATE decisions SET seq = -1 WHERE seq = {a}", f"UPDATE decisions SET seq = {a} WHERE seq = {b}",
           f"UPDATE decisions SET seq = {b} WHERE seq = -1")
    problem = broken(log)
    assert (problem.kind, problem.seq, problem.related_seq) == ("reordered", a, b)
    assert f"dec-{a:04d}" in problem.message and f"dec-{b:04d}" in problem.message


def test_a_record_moved_to_the_end_is_named(log):
    tamper(log, "UPDATE decisions SET seq = 21 WHERE seq = 5")
    problem = broken(log)
    assert (problem.kind, problem.seq, problem.related_seq) == ("reordered", 6, 21)
    assert "dec-0005" in problem.message


def test_two_records_with_their_contents_swapped_are_named(log):
    content = chain.KEPT + chain.PURGED  # everything but seq and the hashes
    rows = {seq: log.execute(f"SELECT {', '.join(content)} FROM decisions WHERE seq = ?", [seq]).fetchone()
            for seq in (4, 15)}
    sets = ", ".join(f"{c} = ?" for c in content)
    tamper(log, f"UPDATE decisions SET id = 'tmp-' || id WHERE seq IN (4, 15)")
    tamper(log, f"UPDATE decisions SET {sets} WHERE seq = 4", params=list(rows[15]))
    tamper(log, f"UPDATE decisions SET {sets} WHERE seq = 15", params=list(rows[4]))
    problem = broken(log)
    assert (problem.kind, problem.seq, problem.related_seq) == ("reordered", 4, 15)


def test_concurrent_writers_keep_one_chain(db_path):
    errors = []

    def write(worker: int) -> None:
        db = store.connect(db_path)
        try:
            for n in range(25):
                decision_log.record(db, [make(1000 * worker + 2 * n), make(1000 * worker + 2 * n + 1)])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = store.connect(db_path)
    report = chain.verify(db)
    db.close()
    assert report.ok and report.checked == 200


def test_decisions_logged_before_the_chain_are_chained_by_the_migration(tmp_path):
    from migrations import MIGRATIONS

    path = str(tmp_path / "old.db")
    db = store.create(path)
    db.enable_wal()
    MIGRATIONS.apply(db, stop_before="m006_decision_chain")
    old = [c for c in decision_log.Decision.__dataclass_fields__ if c not in ("masked", "semantics_version")]
    for n in (1, 2, 3):
        row = {c: getattr(make(n), c) for c in old}
        db.execute(f"INSERT INTO decisions ({', '.join(old)}) VALUES ({', '.join('?' * len(old))})", list(row.values()))
    db.conn.commit()
    store.migrate(db)
    db.close()
    db = store.connect(path)
    report = chain.verify(db)
    assert report.ok and report.checked == 3
    decision_log.record(db, [make(4)])
    assert chain.verify(db).ok and chain.head(db).seq == 4
    assert decision_log.get(db, "dec-0002").response == make(2).response
    from app.service import log_search as search

    assert [d["decision_id"] for d in search.search(db, search.Filters(rule="ACT-010")).decisions] == \
        ["dec-0004", "dec-0003", "dec-0002", "dec-0001"]
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE decisions SET level = 'red'")
    db.close()


def test_a_changed_semantics_version_is_an_edit(log):
    # The semantics version decides whether a replay may differ: it is hashed with the
    # record, so changing it to excuse a replay's difference breaks the chain.
    tamper(log, "UPDATE decisions SET semantics_version = 2 WHERE seq = 7")
    report = chain.verify(log)
    assert not report.ok and report.problem.kind == "edited" and report.problem.seq == 7


def test_records_without_a_semantics_version_keep_their_hashes(log_db):
    # Records logged before the semantics version was recorded have none (NULL) and are
    # hashed as they were then; the new records after them chain on.
    old = make(1).__dict__ | {"semantics_version": None}
    decision_log.record(log_db, [decision_log.Decision(**old), make(2)])
    row = dict(zip(chain.KEPT + chain.PURGED, log_db.execute(
        f"SELECT {', '.join(chain.KEPT + chain.PURGED)} FROM decisions WHERE seq = 1").fetchone()))
    assert row["semantics_version"] is None
    without = chain.content_hash(chain.digest(row[c] for c in chain.KEPT if c != "semantics_version"),
                                 chain.digest(row[c] for c in chain.PURGED))
    assert log_db.execute("SELECT content_hash FROM decisions WHERE seq = 1").fetchone()[0] == without
    assert chain.verify(log_db).ok
