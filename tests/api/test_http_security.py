"""What a hostile caller can do over HTTP: duplicate JSON keys, the last admin key,
headers on every response, redirects, failed authentication."""

import json

import pytest

from tests.api.test_errors import assert_envelope
from tests.conftest import bearer, decision_request


# ---------------------------------------------------------------- duplicate JSON keys


DUPLICATES = {
    "top level": ('{"ruleset_id": "retail_card", "ruleset_id": "other", "customer_id": "C-1", "snapshot": {}}',
                  "ruleset_id"),
    "nested": ('{"ruleset_id": "retail_card", "customer_id": "C-1", '
               '"snapshot": {"card": {"dpd": 0, "dpd": 90}}}', "dpd"),
    "batch item": ('{"items": [{"ruleset_id": "retail_card", "customer_id": "C-1", "customer_id": "C-2", '
                   '"snapshot": {}}]}', "customer_id"),
}


@pytest.mark.parametrize("body,key", DUPLICATES.values(), ids=DUPLICATES.keys())
def test_a_key_twice_in_one_object_is_refused_naming_it(client, log_db, body, key):
    path = "/v1/decisions/batch" if '"items"' in body else "/v1/decisions"
    error = assert_envelope(client.post(path, data=body, content_type="application/json"), 400, "malformed_json")
    assert f'"{key}"' in error["error"]["message"]
    assert error["error"]["details"][0]["key"] == key
    assert log_db.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0


def test_governance_bodies_refuse_duplicate_keys_too(client):
    response = client.post("/v1/rulesets/retail_card/versions", data='{"document": {}, "document": {}}',
                           content_type="application/json")
    assert assert_envelope(response, 400, "malformed_json")["error"]["details"][0]["key"] == "document"


def test_equal_keys_in_different_objects_are_fine(client):
    body = decision_request()
    body["snapshot"]["customer"]["id"] = body["customer_id"]  # "id" in several objects
    assert client.post("/v1/decisions", json=body).status_code == 201


# ---------------------------------------------------------------- the last admin key


def test_the_last_active_admin_key_cannot_be_revoked(client, anonymous, api_keys):
    [admin] = [k for k in client.get("/v1/keys").get_json()["keys"] if "admin" in k["roles"] and k["active"]]
    response = client.post(f"/v1/keys/{admin['key_id']}/revoke")
    assert "another admin key" in assert_envelope(response, 409, "last_admin_key")["error"]["message"]
    assert anonymous.get("/v1/keys", headers=bearer(api_keys["admin"])).status_code == 200
    # With a second admin key, the first can go, and then the second is the last.
    second = client.post("/v1/keys", json={"name": "admin-2", "owner": "ada.admin", "roles": ["audit", "admin"]})
    assert client.post(f"/v1/keys/{admin['key_id']}/revoke").status_code == 200
    other = anonymous.post(f"/v1/keys/{second.get_json()['key_id']}/revoke",
                           headers=bearer(second.get_json()["key"]))
    assert_envelope(other, 409, "last_admin_key")
    events = [e["action"] for e in anonymous.get("/v1/audit-events?action=key.revoke",
                                                 headers=bearer(second.get_json()["key"])).get_json()["events"]]
    assert events == ["key.revoke"]


def test_the_command_line_refuses_it_too(log_db):
    from app.store import keys
    from app.store.audit import Actor
    from app.store.errors import LastAdminKey

    [admin] = [k for k in keys.list_keys(log_db, include_revoked=False) if "admin" in k.roles]
    with pytest.raises(LastAdminKey):
        keys.revoke_key(log_db, admin.key_id, actor=Actor("root (command line)"))
    assert keys.get_key(log_db, admin.key_id).active


# ---------------------------------------------------------------- headers on every response


def _every_kind_of_answer(client, anonymous):
    """(label, response) for data, errors, the docs and their files, and a key."""
    created = client.post("/v1/keys", json={"name": "k", "owner": "o", "roles": ["decide"]})
    answers = {
        "decision": client.post("/v1/decisions", json=decision_request()),
        "error 401": anonymous.get("/v1/keys"),
        "error 404": client.get("/v1/nowhere"),
        "error 400": client.post("/v1/decisions", data=b"{", content_type="application/json"),
        "healthz": anonymous.get("/healthz"),
        "openapi": anonymous.get("/openapi.json"),
        "docs": anonymous.get("/docs"),
        "docs script": anonymous.get("/docs/assets/vigil-docs.js"),
        "swagger file": anonymous.get("/docs/assets/swagger-ui-bundle.js"),
        "new key": created,
        "options": anonymous.options("/v1/decisions"),
    }
    for response in answers.values():
        response.get_data()
        response.close()
    return answers


def test_every_response_forbids_sniffing_framing_and_foreign_content(client, anonymous):
    for label, response in _every_kind_of_answer(client, anonymous).items():
        assert response.status_code < 500, label
        assert response.headers["X-Content-Type-Options"] == "nosniff", label
        assert response.headers["X-Frame-Options"] == "DENY", label
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, label
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0] if "script-src" in csp else True
        if label not in ("docs", "docs script", "swagger file"):
            assert csp.startswith("default-src 'none'") and "script-src" not in csp, label


def test_answers_are_never_cached_and_a_new_key_least_of_all(client, anonymous):
    answers = _every_kind_of_answer(client, anonymous)
    assert answers["new key"].status_code == 201 and answers["new key"].get_json()["key"]
    for label, response in answers.items():
        if label not in ("swagger file", "docs script"):
            assert response.headers["Cache-Control"] == "no-store", label


def test_the_docs_page_runs_no_inline_script(anonymous):
    page = anonymous.get("/docs")
    assert page.status_code == 200
    html = page.data.decode()
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    import re

    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert " on" not in html.lower().replace("<body>", "")  # no onload= and the like
    spec_url = re.search(r'data-spec-url="([^"]+)"', html).group(1)
    assert anonymous.get(spec_url).get_json()["info"]["title"] == "Vigil"
    starter = anonymous.get("/docs/assets/vigil-docs.js")
    script = starter.get_data()
    starter.close()
    assert starter.status_code == 200 and b"SwaggerUIBundle" in script


def test_the_host_header_is_never_reflected_into_a_redirect(anonymous):
    for path in ("/v1//keys", "//v1/keys", "/v1/decisions//batch"):
        response = anonymous.get(path, headers={"Host": "evil.example"})
        location = response.headers.get("Location", "")
        assert "evil.example" not in location, (path, location)
        if response.status_code in (301, 302, 307, 308):
            assert location.startswith("/") and not location.startswith("//"), (path, location)


def test_options_on_the_batch_endpoint_advertises_only_post(anonymous):
    response = anonymous.options("/v1/decisions/batch")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"POST", "OPTIONS"}
    response = anonymous.options("/v1/decisions/5b0f0000-0000-4000-8000-000000000000")
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}


# ---------------------------------------------------------------- four eyes


def _key(client, owner, *roles, name=None):
    import uuid

    name = name or f"key-{uuid.uuid4().hex[:12]}"  # active keys' names are unique
    response = client.post("/v1/keys", json={"name": name, "owner": owner, "roles": list(roles)})
    assert response.status_code == 201, response.data
    return response.get_json()["key"]


def _submitted_draft(app, key) -> str:
    from tests.policies import act010_cut, draft_body

    writer = app.test_client()
    writer.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    created = writer.post("/v1/rulesets/retail_card/versions", data=draft_body(*act010_cut(35)),
                          content_type="application/json")
    assert created.status_code == 201, created.data
    path = f"/v1/rulesets/retail_card/versions/{created.get_json()['version']}"
    assert writer.post(f"{path}/submit").status_code == 200
    return path


@pytest.mark.parametrize("spelling", ["Alice", " alice ", "ALICE", "ａｌｉｃｅ"])
def test_four_eyes_compare_people_not_spellings(app, client, anonymous, spelling):
    path = _submitted_draft(app, _key(client, "alice", "author"))
    response = anonymous.post(f"{path}/approve", headers=bearer(_key(client, spelling, "approve")))
    assert "someone else must approve" in assert_envelope(response, 403, "four_eyes")["error"]["message"]
    approved = anonymous.post(f"{path}/approve", headers=bearer(_key(client, "bob", "approve")))
    assert approved.status_code == 200 and approved.get_json()["approved_by"] == "bob"


def test_a_key_made_by_the_author_does_not_count_as_another_person(app, client, anonymous):
    # The admin (ada.admin) drafts, mints an approve key for a stand-in and approves with it.
    path = _submitted_draft(app, _key(client, "ada.admin", "author"))
    stand_in = _key(client, "mallory", "approve")
    response = anonymous.post(f"{path}/approve", headers=bearer(stand_in))
    assert "ada.admin" in assert_envelope(response, 403, "four_eyes")["error"]["message"]
    keys = {k["owner"]: k for k in client.get("/v1/keys").get_json()["keys"]}
    assert keys["mallory"]["created_by"] == "ada.admin"
    # A key made by someone who did not write the version counts.
    other_admin = _key(client, "olga.ops", "admin", name="second-admin")
    maker = app.test_client()
    maker.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {other_admin}"
    fair = _key(maker, "mallory", "approve", name="made-by-olga")
    approved = anonymous.post(f"{path}/approve", headers=bearer(fair))
    assert approved.status_code == 200 and approved.get_json()["approved_by"] == "mallory"


# ---------------------------------------------------------------- client_request_id per caller


def test_client_request_ids_belong_to_their_caller(app, client, anonymous, log_db):
    first_system = _key(client, "card-platform", "decide")
    other_system = _key(client, "loan-platform", "decide")
    body = decision_request(client_request_id="retry-1")
    first = anonymous.post("/v1/decisions", json=body, headers=bearer(first_system))
    # Another caller with the same id gets its own decision: it can neither replay nor block the first's.
    other = anonymous.post("/v1/decisions", json=body, headers=bearer(other_system))
    assert first.status_code == other.status_code == 201
    assert first.get_json()["decision_id"] != other.get_json()["decision_id"]
    different = anonymous.post("/v1/decisions", json=decision_request(customer_id="C-9", client_request_id="retry-1"),
                               headers=bearer(_key(client, "third-system", "decide")))
    assert different.status_code == 201
    # The same caller after a key rotation (another key, same owner, any spelling) gets its first decision back.
    rotated = _key(client, " Card-Platform ", "decide", name="rotated")
    again = anonymous.post("/v1/decisions", json=body, headers=bearer(rotated))
    assert again.status_code == 200 and again.data == first.data
    assert again.get_json()["client_request_id"] == "retry-1"
    reused = anonymous.post("/v1/decisions", json=decision_request(customer_id="C-2", client_request_id="retry-1"),
                            headers=bearer(rotated))
    assert_envelope(reused, 409, "client_request_id_reused")
    # In a batch too.
    batch = anonymous.post("/v1/decisions/batch", json={"items": [body]}, headers=bearer(other_system))
    assert batch.get_json()["results"][0]["decision"]["decision_id"] == other.get_json()["decision_id"]
    stored = {row[0] for row in log_db.execute("SELECT client_request_id FROM decisions")}
    assert stored == {"card-platform/retry-1", "loan-platform/retry-1", "third-system/retry-1"}


def test_a_caller_name_cannot_forge_another_scope():
    from app.store.decision_log import scoped_request_id

    assert scoped_request_id("a/b", "c") != scoped_request_id("a", "b/c")
    assert scoped_request_id("a%2Fb", "c") != scoped_request_id("a/b", "c")
    assert scoped_request_id("x", None) is None


# ---------------------------------------------------------------- failed authentication


@pytest.fixture
def scrypt_calls(monkeypatch):
    import hashlib

    calls = []
    real = hashlib.scrypt

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


def test_refusing_a_key_costs_the_same_whatever_its_id(client, anonymous, api_keys, scrypt_calls):
    real_id = api_keys["audit"].split("_")[1]
    revoked = client.post("/v1/keys", json={"name": "r", "owner": "rex", "roles": ["audit"]}).get_json()
    client.post(f"/v1/keys/{revoked['key_id']}/revoke")
    assert anonymous.get("/v1/audit-events", headers=bearer(api_keys["audit"])).status_code == 200  # remembered
    wrong = "x" * 43
    for token in (f"vgl_{real_id}_{wrong}", f"vgl_000000000000_{wrong}", f"vgl_{revoked['key_id']}_{wrong}",
                  revoked["key"]):
        scrypt_calls.clear()
        assert_envelope(anonymous.get("/v1/audit-events", headers=bearer(token)), 401, "unauthenticated")
        assert len(scrypt_calls) == 1, token


@pytest.fixture
def limited_app(db_path):
    from app import create_app

    return create_app({"VIGIL_DATABASE": db_path, "TESTING": True, "VIGIL_AUTH_FAILURES": 3,
                       "VIGIL_AUTH_FAILURE_WINDOW": 60, "VIGIL_TRUSTED_PROXIES": "10.0.0.1"})


def _get(app, token, address="192.0.2.1", forwarded=None):
    client = app.test_client()
    headers = bearer(token)
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    return client.get("/v1/audit-events", headers=headers, environ_base={"REMOTE_ADDR": address})


def test_failed_authentication_is_limited_per_address_before_any_hash(limited_app, api_keys, log_db, scrypt_calls):
    from app.store import keys
    from app.store.audit import Actor

    _, unchecked = keys.create_key(log_db, name="n", owner="nina", roles=["audit"], actor=Actor("test setup"))
    wrong = "vgl_000000000000_" + "x" * 43
    assert _get(limited_app, api_keys["audit"]).status_code == 200  # checked once, remembered
    for _ in range(3):
        assert_envelope(_get(limited_app, wrong), 401, "unauthenticated")
    scrypt_calls.clear()
    refused = _get(limited_app, wrong)
    assert_envelope(refused, 429, "too_many_requests")
    assert 1 <= int(refused.headers["Retry-After"]) <= 20
    assert scrypt_calls == []
    # A key this worker already checked still passes from that address (one SHA-256);
    # one it would have to hash does not, yet.
    assert _get(limited_app, api_keys["audit"]).status_code == 200
    assert_envelope(_get(limited_app, unchecked), 429, "too_many_requests")
    assert scrypt_calls == []
    # Another address is not held to this one's failures.
    assert_envelope(_get(limited_app, wrong, address="192.0.2.2"), 401, "unauthenticated")
    assert _get(limited_app, unchecked, address="192.0.2.2").status_code == 200


def test_behind_the_trusted_proxy_the_address_it_reports_counts(limited_app):
    wrong = "vgl_000000000000_" + "x" * 43
    for _ in range(3):
        _get(limited_app, wrong, address="10.0.0.1", forwarded="198.51.100.7")
    assert _get(limited_app, wrong, address="10.0.0.1", forwarded="198.51.100.7").status_code == 429
    # The client's own X-Forwarded-For entries before the proxy's are not believed.
    assert _get(limited_app, wrong, address="10.0.0.1", forwarded="203.0.113.9, 198.51.100.7").status_code == 429
    assert _get(limited_app, wrong, address="10.0.0.1", forwarded="198.51.100.8").status_code == 401
    # Anyone else's X-Forwarded-For is ignored: a client cannot pick a fresh address per try.
    for n in range(3):
        _get(limited_app, wrong, address="192.0.2.9", forwarded=f"203.0.113.{n}")
    assert _get(limited_app, wrong, address="192.0.2.9", forwarded="203.0.113.200").status_code == 429


def test_the_limiter_earns_tries_back_over_its_window():
    from app.api.ratelimit import FailureLimiter

    now = [0.0]
    limiter = FailureLimiter(2, 60, clock=lambda: now[0])
    limiter.failed("a")
    assert limiter.retry_after("a") is None
    limiter.failed("a")
    assert limiter.retry_after("a") == 30
    now[0] = 29.0
    assert limiter.retry_after("a") == 1
    now[0] = 30.0
    assert limiter.retry_after("a") is None
    small = FailureLimiter(1, 1, max_addresses=2)
    for address in ("a", "b", "c"):
        small.failed(address)
    assert small.retry_after("a") is None and small.retry_after("c") is not None


# ---------------------------------------------------------------- masking is a visible choice


OLD_KEY, NEW_KEY = "the old masking key of 32 bytes.", "the new masking key of 32 bytes."


def _masking_app(db_path, keys: str | None):
    from app import create_app

    config = {"VIGIL_DATABASE": db_path, "TESTING": True, "VIGIL_POLICY_CHECK_SECONDS": 0}
    if keys:
        config.update({"VIGIL_MASK_PERSONAL": True, "VIGIL_MASK_KEY": keys})
    return create_app(config)


def test_readyz_says_whether_personal_fields_are_masked(db_path):
    from app.api.operations import CLEAR_NOTE

    clear = _masking_app(db_path, None).test_client().get("/readyz").get_json()
    assert clear["personal_fields"] == "clear" and clear["notes"] == [CLEAR_NOTE]
    assert "VIGIL_MASK_PERSONAL" in CLEAR_NOTE
    masked = _masking_app(db_path, NEW_KEY).test_client().get("/readyz").get_json()
    assert masked["personal_fields"] == "masked" and masked["notes"] == []


def test_a_masking_key_rotates_the_newest_masks_and_every_one_checks(db_path, api_keys):
    import copy

    from tests.conftest import DELINQUENT_SNAPSHOT

    snapshot = copy.deepcopy(DELINQUENT_SNAPSHOT)
    body = decision_request(snapshot, client_request_id="rotation-1")
    before = _masking_app(db_path, OLD_KEY).test_client()
    first = before.post("/v1/decisions", json=body, headers=bearer(api_keys["admin"]))
    assert first.status_code == 201
    rotated = _masking_app(db_path, f"{NEW_KEY}, {OLD_KEY}").test_client()
    # A retry from before the rotation is still recognised ...
    again = rotated.post("/v1/decisions", json=body, headers=bearer(api_keys["admin"]))
    assert again.status_code == 200 and again.data == first.data
    # ... its replay with the original snapshot is still exact ...
    did = first.get_json()["decision_id"]
    replay = rotated.post(f"/v1/decisions/{did}/replay", json={"snapshot": snapshot},
                          headers=bearer(api_keys["audit"])).get_json()
    assert replay["identical"] is True, replay
    # ... and new decisions are masked with the new key.
    new = rotated.post("/v1/decisions", json=decision_request(snapshot), headers=bearer(api_keys["admin"]))
    from app import store
    from app.store import decision_log

    db = store.connect(db_path)
    try:
        labels = [decision_log.get(db, r.get_json()["decision_id"]).masked for r in (first, new)]
    finally:
        db.close()
    assert labels[0] != labels[1] and all(label.startswith("hmac-sha256:") for label in labels)
    # Without the old key, that decision can no longer be checked.
    forgot = _masking_app(db_path, NEW_KEY).test_client()
    blind = forgot.post(f"/v1/decisions/{did}/replay", json={"snapshot": snapshot},
                        headers=bearer(api_keys["audit"])).get_json()
    assert blind["identical"] is not True


def test_every_masking_key_must_be_long_enough():
    from app.config import ConfigError, load_config

    with pytest.raises(ConfigError):
        load_config({"VIGIL_MASK_PERSONAL": True, "VIGIL_MASK_KEY": f"{NEW_KEY},short"}, environ={})


# ---------------------------------------------------------------- simulations over the log


def test_a_simulation_over_the_log_is_an_audited_read_seen_only_by_its_requester_and_audit(app, client, anonymous,
                                                                                          api_keys):
    import time

    from tests.policies import act010_cut, draft_body

    def as_key(key):
        c = app.test_client()
        c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        return c

    author, other_author = as_key(api_keys["author"]), as_key(_key(client, "dave.author", "author"))
    auditor = as_key(api_keys["audit"])
    assert as_key(api_keys["decide"]).post("/v1/decisions", json=decision_request()).status_code == 201
    draft = author.post("/v1/rulesets/retail_card/versions", data=draft_body(*act010_cut(35)),
                        content_type="application/json").get_json()["version"]
    accepted = author.post("/v1/simulations", json={"ruleset_id": "retail_card", "candidate_version": draft,
                                                    "from": "2000-01-01", "until": "2100-01-01"})
    assert accepted.status_code == 202
    sid = accepted.get_json()["id"]
    events = auditor.get("/v1/audit-events?action=decision.simulate").get_json()["events"]
    assert [(e["actor"], e["details"]["simulation_id"], e["details"]["customers"]) for e in events] == \
        [("alice.author", sid, 1)]
    deadline = time.monotonic() + 30
    while (body := author.get(f"/v1/simulations/{sid}").get_json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert body["status"] == "done" and body["report"]["changed"][0]["customer_id"] == "C-100001"
    for path in (f"/v1/simulations/{sid}", f"/v1/simulations/{sid}/report.html"):
        assert_envelope(other_author.get(path), 404, "simulation_not_found")
    assert auditor.get(f"/v1/simulations/{sid}").status_code == 200
    page = auditor.get(f"/v1/simulations/{sid}/report.html")
    assert page.status_code == 200 and "script-src" not in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"] and b"<script" not in page.data
    reads = auditor.get("/v1/audit-events?action=decision.simulation_read").get_json()["events"]
    assert {e["actor"] for e in reads} == {"alice.author", "carol.compliance"}
    assert all(e["details"]["simulation_id"] == sid for e in reads)
