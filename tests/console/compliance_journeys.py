"""The README's compliance screenshots: a compliance officer's journeys through the
decision log, photographed on a server with logged decisions (used by bin/screenshots)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.console import steps

VIEWPORT = {"width": 1360, "height": 900}
CUSTOMER = "C-90001"


def seed(server) -> None:
    """A customer whose level moved: clean, overdue elsewhere, better, overdue again."""
    from tests.conftest import DELINQUENT_SNAPSHOT, clean_snapshot, decision_request

    for n, explain in enumerate(("summary", "full", "summary", "full", "summary")):
        snapshot = clean_snapshot(CUSTOMER) if n % 2 == 0 else {**DELINQUENT_SNAPSHOT,
                                                                 "customer": {**DELINQUENT_SNAPSHOT["customer"],
                                                                              "id": CUSTOMER}}
        status, _, _ = server.request("POST", "/v1/decisions", decision_request(snapshot, explain=explain))
        assert status == 201, status


def screenshots(browser, url: str, key: str, out: Path, customer: str = CUSTOMER) -> list[Path]:
    shots: list[Path] = []

    def shot(page, name: str, full: bool = False) -> None:
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        shots.append(path)

    context = browser.new_context(base_url=url, viewport=VIEWPORT)
    try:
        page = steps.sign_in(context.new_page(), key, "/console/decisions")
        page.get_by_label("Customer").fill(customer)
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#results tbody tr").first).to_be_visible()
        shot(page, "compliance-search")
        page.locator("#results tbody tr a[href*='/console/decisions/']").first.click()
        shot(page, "compliance-decision", True)
        page.get_by_role("button", name="Replay this decision").click()
        expect(page.locator("#verdict")).to_be_visible()
        page.goto(f"/console/customers/{customer}")
        shot(page, "compliance-history", True)
        page.goto("/console/log")
        page.get_by_role("button", name="Verify the log").click()
        expect(page.locator("#result")).to_be_visible()
        shot(page, "compliance-verify")
        page.goto("/console/holds")
        page.get_by_label("Customer id").fill(customer)
        page.get_by_label("Reason", exact=True).fill("complaint 2026-118")
        page.get_by_role("button", name="Place hold").click()
        expect(page.locator(".notice")).to_be_visible()
        page.get_by_role("button", name="Show what a purge would remove").click()
        expect(page.locator("#preview")).to_be_visible()
        shot(page, "compliance-holds")
        page.goto("/console/audit?action=decision.")
        expect(page.locator("#events")).to_be_visible()
        shot(page, "compliance-audit")
    finally:
        context.close()
    return shots
