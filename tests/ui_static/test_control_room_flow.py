"""The control room's flows on the board, to their end, by clicks in real Chromium: whom to
call (pseudonym, device id, copy buttons), acknowledge, reassign, close, and a refused action
whose reason comes back on the board."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tests.integration.conftest import Send
from tests.ui_static.conftest import Page
from tike import topics
from tike.examples import example
from tike.records import stable_id
from tike_cli.gateway_client import responder, tag

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEUVA = ("846", 62.49, 21.74)  # teams on duty here in this module
SOINI = "759"  # no team covers it: its needs escalate to the control room at once


async def on_duty(send: Send, team_id: str, where: tuple[str, float, float]) -> None:
    """A safety responder on duty right at a municipality's centre (on its map circle)."""
    code, lat, lon = where
    status = responder(team_id, capacity=50, location={"lat": lat, "lon": lon}, coverage=[code])
    await send(topics.TEAM_STATUS, status)


async def alarm(send: Send, municipality: str, client: str, device: str) -> str:
    """A fall alarm of one client's device; return its need id."""
    data = orjson.loads(example("safety_alarm").model_dump_json())
    data.update(
        status_code="fall_detected",
        operator_assessment="no_injury",
        client=client,
        device_id=device,
        municipality=municipality,
        client_flags=[],
    )
    await send(topics.ALARMS, data)
    return stable_id("need", "alarm", data["event_id"])


def ids() -> tuple[str, str]:
    suffix = tag("x")[2:]
    return f"as-{suffix}", f"dev-{suffix}"


def overlap(a: dict[str, float] | None, b: dict[str, float] | None) -> bool:
    assert a and b
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


async def box(locator: Any) -> dict[str, float]:
    """A bounding box; the map is redrawn every second, so a node may be gone for a moment."""
    for _ in range(50):
        found = await locator.bounding_box()
        if found:
            return dict(found)
        await locator.page.wait_for_timeout(100)
    raise AssertionError(f"{locator} has no box")


async def timeline(board: Page) -> str:
    return await board.page.locator("#panel .timeline").inner_text()


async def test_escalated_alerts_say_whom_to_call_and_are_acknowledged_without_the_word(
    open_page: Any, send: Send
) -> None:
    board = await open_page("/", "control_room")
    await board.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    (c1, d1), (c2, d2) = ids(), ids()
    first = await alarm(send, SOINI, c1, d1)
    second = await alarm(send, SOINI, c2, d2)
    banner = board.page.locator("#alerts")
    one = banner.locator(f".alert-item[data-need='{first}']")
    two = banner.locator(f".alert-item[data-need='{second}']")
    await one.wait_for(timeout=10000)
    await two.wait_for(timeout=10000)
    # Two falls in Soini: the banner tells them apart by the pseudonym and the device id.
    text1, text2 = await one.inner_text(), await two.inner_text()
    assert c1 in text1 and d1 in text1 and c2 in text2 and d2 in text2, (text1, text2)
    assert await one.locator("button.copy").count() == 2
    row = board.page.locator(f"#queue li[data-need='{first}']")
    assert c1 in await row.locator(".who").inner_text()
    assert d1 in await row.locator(".who").inner_text()
    await row.locator(".phase[data-phase='escalated']", has_text="Eskaloitu").wait_for()
    # Copy the device id from the queue row: the clipboard has it, the row is not selected.
    await row.locator(f"button.copy[data-copy='{d1}']").click()
    await row.locator(f"button.copy[data-copy='{d1}'][data-copied='yes']").wait_for()
    assert await board.page.evaluate("navigator.clipboard.readText()") == d1
    assert await board.page.locator("#panel").is_hidden()

    # One click in the banner acknowledges and records no reason (never the button's word).
    await one.locator("button.ack").click()
    await one.wait_for(state="detached", timeout=10000)
    await row.click()
    await board.page.locator(
        "#panel .timeline li[data-what='acknowledged']", has_text="Kuitattu"
    ).wait_for()
    assert "Kuittaa" not in await timeline(board)
    assert c1 in await board.page.locator("#panel .ident-client").inner_text()
    assert await board.page.locator("#panel .ident-device_id button.copy").count() == 1
    # The other one through the panel, with a reason.
    await board.page.locator(f"#queue li[data-need='{second}']").click()
    panel = board.page.locator("#panel")
    await panel.locator(".ident-client", has_text=c2).wait_for()
    await panel.locator("#act-reason").fill("soitettu asiakkaalle, kunnossa")
    await panel.locator("#act-ack").click()
    await panel.locator(".form-status", has_text="Vastaanotettu käsiteltäväksi").wait_for()
    await two.wait_for(state="detached", timeout=10000)
    await panel.locator(".timeline li", has_text="soitettu asiakkaalle, kunnossa").wait_for()
    assert "Kuittaa" not in await timeline(board)


async def test_reassign_and_close_by_clicks(open_page: Any, send: Send) -> None:
    board = await open_page("/", "control_room")
    first, other = tag("sr"), tag("sr")
    await on_duty(send, first, TEUVA)
    await board.page.wait_for_selector(f"li.team[data-team='{first}']")
    await on_duty(send, other, ("846", 62.60, 21.40))
    await board.page.wait_for_selector(f"li.team[data-team='{other}']")
    client, device = ids()
    need_id = await alarm(send, TEUVA[0], client, device)
    row = board.page.locator(f"#queue li[data-need='{need_id}']")
    await row.locator(".phase[data-phase='offered']", has_text="Tarjottu").wait_for(timeout=10000)
    assert first in await row.locator(".owner").inner_text()
    assert device in await row.locator(".who").inner_text()
    await row.click()
    panel = board.page.locator("#panel")
    await panel.wait_for()
    await panel.locator(".phase[data-phase='offered']", has_text="Tarjottu").wait_for()
    # Reassign to the other team.
    await panel.locator("#act-reason").fill("lähempänä oleva tiimi")
    await panel.locator("#act-team").select_option(other)
    await panel.locator("#act-reassign").click()
    await panel.locator(".form-status", has_text="Vastaanotettu käsiteltäväksi").wait_for()
    await row.locator(".owner", has_text=other).wait_for(timeout=10000)
    await panel.locator(
        ".timeline li[data-what='reassigned']", has_text="Siirretty"
    ).first.wait_for(timeout=10000)
    # Close it: it leaves the queue, and the panel says closed.
    await panel.locator("#act-reason").fill("asiakas soitti: väärä hälytys")
    await panel.locator("#act-outcome").select_option("no_need")
    await panel.locator("#act-close").click()
    await row.wait_for(state="detached", timeout=10000)
    await panel.locator(".phase[data-phase='closed']", has_text="Suljettu").wait_for()
    assert await panel.locator("#act-close").count() == 0


async def test_a_refused_close_says_why_on_the_board_within_a_second(
    open_page: Any, send: Send
) -> None:
    """Two control-room users close the same need: the second is accepted for processing,
    then refused by the worker, and its reason comes on the second user's board."""
    team = tag("sr")
    mine = await open_page("/", "control_room")
    theirs = await open_page("/", "control_room")
    await on_duty(send, team, TEUVA)
    need_id = await alarm(send, TEUVA[0], *ids())
    panels = []
    for board in (mine, theirs):
        await board.page.locator(f"#queue li[data-need='{need_id}']").click(timeout=10000)
        panels.append(board.page.locator("#panel"))
    mine_panel, their_panel = panels
    await their_panel.locator("#act-reason").fill("ei tarvetta")  # typing, when ...
    await mine_panel.locator("#act-reason").fill("hoidettu puhelimessa")
    await mine_panel.locator("#act-close").click()  # ... the first user closes it
    await theirs.page.locator(f"#queue li[data-need='{need_id}']").wait_for(
        state="detached", timeout=10000
    )
    started = time.monotonic()
    await their_panel.locator("#act-close").click()
    # Not "sent", not "done": accepted for processing.
    await their_panel.locator(".form-status", has_text="Vastaanotettu käsiteltäväksi").wait_for()
    notice = their_panel.locator(".notices .notice", has_text="Tarve on jo käsitelty (Suljettu)")
    await notice.wait_for(timeout=5000)
    took = time.monotonic() - started
    assert took < 1.0, f"the refusal reached the board after {took:.3f} s"
    assert "Sulje tarve" in await notice.inner_text()


async def test_a_refused_reassign_marks_the_queue_row(open_page: Any, send: Send) -> None:
    """A team that is gone by the time the worker decides (here: an option the board never
    listed, added to the select) cannot take the need: the refusal marks the queue row and
    shows in the panel."""
    board = await open_page("/", "control_room")
    team = tag("sr")
    await on_duty(send, team, TEUVA)
    need_id = await alarm(send, TEUVA[0], *ids())
    row = board.page.locator(f"#queue li[data-need='{need_id}']")
    await row.wait_for(timeout=10000)
    await row.click()
    panel = board.page.locator("#panel")
    await panel.locator("#act-reason").fill("siirto")
    # The select lists the board's teams; add one the worker has never heard of.
    await panel.locator("#act-team").evaluate(
        "(s) => s.append(new Option('sr-ghost', 'sr-ghost', true, true))"
    )
    await panel.locator("#act-reassign").click()
    why = "Tuntematon tiimi: sr-ghost"  # the worker's "unknown team sr-ghost", in Finnish
    await panel.locator(".notices .notice", has_text=why).wait_for(timeout=5000)
    await row.locator(".notice-marker", has_text=why).wait_for(timeout=5000)
    assert "refused" in (await row.get_attribute("class") or "")


async def test_layout_kpi_format_and_silent_device_filter(open_page: Any, send: Send) -> None:
    board = await open_page("/", "control_room")
    page = board.page
    team = tag("sr")
    await on_duty(send, team, TEUVA)  # right on Teuva's circle
    need_id = await alarm(send, TEUVA[0], *ids())
    row = page.locator(f"#queue li[data-need='{need_id}']")
    await row.wait_for(timeout=10000)
    # A team marker never covers a municipality's open count.
    count = page.locator(f"#map g.muni[data-code='{TEUVA[0]}'] .count")
    marker = page.locator(f"#map g.team-dot[data-team='{team}'] rect")
    await marker.wait_for(timeout=10000)
    assert not overlap(await box(count), await box(marker))
    # The need panel covers neither the KPI strip nor the map.
    await row.click()
    panel = page.locator("#panel")
    await panel.wait_for()
    await page.locator("#kpis .kpi").first.wait_for(timeout=10000)
    place = await box(panel)
    for other in ("#kpis", "#map", "#queue"):
        assert not overlap(place, await box(page.locator(other))), other
    await board.shot("board-panel")
    # Silent devices: one source value from the contracts to the filter and its label.
    option = page.locator("#f-source option[value='device_supervision']")
    assert await option.inner_text() == "Laite hiljaa"
    # KPI times: seconds under a minute, minutes and seconds above it.
    await page.evaluate(
        """() => {
          const s = window.tikeBoard.state, key = `kpi:${s.region.id}`, item = s.items.get(key);
          // The newest version: the worker's next KPI delta does not replace it.
          const day = { ...item.data["24h"], offer_to_accept: { median_s: 12.2 },
                        accept_to_on_site: { median_s: 185 } };
          s.items.set(key, { ...item, version: Number.MAX_SAFE_INTEGER,
                             data: { ...item.data, "24h": day } });
        }"""
    )
    kpis = page.locator("#kpis")
    await kpis.locator(".kpi", has_text="12 s").wait_for(timeout=3000)
    await kpis.locator(".kpi", has_text="3 min 05 s").wait_for(timeout=3000)
