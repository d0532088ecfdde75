"""Replay under the engine's evaluation semantics."""
from __future__ import annotations

import dataclasses
import json

from app.engine import SEMANTICS_VERSION
from app.service import replay
from app.service.decide import DecisionRequest, decide
from app.store import decision_log
from tests.conftest import DELINQUENT_SNAPSHOT


def _logged_with_another_level(app, log_db) -> str:
    """A decision as logged, except that its level is not what evaluating it gives now."""
    request = DecisionRequest(ruleset_id="retail_card", customer_id="C-100001", snapshot=DELINQUENT_SNAPSHOT)
    row = decide(request, app.extensions["vigil.library"]).row
    result = json.loads(row.result)
    assert result["level"] != "green"
    row = dataclasses.replace(row, result=json.dumps({**result, "level": "green"}))
    decision_log.record(log_db, [row])
    return row.id


def test_a_difference_under_the_same_semantics_is_a_mismatch(app, log_db):
    report = replay.replay(log_db, _logged_with_another_level(app, log_db))
    assert report["identical"] is False and "level" in report["diff"]
    assert report["semantics"] == {"logged": SEMANTICS_VERSION, "engine": SEMANTICS_VERSION}


def test_a_difference_under_other_semantics_says_so_instead_of_a_mismatch(app, log_db, monkeypatch):
    decision_id = _logged_with_another_level(app, log_db)
    monkeypatch.setattr(replay, "SEMANTICS_VERSION", SEMANTICS_VERSION + 1)
    report = replay.replay(log_db, decision_id)
    assert report["identical"] is None and "level" in report["diff"]
    assert report["semantics"] == {"logged": SEMANTICS_VERSION, "engine": SEMANTICS_VERSION + 1}
    assert any("semantics differ" in note for note in report["notes"])


def test_the_same_decision_under_other_semantics_is_still_identical(client, log_db, monkeypatch):
    from tests.conftest import decision_request

    decision_id = client.post("/v1/decisions", json=decision_request()).get_json()["decision_id"]
    monkeypatch.setattr(replay, "SEMANTICS_VERSION", SEMANTICS_VERSION + 1)
    report = replay.replay(log_db, decision_id)
    assert report["identical"] is True
    assert report["semantics"] == {"logged": SEMANTICS_VERSION, "engine": SEMANTICS_VERSION + 1}
