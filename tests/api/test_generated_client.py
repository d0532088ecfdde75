"""A client generated with openapi-python-client from the running service's
/openapi.json decides, decides in a batch, searches and replays, with typed snapshot
models and no hand-written workaround."""
from __future__ import annotations

import datetime as dt
import importlib
import os
import subprocess
import sys

import pytest

from tests.conftest import BIN, DELINQUENT_SNAPSHOT

pytestmark = pytest.mark.live


@pytest.fixture
def generated(live_server, tmp_path):
    """The client package, generated from what the live service serves."""
    status, _, spec = live_server.request("GET", "/openapi.json", key=None)
    assert status == 200
    (tmp_path / "openapi.json").write_bytes(spec)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run([str(BIN / "openapi-python-client"), "generate", "--path", str(tmp_path / "openapi.json"),
                          "--meta", "none", "--output-path", str(tmp_path / "vigil_client")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "Warning" not in out.stdout + out.stderr, out.stdout + out.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("vigil_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "vigil_client" or m.startswith("vigil_client.")]:
            del sys.modules[name]


def test_a_generated_client_decides_searches_and_replays(live_server, generated):
    from vigil_client import AuthenticatedClient

    with AuthenticatedClient(base_url=f"http://127.0.0.1:{live_server.port}", token=live_server.key) as client:
        decide_batch_search_and_replay(client)


def decide_batch_search_and_replay(client) -> None:
    from vigil_client.api.decision_log import get_v1_decisions, post_v1_decisions_decision_id_replay
    from vigil_client.api.decisions import post_v1_decisions, post_v1_decisions_batch
    from vigil_client.models import (BatchRequest, Decision, DecisionPage, Replay, ReplayRequest,
                                     RetailCardDecisionRequest, RetailCardDecisionRequestRulesetId,
                                     RetailCardSnapshot, RetailCardSnapshotCard, RetailCardSnapshotCreditReport,
                                     RetailCardSnapshotCreditReportOtherBanks, RetailCardSnapshotCustomer,
                                     RetailCardSnapshotCustomerSegment)

    example = DELINQUENT_SNAPSHOT
    snapshot = RetailCardSnapshot(
        customer=RetailCardSnapshotCustomer(id="C-900001", segment=RetailCardSnapshotCustomerSegment.MASS,
                                            months_on_book=48, monthly_income="8000.00"),
        card=RetailCardSnapshotCard(account_id="CARD-900001", limit="20000.00", balance="17000.00",
                                    utilization="0.8500", dpd=0, worst_dpd_12m=0, months_min_payment_only=0,
                                    cash_advance_share="0.0000"),
        credit_report=RetailCardSnapshotCreditReport(
            as_of=dt.date(2026, 3, 31), debt_to_income="0.2500",
            other_banks=RetailCardSnapshotCreditReportOtherBanks(**example["credit_report"]["other_banks"])))
    request = RetailCardDecisionRequest(ruleset_id=RetailCardDecisionRequestRulesetId.RETAIL_CARD,
                                        customer_id="C-900001", snapshot=snapshot)

    decision = post_v1_decisions.sync(client=client, body=request)
    assert isinstance(decision, Decision), decision
    assert decision.level == "orange" and decision.data_quality == []
    assert {(a.action, a.params.to_dict().get("percent")) for a in decision.actions} == {
        ("reduce_limit", 30), ("contact_customer", None)}

    odd = RetailCardSnapshot.from_dict(snapshot.to_dict())
    odd.customer.id, odd.card.utilization = "C-900002", "7.5000"
    batch = post_v1_decisions_batch.sync(client=client, body=BatchRequest(items=[
        request, RetailCardDecisionRequest(ruleset_id=RetailCardDecisionRequestRulesetId.RETAIL_CARD,
                                           customer_id="C-900002", snapshot=odd)]))
    assert [r.status for r in batch.results] == [200, 200]
    flagged = batch.results[1].decision
    assert [(f.field, f.value, f.expectation) for f in flagged.data_quality] == [
        ("card.utilization", "7.5000", "at most 2")]

    page = get_v1_decisions.sync(client=client, customer_id="C-900001",
                                 from_=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    assert isinstance(page, DecisionPage)
    assert [d.decision_id for d in page.decisions] == [batch.results[0].decision.decision_id, decision.decision_id]

    replay = post_v1_decisions_decision_id_replay.sync(decision.decision_id, client=client, body=ReplayRequest())
    assert isinstance(replay, Replay) and replay.identical is True
