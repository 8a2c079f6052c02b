"""The operator's flow in the rules editor, to its end, by clicks in real Chromium: edit the
ruleset, check it, dry-run it against the recorded needs, activate it, and see it in force
(on the page and in the worker's next routing decision on the board)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Send
from tests.ui_static.conftest import wait_source_loaded
from tike_cli.gateway_client import fall_alarm, tag, team_on_duty

pytestmark = pytest.mark.asyncio(loop_scope="module")

OLD_ROUTE = "route: {service: safety_responder, priority: urgent, sla_minutes: 45,"
NEW_ROUTE = "route: {service: safety_responder, priority: asap, sla_minutes: 30,"


async def test_operator_edits_checks_dry_runs_and_activates_a_ruleset(
    open_page: Any, send: Send
) -> None:
    team = tag("sr")
    await team_on_duty(send, team, "743")
    recorded = await fall_alarm(send, "743")  # a need for the dry-run to replay
    board = await open_page("/", "control_room")
    await board.page.locator(f"#queue li[data-need='{recorded}']").wait_for(timeout=10000)

    editor = await open_page("/rules.html", "operator")
    page = editor.page
    await wait_source_loaded(page)
    label = await page.locator("#active-label").inner_text()
    assert "sote-default@" in label
    text = await page.locator("#source").input_value()
    version = text.split('version: "', 1)[1].split('"', 1)[0]
    assert OLD_ROUTE in text
    # Edit: fall-no-injury becomes more urgent, under a new version.
    edited = text.replace(f'version: "{version}"', 'version: "9.9.1"').replace(OLD_ROUTE, NEW_ROUTE)
    await page.locator("#source").fill(edited)
    # Check.
    await page.locator("#validate").click()
    await page.locator("#check .valid", has_text="sote-default@9.9.1").wait_for(timeout=10000)
    # Dry-run: the recorded fall would now be asap.
    await page.locator("#dryrun").click()
    result = page.locator("#dryrun-result")
    changed = result.locator("table.changes tbody tr", has_text=recorded)
    await changed.wait_for(timeout=15000)
    assert "Turva-auttaja, Kiireellinen" in await changed.inner_text()  # safety_responder, asap
    # Activate, with a comment.
    await page.locator("#comment").fill("kaatumiset kiireellisemmiksi")
    await page.locator("#activate").click()
    status = page.locator("#activate-status")
    await status.filter(has_text="Otettu käyttöön: sote-default@9.9.1").wait_for(timeout=15000)
    # In force on the page: the badge and the history's starred row with the comment.
    await page.locator("#active-label", has_text="sote-default@9.9.1").wait_for(timeout=10000)
    top = page.locator("#history tr.active")
    assert await top.count() == 1
    row = await top.inner_text()
    assert "sote-default@9.9.1" in row and "kaatumiset kiireellisemmiksi" in row
    assert "tester@example.fi" in row  # the token's subject, not its role
    # The working copy is what is now in force, and the comment field is ready for the next.
    assert await page.locator("#source").input_value() == edited
    assert await page.locator("#comment").input_value() == ""
    await editor.shot("rules-activated")

    # In force on the worker: the next fall is routed by the new ruleset, as asap.
    need_id = ""
    for _ in range(20):
        need_id = await fall_alarm(send, "743")
        row_ = board.page.locator(f"#queue li[data-need='{need_id}']")
        await row_.wait_for(timeout=10000)
        if "prio-asap" in (await row_.get_attribute("class") or ""):
            break
        await board.page.wait_for_timeout(500)
    else:
        pytest.fail("the worker never routed by the activated ruleset")
    await board.page.locator(f"#queue li[data-need='{need_id}']").click()
    panel = board.page.locator("#panel")
    await panel.locator("dd", has_text="sote-default@9.9.1").wait_for(timeout=5000)
