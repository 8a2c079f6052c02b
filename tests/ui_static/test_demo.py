"""The first ten minutes, in a browser: `make run` (`tike up --simulate`), then the links it
prints. The board comes alive with the demo, in Finnish, and the team view and the rules
editor open signed in. With TIKE_SCREENSHOT_DIR set, this is where the README's screenshots
of the demo come from (demo-board.png, demo-team.png, demo-rules.png)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_up import _links, _start, _wait_up
from tests.ui_static.conftest import Page, wait_source_loaded
from tests.ui_static.test_languages import VISIBLE_TEXT, raw_values
from tike_cli.harness import clean_env, interrupt, stack_ports

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`tike up --simulate` with nothing set but free ports; yields the printed links."""
    tmp = tmp_path_factory.mktemp("demo")
    proc: subprocess.Popen[str] = _start(tmp, stack_ports(clean_env()))
    try:
        links = _links(_wait_up(proc))
        assert set(links) == {"Board", "Team view", "Rules editor"}
        yield links
    finally:
        interrupt(proc)


async def _open(browser: Any, url: str, **viewport: int) -> tuple[Any, Page]:
    context = await browser.new_context(viewport=viewport or {"width": 1440, "height": 900})
    page = Page(await context.new_page())
    await page.page.goto(url)
    await page.page.wait_for_selector("#conn[data-state='live']", timeout=20000)
    return context, page


async def test_the_demo_board_is_alive_in_finnish(browser: Any, demo: dict[str, str]) -> None:
    context, board = await _open(browser, demo["Board"])
    try:
        page = board.page
        # The URL's token signed in and left the address bar.
        assert "#token=" not in page.url
        await page.locator("#queue li.need").nth(4).wait_for(timeout=30000)
        await page.locator("#kpis .kpi").first.wait_for(timeout=30000)
        assert await page.locator("#demo-badge").is_visible()
        # Teams answer: some need moves on to a team that accepted or is on its way.
        await page.wait_for_selector(
            "#queue .phase[data-phase='accepted'], #queue .phase[data-phase='en_route']",
            timeout=30000,
        )
        # The map reads as a map: land and coast drawn from the shipped outline, needs and
        # teams as markers.
        assert await page.locator("#map path.land").count() > 0
        assert await page.locator("#map path.coast").count() > 0
        assert await page.locator("#map g.need-dot").count() >= 1
        assert await page.locator("#map g.team-dot").count() >= 1
        await page.wait_for_timeout(4000)  # let a few teams set off before the picture
        text = str(await page.evaluate(VISIBLE_TEXT))
        assert "Avoimet tarpeet" in text and not raw_values(text), raw_values(text)
        await board.shot("demo-board")
        assert not board.errors, board.errors
    finally:
        await context.close()


async def test_the_demo_team_view_and_rules_editor_open_from_the_links(
    browser: Any, demo: dict[str, str]
) -> None:
    context, team = await _open(browser, demo["Team view"], width=412, height=860)
    try:
        page = team.page
        assert await page.locator("#team-id").inner_text() == "sim-home-care-1"
        # The demo keeps this team busy: a task comes within the minute.
        await page.locator(".task-card").first.wait_for(timeout=60000)
        await page.wait_for_timeout(1000)
        text = str(await page.evaluate(VISIBLE_TEXT))
        assert not raw_values(text), raw_values(text)
        await team.shot("demo-team")
        assert not team.errors, team.errors
    finally:
        await context.close()
    context, rules = await _open(browser, demo["Rules editor"], width=1440, height=900)
    try:
        page = rules.page
        await wait_source_loaded(page)
        await page.locator("#dryrun").click()
        await page.locator("#dryrun-result p").first.wait_for(timeout=30000)
        text = str(await page.evaluate(VISIBLE_TEXT))
        assert "Reitityssäännöt" in text and not raw_values(text), raw_values(text)
        await rules.shot("demo-rules")
        assert not rules.errors, rules.errors
    finally:
        await context.close()
