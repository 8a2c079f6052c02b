"""Browser tests: real headless Chromium (Debian's), driven by Playwright, against the real
stack (broker, Redis, worker, gateway). The server fixtures are the integration tests'."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.integration.conftest import (  # noqa: F401  (fixtures)
    broker,
    gateway,
    gateway_extra,
    logs,
    redis_url,
    send,
    worker,
    worker_extra,
)
from tike_cli.gateway_client import token
from tike_cli.harness import Gateway

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ui_static" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    return CHROMIUM


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(chromium_path: str) -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=chromium_path, args=FLAGS)
        yield chromium
        await chromium.close()


SHOTS = os.environ.get("TIKE_SCREENSHOT_DIR")
if SHOTS:
    Path(SHOTS).mkdir(parents=True, exist_ok=True)


class Page:
    """A browser page signed in with a role's token, that fails the test on script errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))

    async def shot(self, name: str) -> None:
        if SHOTS:
            await self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)


@pytest_asyncio.fixture(loop_scope="module")
async def open_page(browser: Any, gateway: Gateway) -> AsyncIterator[Any]:  # noqa: F811
    pages: list[Page] = []
    contexts = []

    async def _open(path: str, role: str, **viewport: int) -> Page:
        context = await browser.new_context(viewport=viewport or {"width": 1440, "height": 900})
        contexts.append(context)
        page = Page(await context.new_page())
        pages.append(page)
        await page.page.goto(f"{gateway.url}{path}#token={token(role)}")
        await page.page.wait_for_selector("#conn[data-state='live']", timeout=15000)
        return page

    yield _open
    for context in contexts:
        await context.close()
    assert not [e for p in pages for e in p.errors], [e for p in pages for e in p.errors]


async def wait_source_loaded(page: Any, timeout_s: float = 15) -> None:
    """Wait until the rules editor holds the ruleset text. A polling loop, not
    ``wait_for_function``: that evaluates a string in the page, which the gateway's CSP
    (no 'unsafe-eval') refuses, as it should."""
    for _ in range(int(timeout_s * 10)):
        if len(await page.locator("#source").input_value()) > 100:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the rules editor never showed the ruleset")
