"""One error envelope everywhere: every error path below must answer exactly this shape,
with a stable reason, and never a stack trace or internal detail."""

import json
import os
import re

import pytest

from app import create_app
from app.api.schemas import ErrorEnvelopeSchema
from tests.conftest import decision_request

LEAKS = re.compile(r"Traceback|File \"|sqlite|\.py\b|/work/|/tmp/|Error\(|secret", re.I)


def assert_envelope(response, status: int, reason: str) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = json.loads(response.data)
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"status", "reason", "message", "details"}
    assert body["error"]["status"] == status
    assert body["error"]["reason"] == reason
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert ErrorEnvelopeSchema().validate(body) == {}
    assert not LEAKS.search(response.data.decode()), response.data
    return body


def post(client, path="/v1/decisions", **kwargs):
    return client.post(path, **kwargs)


MALFORMED = {
    "syntax": b'{"ruleset_id": ',
    "empty": b"",
    "nan": b'{"ruleset_id": "retail_card", "customer_id": "c", "snapshot": {"x": NaN}}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "huge_integer": b'{"snapshot": {"x": ' + b"9" * 5000 + b"}}",
    "not_utf8": b'{"ruleset_id": "\xff"}',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/decisions/batch"])
def test_400_malformed_json(client, path, body):
    assert_envelope(post(client, path, data=body, content_type="application/json"), 400, "malformed_json")


def test_404_unknown_ruleset(client):
    assert_envelope(post(client, json=decision_request(ruleset_id="nope")), 404, "ruleset_not_found")
    assert_envelope(client.get("/v1/rulesets/nope"), 404, "ruleset_not_found")
    assert_envelope(client.get("/v1/rulesets/retail_card?version=999"), 404, "ruleset_not_found")


def test_404_unknown_schema(client):
    assert_envelope(client.get("/v1/schemas/nope"), 404, "schema_not_found")


def test_404_unknown_decision(client):
    assert_envelope(client.get("/v1/decisions/0000"), 404, "decision_not_found")


def test_404_unknown_route(client):
    assert_envelope(client.get("/v2/anything"), 404, "not_found")


def test_405_wrong_method(client):
    body = assert_envelope(client.delete("/v1/decisions"), 405, "method_not_allowed")
    assert body["error"]["details"] == []


def test_409_client_request_id_reused(client):
    post(client, json=decision_request(client_request_id="x"))
    assert_envelope(post(client, json=decision_request(customer_id="other", client_request_id="x")),
                    409, "client_request_id_reused")


def test_413_oversized_body(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps(decision_request(customer_id="x" * (limit + 1))).encode()
    assert_envelope(post(client, data=body, content_type="application/json"), 413, "payload_too_large")
    assert_envelope(post(client, "/v1/decisions/batch", data=body, content_type="application/json"),
                    413, "payload_too_large")


def _chunked(client, path: str, body: bytes):
    """POST ``body`` with no Content-Length, as a server hands over a chunked body."""
    import io

    return client.post(path, input_stream=io.BytesIO(body), content_type="application/json",
                       headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})


@pytest.mark.parametrize("path", ["/v1/decisions", "/v1/decisions/batch", "/v1/rulesets/retail_card/versions"])
def test_413_oversized_chunked_body(app, client, path):
    limit = app.config["MAX_CONTENT_LENGTH"]
    for size in (limit + 1, 3 * limit):
        body = json.dumps(decision_request(customer_id="x" * size)).encode()
        assert_envelope(_chunked(client, path, body), 413, "payload_too_large")


def test_a_chunked_body_within_the_limit_is_read_whole(app, client):
    body = json.dumps(decision_request()).encode()
    assert _chunked(client, "/v1/decisions", body).status_code == 201
    # Exactly at the limit is not over it (the padding is JSON whitespace).
    limit = app.config["MAX_CONTENT_LENGTH"]
    padded = body + b" " * (limit - len(body))
    assert len(padded) == limit
    assert _chunked(client, "/v1/decisions", padded).status_code == 201


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_415_wrong_content_type(client, content_type):
    kwargs = {"data": json.dumps(decision_request())}
    if content_type:
        kwargs["content_type"] = content_type
    assert_envelope(post(client, **kwargs), 415, "unsupported_media_type")


def test_422_request_breaks_its_schema(client):
    body = assert_envelope(post(client, json={"ruleset_id": 5, "snapshot": [], "explain": "all", "extra": 1}),
                           422, "validation_error")
    paths = {d["path"] for d in body["error"]["details"]}
    assert paths == {"ruleset_id", "customer_id", "snapshot", "explain", "extra"}
    assert_envelope(post(client, json=["not", "an", "object"]), 422, "validation_error")
    assert_envelope(post(client, "/v1/decisions/batch", json={"items": []}), 422, "validation_error")
    assert_envelope(client.get("/v1/rulesets/retail_card?version=zero"), 422, "validation_error")


def test_422_snapshot_breaks_its_contract_with_every_bad_field(client):
    req = decision_request()
    req["snapshot"]["card"]["dpd"] = "45"
    req["snapshot"]["card"]["utilization"] = "lots"
    del req["snapshot"]["customer"]["segment"]
    req["snapshot"]["credit_report"]["other_banks"]["overdue_accounts_6m"] = -1
    req["snapshot"]["unknown_section"] = {}
    body = assert_envelope(post(client, json=req), 422, "validation_error")
    paths = {d["path"] for d in body["error"]["details"]}
    assert {"card.dpd", "card.utilization", "customer.segment",
            "credit_report.other_banks.overdue_accounts_6m", "unknown_section"} <= paths
    assert all(d["message"] for d in body["error"]["details"])


def test_503_log_unavailable(client, db_path):
    os.remove(db_path)
    assert_envelope(post(client, json=decision_request()), 503, "decision_log_unavailable")
    assert_envelope(client.get("/v1/decisions/abc"), 503, "decision_log_unavailable")
    assert_envelope(client.get("/readyz"), 503, "decision_log_unavailable")


def _store_broken_version(db_path, version: int, status: str, **changes) -> None:
    """A stored version that no longer compiles (written past the API, which would have
    refused it), as a database from an older engine could hold."""
    from app import store

    db = store.connect(db_path)
    row = db.execute("SELECT * FROM ruleset_versions WHERE ruleset_id = 'retail_card'").fetchone()
    columns = [d[0] for d in db.execute("SELECT * FROM ruleset_versions LIMIT 0").description]
    broken = dict(zip(columns, row), version=version, status=status,
                  document=row[columns.index("document")].replace("card.utilization", "card.utilisation"), **changes)
    db.execute(f"INSERT INTO ruleset_versions ({', '.join(broken)}) VALUES ({', '.join('?' * len(broken))})",
               list(broken.values()))
    db.close()


def test_503_a_version_that_cannot_load_is_refused_by_name_and_the_rest_served(db_path, api_keys):
    _store_broken_version(db_path, 2, "approved")
    app = create_app({"VIGIL_DATABASE": db_path, "VIGIL_POLICY_CHECK_SECONDS": 0})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys['admin']}"
    body = assert_envelope(post(client, json=decision_request(ruleset_version=2)), 503, "ruleset_version_unavailable")
    assert "Version 2 of ruleset retail_card" in body["error"]["message"]
    assert any("card.utilisation" in d["message"] for d in body["error"]["details"])
    assert post(client, json=decision_request()).status_code == 201  # version 1, in effect, is served
    batch = post(client, "/v1/decisions/batch", json={"items": [decision_request(ruleset_version=2),
                                                                decision_request(customer_id="C-2")]}).get_json()
    assert [r["status"] for r in batch["results"]] == [503, 200]
    assert client.get("/v1/rulesets").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "degraded"
    assert [f["version"] for f in ready.get_json()["failed"]] == ["ruleset:retail_card@2"]
    assert any("ruleset:retail_card@2" in note for note in ready.get_json()["notes"])


def test_503_rulesets_unavailable_when_no_version_loads(db_path, api_keys):
    from app import store

    db = store.connect(db_path)
    db.execute("DROP TRIGGER ruleset_versions_frozen")  # past the store, as a broken database would be
    db.execute("UPDATE ruleset_versions SET document = json_set(document, '$.rules', json('[]'))")
    db.close()
    app = create_app({"VIGIL_DATABASE": db_path, "VIGIL_POLICY_CHECK_SECONDS": 0})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys['admin']}"
    body = assert_envelope(post(client, json=decision_request()), 503, "ruleset_version_unavailable")
    assert "Version 1 of ruleset retail_card" in body["error"]["message"]
    body = assert_envelope(client.get("/readyz"), 503, "rulesets_unavailable")
    assert "ruleset:retail_card@1" in {d["path"] for d in body["error"]["details"]}


def test_500_engine_failure_leaks_nothing(app, client, monkeypatch):
    from app.engine import EvaluationError

    library = app.extensions["vigil.library"]
    ruleset = library.ruleset("retail_card")

    def failing(*args, **kwargs):
        raise EvaluationError("secret internal state at /work/app/engine/runtime.py")

    monkeypatch.setattr(type(ruleset), "run", failing)
    assert_envelope(post(client, json=decision_request()), 500, "evaluation_error")


def test_500_unexpected_exception_leaks_nothing(app, client, monkeypatch):
    ruleset = app.extensions["vigil.library"].ruleset("retail_card")

    def crash(*args, **kwargs):
        raise RuntimeError("secret: sqlite file /work/main/instance/vigil.db")

    monkeypatch.setattr(type(ruleset), "run", crash)
    assert_envelope(post(client, json=decision_request()), 500, "internal_error")
    # In a batch the crash stays with its item.
    r = post(client, "/v1/decisions/batch", json={"items": [decision_request()]})
    assert r.status_code == 200
    item = r.get_json()["results"][0]
    assert item["status"] == 500 and item["error"]["reason"] == "internal_error"
    assert not LEAKS.search(r.data.decode())


def test_request_id_is_echoed_when_sane(client):
    r = client.get("/v1/decisions/nope", headers={"X-Request-Id": "abc-123"})
    assert r.get_json()["request_id"] == "abc-123"
    r = client.get("/v1/decisions/nope", headers={"X-Request-Id": "bad id\x7f" * 30})
    assert re.fullmatch(r"[0-9a-f]{32}", r.get_json()["request_id"])


# -- one envelope for every error class ------------------------------------------------

def _error_classes():
    import app.api.auth  # noqa: F401 - every module that defines an error class
    import app.api.simulations  # noqa: F401
    import app.store.simulations  # noqa: F401
    from app.core.errors import VigilError

    found, todo = set(), [VigilError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _instance(cls):
    from app.core.errors import VigilError
    from app.engine import Problem, RulesetInvalid, SnapshotInvalid

    if issubclass(cls, RulesetInvalid):
        return cls([Problem("rulesets/x.yaml", "unknown field", rule="R-1", path="when")])
    if issubclass(cls, SnapshotInvalid):
        return cls([{"path": "card.dpd", "message": "Not a valid integer."}])
    try:
        return cls()
    except TypeError:  # a constructor that needs arguments: the class's own message
        error = cls.__new__(cls)
        VigilError.__init__(error)
        return error


def test_every_error_class_answers_the_one_envelope_with_its_status(app, client):
    from app.api.errors import STATUS

    classes = _error_classes()
    assert len(classes) >= 25
    for cls in classes:
        # the status of a reason is chosen in app/api/errors.py only
        assert "status" not in vars(cls), f"{cls.__qualname__} carries an HTTP status"
        assert cls.reason in STATUS, f"{cls.__qualname__}: reason {cls.reason!r} has no status in STATUS"
    by_name = {f"{c.__module__}.{c.__qualname__}": c for c in classes}

    def raiser(name):
        raise _instance(by_name[name])

    raiser._vigil_roles = frozenset({"admin"})
    app.add_url_rule("/test-raise/<name>", view_func=raiser)
    for name, cls in by_name.items():
        body = assert_envelope(client.get(f"/test-raise/{name}"), STATUS[cls.reason], cls.reason)
        error = _instance(cls)
        if STATUS[cls.reason] < 500:
            assert body["error"]["details"] == error.details, name
