"""The decision log's schema, as one sqlite-utils Migrations set.

A migration is never edited once it has landed: add a new function below the last
one. Apply with `flask --app wsgi db migrate` (the run command and the container
entrypoint do it before gunicorn starts; workers never migrate).
"""

from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("vigil")


@MIGRATIONS()
def m001_decision_log(db):
    # seq: the order decisions were logged in, never reused (AUTOINCREMENT), so a
    # later hash chain can link each row to the one before it.
    # response: the body exactly as it was answered, so a decision is served back
    # byte for byte. result and trail are kept apart from it for audit queries.
    db.execute(
        """
        CREATE TABLE decisions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            decided_at TEXT NOT NULL,
            customer_id TEXT NOT NULL,
            ruleset_id TEXT NOT NULL,
            ruleset_version INTEGER NOT NULL,
            ruleset_hash TEXT NOT NULL,
            client_request_id TEXT UNIQUE,
            request_hash TEXT NOT NULL,
            level TEXT,
            review_frequency TEXT,
            snapshot TEXT NOT NULL,
            result TEXT NOT NULL,
            trail TEXT NOT NULL,
            response TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX decisions_by_customer ON decisions (customer_id, seq)")
    # The log is append-only: a logged decision is evidence.
    db.execute(
        """
        CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
        BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
        BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END
        """
    )
