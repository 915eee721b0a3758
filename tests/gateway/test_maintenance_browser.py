"""Issue #12's maintenance log in headless Chromium on the real gateway: an entry added
from the asset page is on the Maintenance log page and is a band on Trends."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.gateway import test_web_asset_page
from tests.gateway.test_web_asset_page import Plant, log_in

# Issue #11's asset page gateway: a simulated pump scored by the shipped models.
plant = test_web_asset_page.plant


async def test_an_entry_added_on_the_asset_page_is_listed_and_drawn_on_trends(
    plant: Plant, page: Page, browser_log: BrowserLog
) -> None:
    await log_in(page, plant)
    await page.goto(plant.url("/assets/pump1"))
    form = page.locator("#maintenance form")
    await form.get_by_label("Kind").select_option("part_replacement")
    await form.get_by_label("Parts").fill("bearing 6205-2RS")
    await form.get_by_label("Note").fill("drive-end bearing replaced")
    await form.get_by_label("Resets life").check()
    await form.get_by_role("button", name="Add entry").click()
    await expect(page.locator("#notice")).to_have_text("Entry #1 added.")
    row = page.locator('#maintenance tr[data-entry="1"]')
    await expect(row).to_contain_text("Part replacement (resets life)")
    await expect(row).to_contain_text("admin")
    # The page's live part is redrawn every second; the entries stay.
    await expect(page.locator("#rul")).to_be_visible()
    await expect(row).to_be_visible()
    entries = await plant.gateway.running.maintenance.log.entries()
    assert [(e.draft.asset, e.draft.kind, e.draft.resets_life, e.user) for e in entries] == [
        ("pump1", "part_replacement", True, "admin")
    ]

    await page.get_by_role("link", name="All maintenance entries").click()
    await expect(page).to_have_url(plant.url("/maintenance?asset=pump1"))
    listed = page.locator('#entries tr[data-entry="1"]')
    await expect(listed).to_contain_text("bearing 6205-2RS")
    await page.get_by_label("Kind").first.select_option("inspection")  # the filter's
    await expect(listed).to_have_count(0)
    await expect(page.locator("#entries")).to_contain_text("No maintenance entries.")

    await page.goto(plant.url("/trends?asset=pump1&range=8h"))
    await expect(page.locator("#chart")).to_have_attribute("data-bands", "1")
    await expect(page.locator("#chart .shapelayer path").first).to_be_attached()
    browser_log.assert_clean()
