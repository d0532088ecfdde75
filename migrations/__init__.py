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


@MIGRATIONS()
def m002_policy_versions(db):
    # Fact contracts and rulesets as versions in the database, which is what the
    # service serves once the shipped files are imported. document and scenarios are
    # the YAML documents as compact JSON, key order kept (the order of a ruleset's
    # levels is its meaning); hash is the engine's hash of document.
    db.execute(
        """
        CREATE TABLE contract_versions (
            contract_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            hash TEXT NOT NULL,
            document TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (contract_id, version)
        )
        """
    )
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"""
            CREATE TRIGGER contract_versions_no_{verb.lower()} BEFORE {verb} ON contract_versions
            BEGIN SELECT RAISE(ABORT, 'a contract version is immutable'); END
            """
        )
    # contributors: everyone who wrote the content (created or edited the draft); none
    # of them may approve it. findings and scenario_results are filled on submit.
    db.execute(
        """
        CREATE TABLE ruleset_versions (
            ruleset_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('draft', 'submitted', 'approved', 'published', 'rejected', 'retired')),
            hash TEXT NOT NULL,
            document TEXT NOT NULL,
            scenarios TEXT,
            title TEXT,
            contract_id TEXT NOT NULL,
            contract_version INTEGER NOT NULL,
            contributors TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_by TEXT,
            updated_at TEXT,
            submitted_by TEXT,
            submitted_at TEXT,
            approved_by TEXT,
            approved_at TEXT,
            rejected_by TEXT,
            rejected_at TEXT,
            rejection_reason TEXT,
            retired_by TEXT,
            retired_at TEXT,
            findings TEXT,
            scenario_results TEXT,
            PRIMARY KEY (ruleset_id, version),
            FOREIGN KEY (contract_id, contract_version) REFERENCES contract_versions (contract_id, version)
        )
        """
    )
    db.execute("CREATE INDEX ruleset_versions_by_status ON ruleset_versions (status, ruleset_id, version)")
    # Only a draft's content can change, and only along the lifecycle.
    db.execute(
        """
        CREATE TRIGGER ruleset_versions_frozen BEFORE UPDATE OF document, scenarios, hash, contract_id,
            contract_version ON ruleset_versions
        WHEN OLD.status != 'draft'
        BEGIN SELECT RAISE(ABORT, 'only a draft can be edited'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER ruleset_versions_lifecycle BEFORE UPDATE OF status ON ruleset_versions
        WHEN OLD.status != NEW.status AND OLD.status || '>' || NEW.status NOT IN (
            'draft>submitted', 'submitted>approved', 'submitted>rejected', 'approved>published',
            'draft>retired', 'submitted>retired', 'approved>retired', 'published>retired')
        BEGIN SELECT RAISE(ABORT, 'not a lifecycle step'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER ruleset_versions_no_delete BEFORE DELETE ON ruleset_versions
        BEGIN SELECT RAISE(ABORT, 'a ruleset version is never deleted'); END
        """
    )


@MIGRATIONS()
def m003_publications(db):
    # Append-only. The version in effect at time T is the publication with the greatest
    # effective_at <= T (ties: the greatest seq). A scheduled publication simply has an
    # effective_at in the future; a rollback is a new publication of an earlier version.
    db.execute(
        """
        CREATE TABLE publications (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ruleset_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            hash TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('publish', 'schedule', 'rollback')),
            effective_at TEXT NOT NULL,
            published_by TEXT NOT NULL,
            published_at TEXT NOT NULL,
            FOREIGN KEY (ruleset_id, version) REFERENCES ruleset_versions (ruleset_id, version)
        )
        """
    )
    db.execute("CREATE INDEX publications_by_ruleset ON publications (ruleset_id, effective_at, seq)")
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"""
            CREATE TRIGGER publications_no_{verb.lower()} BEFORE {verb} ON publications
            BEGIN SELECT RAISE(ABORT, 'publications are append-only'); END
            """
        )
    # Changed, in the same transaction, by everything that changes what is served
    # (a new contract, an approval, a publication, a retirement). Workers compare it
    # with the token of the policies they hold to know when to load them again.
    db.execute("CREATE TABLE policy_state (id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT NOT NULL)")
    db.execute("INSERT INTO policy_state (id, token) VALUES (1, lower(hex(randomblob(8))))")


@MIGRATIONS()
def m004_api_keys(db):
    # Only a salted scrypt hash of each key's secret is kept; the secret is shown once.
    db.execute(
        """
        CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            owner TEXT NOT NULL,
            roles TEXT NOT NULL,
            salt TEXT NOT NULL,
            hash TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_by TEXT,
            revoked_at TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TRIGGER api_keys_no_delete BEFORE DELETE ON api_keys
        BEGIN SELECT RAISE(ABORT, 'an API key is revoked, never deleted'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER api_keys_only_revoked BEFORE UPDATE ON api_keys
        WHEN OLD.revoked_at IS NOT NULL OR NEW.key_id IS NOT OLD.key_id OR NEW.name IS NOT OLD.name
            OR NEW.owner IS NOT OLD.owner OR NEW.roles IS NOT OLD.roles OR NEW.salt IS NOT OLD.salt
            OR NEW.hash IS NOT OLD.hash OR NEW.created_by IS NOT OLD.created_by
            OR NEW.created_at IS NOT OLD.created_at
        BEGIN SELECT RAISE(ABORT, 'an API key can only be revoked, once'); END
        """
    )


@MIGRATIONS()
def m005_audit_events(db):
    # Who did what, when, to which target, with the content hashes before and after.
    # Append-only. actor is the person (a key's owner, or the operating-system user of
    # a command line); key_id the key they used, if any.
    db.execute(
        """
        CREATE TABLE audit_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            key_id TEXT,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            hash_before TEXT,
            hash_after TEXT,
            details TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX audit_events_by_target ON audit_events (target, seq)")
    db.execute("CREATE INDEX audit_events_by_actor ON audit_events (actor, seq)")
    db.execute("CREATE INDEX audit_events_by_action ON audit_events (action, seq)")
    for verb in ("UPDATE", "DELETE"):
        db.execute(
            f"""
            CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events
            BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END
            """
        )
