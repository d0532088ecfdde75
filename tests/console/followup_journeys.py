"""The README's follow-up screenshots: an account manager's tasks, one completed with its
evidence, one overdue once the clock moved on, and the evaluation (used by bin/screenshots,
on a server started with VIGIL_CLOCK_FILE)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

from playwright.sync_api import expect

from tests.console import steps

VIEWPORT = {"width": 1360, "height": 900}
MANAGER = "rm.li"
CUSTOMERS = ("C-91001", "C-91002", "C-91003", "C-91004")


def seed(server) -> None:
    """Four customers of one manager, overdue elsewhere: a contact task each."""
    from tests.conftest import DELINQUENT_SNAPSHOT, decision_request

    for n, customer in enumerate(CUSTOMERS):
        snapshot = copy.deepcopy(DELINQUENT_SNAPSHOT)
        snapshot["customer"].update({"id": customer, "account_manager": MANAGER, "branch": "B01"})
        if n == 0:
            snapshot["credit_report"]["other_banks"]["worst_dpd"] = 120  # red: contact within 2 days
        status, _, _ = server.request("POST", "/v1/decisions", decision_request(snapshot))
        assert status == 201, status


def screenshots(browser, url: str, keys: dict, clock_file: Path, out: Path) -> list[Path]:
    shots: list[Path] = []

    def shot(page, name: str, full: bool = False) -> None:
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        shots.append(path)

    contexts = [browser.new_context(base_url=url, viewport=VIEWPORT) for _ in range(2)]
    try:
        officer = steps.sign_in(contexts[0].new_page(), keys["officer"], "/console/")
        officer.locator("#tasks tbody tr a").nth(1).click()
        officer.get_by_label("What was done").fill("Called the customer; agreed a payment plan.")
        officer.get_by_label("Date of contact").fill(dt.datetime.now(dt.timezone.utc).date().isoformat())
        officer.get_by_label("Outcome").select_option("promised_to_pay")
        officer.get_by_role("button", name="Mark done").click()
        expect(officer.locator(".notice")).to_be_visible()
        shot(officer, "follow-up-task", True)
        clock_file.write_text((dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        officer.goto("/console/tasks")
        expect(officer.locator("#tasks .badge-overdue").first).to_be_visible()
        shot(officer, "follow-up-my-tasks")
        officer.locator("#tasks tbody tr a").last.click()
        officer.get_by_label("Reason").fill("Customer repaid in full at the branch")
        officer.get_by_role("button", name="Request a waiver").click()
        expect(officer.locator(".notice")).to_be_visible()
        approver = steps.sign_in(contexts[1].new_page(), keys["carol"], "/console/follow-up/report")
        shot(approver, "follow-up-evaluation", True)
    finally:
        for context in contexts:
            context.close()
    return shots
