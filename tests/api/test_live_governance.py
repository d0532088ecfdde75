"""Governance end to end, through HTTP with real keys, on `gunicorn -w 2`.

A policy change goes from a draft with a misspelt field to published, under four eyes,
while loan systems keep asking for decisions: every worker must serve the new version
within 5 seconds of the publication, and no decision may fail during the switch. Then a
version scheduled a few seconds ahead takes effect at its time, and a rollback restores
the version before it. The diff shows exactly the rule that changed, and the audit
events show every step with who did it and the hashes before and after.

Which worker answered each decision is read from the service's own log lines (one per
request, with the request id and the worker's pid)."""

import datetime as dt
import json
import sqlite3
import threading
import time

import pytest

from tests.conftest import decision_request
from tests.policies import act010_cut, draft_body, misspelt

pytestmark = pytest.mark.live

SWITCH_SECONDS = 5


class Hammer:
    """Loan systems deciding from several threads until stopped; every answer kept."""

    def __init__(self, server, key: str, threads: int = 4):
        self.server, self.key = server, key
        self.results: list[dict] = []
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]
        self.body = decision_request()

    def _run(self, n: int) -> None:
        i = 0
        while not self.stop_event.is_set():
            i += 1
            request_id = f"hammer-{n}-{i}"
            sent = time.time()
            try:
                status, _, body = self.server.request("POST", "/v1/decisions", self.body, key=self.key,
                                                      headers={"X-Request-Id": request_id})
            except Exception as exc:  # noqa: BLE001 - any failure is a failed request, reported below
                self.results.append({"id": request_id, "sent": sent, "status": repr(exc)})
                continue
            entry = {"id": request_id, "sent": sent, "status": status}
            if status == 201:
                decision = json.loads(body)
                entry.update(version=decision["ruleset"]["version"], hash=decision["ruleset"]["hash"],
                             decided_at=decision["decided_at"])
            self.results.append(entry)

    def start(self) -> "Hammer":
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=60)

    def by_worker(self) -> list[dict]:
        """The answers so far, each with the pid of the worker that logged it."""
        pids = {}
        # The last line may be half written: only whole lines are read.
        for line in self.server.log().split("\n")[:-1]:
            if line.startswith("{") and '"request"' in line:
                record = json.loads(line)
                if record.get("message") == "request" and record.get("path") == "/v1/decisions":
                    pids[record.get("request_id")] = record.get("pid")
        return [dict(r, pid=pids.get(r["id"])) for r in list(self.results)]

    def wait_until_every_worker_serves(self, version: int, workers: set[int], since: float,
                                       timeout: float = 2 * SWITCH_SECONDS) -> list[dict]:
        deadline = time.time() + timeout
        while True:
            answered = self.by_worker()
            serving = {r["pid"] for r in answered if r["sent"] > since and r.get("version") == version}
            if serving >= workers:
                return answered
            assert time.time() < deadline, f"workers {workers - serving} never served version {version}"
            time.sleep(0.1)


def expect(response, status: int) -> dict:
    code, _, body = response
    assert code == status, body
    try:
        return json.loads(body) if body else {}
    except ValueError:
        raise AssertionError(f"not JSON: {body!r}") from None


def test_governance_end_to_end_on_two_workers(make_server):
    server = make_server(workers=2)
    server.migrate()
    server.start()
    workers = server.worker_pids()
    assert len(workers) == 2

    # Real keys: the author's from the command line, the others from the admin endpoint.
    author = server.flask("keys", "create", "--name", "alice-laptop", "--owner", "alice", "--role", "author").strip()

    def new_key(owner: str, *roles: str) -> str:
        return expect(server.request("POST", "/v1/keys", {"name": f"{owner}-key", "owner": owner,
                                                           "roles": list(roles)}), 201)["key"]

    alice_approves = new_key("alice", "approve")
    approver = new_key("bob", "approve")
    auditor = new_key("carol", "audit")
    loans = new_key("card-system", "decide")

    hammer = Hammer(server, loans).start()
    try:
        hammer.wait_until_every_worker_serves(1, workers, since=0)
        v1 = expect(server.request("GET", "/v1/rulesets/retail_card", key=auditor), 200)

        # A draft with a misspelt field: 422, naming the rule and the field; nothing stored.
        policy, tests = act010_cut(35)
        refused = expect(server.request("POST", "/v1/rulesets/retail_card/versions",
                                        draft_body(misspelt(policy), tests).encode(), key=author), 422)
        assert refused["error"]["reason"] == "ruleset_invalid"
        assert [(d["rule"], d["path"]) for d in refused["error"]["details"]] == [("ACT-010", "card.utilisation")]

        v2 = expect(server.request("POST", "/v1/rulesets/retail_card/versions", draft_body(policy, tests).encode(),
                                   key=author), 201)
        assert (v2["version"], v2["status"]) == (2, "draft")
        submitted = expect(server.request("POST", "/v1/rulesets/retail_card/versions/2/submit", key=author), 200)
        assert submitted["status"] == "submitted" and submitted["scenario_results"]["failed"] == 0

        # Four eyes: alice holds an approve key, but she wrote it.
        refused = expect(server.request("POST", "/v1/rulesets/retail_card/versions/2/approve", key=alice_approves),
                         403)
        assert refused["error"]["reason"] == "four_eyes"
        expect(server.request("POST", "/v1/rulesets/retail_card/versions/2/approve", key=approver), 200)

        # Publish while decisions keep coming: every worker switches within 5 s.
        expect(server.request("POST", "/v1/rulesets/retail_card/versions/2/publish", key=approver), 201)
        published = time.time()
        answered = hammer.wait_until_every_worker_serves(2, workers, since=published)
        late = [r for r in answered if r["sent"] > published + SWITCH_SECONDS and r.get("version") != 2]
        assert late == []
        for pid in workers:
            first_new = min(r["sent"] for r in answered if r["pid"] == pid and r.get("version") == 2
                            and r["sent"] > published)
            assert first_new - published < SWITCH_SECONDS, pid

        # A version scheduled a few seconds ahead takes effect at its time, exactly.
        policy3, tests3 = act010_cut(40)
        expect(server.request("POST", "/v1/rulesets/retail_card/versions", draft_body(policy3, tests3).encode(),
                              key=author), 201)
        expect(server.request("POST", "/v1/rulesets/retail_card/versions/3/submit", key=author), 200)
        expect(server.request("POST", "/v1/rulesets/retail_card/versions/3/approve", key=approver), 200)
        at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
        schedule = expect(server.request("POST", "/v1/rulesets/retail_card/versions/3/publish",
                                         {"effective_at": at.isoformat()}, key=approver), 201)
        scheduled = time.time()
        assert schedule["kind"] == "schedule"
        answered = hammer.wait_until_every_worker_serves(3, workers, since=scheduled)
        after_schedule = [r for r in answered if r["sent"] > scheduled and r["status"] == 201]
        assert {r["version"] for r in after_schedule if r["decided_at"] < schedule["effective_at"]} == {2}
        assert {r["version"] for r in after_schedule if r["decided_at"] >= schedule["effective_at"]} == {3}

        # Rollback restores the version in effect before.
        rollback = expect(server.request("POST", "/v1/rulesets/retail_card/rollback", key=approver), 201)
        assert (rollback["kind"], rollback["version"]) == ("rollback", 2)
        rolled = time.time()
        answered = hammer.wait_until_every_worker_serves(2, workers, since=rolled)
        assert [r for r in answered if r["sent"] > rolled + SWITCH_SECONDS and r.get("version") != 2] == []
    finally:
        hammer.stop()

    # No decision failed, and each names the exact version and hash it was made with.
    assert {r["status"] for r in hammer.results} == {201}, [r for r in hammer.results if r["status"] != 201][:3]
    hashes = {1: v1["hash"], 2: v2["hash"], 3: expect(server.request(
        "GET", "/v1/rulesets/retail_card/versions/3", key=auditor), 200)["hash"]}
    assert {(r["version"], r["hash"]) for r in hammer.results} == set(hashes.items())
    conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)
    logged = set(conn.execute("SELECT ruleset_version, ruleset_hash FROM decisions").fetchall())
    conn.close()
    assert logged == set(hashes.items())
    assert server.worker_pids() == workers, "a worker was restarted"

    # The diff shows exactly the rule that changed.
    diff = expect(server.request("GET", "/v1/rulesets/retail_card/diff?from=1&to=2", key=auditor), 200)
    assert (diff["added"], diff["removed"], diff["other"]) == ([], [], {})
    assert [(c["rule"], list(c["changes"])) for c in diff["changed"]] == [("ACT-010", ["actions"])]
    assert diff["changed"][0]["changes"]["actions"]["after"][0] == {"reduce_limit": {"percent": 35}}

    # Every step is in the audit events, with who did it and the hashes before and after.
    events = expect(server.request("GET", "/v1/audit-events?target=ruleset:retail_card&limit=1000", key=auditor),
                    200)["events"]
    steps = [(e["action"], e["target"], e["actor"], e["hash_before"], e["hash_after"]) for e in events]
    h1, h2, h3 = hashes[1], hashes[2], hashes[3]
    assert steps == [
        ("version.import", "ruleset:retail_card@1", "system", None, h1),
        ("ruleset.publish", "ruleset:retail_card@1", "system", None, h1),
        ("version.create", "ruleset:retail_card@2", "alice", None, h2),
        ("version.submit", "ruleset:retail_card@2", "alice", h2, h2),
        ("version.approve_refused", "ruleset:retail_card@2", "alice", h2, h2),
        ("version.approve", "ruleset:retail_card@2", "bob", h2, h2),
        ("ruleset.publish", "ruleset:retail_card@2", "bob", h1, h2),
        ("version.create", "ruleset:retail_card@3", "alice", None, h3),
        ("version.submit", "ruleset:retail_card@3", "alice", h3, h3),
        ("version.approve", "ruleset:retail_card@3", "bob", h3, h3),
        ("ruleset.schedule", "ruleset:retail_card@3", "bob", h2, h3),
        ("ruleset.rollback", "ruleset:retail_card@2", "bob", h3, h2),
    ]
    assert all(e["key_id"] for e in events if e["actor"] != "system")
    keys = expect(server.request("GET", "/v1/audit-events?action=key.create&limit=1000", key=auditor), 200)["events"]
    assert {(e["details"]["owner"], tuple(e["details"]["roles"])) for e in keys} >= {
        ("alice", ("author",)), ("alice", ("approve",)), ("bob", ("approve",)), ("carol", ("audit",))}
    assert any(e["actor"].endswith("(command line)") for e in keys)
