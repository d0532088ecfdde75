"""The decision log's schema, as one sqlite-utils Migrations set.

A migration is never edited once it has landed: add a new function below the last
one. Apply with `flask --app wsgi db migrate` (the run command and the container
entrypoint do it before gunicorn starts; workers never migrate).
"""

import hashlib

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


class _Chain1:
    """The decision chain's hash format vigil.decision.v1 as m006 wrote it, frozen here
    so that no later change to the live chain code can change what m006 did."""

    FORMAT = b"vigil.decision.v1"
    GENESIS = hashlib.sha256(b"vigil decision log genesis v1").hexdigest()
    KEPT = ("id", "decided_at", "ruleset_id", "ruleset_version", "ruleset_hash", "level", "review_frequency",
            "masked")
    PURGED = ("customer_id", "client_request_id", "request_hash", "snapshot", "result", "trail", "response")

    @staticmethod
    def _field(value) -> bytes:
        if value is None:
            return b"n;"
        if isinstance(value, int):
            return b"i" + str(value).encode() + b";"
        if isinstance(value, float):
            return b"f" + repr(value).encode() + b";"
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogatepass")
        data = bytes(value)
        return b"s" + str(len(data)).encode() + b":" + data + b";"

    @classmethod
    def _digest(cls, values) -> str:
        h = hashlib.sha256(cls.FORMAT)
        for value in values:
            h.update(cls._field(value))
        return h.hexdigest()

    @classmethod
    def record_hash(cls, row: dict) -> str:
        kept = cls._digest(row[c] for c in cls.KEPT)
        purged = cls._digest(row[c] for c in cls.PURGED)
        return hashlib.sha256(cls.FORMAT + b"|" + kept.encode() + b"|" + purged.encode()).hexdigest()

    @staticmethod
    def chain_hash(previous: str, content: str, seq: int) -> str:
        return hashlib.sha256(f"{previous}|{content}|{int(seq)}".encode()).hexdigest()


@MIGRATIONS()
def m006_decision_chain(db):
    # The log becomes a hash chain (app/store/chain.py): each record's content hash and
    # chain hash, and the two columns a purge sets. The table is rebuilt because the
    # columns a purge removes must become nullable; existing records are chained here,
    # in seq order. A CHECK keeps every record that is not purged whole. The hashes
    # are made by _Chain1 below, this migration's own frozen copy of the format.
    chain = _Chain1

    db.execute(
        """
        CREATE TABLE decisions_chained (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            decided_at TEXT NOT NULL,
            customer_id TEXT,
            ruleset_id TEXT NOT NULL,
            ruleset_version INTEGER NOT NULL,
            ruleset_hash TEXT NOT NULL,
            client_request_id TEXT UNIQUE,
            request_hash TEXT,
            level TEXT,
            review_frequency TEXT,
            snapshot TEXT,
            result TEXT,
            trail TEXT,
            response TEXT,
            masked TEXT,
            content_hash TEXT NOT NULL,
            chain_hash TEXT NOT NULL,
            purged_at TEXT,
            purged_digest TEXT,
            CHECK (purged_at IS NOT NULL OR (customer_id IS NOT NULL AND request_hash IS NOT NULL
                   AND snapshot IS NOT NULL AND result IS NOT NULL AND trail IS NOT NULL AND response IS NOT NULL))
        )
        """
    )
    old = ("id", "decided_at", "customer_id", "ruleset_id", "ruleset_version", "ruleset_hash", "client_request_id",
           "request_hash", "level", "review_frequency", "snapshot", "result", "trail", "response")
    previous = chain.GENESIS
    rows = db.execute(f"SELECT seq, {', '.join(old)} FROM decisions ORDER BY seq").fetchall()
    for raw in rows:
        row = dict(zip(("seq", *old), raw), masked=None)
        row["content_hash"] = chain.record_hash(row)
        row["chain_hash"] = previous = chain.chain_hash(previous, row["content_hash"], row["seq"])
        db.execute(f"INSERT INTO decisions_chained ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                   list(row.values()))
    issued = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'").fetchone()
    db.execute("DROP TABLE decisions")
    db.execute("ALTER TABLE decisions_chained RENAME TO decisions")
    if issued:
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'decisions'")
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('decisions', ?)", [issued[0]])
    db.execute("CREATE INDEX decisions_by_customer ON decisions (customer_id, seq)")
    db.execute("CREATE INDEX decisions_by_ruleset ON decisions (ruleset_id, ruleset_version, seq)")
    db.execute("CREATE INDEX decisions_by_level ON decisions (level, seq)")
    db.execute("CREATE INDEX decisions_by_time ON decisions (decided_at)")
    # Append-only, but for one transition: a purge removes the personal columns of a
    # record not purged before, keeping their digest, and changes nothing else.
    db.execute(
        """
        CREATE TRIGGER decisions_only_purged BEFORE UPDATE ON decisions
        WHEN NOT (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL AND NEW.purged_digest IS NOT NULL
            AND NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.decided_at IS OLD.decided_at
            AND NEW.ruleset_id IS OLD.ruleset_id AND NEW.ruleset_version IS OLD.ruleset_version
            AND NEW.ruleset_hash IS OLD.ruleset_hash AND NEW.level IS OLD.level
            AND NEW.review_frequency IS OLD.review_frequency AND NEW.masked IS OLD.masked
            AND NEW.content_hash IS OLD.content_hash AND NEW.chain_hash IS OLD.chain_hash
            AND NEW.customer_id IS NULL AND NEW.client_request_id IS NULL AND NEW.request_hash IS NULL
            AND NEW.snapshot IS NULL AND NEW.result IS NULL AND NEW.trail IS NULL AND NEW.response IS NULL)
        BEGIN SELECT RAISE(ABORT, 'the decision log is append-only; a record can only be purged'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
        BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END
        """
    )


@MIGRATIONS()
def m007_decision_search(db):
    # What the log is searched by: the rules that fired and the final actions (one row
    # each), and the text of each decision's explanation with an FTS5 index over it
    # (external content, kept in step by triggers: the layout sqlite-utils' enable_fts
    # makes; enable_fts itself runs executescript, which would commit this migration's
    # transaction halfway). They are derived from the log, not part of it: search.py
    # fills them up to the newest decision, in batches, before a search that needs them
    # (indexed_seq says how far), so a decision's write lock is not held for them.
    db.execute("CREATE TABLE decision_rules (rule_id TEXT NOT NULL, seq INTEGER NOT NULL, "
               "PRIMARY KEY (rule_id, seq)) WITHOUT ROWID")
    db.execute("CREATE TABLE decision_actions (action TEXT NOT NULL, seq INTEGER NOT NULL, "
               "PRIMARY KEY (action, seq)) WITHOUT ROWID")
    db.execute("CREATE TABLE decision_texts (seq INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    db.execute("CREATE VIRTUAL TABLE decision_texts_fts USING FTS5 (text, tokenize='porter unicode61', "
               "content=decision_texts)")
    db.execute("CREATE TRIGGER decision_texts_ai AFTER INSERT ON decision_texts BEGIN "
               "INSERT INTO decision_texts_fts (rowid, text) VALUES (new.rowid, new.text); END")
    db.execute("CREATE TRIGGER decision_texts_ad AFTER DELETE ON decision_texts BEGIN "
               "INSERT INTO decision_texts_fts (decision_texts_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
               "END")
    db.execute("CREATE TRIGGER decision_texts_au AFTER UPDATE ON decision_texts BEGIN "
               "INSERT INTO decision_texts_fts (decision_texts_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
               "INSERT INTO decision_texts_fts (rowid, text) VALUES (new.rowid, new.text); END")
    db.execute("CREATE TABLE search_index_state (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_seq INTEGER NOT NULL)")
    db.execute("INSERT INTO search_index_state (id, indexed_seq) VALUES (1, 0)")


@MIGRATIONS()
def m008_legal_holds(db):
    # A legal hold keeps a customer's decisions whole past their retention period, until
    # it is released. Placing and releasing are audit events; a hold is never deleted
    # and released at most once.
    db.execute(
        """
        CREATE TABLE legal_holds (
            hold_id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            placed_by TEXT NOT NULL,
            placed_at TEXT NOT NULL,
            released_by TEXT,
            released_at TEXT,
            release_reason TEXT
        )
        """
    )
    db.execute("CREATE INDEX legal_holds_active ON legal_holds (customer_id) WHERE released_at IS NULL")
    db.execute(
        """
        CREATE TRIGGER legal_holds_no_delete BEFORE DELETE ON legal_holds
        BEGIN SELECT RAISE(ABORT, 'a legal hold is released, never deleted'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER legal_holds_only_released BEFORE UPDATE ON legal_holds
        WHEN OLD.released_at IS NOT NULL OR NEW.released_at IS NULL OR NEW.released_by IS NULL
            OR NEW.hold_id IS NOT OLD.hold_id OR NEW.customer_id IS NOT OLD.customer_id
            OR NEW.reason IS NOT OLD.reason OR NEW.placed_by IS NOT OLD.placed_by OR NEW.placed_at IS NOT OLD.placed_at
        BEGIN SELECT RAISE(ABORT, 'a legal hold can only be released, once'); END
        """
    )


@MIGRATIONS()
def m009_simulations(db):
    # Impact simulations asked for over HTTP: run in the background by the worker that
    # received the request; any worker answers progress and the report from this row.
    db.execute(
        """
        CREATE TABLE simulations (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
            requested_by TEXT NOT NULL,
            key_id TEXT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            params TEXT NOT NULL,
            progress_done INTEGER NOT NULL DEFAULT 0,
            progress_total INTEGER,
            report TEXT,
            error TEXT
        )
        """
    )
    db.execute("CREATE INDEX simulations_created ON simulations (created_at)")


@MIGRATIONS()
def m010_decision_semantics(db):
    # Each decision records the version of the engine's evaluation semantics it was
    # made under, so that a replay under other semantics says so instead of reporting a
    # changed decision. It is part of the kept half of the content hash when present;
    # the records logged before have none and keep their hashes. The append-only
    # trigger is made again to cover the new column.
    db.execute("ALTER TABLE decisions ADD COLUMN semantics_version INTEGER")
    db.execute("DROP TRIGGER decisions_only_purged")
    db.execute(
        """
        CREATE TRIGGER decisions_only_purged BEFORE UPDATE ON decisions
        WHEN NOT (OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL AND NEW.purged_digest IS NOT NULL
            AND NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.decided_at IS OLD.decided_at
            AND NEW.ruleset_id IS OLD.ruleset_id AND NEW.ruleset_version IS OLD.ruleset_version
            AND NEW.ruleset_hash IS OLD.ruleset_hash AND NEW.level IS OLD.level
            AND NEW.review_frequency IS OLD.review_frequency AND NEW.masked IS OLD.masked
            AND NEW.semantics_version IS OLD.semantics_version
            AND NEW.content_hash IS OLD.content_hash AND NEW.chain_hash IS OLD.chain_hash
            AND NEW.customer_id IS NULL AND NEW.client_request_id IS NULL AND NEW.request_hash IS NULL
            AND NEW.snapshot IS NULL AND NEW.result IS NULL AND NEW.trail IS NULL AND NEW.response IS NULL)
        BEGIN SELECT RAISE(ABORT, 'the decision log is append-only; a record can only be purged'); END
        """
    )


@MIGRATIONS()
def m011_console_sessions(db):
    # Signed-in console sessions. Only a hash of the session token is kept, so a copy
    # of the database cannot be used to sign in. A session acts as its API key: the
    # key's roles and revocation are read on every request, not copied here.
    db.execute(
        """
        CREATE TABLE console_sessions (
            token_hash TEXT PRIMARY KEY,
            key_id TEXT NOT NULL,
            owner TEXT NOT NULL,
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX console_sessions_expiry ON console_sessions (expires_at)")


# Migrations added after m011 follow, each group in its own section so that
# independent changes add their own without touching another's lines.
# Registration order is file order; the numbers only name them.

# --- follow-up tasks (m012, m013) ---


@MIGRATIONS()
def m012_follow_up_tasks(db):
    # A task: what a person must do after a decision (a follow-up its ruleset declares),
    # for one customer and action. At most one is open per customer and action: a later
    # decision that asks for it again updates it (tasks_one_open makes a second one
    # impossible, whichever worker writes). owner_id is the owner as people are compared
    # (app.store.audit.person_id), so a key's owner finds their tasks. status is open,
    # done or waived; an open task with waiver_requested_by set waits for a second person.
    # due_at, opened_at ...: store timestamps (UTC, text order is time order).
    db.execute(
        """
        CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            action TEXT NOT NULL,
            ruleset_id TEXT NOT NULL,
            role TEXT NOT NULL,
            level TEXT,
            owner TEXT,
            owner_id TEXT,
            queue TEXT,
            branch TEXT,
            status TEXT NOT NULL CHECK (status IN ('open', 'done', 'waived')),
            still_asked INTEGER NOT NULL DEFAULT 1,
            opened_at TEXT NOT NULL,
            due_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            decision_id TEXT NOT NULL,
            last_decision_id TEXT NOT NULL,
            rules TEXT NOT NULL,
            evidence_asked TEXT NOT NULL,
            evidence TEXT,
            done_at TEXT,
            done_by TEXT,
            waiver_requested_by TEXT,
            waiver_requested_at TEXT,
            waiver_reason TEXT,
            waived_by TEXT
        )
        """
    )
    db.execute("CREATE UNIQUE INDEX tasks_one_open ON tasks (customer_id, action) WHERE status = 'open'")
    db.execute("CREATE INDEX tasks_by_owner ON tasks (owner_id, status, due_at)")
    db.execute("CREATE INDEX tasks_by_queue ON tasks (queue, status, due_at)")
    db.execute("CREATE INDEX tasks_by_due ON tasks (status, due_at)")
    # What happened to a task, in order: opened, asked_again, escalated, no_longer_asked
    # (each with the decision), handed_on, waiver_requested, waived, done (with the person).
    db.execute(
        """
        CREATE TABLE task_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            task_id TEXT NOT NULL REFERENCES tasks (id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT,
            decision_id TEXT,
            details TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX task_events_by_task ON task_events (task_id, seq)")


@MIGRATIONS()
def m013_tasks_by_opening(db):
    # The evaluation of follow-up counts the tasks opened in a period: it reads them
    # from this index alone (it holds every column the report reads), so its cost
    # follows the tasks in the period, read in order, not all tasks.
    db.execute("CREATE INDEX tasks_by_opening ON tasks (opened_at, owner_id, branch, level, status, due_at, done_at)")


@MIGRATIONS()
def m013b_tasks_by_customer(db):
    # A customer's tasks, by due time: listing them must not read every task.
    db.execute("CREATE INDEX tasks_by_customer ON tasks (customer_id, due_at)")


# --- contract lifecycle (m014) ---

@MIGRATIONS()
def m014_contract_lifecycle(db):
    # Contract versions go through the rulesets' four-eyes lifecycle; serving reads only
    # the published ones. Every version stored before this was served, so it counts as
    # published. A contract's content never changes (there is no draft editing: a fix is
    # a new version), only its status, and only along the lifecycle.
    db.execute("ALTER TABLE contract_versions ADD COLUMN status TEXT NOT NULL DEFAULT 'published' "
               "CHECK (status IN ('draft', 'submitted', 'approved', 'published', 'rejected', 'retired'))")
    for column in ("submitted_by", "submitted_at", "approved_by", "approved_at", "rejected_by", "rejected_at",
                   "rejection_reason", "published_by", "published_at", "retired_by", "retired_at"):
        db.execute(f"ALTER TABLE contract_versions ADD COLUMN {column} TEXT")
    db.execute("DROP TRIGGER contract_versions_no_update")
    db.execute(
        """
        CREATE TRIGGER contract_versions_frozen BEFORE UPDATE OF contract_id, version, hash, document,
            created_by, created_at ON contract_versions
        BEGIN SELECT RAISE(ABORT, 'a contract version is immutable'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER contract_versions_lifecycle BEFORE UPDATE OF status ON contract_versions
        WHEN OLD.status != NEW.status AND OLD.status || '>' || NEW.status NOT IN (
            'draft>submitted', 'submitted>approved', 'submitted>rejected', 'approved>published',
            'draft>retired', 'submitted>retired', 'approved>retired', 'published>retired')
        BEGIN SELECT RAISE(ABORT, 'not a lifecycle step'); END
        """
    )
    db.execute("CREATE INDEX contract_versions_by_status ON contract_versions (status, contract_id, version)")


# --- audit chain (m015) ---

class _AuditChain1:
    """The audit events' hash format vigil.audit.v1 (app/store/audit_chain.py) as m015
    wrote it, frozen here."""

    FORMAT = b"vigil.audit.v1"
    GENESIS = hashlib.sha256(b"vigil audit events genesis v1").hexdigest()
    CONTENT = ("id", "at", "actor", "key_id", "action", "target", "hash_before", "hash_after", "details")

    @classmethod
    def content_hash(cls, row: dict) -> str:
        h = hashlib.sha256(cls.FORMAT)
        for value in (row[c] for c in cls.CONTENT):
            h.update(_Chain1._field(value))
        return h.hexdigest()

    @staticmethod
    def chain_hash(previous: str, content: str, seq: int) -> str:
        return hashlib.sha256(f"{previous}|{content}|{int(seq)}".encode()).hexdigest()


@MIGRATIONS()
def m015_audit_chain(db):
    # Audit events become a hash chain like the decision log: a content hash and a
    # chain hash per event. Existing events are chained here in seq order; the
    # append-only trigger is lifted for that and put back, and an insert without
    # hashes is refused from now on.
    chain = _AuditChain1
    db.execute("ALTER TABLE audit_events ADD COLUMN content_hash TEXT")
    db.execute("ALTER TABLE audit_events ADD COLUMN chain_hash TEXT")
    db.execute("DROP TRIGGER audit_events_no_update")
    previous, last = chain.GENESIS, 0
    columns = ("seq", *chain.CONTENT)
    while True:  # in batches, so memory does not grow with the number of events
        rows = db.execute(f"SELECT {', '.join(columns)} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 5000",
                          [last]).fetchall()
        if not rows:
            break
        for raw in rows:
            row = dict(zip(columns, raw))
            content = chain.content_hash(row)
            previous = chain.chain_hash(previous, content, row["seq"])
            db.execute("UPDATE audit_events SET content_hash = ?, chain_hash = ? WHERE seq = ?",
                       [content, previous, row["seq"]])
        last = rows[-1][0]
    db.execute(
        """
        CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END
        """
    )
    db.execute(
        """
        CREATE TRIGGER audit_events_chained BEFORE INSERT ON audit_events
        WHEN NEW.content_hash IS NULL OR NEW.chain_hash IS NULL
        BEGIN SELECT RAISE(ABORT, 'audit events are chained: content_hash and chain_hash are required'); END
        """
    )


@MIGRATIONS()
def m015_log_verifications(db):
    # Verifications started from the console run in the background; their progress and
    # result are kept here so that any worker can show them (app/store/verifications.py).
    db.execute(
        """
        CREATE TABLE log_verifications (
            id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
            requested_by TEXT NOT NULL,
            key_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            against TEXT,
            progress_done INTEGER NOT NULL DEFAULT 0,
            progress_total INTEGER,
            report TEXT,
            error TEXT
        )
        """
    )


# --- decision log write path (m016) ---

@MIGRATIONS()
def m016_task_asked_count(db):
    # A decision that asks again for an open task and changes nothing about it is
    # counted here (and becomes the task's last_decision_id) instead of adding an
    # "asked_again" event each time. A task kept from before counts the decisions its
    # events name as asking.
    db.execute("ALTER TABLE tasks ADD COLUMN asked_count INTEGER NOT NULL DEFAULT 1")
    db.execute("UPDATE tasks SET asked_count = max(1, (SELECT count(*) FROM task_events e "
               "WHERE e.task_id = tasks.id AND e.kind IN ('opened', 'asked_again')))")


# --- policy sources (m017) ---

@MIGRATIONS()
def m017_ruleset_source_text(db):
    # The YAML text a draft was written in, comments and layout kept, with its version
    # line set to the stored number; null when it was sent as a JSON object (or the
    # text could not be kept so that it reads as exactly the stored document). The
    # document column stays what is hashed, compiled and served.
    db.execute("ALTER TABLE ruleset_versions ADD COLUMN document_text TEXT")
    db.execute("ALTER TABLE ruleset_versions ADD COLUMN scenarios_text TEXT")


# --- background jobs (m018) ---

@MIGRATIONS()
def m018_job_runner(db):
    # The process a simulation or a verification runs in (host:pid:start time), so that
    # one whose process ended is known to have stopped (app/store/runner.py).
    db.execute("ALTER TABLE simulations ADD COLUMN runner TEXT")
    db.execute("ALTER TABLE log_verifications ADD COLUMN runner TEXT")


# --- follow-up queues (m019) ---

@MIGRATIONS()
def m019_key_queues(db):
    # The follow-up queues an officer's key works (a JSON list; null: none): the officer
    # sees the open tasks waiting there and may claim one.
    db.execute("ALTER TABLE api_keys ADD COLUMN queues TEXT")
