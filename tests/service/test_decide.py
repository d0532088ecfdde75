"""The one decision path: every caller logs the same decision the same way."""
from __future__ import annotations

import copy
import json
import re
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import store
from app.store import decision_log
from tests.conftest import DELINQUENT_SNAPSHOT, decision_request

MASK_CONFIG = {"VIGIL_MASK_PERSONAL": True, "VIGIL_MASK_KEY": "a test masking key of 32 bytes.."}


def _app(db_path, **config):
    from app import create_app

    return create_app({"VIGIL_DATABASE": db_path, "VIGIL_REQUIRE_RULESETS": True, "TESTING": True,
                       "VIGIL_POLICY_CHECK_SECONDS": 0, **config})


def _client(app, api_keys):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {api_keys['admin']}"
    return client


def _rows(db_path) -> list[decision_log.Decision]:
    db = store.connect(db_path)
    try:
        ids = [r[0] for r in db.execute("SELECT id FROM decisions ORDER BY seq")]
        return [decision_log.get(db, i) for i in ids]
    finally:
        db.close()


# ---------------------------------------------------------------- defect 1: masking


def test_a_portfolio_review_logs_a_decision_masked_exactly_as_the_api_does(db_path, api_keys, tmp_path):
    # With VIGIL_MASK_PERSONAL=1 `portfolio review --log` wrote customer.id and the
    # income in clear, no masking label and a plain request hash.
    app = _app(db_path, **MASK_CONFIG)
    snapshot = copy.deepcopy(DELINQUENT_SNAPSHOT)
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(snapshot) + "\n")
    result = app.test_cli_runner().invoke(args=[
        "portfolio", "review", str(source), "--ruleset", "retail_card", "--out", str(tmp_path / "out.jsonl"),
        "--log", "--workers", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    answer = _client(app, api_keys).post("/v1/decisions", json=decision_request(snapshot, client_request_id="api-1"))
    assert answer.status_code == 201, answer.data
    review, api = _rows(db_path)
    assert review.client_request_id.startswith("review:")
    for row in (review, api):
        assert row.masked is not None and row.masked.startswith("hmac-sha256:")
        assert row.request_hash.startswith("hmac-sha256:")
        assert snapshot["customer"]["id"] not in row.snapshot and "8000.00" not in row.snapshot
        assert "CARD-100001" not in row.snapshot + row.trail + row.result
    # Masked the same way, down to the byte: the same snapshot, trail and result text.
    assert (review.snapshot, review.trail, review.result, review.masked, review.semantics_version) == \
        (api.snapshot, api.trail, api.result, api.masked, api.semantics_version)


# ---------------------------------------------------------------- defect 2: canonical snapshot


def test_a_decimal_sent_in_exponent_notation_is_logged_as_its_value_and_replays(client, db_path):
    # 8E+3 was accepted, logged as the text "8E+3", which the contract refuses: replay
    # then answered identical: false.
    body = json.dumps(decision_request()).replace('"monthly_income": "8000.00"', '"monthly_income": 8E+3')
    assert "8E+3" in body
    answer = client.post("/v1/decisions", data=body, content_type="application/json")
    assert answer.status_code == 201, answer.data
    [row] = _rows(db_path)
    assert json.loads(row.snapshot)["customer"]["monthly_income"] == "8000"
    replay = client.post(f"/v1/decisions/{answer.get_json()['decision_id']}/replay").get_json()
    assert replay["identical"] is True, replay


def _decimal_fields(contract, snapshot, prefix=""):
    """(path, spec) of each decimal and integer field present in the snapshot."""
    for name, value in snapshot.items():
        path = f"{prefix}.{name}" if prefix else name
        spec = contract.field(path)
        if spec is None:
            continue
        if isinstance(value, dict):
            yield from _decimal_fields(contract, value, path)
        elif spec.kind in ("decimal", "integer"):
            yield path, spec


def _number_token(value: Decimal, style: str) -> str:
    """A JSON token for a number: as a JSON number in plain or exponent notation, or as
    a string (plain notation, the way a contract takes decimal text)."""
    if style == "string":
        return json.dumps(format(value, "f"))
    if style == "exponent":
        return format(value, "E")
    if style == "normalized":  # 8000 as 8E+3
        return str(value.normalize())
    if style == "scaled":  # 8000.5 as 80005E-1
        sign, digits, exponent = value.as_tuple()
        return ("-" if sign else "") + "".join(map(str, digits or (0,))) + f"E{exponent}"
    return format(value, "f")


@st.composite
def _values(draw, fields):
    out = {}
    for path, spec in fields:
        low = spec.min if spec.min is not None else Decimal(-10**9)
        high = spec.max if spec.max is not None else Decimal(10**9)
        if spec.kind == "integer":
            out[path] = (Decimal(draw(st.integers(int(low), int(high)))), "plain")
        else:
            # Digits times a power of ten: round numbers (8000, 2E+4) as often as any.
            value = Decimal(draw(st.integers(-9999, 9999))).scaleb(draw(st.integers(-spec.places, 6)))
            value = min(max(value, low), high)
            out[path] = (value, draw(st.sampled_from(["plain", "string", "exponent", "normalized", "scaled"])))
    return out


def _post_raw(client, body: dict, values: dict):
    """Post ``body`` with each value written as the given JSON token."""
    snapshot = copy.deepcopy(body["snapshot"])
    tokens = {}
    for n, (path, (value, style)) in enumerate(values.items()):
        node = snapshot
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        node[last] = f"@@{n}@@"
        tokens[f'"@@{n}@@"'] = _number_token(value, style)
    text = json.dumps({**body, "snapshot": snapshot})
    text = re.sub(r'"@@\d+@@"', lambda m: tokens[m.group(0)], text)
    return client.post("/v1/decisions", data=text, content_type="application/json")


def test_every_accepted_decision_replays_identical(app, client):
    # Over the contract's value space: every decimal and integer field of the example
    # snapshot, drawn within its bounds and places and written as a JSON number (plain
    # or with an exponent) or as decimal text.
    contract = app.extensions["vigil.library"].ruleset("retail_card").contract
    fields = list(_decimal_fields(contract, DELINQUENT_SNAPSHOT))
    assert len(fields) > 10

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_values(fields))
    def check(values):
        answer = _post_raw(client, decision_request(), values)
        assert answer.status_code == 201, answer.data
        decision_id = answer.get_json()["decision_id"]
        replay = client.post(f"/v1/decisions/{decision_id}/replay").get_json()
        assert replay["identical"] is True, replay

    check()


# ---------------------------------------------------------------- defect 8: the customer


def test_a_customer_id_that_is_not_the_snapshots_customer_is_refused(client, db_path):
    body = decision_request()
    body["customer_id"] = "C-999"
    assert body["snapshot"]["customer"]["id"] == "C-100001"
    answer = client.post("/v1/decisions", json=body)
    assert answer.status_code == 422, answer.data
    error = answer.get_json()["error"]
    assert error["reason"] == "validation_error"
    [detail] = error["details"]
    assert detail["path"] == "customer_id"
    assert '"C-999"' in detail["message"] and '"C-100001"' in detail["message"]
    assert _rows(db_path) == []
    # In a batch the item is refused on its own.
    batch = client.post("/v1/decisions/batch", json={"items": [body, decision_request()]}).get_json()
    assert [r["status"] for r in batch["results"]] == [422, 200]
    assert batch["results"][0]["error"]["details"][0]["path"] == "customer_id"


# ---------------------------------------------------------------- trials


def test_a_draft_is_tried_by_the_decision_path_and_nothing_is_logged(app, log_db):
    import yaml

    from app.config import ROOT
    from app.service import policies
    from app.store.audit import Actor

    document = yaml.safe_load((ROOT / "rulesets" / "retail_card.yaml").read_text())
    text = yaml.safe_dump(document, sort_keys=False).replace("percent: 30", "percent: 35")
    draft = policies.create_draft(log_db, "retail_card", text, None, Actor("alice.author"))
    before = log_db.execute("SELECT count(*) FROM decisions").fetchone()[0]
    tried = policies.try_version(log_db, "retail_card", draft.version, copy.deepcopy(DELINQUENT_SNAPSHOT))
    answer = json.loads(tried)  # what it would log, made the same way as a logged decision's
    cut = next(a for a in answer["actions"] if a["action"] == "reduce_limit")
    assert cut["params"] == {"percent": 35}
    assert answer["ruleset"] == {"id": "retail_card", "version": draft.version, "hash": draft.hash}
    assert log_db.execute("SELECT count(*) FROM decisions").fetchone()[0] == before


def test_scenarios_run_through_the_decision_path(app, monkeypatch):
    from app.service import decide as decide_module
    from app.service import policies

    ruleset = app.extensions["vigil.library"].ruleset("retail_card")
    scenarios = yaml_scenarios("retail_card")
    calls = []
    real = decide_module.decide

    def counting(*args, **kwargs):
        calls.append(args[0].ruleset_id)
        return real(*args, **kwargs)

    monkeypatch.setattr(policies, "decide", counting)
    results = policies.run_scenarios(ruleset, scenarios)
    assert results["failed"] == 0 and results["passed"] == len(scenarios["scenarios"])
    assert len(calls) == len(scenarios["scenarios"])


def yaml_scenarios(ruleset_id: str) -> dict:
    import yaml

    from app.config import ROOT

    return yaml.safe_load((ROOT / "rulesets" / f"{ruleset_id}.scenarios.yaml").read_text())
