"""The board and team pages in real Chromium with websocket compression on and off: live
deltas, and a reconnect that resumes with only the missed changes (gateway/fanout.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio

from tests.integration.conftest import Send
from tests.ui_static.conftest import Page
from tike_cli.gateway_client import bearer, fall_alarm, tag, team_on_duty, token
from tike_cli.harness import Gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Every socket the page opens is kept in window.__sockets; while window.__hold is set, the
# page's timers (its reconnect among them) wait for window.__release().
HOLD = """
window.__sockets = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
const setTimeoutNative = window.setTimeout.bind(window);
window.__held = [];
window.setTimeout = (fn, ms, ...args) => window.__hold
  ? (window.__held.push(() => fn(...args)), 0) : setTimeoutNative(fn, ms, ...args);
window.__release = () => {
  window.__hold = false;
  for (const f of window.__held.splice(0)) setTimeoutNative(f, 0);
};
"""


@pytest.fixture(scope="module", params=["deflate", "plain"])
def gateway_extra(request: pytest.FixtureRequest) -> dict[str, str]:
    return {"TIKE_WS_COMPRESSION": "true" if request.param == "deflate" else "false"}


class Live(Page):
    """A page with its websockets recorded: handshake headers (from Chromium itself, over
    CDP) and every frame received, parsed."""

    def __init__(self, page: Any) -> None:
        super().__init__(page)
        self.handshakes: list[dict[str, str]] = []
        self.sockets: list[tuple[str, list[dict[str, Any]]]] = []
        page.on("websocket", self._socket)

    def _socket(self, ws: Any) -> None:
        frames: list[dict[str, Any]] = []
        self.sockets.append((ws.url, frames))
        ws.on("framereceived", lambda payload: frames.append(orjson.loads(payload)))

    async def watch_handshakes(self) -> None:
        cdp = await self.page.context.new_cdp_session(self.page)
        await cdp.send("Network.enable")

        def seen(event: dict[str, Any]) -> None:
            headers = event["response"]["headers"]
            self.handshakes.append({k.lower(): v for k, v in headers.items()})

        cdp.on("Network.webSocketHandshakeResponseReceived", seen)

    async def drop_and_hold(self) -> None:
        """Close the page's socket (as a lost network would) and keep it from reconnecting."""
        await self.page.evaluate("window.__hold = true; window.__sockets.at(-1).close()")
        await self.page.wait_for_selector("#conn[data-state='offline']", timeout=5000)

    async def release(self) -> None:
        await self.page.evaluate("window.__release()")
        await self.page.wait_for_selector("#conn[data-state='live']", timeout=15000)


@pytest_asyncio.fixture(loop_scope="module")
async def live_page(
    browser: Any, gateway: Gateway
) -> AsyncIterator[Callable[..., Awaitable[Live]]]:
    contexts, pages = [], []

    async def _open(path: str, role: str, **viewport: int) -> Live:
        context = await browser.new_context(viewport=viewport or {"width": 1440, "height": 900})
        contexts.append(context)
        page = Live(await context.new_page())
        pages.append(page)
        await page.watch_handshakes()
        await page.page.add_init_script(HOLD)
        await page.page.goto(f"{gateway.url}{path}#token={token(role)}")
        await page.page.wait_for_selector("#conn[data-state='live']", timeout=15000)
        return page

    yield _open
    for context in contexts:
        await context.close()
    assert not [e for p in pages for e in p.errors], [e for p in pages for e in p.errors]


def _check_compression(page: Live, gateway: Gateway) -> None:
    assert page.handshakes, "no websocket handshake seen"
    offered = gateway.env["TIKE_WS_COMPRESSION"] == "true"
    for headers in page.handshakes:
        ext = headers.get("sec-websocket-extensions", "")
        if offered:
            assert "permessage-deflate" in ext and "server_no_context_takeover" in ext, ext
        else:
            assert ext == "", ext


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_board_gets_live_deltas_and_resumes_after_a_drop(
    live_page: Any, send: Send, gateway: Gateway
) -> None:
    wall = await live_page("/", "control_room")  # stays connected: the channel stays in memory
    board = await live_page("/", "control_room")
    team = tag("sr")
    await team_on_duty(send, team, "408", lat=62.97, known_at=gateway.url)
    first = await fall_alarm(send, "408")
    for page in (wall, board):
        await page.page.locator(f"#queue li[data-need='{first}']").wait_for(timeout=10000)
    _check_compression(board, gateway)

    await board.drop_and_hold()
    missed = await fall_alarm(send, "408")  # arrives while the page is away

    async def on_the_board() -> bool:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as http:
            resp = await http.get(f"/api/needs/{missed}", headers=bearer("control_room"))
        return resp.status_code == 200

    await _until(on_the_board)
    await wall.page.locator(f"#queue li[data-need='{missed}']").wait_for(timeout=10000)
    await board.release()
    await board.page.locator(f"#queue li[data-need='{missed}']").wait_for(timeout=10000)
    assert await board.page.locator(f"#queue li[data-need='{first}']").count() == 1

    url, frames = board.sockets[-1]
    assert "epoch=" in url and "seq=" in url, url
    assert frames[0]["type"] == "deltas" and frames[0]["resumed"] is True, frames[0]
    ids = {i["id"] for i in frames[0]["items"]}
    assert missed in ids and first not in ids  # only what it missed
    assert all(f["type"] != "snapshot" for f in frames)
    _check_compression(board, gateway)


async def test_team_page_gets_live_deltas_and_resumes_after_a_drop(
    live_page: Any, send: Send, gateway: Gateway
) -> None:
    team = tag("sr")
    phone = await live_page("/team.html", f"team:{team}", width=390, height=844)
    await team_on_duty(send, team, "232", lat=62.43, known_at=gateway.url)
    await fall_alarm(send, "232")
    card = phone.page.locator("article.task-card")
    await card.wait_for(timeout=10000)
    dispatch_id = await card.get_attribute("data-dispatch")
    _check_compression(phone, gateway)

    await phone.drop_and_hold()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        resp = await http.post(
            f"/api/teams/{team}/dispatches/{dispatch_id}/actions",
            headers={**bearer(f"team:{team}"), "Idempotency-Key": tag("k")},
            json={"action": "accept"},
        )
        assert resp.status_code == 202, resp.text

        async def accepted() -> bool:
            got = await http.get(f"/api/teams/{team}/dispatches", headers=bearer(f"team:{team}"))
            return any(d.get("status") == "accepted" for d in got.json()["items"])

        await _until(accepted)
    await phone.release()
    await phone.page.locator(
        f"article.task-card[data-dispatch='{dispatch_id}'] .status", has_text="Hyväksytty"
    ).wait_for(timeout=10000)
    url, frames = phone.sockets[-1]
    assert "epoch=" in url and "seq=" in url, url
    assert frames[0]["type"] == "deltas" and frames[0]["resumed"] is True, frames[0]
    assert any(i.get("dispatch_id") == dispatch_id for i in frames[0]["items"])
    _check_compression(phone, gateway)
