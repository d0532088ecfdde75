"""The policy-staff journeys as steps a person takes in the browser, shared by the
end-to-end test and the README's screenshots (bin/screenshots)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

VIEWPORT = {"width": 1360, "height": 900}


def sign_in(page, key: str, next_path: str = "/console/rulesets"):
    page.goto(next_path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".who .person")).to_be_visible()
    return page


def screenshots(browser, url: str, keys: dict, out: Path) -> list[Path]:
    shots: list[Path] = []

    def shot(page, name: str, full: bool = False) -> None:
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        shots.append(path)

    context = browser.new_context(base_url=url, viewport=VIEWPORT)
    page = context.new_page()
    page.goto("/console/sign-in")
    shot(page, "sign-in")
    sign_in(page, keys["alice"])
    shot(page, "rulesets")
    page.get_by_role("link", name="retail_card", exact=True).click()
    shot(page, "ruleset")
    page.get_by_role("button", name="Start a draft").click()
    editor = page.locator("textarea#document")
    text = editor.input_value().replace("card.utilization > 0.80", "card.utilisation > 0.80", 1)
    editor.fill(text)
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#problems .error")).to_be_visible()
    page.locator("#problems a.line").first.click()
    shot(page, "edit-check")
    context.close()
    return shots
