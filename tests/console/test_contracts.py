"""Fact contract versions in the browser, on a live gunicorn: an author stores a draft
(a bomb is refused next to the form, naming the field), submits it and cannot approve
it; someone else approves and publishes it, and only then is it served."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from tests.console import steps

pytestmark = [pytest.mark.live, pytest.mark.browser]

CONTRACT = """\
title: Card extras
fields:
  card:
    type: object
    fields:
      autopay:
        type: boolean
        description: Pays by direct debit.
      dpd:
        type: integer
        min: 0
        max: 3650
"""


def served(server, contract_id: str):
    status, _, raw = server.request("GET", f"/v1/schemas/{contract_id}")
    return status, json.loads(raw)


def test_a_contract_version_from_draft_to_served_by_two_people(new_page, console_server):
    server = console_server
    alice = steps.sign_in(new_page(), server.keys["alice_both"], "/console/contracts")
    expect(alice.locator("#contracts")).to_contain_text("retail_card")

    # a bound written as text is refused next to the form, and nothing is stored
    alice.get_by_label("Contract id").fill("card_extras")
    alice.get_by_label("Contract (YAML)").fill(CONTRACT.replace("max: 3650", "max: 1e300000"))
    alice.get_by_role("button", name="Store as a draft").click()
    expect(alice.locator("#new-contract .error")).to_contain_text("card.dpd: max must be a number, not text")
    expect(alice.locator("#contracts")).not_to_contain_text("card_extras")

    alice.get_by_label("Contract (YAML)").fill(CONTRACT)
    alice.get_by_role("button", name="Store as a draft").click()
    expect(alice.get_by_role("heading", level=1)).to_contain_text("contract card_extras version 1 draft")
    assert served(server, "card_extras")[0] == 404  # a draft is not served
    alice.get_by_label("Note for the approver").fill("autopay for the direct-debit campaign")
    alice.get_by_role("button", name="Submit").click()
    expect(alice.get_by_role("heading", level=1)).to_contain_text("submitted")
    # she holds the approve role too, but wrote it: the page says someone else must approve
    expect(alice.locator("#review")).to_contain_text("someone else must approve it")
    expect(alice.get_by_role("button", name="Approve")).to_have_count(0)

    bob = steps.sign_in(new_page(), server.keys["bob"], "/console/contracts/card_extras/versions/1")
    expect(bob.get_by_role("button", name="Submit")).to_have_count(0)
    bob.get_by_role("button", name="Approve").click()
    expect(bob.get_by_role("heading", level=1)).to_contain_text("approved")
    assert served(server, "card_extras")[0] == 404  # approved is not yet published
    bob.get_by_role("button", name="Publish").click()
    expect(bob.get_by_role("heading", level=1)).to_contain_text("published")
    deadline = time.monotonic() + 5  # every worker serves it within its check interval
    while (answer := served(server, "card_extras"))[0] != 200:
        assert time.monotonic() < deadline, answer
        time.sleep(0.1)
    assert answer[1]["versions"] == [1]
    history = bob.locator("#history li")
    expect(history).to_have_count(4)
    expect(history.nth(1)).to_contain_text("autopay for the direct-debit campaign")
    assert [history.nth(n).locator(".what").text_content() for n in range(4)] == [
        "create", "submit", "approve", "publish"]


def test_an_auditor_sees_contracts_but_no_controls(new_page, console_server):
    carol = steps.sign_in(new_page(), console_server.keys["carol"], "/console/contracts")
    expect(carol.locator("#contracts")).to_contain_text("retail_card")
    expect(carol.locator("#new-contract")).to_have_count(0)
    carol.goto("/console/contracts/retail_card/versions/1")
    expect(carol.get_by_role("button", name="Retire version 1")).to_have_count(0)


def test_a_ruleset_version_links_to_the_contract_version_it_reads(new_page, console_server):
    carol = steps.sign_in(new_page(), console_server.keys["carol"], "/console/rulesets/retail_card/versions/1")
    carol.get_by_role("link", name="retail_card@3").click()
    expect(carol.get_by_role("heading", level=1)).to_have_text("contract retail_card version 3 published")
    expect(carol.locator("pre.code")).to_contain_text("utilization:")
