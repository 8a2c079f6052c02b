"""Every word in the user's language: the board and the team view under storm traffic, in
Finnish, Swedish and English, show no raw value (snake_case codes, FHIR codes, label keys).

The storm comes from the simulator itself (its teams answering), so the pages show every
kind of need, phase, dispatch state, escalation and team status that a storm produces.
Identifiers and rule text are code and are shown as code (``<code>``); the check reads the
visible text outside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from simulators.basic import run as simulate
from simulators.scenario import load_scenario
from tike.regions import load_registry
from tike_cli.gateway_client import token
from tike_cli.harness import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
CATEGORIES = [
    c
    for c in json.loads((ROOT / "ui_static/i18n/labels.json").read_text(encoding="utf-8"))
    if not c.startswith("_")
]
SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
#: A label key shown instead of its label (i18n.js shows the key when a label is missing).
KEY = re.compile(r"\b(?:" + "|".join(map(re.escape, [*CATEGORIES, "signal"])) + r")\.[\w-]+")
FHIR = re.compile(r"\b(?:in-progress|en-route|on-site)\b")
LANGS = {"fi": "Avoimet tarpeet", "sv": "Öppna behov", "en": "Open needs"}

#: The visible text of the page outside <code>: text nodes whose element is rendered.
VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || el.closest("code, title, script, style, textarea, option")) continue;
    if (!el.checkVisibility({ visibilityProperty: true })) continue;
    if (node.textContent.trim()) out.push(node.textContent.trim());
  }
  for (const sel of document.querySelectorAll("select")) {
    if (sel.checkVisibility() && sel.selectedOptions[0]) out.push(sel.selectedOptions[0].text);
  }
  return out.join("\\n");
}"""


def raw_values(text: str) -> list[str]:
    return sorted(set(SNAKE.findall(text)) | set(KEY.findall(text)) | set(FHIR.findall(text)))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def storm(broker: str, gateway: Gateway) -> AsyncIterator[dict[str, Any]]:
    """The storm scenario on a clock 60 times faster, its teams answering; yields the board
    once it holds open needs in several phases, with an escalation."""
    region = load_registry().region("etela-pohjanmaa")
    # A tenth of the devices: the storm's alarms and calls at full rate, fewer heartbeats.
    scenario = load_scenario("storm").model_copy(update={"device_share": 0.1})
    task = asyncio.create_task(
        simulate(
            broker, region, seed=11, rate=3, duration_s=6 * 3600, time_scale=60, scenario=scenario
        )
    )
    headers = {"Authorization": f"Bearer {token('control_room')}"}
    deadline = time.monotonic() + 90
    board: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
        while time.monotonic() < deadline:
            board = (await client.get("/api/board")).json()
            needs = [i["data"] for i in board["items"] if i["entity"] == "need"]
            phases = {n["phase"] for n in needs if n["status"] == "open"}
            if len(needs) >= 15 and "escalated" in phases and len(phases) >= 3:
                break
            await asyncio.sleep(1)
    assert not task.done() or task.exception() is None
    yield board
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def visible(page: Any) -> str:
    return str(await page.evaluate(VISIBLE_TEXT))


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
async def test_the_board_under_a_storm_shows_no_raw_value(
    browser: Any, gateway: Gateway, storm: dict[str, Any], lang: str
) -> None:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    try:
        await context.add_init_script(f"localStorage.setItem('tike.lang', '{lang}')")
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{gateway.url}/#token={token('control_room')}")
        await page.wait_for_selector("#conn[data-state='live']", timeout=15000)
        await page.locator("#queue li.need").nth(4).wait_for(timeout=15000)
        await page.locator("#kpis .kpi").first.wait_for(timeout=15000)
        board = await visible(page)
        assert LANGS[lang] in board
        assert not raw_values(board), (lang, raw_values(board))
        # A need's panel: its timeline, why it was routed and the team candidates; an
        # escalated one (the alert's reason) and one a team holds.
        panels = 0
        for selector in ("#queue li.need.alerting", "#queue li.need:not(.alerting)"):
            # The queue redraws under the storm: click in the page, not through a locator.
            clicked = await page.evaluate(
                "(sel) => { const row = document.querySelector(sel); row?.click(); return !!row; }",
                selector,
            )
            if clicked:
                await page.locator("#panel .timeline li").first.wait_for(timeout=5000)
                panels += 1
                panel = await visible(page)
                assert not raw_values(panel), (lang, selector, raw_values(panel))
        assert panels == 2, "the storm should give an escalated need and one a team holds"
        # A simulated team's phone while it works.
        teams = [i["data"] for i in storm["items"] if i["entity"] == "team"]
        busy = next((t["team_id"] for t in teams if t.get("status") != "available"), None)
        team = busy or teams[0]["team_id"]
        phone = await context.new_page()
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        await phone.goto(f"{gateway.url}/team.html#token={token(f'team:{team}')}")
        await phone.wait_for_selector("#conn[data-state='live']", timeout=15000)
        await phone.wait_for_timeout(1500)
        text = await visible(phone)
        assert not raw_values(text), (lang, team, raw_values(text))
    finally:
        await context.close()
    assert not errors, errors


async def test_the_raw_value_check_finds_what_it_is_for() -> None:
    assert raw_values("Kiireellinen · palliative_care · Lapua") == ["palliative_care"]
    assert raw_values("dstatus.in-progress") == ["dstatus.in-progress", "in-progress"]
    assert raw_values("Kotihoito · sim-home-care-1 · 85+ v · 07.29") == []
