"""Masking personal fields: the decision is made on the real values, and what is shown
(trail values, reasons, failed conditions, the logged snapshot) carries keyed hashes."""

import copy
import json
from decimal import Decimal

import pytest
import yaml

from app.engine import load_library
from app.engine import masking
from app.engine.masking import PREFIX, Masker, personal_paths
from tests.conftest import DELINQUENT_SNAPSHOT, ROOT

KEY = "a test masking key of 32 bytes.."


@pytest.fixture(scope="module")
def library():
    return load_library(ROOT / "rulesets", ROOT / "schemas")


def personal_loan_snapshot() -> dict:
    """The personal-loan scenario where ACT-010's reason quotes the monthly income."""
    scenarios = yaml.safe_load((ROOT / "rulesets" / "personal_loan.scenarios.yaml").read_text())
    snap = copy.deepcopy(scenarios["bases"]["clean"])
    snap["customer"]["monthly_income"] = "5000.00"
    snap["credit_report"]["other_banks"].update(overdue_accounts_6m=2, overdue_accounts_12m=2, overdue_accounts_24m=2)
    return snap


def test_personal_paths_reach_into_lists(library):
    assert personal_paths(library.contract("personal_loan")) == {
        "customer.id", "customer.monthly_income", "loans[].account_id"}
    assert personal_paths(library.contract("retail_card")) == {
        "customer.id", "customer.monthly_income", "card.account_id"}


def test_a_token_is_keyed_and_stable():
    masker = Masker(KEY)
    assert masker.token("C-1") == masker.token("C-1") != masker.token("C-2")
    assert masker.token("C-1").startswith(PREFIX) and "C-1" not in masker.token("C-1")
    assert masker.token(Decimal("8000.00")) == masker.token(Decimal("8000.0")) == masker.token(8000)
    assert masker.token("0123") != masker.token("123") != masker.token(123)
    assert Masker(KEY + "x").token("C-1") != masker.token("C-1")
    assert masker.label == f"hmac-sha256:{masker.key_id}" and KEY not in masker.label
    with pytest.raises(ValueError):
        Masker("short")


def test_the_logged_snapshot_keeps_everything_but_personal_values(library):
    contract = library.contract("personal_loan")
    snap = personal_loan_snapshot()
    masked = Masker(KEY).redaction(contract).snapshot(snap)
    assert masked["customer"]["id"] == Masker(KEY).token(snap["customer"]["id"])
    # As the trail shows it: the number, whatever its form in the request.
    assert masked["customer"]["monthly_income"] == Masker(KEY).token(Decimal("5000"))
    assert all(loan["account_id"].startswith(PREFIX) for loan in masked["loans"])
    assert [loan["outstanding"] for loan in masked["loans"]] == [loan["outstanding"] for loan in snap["loans"]]
    assert masked["credit_report"] == snap["credit_report"]
    assert snap["customer"]["id"] == "P-200001", "the original is left alone"


def test_the_decision_is_the_same_and_the_reason_masks_the_income(library):
    ruleset = library.ruleset("personal_loan")
    snap = personal_loan_snapshot()
    redaction = Masker(KEY).redaction(ruleset.contract)
    plain = ruleset.evaluate(snap, explain="full").to_dict()
    masked = ruleset.evaluate(snap, explain="full", mask=redaction).to_dict()
    for key in ("fired", "level", "review_frequency", "signals"):
        assert masked[key] == plain[key]
    assert [(a["action"], a["params"]) for a in masked["actions"]] == \
        [(a["action"], a["params"]) for a in plain["actions"]]
    [cut] = [a for a in masked["actions"] if a["action"] == "reduce_limit"]
    assert "5000.00" in [a for a in plain["actions"] if a["action"] == "reduce_limit"][0]["reason"]
    assert "5000.00" not in cut["reason"] and redaction.shown(Decimal("5000.00")) in cut["reason"]
    text = json.dumps(masked)
    assert "5000.00" not in text and "P-200001" not in text and "PL-200001-1" not in text


def test_trail_values_and_failed_conditions_mask_personal_fields(library):
    ruleset = library.ruleset("retail_card")
    snap = copy.deepcopy(DELINQUENT_SNAPSHOT)
    snap["customer"]["monthly_income"] = "1000.00"  # debt above three years of income: EXT-004
    redaction = Masker(KEY).redaction(ruleset.contract)
    masked = ruleset.evaluate(snap, explain="full", mask=redaction).to_dict()
    [ext4] = [f for f in masked["trail"] if f["rule"] == "EXT-004"]
    assert ext4["values"]["customer.monthly_income"] == redaction.shown(Decimal("1000.00"))
    assert ext4["values"]["card.balance"] == "17000.00"
    # The logged snapshot and the trail show the same mask for the same value.
    assert redaction.snapshot(snap)["customer"]["monthly_income"] == ext4["values"]["customer.monthly_income"]
    assert "1000.00" not in json.dumps(masked)


def test_a_masked_snapshot_can_be_filled_to_validate_again(library):
    contract = library.contract("personal_loan")
    redaction = Masker(KEY).redaction(contract)
    filled = redaction.unmask_shape(redaction.snapshot(personal_loan_snapshot()))
    contract.validate(filled)
    assert PREFIX not in json.dumps(filled)


def test_a_masker_is_never_pickled_so_its_key_stays_in_its_process():
    import pickle

    masker = Masker("k" * 16)
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(masker)
    assert masker.key_id == masking.key_id("k" * 16) == masking.key_id(b"k" * 16) != masking.key_id("j" * 16)


def test_a_dask_worker_masks_with_its_own_key_only_if_it_is_the_one_named(monkeypatch):
    from app.portfolio import cluster

    monkeypatch.setattr(cluster, "_maskers", {})
    monkeypatch.delenv("VIGIL_MASK_KEY", raising=False)
    with pytest.raises(cluster.ClusterError, match="has no VIGIL_MASK_KEY"):
        cluster.worker_masker(masking.key_id("k" * 16))
    monkeypatch.setenv("VIGIL_MASK_KEY", "j" * 16)
    with pytest.raises(cluster.ClusterError, match=r"VIGIL_MASK_KEY \(id [0-9a-f]{12}\) is not the key"):
        cluster.worker_masker(masking.key_id("k" * 16))
    monkeypatch.setenv("VIGIL_MASK_KEY", f"{'k' * 16}, {'j' * 16}")  # rotated: the newest masks
    made = cluster.worker_masker(masking.key_id("k" * 16))
    assert made.token("C-1") == Masker("k" * 16).token("C-1")
    assert made.with_label(Masker("j" * 16).label) is not None
