"""A candidate in shadow from the Models page, in headless Chromium against the real
gateway (issue #12): put it in shadow, see its series beside the active model's on
Trends, read the agreement view, stop its shadow and shadow it again, activate it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.fixtures.gateway import node_of, wait_value
from tests.gateway.test_shadow_end_to_end import Plant, plant, serving, wait_for_shadow_alarm
from tests.gateway.test_trends_browser import log_in

__all__ = ["plant"]  # the fixture, imported for pytest

WAIT_MS = 15_000


async def test_put_a_candidate_in_shadow_see_it_on_trends_stop_and_activate_it(
    plant: Plant, page: Page, browser_log: BrowserLog
) -> None:
    async with serving(plant) as (gateway, client):
        parts = gateway.running
        assert parts.web is not None
        base = f"http://127.0.0.1:{parts.web.port}"
        outcome = await parts.models.upload("pump1", "anomaly", plant.candidate, "admin")
        candidate = outcome.version
        assert candidate is not None
        await log_in(page, base)
        await page.goto(base + "/models")
        row = page.locator(f'section.model[data-asset="pump1"] tr[data-version="{candidate}"]')
        since = datetime.now(UTC)
        await row.get_by_role("button", name="Shadow", exact=True).click()
        card = page.locator('section.model[data-asset="pump1"]')
        await expect(card.locator("p.shadow")).to_contain_text(
            f"In shadow: {candidate}", timeout=WAIT_MS
        )
        await expect(row).to_contain_text("in shadow")
        await wait_for_shadow_alarm(gateway, since)

        await page.goto(base + "/trends?asset=pump1&range=1h")
        chart = page.locator("#chart")
        legend = chart.locator(".legend")
        await expect(legend).to_contain_text("pump1.shadow.AnomalyScore", timeout=WAIT_MS)
        await expect(legend).to_contain_text("pump1.AnomalyScore")
        await expect(legend).to_contain_text("pump1.shadow.Anomaly")
        threshold = chart.locator(".shapelayer").get_by_text(re.compile("pump1 shadow threshold"))
        await expect(threshold).to_be_visible()

        await page.goto(base + "/models")
        agreement = page.locator('section.agreement[data-asset="pump1"]')
        await expect(
            agreement.locator(f'tr[data-role="shadow"][data-version="{candidate}"]')
        ).to_be_visible(timeout=WAIT_MS)
        # Out of shadow, still a candidate; then in shadow again.
        await row.get_by_role("button", name="Stop shadow").click()
        await expect(card.locator("p.shadow")).to_have_count(0, timeout=WAIT_MS)
        shadow_button = row.get_by_role("button", name="Shadow", exact=True)
        await expect(row).not_to_contain_text("in shadow")
        await shadow_button.click()
        await expect(card.locator("p.shadow")).to_contain_text(
            f"In shadow: {candidate}", timeout=WAIT_MS
        )
        first = await node_of(gateway, client)("pump1.ModelVersion").read_value()
        await row.get_by_role("button", name="Activate").click()
        await expect(row).to_contain_text("running", timeout=WAIT_MS)
        await expect(card.locator("p.shadow")).to_have_count(0)
        await wait_value(
            node_of(gateway, client)("pump1.ModelVersion"),
            lambda dv: dv.Value is not None and dv.Value.Value != first,
            "the candidate's version over OPC UA",
        )
        assert parts.audit_log is not None
        audit = [record.action for record in await parts.audit_log.recent(20)]
        assert "model in shadow" in audit
        assert "shadow stopped" in audit
        assert "model activated" in audit
    browser_log.assert_clean()
