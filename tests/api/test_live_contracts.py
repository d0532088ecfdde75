"""Fact contract versions end to end, through HTTP with real keys, on `gunicorn -w 2`.

An author alone cannot make a contract version that a worker serves: her draft and her
submission change nothing any worker decides with, and she cannot approve it with an
approve key of her own. The contract bomb of the issue (bounds written as texts such as
"1e300000", in 1,500 fields) is refused within a time bound and stores nothing. Once
someone else approves and publishes the contract, and the ruleset that reads it, every
worker serves it within the check interval.

Which worker answered is read from the service's own log lines (one per request, with
the request id and the worker's pid)."""

import copy
import json
import time

import pytest
import yaml

from tests.conftest import ROOT, decision_request
from tests.policies import act010_cut, draft_body

pytestmark = pytest.mark.live

CONTRACT = yaml.safe_load((ROOT / "schemas" / "retail_card.v3.yaml").read_text())
SWITCH_SECONDS = 5


def expect(response, status: int) -> dict:
    code, _, body = response
    assert code == status, body
    return json.loads(body) if body else {}


def with_autopay() -> dict:
    document = copy.deepcopy(CONTRACT)
    document["fields"]["card"]["fields"]["autopay"] = {"type": "boolean", "description": "Pays by direct debit."}
    return document


class Asker:
    """Decisions on a snapshot that has the new field, each with a request id, and the
    pid of the worker that answered it (read from the service log)."""

    def __init__(self, server, key: str):
        self.server, self.key, self.sent = server, key, []
        self.body = decision_request()
        self.body["snapshot"]["card"]["autopay"] = True

    def ask(self, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            request_id = f"autopay-{len(self.sent)}"
            status, _, body = self.server.request("POST", "/v1/decisions", self.body, key=self.key,
                                                  headers={"X-Request-Id": request_id})
            answer = {"id": request_id, "status": status, "body": json.loads(body)}
            self.sent.append(answer)
            out.append(answer)
        return out

    def pids(self, answers: list[dict]) -> dict[str, int]:
        by_id = {}
        for line in self.server.log().split("\n")[:-1]:
            if line.startswith("{") and '"request"' in line:
                record = json.loads(line)
                if record.get("path") == "/v1/decisions":
                    by_id[record.get("request_id")] = record.get("pid")
        return {a["id"]: by_id.get(a["id"]) for a in answers}


def test_an_author_alone_cannot_make_a_contract_that_workers_serve(make_server):
    server = make_server(workers=2, env={"VIGIL_POLICY_CHECK_SECONDS": "0.5"})
    server.migrate()
    server.start()
    workers = server.worker_pids()
    assert len(workers) == 2
    alice = server.flask("keys", "create", "--name", "alice-laptop", "--owner", "alice", "--role", "author").strip()

    def new_key(owner: str, *roles: str) -> str:
        return expect(server.request("POST", "/v1/keys", {"name": f"{owner}-{'-'.join(roles)}", "owner": owner,
                                                           "roles": list(roles)}), 201)["key"]

    alice_approves = new_key("Alice", "approve")
    bob = new_key("bob", "approve")
    loans = new_key("card-system", "decide")
    asker = Asker(server, loans)

    # The bomb: refused fast, nothing stored
    bomb = copy.deepcopy(CONTRACT)
    bomb["fields"]["bomb"] = {"type": "object", "fields": {
        f"f{n}": {"type": "decimal", "min": "-1e300000", "max": "1e300000"} for n in range(1500)}}
    started = time.monotonic()
    refused = expect(server.request("POST", "/v1/schemas/retail_card/versions", {"document": bomb}, key=alice), 422)
    assert time.monotonic() - started < 3.0
    assert refused["error"]["details"][0] == {"file": "contract retail_card", "path": "bomb.f0",
                                              "message": "min must be a number, not text"}
    stored = expect(server.request("GET", "/v1/schemas/retail_card/versions", key=alice), 200)["versions"]
    assert [(v["version"], v["status"]) for v in stored] == [(1, "published"), (2, "published"),
                                                                (3, "published")]

    # Alice drafts and submits a contract version, and a ruleset version that reads it
    draft = expect(server.request("POST", "/v1/schemas/retail_card/versions", {"document": with_autopay()},
                                  key=alice), 201)
    assert (draft["version"], draft["status"]) == (4, "draft")
    expect(server.request("POST", "/v1/schemas/retail_card/versions/4/submit", key=alice), 200)
    policy, tests = act010_cut(35)
    policy = policy.replace("contract: retail_card@3", "contract: retail_card@4")
    expect(server.request("POST", "/v1/rulesets/retail_card/versions", json.loads(draft_body(policy, tests)),
                          key=alice), 201)
    expect(server.request("POST", "/v1/rulesets/retail_card/versions/2/submit", key=alice), 200)
    # ... and cannot approve either herself, even with an approve key
    assert expect(server.request("POST", "/v1/schemas/retail_card/versions/4/approve", key=alice_approves),
                  403)["error"]["reason"] == "four_eyes"
    assert expect(server.request("POST", "/v1/schemas/retail_card/versions/4/approve", key=alice),
                  403)["error"]["reason"] == "forbidden"
    # nor may anyone approve the ruleset while its contract is not published
    refused = expect(server.request("POST", "/v1/rulesets/retail_card/versions/2/approve", key=bob), 422)
    assert refused["error"]["reason"] == "approval_refused" and "retail_card@4" in refused["error"]["message"]

    # past the check interval, no worker knows the new field, nor lists the draft
    time.sleep(1)
    before, deadline = [], time.monotonic() + 20
    while set(asker.pids(before).values()) != workers:  # until both workers have answered
        assert time.monotonic() < deadline, "both workers should have answered"
        before += asker.ask(5)
    assert {a["status"] for a in before} == {422}
    assert all(a["body"]["error"]["details"][0]["path"] == "card.autopay" for a in before)
    for _ in range(4):
        assert expect(server.request("GET", "/v1/schemas/retail_card", key=loans), 200)["versions"] == [1, 2, 3]

    # Bob approves and publishes the contract, then the ruleset: every worker serves both
    for step in ("approve", "publish"):
        expect(server.request("POST", f"/v1/schemas/retail_card/versions/4/{step}", key=bob), 200)
    expect(server.request("POST", "/v1/rulesets/retail_card/versions/2/approve", key=bob), 200)
    published_at = time.monotonic()
    expect(server.request("POST", "/v1/rulesets/retail_card/versions/2/publish", key=bob), 201)
    # every worker serves it within the switch time, and never goes back
    after, deadline = [], published_at + SWITCH_SECONDS
    while True:
        after += asker.ask(5)
        pids = asker.pids(after)
        served_by = {pids[a["id"]] for a in after if a["status"] == 201}
        if served_by == workers:
            break
        assert time.monotonic() < deadline, f"workers {workers - served_by} never served the new contract"
    for pid in workers:
        mine = [a["status"] for a in after if pids[a["id"]] == pid]
        assert 201 not in mine or set(mine[mine.index(201):]) == {201}, mine
    after = [a for a in after if a["status"] == 201]
    assert all(a["body"]["ruleset"]["version"] == 2 for a in after)

    events = expect(server.request("GET", "/v1/audit-events?target=contract:retail_card@4"), 200)["events"]
    assert [(e["actor"], e["action"]) for e in events] == [
        ("alice", "contract.create"), ("alice", "contract.submit"), ("Alice", "contract.approve_refused"),
        ("bob", "contract.approve"), ("bob", "contract.publish")]
