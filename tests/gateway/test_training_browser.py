"""Training from history on the Models page, in headless Chromium on the real gateway (issue
#12): the asset's history span and retention, the warning when retention would cut the
range, a job started, watched through its stages and cancelled, then one watched to its
candidate, which appears among the archived versions as trained here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.async_api import Page, expect

from gateway.config import load_config
from tests.fixtures.browser import BrowserLog
from tests.fixtures.gateway import running
from tests.gateway.test_history_training import SECONDS, T0
from tests.gateway.test_training_end_to_end import WAIT_S, Plant, plant  # noqa: F401
from tests.gateway.test_web_browser import log_in

pytestmark = pytest.mark.timeout(3 * WAIT_S)


@dataclass
class Served:
    base: str

    def url(self, path: str) -> str:
        return self.base + path


async def local_input(page: Page, iso: str) -> str:
    """`iso` as the page's datetime-local inputs hold it: the browser's wall clock."""
    text: str = await page.evaluate(
        """(iso) => { const d = new Date(iso), p = (n) => String(n).padStart(2, "0");
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T`
          + `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }""",
        iso,
    )
    return text


async def test_a_job_is_started_watched_and_cancelled_then_one_trains_a_candidate(
    plant: Plant,  # noqa: F811
    page: Page,
    browser_log: BrowserLog,
) -> None:
    async with running(load_config(plant.config_file), plant.config_file, start_s=60) as (
        gateway,
        _,
    ):
        web = gateway.running.web
        assert web is not None
        served = Served(f"http://127.0.0.1:{web.port}")
        await log_in(page, served)  # type: ignore[arg-type]  # it needs url() alone
        await page.goto(served.url("/models"))
        section = page.locator('section.training[data-asset="pump1"]')
        await expect(section.locator("p.history")).to_contain_text("History of its inputs")
        await expect(section.locator("p.history")).to_contain_text("Retention keeps 7 days")
        await expect(section).to_contain_text("No training jobs for it yet.")

        # A start older than retention keeps: the page warns that the range would be cut.
        form = section.locator("form.train")
        warning = form.locator("p.cut")
        await expect(warning).to_be_hidden()
        old = (T0 - timedelta(days=8)).isoformat()
        await form.locator('input[name="from"]').fill(await local_input(page, old))
        await expect(warning).to_be_visible()
        await expect(warning).to_contain_text("would be cut")
        await form.locator('input[name="from"]').fill(await local_input(page, T0.isoformat()))
        await expect(warning).to_be_hidden()
        end = (T0 + timedelta(seconds=SECONDS)).isoformat()
        await form.locator('input[name="to"]').fill(await local_input(page, end))

        # Started, watched while it runs, cancelled.
        await form.get_by_role("button", name="Start training").click()
        row = section.locator('tr[data-job="1"]')
        await expect(row).to_have_attribute("data-state", "running", timeout=WAIT_S * 1000)
        await expect(row.locator("progress")).to_be_visible()
        await row.get_by_role("button", name="Cancel").click()
        await expect(row).to_have_attribute("data-state", "cancelled", timeout=WAIT_S * 1000)
        await expect(row.locator("td.outcome")).to_have_text("cancelled while it ran")

        # Again, watched to its end: the candidate is among the archived versions.
        form = section.locator("form.train")  # the page was drawn again
        await form.locator('input[name="from"]').fill(await local_input(page, T0.isoformat()))
        await form.locator('input[name="to"]').fill(await local_input(page, end))
        await form.get_by_role("button", name="Start training").click()
        row = section.locator('tr[data-job="2"]')
        await expect(row).to_have_attribute("data-state", "done", timeout=WAIT_S * 1000)
        await expect(row.locator("td.outcome")).to_contain_text("candidate ")
        card = page.locator('section.card[data-asset="pump1"][data-kind="anomaly"]')
        versions = card.locator("tbody tr")
        await expect(versions).to_have_count(1)
        await expect(versions.locator("td").nth(2)).to_have_text("trained here")
        browser_log.assert_clean()
