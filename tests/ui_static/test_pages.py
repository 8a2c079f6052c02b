"""The board, the team view and the rules editor in real Chromium."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.integration.conftest import Send
from tests.ui_static.conftest import Page, wait_source_loaded
from tike_cli.gateway_client import fall_alarm, tag, team_on_duty, token
from tike_cli.harness import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_board_shows_a_new_need_within_a_second(open_page: Any, send: Send) -> None:
    board = await open_page("/", "control_room")
    team = tag("sr")
    await team_on_duty(send, team, "743")
    await board.page.wait_for_selector(f"li.team[data-team='{team}']")
    started = time.monotonic()
    need_id = await fall_alarm(send, "743")
    row = board.page.locator(f"#queue li[data-need='{need_id}']")
    await row.wait_for(timeout=5000)
    took = time.monotonic() - started
    assert took < 1.0, f"the need reached the board page after {took:.3f} s"
    assert "Kaatuminen" in await row.inner_text()  # fall_detected, in Finnish
    # The map counts it, and the panel explains the routing.
    assert await board.page.locator("#map g.muni[data-code='743'] .count").count() == 1
    await row.click()
    panel = board.page.locator("#panel")
    await panel.wait_for()
    assert "fall-no-injury" in await panel.locator(".rule-id").inner_text()
    assert await panel.locator(".timeline li").count() >= 2
    await board.page.locator("#kpis .kpi").first.wait_for(timeout=10000)
    await board.shot("board")


async def test_team_accepts_on_its_view_and_the_board_changes(open_page: Any, send: Send) -> None:
    team = tag("sr")
    board = await open_page("/", "control_room")
    phone = await open_page("/team.html", f"team:{team}", width=390, height=844)
    await team_on_duty(send, team, "301", lat=62.62)
    await board.page.wait_for_selector(f"li.team[data-team='{team}']")
    need_id = await fall_alarm(send, "301")
    card = phone.page.locator("article.task-card")
    await card.wait_for(timeout=10000)
    assert await phone.page.locator("#new-alert").is_visible()
    await phone.shot("team")
    await card.locator("button[data-action='accept']").click()
    row = board.page.locator(f"#queue li[data-need='{need_id}']")
    accepted = row.locator(".phase[data-phase='accepted']", has_text="Hyväksytty")
    await accepted.wait_for(timeout=10000)
    assert team in await row.locator(".owner").inner_text()
    await board.page.locator(f"li.team[data-team='{team}'] .task").wait_for()
    # Then en route: the card moves on, and the team's status follows on the board.
    await card.locator("button[data-action='en_route']").click()
    await board.page.locator(f"li.team[data-team='{team}'].status-en_route").wait_for(timeout=10000)


async def test_rules_editor_shows_a_validation_error_at_its_line(open_page: Any) -> None:
    editor = await open_page("/rules.html", "operator")
    source = editor.page.locator("#source")
    await wait_source_loaded(editor.page)
    text = await source.input_value()
    lines = text.split("\n")
    at = lines.index("rules:") + 1  # the first rule goes right after this line
    lines.insert(at, "  - id: broken\n    when: {no_such_field: 1}\n    route: {service: nobody}")
    await source.fill("\n".join(lines))
    await editor.page.locator("#validate").click()
    error = editor.page.locator(".errors li").first
    await error.wait_for(timeout=10000)
    line = int(await error.get_attribute("data-line") or 0)
    assert at + 1 <= line <= at + 3, (line, await error.inner_text())
    assert "broken" in await error.inner_text()
    assert await editor.page.locator(f"#gutter div.err[data-line='{line}']").count() == 1
    await editor.shot("rules")


async def test_language_switch(open_page: Any) -> None:
    board = await open_page("/", "control_room")
    heading = board.page.locator("#queue-h [data-i18n='board.queue']")
    assert await heading.inner_text() == "Avoimet tarpeet"
    await board.page.select_option("#lang", "sv")
    assert await heading.inner_text() == "Öppna behov"
    assert await board.page.get_attribute("html", "lang") == "sv"
    await board.page.select_option("#lang", "en")
    assert await heading.inner_text() == "Open needs"
    # The choice is remembered by the next page.
    await board.page.reload()
    await board.page.wait_for_selector("#conn[data-state='live']")
    assert (
        await board.page.locator("#queue-h [data-i18n='board.queue']").inner_text() == "Open needs"
    )


async def test_control_room_closes_a_need_by_keyboard_with_a_reason(
    open_page: Any, send: Send, gateway: Gateway
) -> None:
    board = await open_page("/", "control_room")
    team = tag("sr")
    await team_on_duty(send, team, "408", lat=62.97, known_at=gateway.url)
    need_id = await fall_alarm(send, "408")
    row = board.page.locator(f"#queue li[data-need='{need_id}']")
    await row.wait_for(timeout=10000)
    await row.focus()
    await board.page.keyboard.press("Enter")
    panel = board.page.locator("#panel")
    await panel.wait_for()
    await panel.locator("#act-close").click()  # no reason yet: refused in the form
    assert await panel.locator(".form-status").inner_text() == "Anna syy"
    await panel.locator("#act-reason").fill("asiakas soitti: väärä hälytys")
    await panel.locator("#act-outcome").select_option("no_need")
    await panel.locator("#act-close").click()
    await row.wait_for(state="detached", timeout=10000)  # closed needs leave the queue
    await board.page.keyboard.press("Escape")
    assert await panel.is_hidden()


async def test_pending_alerts_survive_a_reconnect(
    open_page: Any, send: Send, gateway: Gateway
) -> None:
    team = tag("sr")
    phone = await open_page("/team.html", f"team:{team}", width=390, height=844)
    await team_on_duty(send, team, "232", lat=62.43, known_at=gateway.url)
    await fall_alarm(send, "232")
    card = phone.page.locator("article.task-card")
    await card.wait_for(timeout=10000)
    dispatch_id = await card.get_attribute("data-dispatch")
    await phone.page.reload()  # the phone lost its page; the offer is still pending
    await phone.page.wait_for_selector("#conn[data-state='live']")
    again = phone.page.locator(f"article.task-card[data-dispatch='{dispatch_id}']")
    await again.wait_for(timeout=10000)
    assert await phone.page.locator("#new-alert").is_visible()
    assert await again.locator("button[data-action='accept']").is_visible()


async def test_sign_in_takes_a_token_and_refuses_a_bad_one(browser: Any, gateway: Gateway) -> None:
    context = await browser.new_context()
    page = Page(await context.new_page())
    try:
        await page.page.goto(f"{gateway.url}/")
        form = page.page.locator("#login form")
        await form.wait_for()
        await page.page.fill("#token-input", "not-a-token")
        await page.page.press("#token-input", "Enter")
        await page.page.locator("#login .error", has_text="malformed token").wait_for()
        await page.page.fill("#token-input", token("control_room"))
        await page.page.press("#token-input", "Enter")
        await page.page.wait_for_selector("#conn[data-state='live']", timeout=15000)
        assert await page.page.locator("#login").is_hidden()
    finally:
        await context.close()
    # The refused token's 401 is the only console error.
    assert all("401" in e for e in page.errors), page.errors
