"""The operator runs the what-if for a draft ruleset against the last recorded day, in real
Chromium, and sees the report before activating: every KPI side by side with the needs behind
each difference, and the full HTML report to download."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Send
from tests.ui_static.conftest import wait_source_loaded
from tike_cli.gateway_client import fall_alarm, tag, team_on_duty

pytestmark = pytest.mark.asyncio(loop_scope="module")

OLD = (
    "route: {service: safety_responder, priority: urgent, sla_minutes: 45, skills: [lifting],\n"
    "            fallback: [home_care]}"
)
#: The draft: falls without injury go to home care only, and this day had no home-care team.
NEW = "route: {service: home_care, priority: urgent, sla_minutes: 45, skills: [lifting]}"


async def test_operator_runs_the_whatif_before_activating(open_page: Any, send: Send) -> None:
    await team_on_duty(send, tag("sr"), "743")
    recorded = [await fall_alarm(send, "743") for _ in range(3)]

    editor = await open_page("/rules.html", "operator")
    page = editor.page
    await wait_source_loaded(page)
    text = await page.locator("#source").input_value()
    assert OLD in text
    await page.locator("#source").fill(text.replace(OLD, NEW))
    await page.locator("#whatif").click()

    result = page.locator("#whatif-result")
    row = result.locator("tr[data-kpi='escalations']")
    await row.wait_for(timeout=60000)
    await editor.shot("rules-whatif")
    cells = await row.locator("td").all_inner_texts()
    assert await row.locator("th").inner_text() == "Eskaloinnit tilannekeskukselle"
    baseline, variant, difference = (int(c.lstrip("+")) for c in cells[:3])
    # Every recorded fall escalates in the draft: nobody can take it.
    assert variant - baseline == difference > 0
    await row.locator("summary").click()
    traced = await row.locator("code").inner_text()
    assert any(need in traced for need in recorded)
    # Routes changed for the recorded falls, and the summary counts them.
    summary = await result.locator(".whatif-summary").inner_text()
    assert "reititetty toisin" in summary
    # Every KPI has its row, in Finnish; the limits are said; the full report is offered.
    kpis = await result.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.kpi)")
    assert {"resolved_at_home", "first_offer_to_accept", "utilisation"} <= set(kpis)
    assert "Mallin rajat" in await result.locator(".limits").inner_text()
    link = result.locator("a#whatif-report")
    assert (await link.get_attribute("href") or "").startswith("blob:")
    # Nothing was activated: the ruleset in force is unchanged.
    assert "sote-default@" in await page.locator("#active-label").inner_text()
    assert await page.locator("#activate-status").inner_text() == ""


async def test_the_whatif_endpoint_is_for_operators_and_checks_the_draft(
    gateway: Any, send: Send
) -> None:
    import httpx

    from tike_cli.gateway_client import bearer

    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
        body = {"text": "ruleset: x\nversion: '1'\nrules:\n  - id: Bad\n"}
        refused = await client.post("/api/rules/whatif", json=body, headers=bearer("control_room"))
        assert refused.status_code == 403
        bad = await client.post("/api/rules/whatif", json=body, headers=bearer("operator"))
        assert bad.status_code == 422
        assert bad.json()["detail"]["errors"][0]["line"] == 4
