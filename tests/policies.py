"""Policy changes the governance tests make, as policy staff would: edits of the shipped
retail card ruleset and its scenarios, as YAML text."""

from __future__ import annotations

import json

from tests.conftest import ROOT

RETAIL = (ROOT / "rulesets" / "retail_card.yaml").read_text()
RETAIL_SCENARIOS = (ROOT / "rulesets" / "retail_card.scenarios.yaml").read_text()

# Rule ACT-010 (RCP-2026 5.1): overdue elsewhere with utilization above 80%.
_ACT_010_CUT = "      - reduce_limit: {percent: 30}\n      - contact_customer\n    reason: \"overdue at other banks"
_ACT_010_WHEN = "when: signal(external_delinquency) and card.utilization > 0.80"
# Its scenario, the DOMAIN example, is the first to expect a 30% cut.
_DOMAIN_EXPECT = "params: {reduce_limit: {percent: 30}}"


def act010_cut(percent: int) -> tuple[str, str]:
    """The ruleset and scenarios with ACT-010 cutting the limit by ``percent``."""
    assert RETAIL.count(_ACT_010_CUT) == 1 and _DOMAIN_EXPECT in RETAIL_SCENARIOS
    policy = RETAIL.replace(_ACT_010_CUT, _ACT_010_CUT.replace("30", str(percent)))
    tests = RETAIL_SCENARIOS.replace(_DOMAIN_EXPECT, _DOMAIN_EXPECT.replace("30", str(percent)), 1)
    return policy, tests


def misspelt(policy: str) -> str:
    """ACT-010 reading card.utilisation, which the contract does not have."""
    assert policy.count(_ACT_010_WHEN) == 1
    return policy.replace(_ACT_010_WHEN, _ACT_010_WHEN.replace("utilization", "utilisation"))


def draft_body(policy: str, tests: str | None = None) -> str:
    """A draft upload as JSON text, the documents as YAML text."""
    body = {"document": policy}
    if tests is not None:
        body["scenarios"] = tests
    return json.dumps(body)
