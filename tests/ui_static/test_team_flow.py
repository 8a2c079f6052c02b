"""The mobile team view walks a dispatch to its end, by taps only, in real Chromium.

Every action here is a click on the team page; the API is only read, to check where the need
ended up (its outcome, its timeline).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Send
from tests.ui_static.conftest import Page
from tike_cli.gateway_client import bearer, fall_alarm, tag, team_on_duty
from tike_cli.harness import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")
PHONE = {"width": 390, "height": 844}


async def _need(gateway: Gateway, need_id: str, done: Any, timeout: float = 15) -> dict[str, Any]:
    """The need's board data once ``done(data)`` holds (read with a control-room token)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        while True:
            resp = await http.get(f"/api/needs/{need_id}", headers=bearer("control_room"))
            data: dict[str, Any] = resp.json().get("data") or {} if resp.status_code == 200 else {}
            if data and done(data):
                return data
            assert time.monotonic() < deadline, f"need {need_id} never got there: {data}"
            await asyncio.sleep(0.2)


async def _offer(
    open_page: Any, send: Send, gateway: Gateway, municipality: str, lat: float
) -> tuple[Page, str]:
    team = tag("sr")
    phone = await open_page("/team.html", f"team:{team}", **PHONE)
    await team_on_duty(send, team, municipality, lat=lat, known_at=gateway.url)
    return phone, await fall_alarm(send, municipality)


async def test_team_walks_a_dispatch_to_completed_with_an_outcome(
    open_page: Any, send: Send, gateway: Gateway
) -> None:
    phone, need_id = await _offer(open_page, send, gateway, "301", 62.62)
    card = phone.page.locator("article.task-card")
    await card.wait_for(timeout=10000)
    status = card.locator(".status")
    assert (await status.inner_text()).startswith("Tarjottu")  # no raw FHIR status
    await card.locator("button[data-action='accept']").click()
    await card.locator(".status", has_text="Hyväksytty").wait_for(timeout=10000)
    await card.locator("button[data-action='en_route']").click()
    await card.locator(".status", has_text="Matkalla kohteeseen").wait_for(timeout=10000)
    await card.locator("button[data-action='on_site']").click()
    await card.locator(".status", has_text="Kohteessa").wait_for(timeout=10000)
    # Completing asks for the outcome first; the select and the button are real elements.
    complete = card.locator("button[data-action='complete']")
    assert "object HTML" not in await card.inner_text()
    await complete.click()
    assert await card.locator(".form-status").inner_text() == "Valitse lopputulos ensin"
    await card.locator("select.outcome").select_option("urgent_clinic")
    await phone.shot("team-complete")
    await complete.click()
    await card.wait_for(state="detached", timeout=10000)
    assert "Valmis" in await phone.page.locator("#last-result").inner_text()
    data = await _need(gateway, need_id, lambda d: d.get("phase") in ("completed", "closed"))
    assert data["outcome"] == "urgent_clinic", data
    assert data["phase"] == "completed", data


async def test_team_declines_with_a_reason_typed_in_the_card(
    open_page: Any, send: Send, gateway: Gateway
) -> None:
    phone, need_id = await _offer(open_page, send, gateway, "408", 62.97)
    card = phone.page.locator("article.task-card")
    await card.wait_for(timeout=10000)
    await card.locator("button[data-action='decline']").click()
    reason = card.locator("input.decline-reason")
    assert await reason.evaluate("el => el === document.activeElement")
    confirm = card.locator("button[data-action='decline-confirm']")
    await confirm.click()  # no reason: refused in the form, nothing sent
    assert await card.locator(".form-status").inner_text() == "Anna syy"
    assert await card.locator(".pending").count() == 0
    why = "auto rikki, ei pääse paikalle"
    await reason.fill(why)
    await confirm.click()
    await card.wait_for(state="detached", timeout=10000)
    assert "Hylätty" in await phone.page.locator("#last-result").inner_text()
    data = await _need(gateway, need_id, lambda d: any(e[1] == "declined" for e in d["timeline"]))
    declined = [e for e in data["timeline"] if e[1] == "declined"]
    assert why in declined[0][2], data["timeline"]


async def test_one_tap_arms_sound_and_vibration(
    open_page: Any, send: Send, gateway: Gateway
) -> None:
    team = tag("sr")
    phone = await open_page("/team.html", f"team:{team}", **PHONE)
    said: list[str] = []
    phone.page.on("console", lambda msg: said.append(f"{msg.type}: {msg.text}"))
    arm, armed = phone.page.locator("#arm"), phone.page.locator("#armed")
    assert await arm.is_visible() and await armed.is_hidden()
    assert await arm.inner_text() == "Ota äänihälytykset käyttöön"
    # An offer before the tap: the banner shows, and no sound is tried without a gesture.
    await team_on_duty(send, team, "232", lat=62.43, known_at=gateway.url)
    await fall_alarm(send, "232")
    await phone.page.locator("article.task-card").wait_for(timeout=10000)
    assert await phone.page.locator("#new-alert").is_visible()
    await arm.click()
    await armed.wait_for(timeout=5000)
    assert await armed.inner_text() == "Ääni ja värinä käytössä"
    assert await arm.is_hidden()
    assert not [s for s in said if "AudioContext" in s], said


async def test_a_refusal_survives_a_reload(open_page: Any, send: Send, gateway: Gateway) -> None:
    """Two phones of one team: one accepts, the other (its frames held back, so it still shows
    the offer) declines. The worker refuses the decline; the refusal stays after a reload."""
    team = tag("sr")
    first = await open_page("/team.html", f"team:{team}", **PHONE)
    second = await open_page("/team.html", f"team:{team}", **PHONE)
    holding, held = False, []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if holding:
                held.append((ws, message))
            else:
                ws.send(message)

        server.on_message(from_server)
        ws.on_message(server.send)

    await second.page.route_web_socket(re.compile(r"/ws/teams/"), route)
    await second.page.reload()
    await second.page.wait_for_selector("#conn[data-state='live']", timeout=15000)
    await team_on_duty(send, team, "743", lat=62.6, known_at=gateway.url)
    await fall_alarm(send, "743")
    mine, stale = (p.page.locator("article.task-card") for p in (first, second))
    await mine.wait_for(timeout=10000)
    await stale.wait_for(timeout=10000)
    holding = True
    await mine.locator("button[data-action='accept']").click()
    await mine.locator(".status", has_text="Hyväksytty").wait_for(timeout=10000)
    await stale.locator("button[data-action='decline']").click()
    await stale.locator("input.decline-reason").fill("toinen tehtävä kesken")
    await stale.locator("button[data-action='decline-confirm']").click()
    pending = stale.locator(".pending")
    assert await pending.inner_text() == "Lähetetty: Hylkää – odotetaan vahvistusta"
    deadline = time.monotonic() + 10
    while not any("dispatch_refusal" in str(m) for _, m in held):
        assert time.monotonic() < deadline, held
        await asyncio.sleep(0.1)
    holding = False
    for ws, message in held:
        ws.send(message)
    why = "Ei mahdollista, kun tehtävän tila on Hyväksytty"  # cannot decline: accepted
    refused = stale.locator(".refused")
    await refused.wait_for(timeout=5000)
    assert await refused.inner_text() == f"Ei hyväksytty: {why}"
    assert await pending.count() == 0
    assert await stale.locator(".status").inner_text() == "Hyväksytty"
    await second.page.reload()
    await second.page.wait_for_selector("#conn[data-state='live']", timeout=15000)
    again = second.page.locator("article.task-card .refused")
    await again.wait_for(timeout=10000)
    assert await again.inner_text() == f"Ei hyväksytty: {why}"
    # The dispatch moves on: the refusal goes (here, and after a reload).
    await mine.locator("button[data-action='en_route']").click()
    await again.wait_for(state="detached", timeout=10000)
    await second.page.reload()
    await second.page.wait_for_selector("article.task-card[data-business-status='en-route']")
    assert await second.page.locator("article.task-card .refused").count() == 0
