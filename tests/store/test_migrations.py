from app import store
from migrations import MIGRATIONS


def test_migrate_creates_the_log_in_wal_mode(tmp_path):
    path = str(tmp_path / "sub" / "vigil.db")
    db = store.create(path)
    applied = store.migrate(db)
    assert applied == [m.name for m in MIGRATIONS.pending(store.create(str(tmp_path / "other.db")))]
    assert db.journal_mode == "wal"
    assert "decisions" in db.table_names()
    columns = {c.name for c in db["decisions"].columns}
    assert {"seq", "id", "decided_at", "customer_id", "ruleset_version", "ruleset_hash", "snapshot",
            "result", "trail", "response", "client_request_id"} <= columns


def test_migrate_twice_applies_nothing_the_second_time(tmp_path):
    path = str(tmp_path / "vigil.db")
    assert store.migrate(store.create(path))
    assert store.migrate(store.create(path)) == []
    assert store.pending_migrations(store.connect(path)) == []


def test_unmigrated_file_has_pending_migrations(tmp_path):
    path = str(tmp_path / "vigil.db")
    store.create(path).execute("CREATE TABLE t (x)")
    assert store.pending_migrations(store.connect(path)) == [m.name for m in MIGRATIONS._migrations]
