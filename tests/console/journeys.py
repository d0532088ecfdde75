"""The README's console screenshots: the policy-staff journeys of tests/console/steps.py
walked on a fresh server, photographed on the way (used by bin/screenshots)."""

from __future__ import annotations

from pathlib import Path

from tests.console import steps

VIEWPORT = {"width": 1360, "height": 900}


def screenshots(browser, url: str, keys: dict, out: Path, decide=None) -> list[Path]:
    shots: list[Path] = []

    def shot(page, name: str, full: bool = False) -> None:
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        shots.append(path)

    contexts = []

    def page_for(key):
        context = browser.new_context(base_url=url, viewport=VIEWPORT)
        contexts.append(context)
        return steps.sign_in(context.new_page(), key)

    try:
        first = browser.new_context(base_url=url, viewport=VIEWPORT)
        contexts.append(first)
        page = first.new_page()
        page.goto("/console/sign-in")
        shot(page, "sign-in")
        alice = page_for(keys["alice"])
        version = steps.start_draft(alice, shot)
        steps.edit_with_a_mistake_then_fix(alice, 35, shot)
        steps.run_scenarios(alice, shot)
        steps.fix_scenario(alice, 35)
        steps.compare_with_in_effect(alice, version, shot)
        steps.try_snapshot(alice, version, shot)
        steps.simulate_on_the_log(alice, version, shot)
        steps.submit(alice, version, "ACT-010 cuts 35% from May (RCP-2026 5.1 revised)")
        bob = page_for(keys["bob"])
        steps.approve_and_publish(bob, version, shot)
    finally:
        for context in contexts:
            context.close()
    return shots
