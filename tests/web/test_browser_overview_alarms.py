"""Issue #11's overview and alarms page in headless Chromium against the fake gateway: the
score beside its threshold, numbers rounded for people, the header and the rows counting
the same alarms, alarm states in words, filters, the alarm's trend one click away."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import ALARM_COUNTS, FakeFacade
from tests.web.test_browser_login import log_in
from web.users import Role


async def test_the_overview_shows_the_score_against_its_threshold_and_counts_like_its_rows(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web(facade=FakeFacade())
    await log_in(page, served, accounts[Role.VIEWER])
    row = page.locator('tr[data-asset="pump-1"]')
    await expect(row).to_contain_text("28.9 / 3")  # not "28.9486", and its threshold beside it
    await expect(row).to_contain_text("6 h")  # not "6.00484 h"
    await expect(page.locator("#summary")).to_contain_text(
        "2 standing alarms (1 active, 1 cleared but not acknowledged)"
    )
    # The header counts what the rows list: every alarm not Normal, device and asset alike.
    listed = (
        await page.locator("tr[data-device], tr[data-asset]")
        .locator("td:last-child")
        .all_inner_texts()
    )
    assert (
        sum(len([n for n in text.split(", ") if n]) for text in listed) == ALARM_COUNTS["standing"]
    )
    await row.get_by_role("link", name="pump-1").click()
    await expect(page).to_have_url(served.url("/assets/pump-1"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("pump-1")
    browser_log.assert_clean()


async def test_the_alarms_page_speaks_in_words_and_filters(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web(facade=FakeFacade())
    await log_in(page, served, accounts[Role.OPERATOR])
    await page.goto(served.url("/alarms"))
    force = page.locator('tr[data-alarm="press-1_force"]')
    anomaly = page.locator('tr[data-alarm="pump-1_anomaly"]')
    await expect(force.locator(".state")).to_have_text("Active, not acknowledged")
    await expect(force.locator(".severity")).to_have_text("High (800)")
    await expect(force).to_have_class("alarm-active_unacked")
    await expect(page.locator("#counts")).to_contain_text("2 standing alarms")
    await expect(force.get_by_role("link", name="press-1.force")).to_have_attribute(
        "href", "/trends?key=press-1.force"
    )
    await page.get_by_label("Active").check()
    await expect(anomaly).to_have_count(0)
    await expect(force).to_have_count(1)
    await page.get_by_label("Active").uncheck()
    await page.get_by_label("Shelved").check()
    await expect(force).to_have_count(0)
    await expect(anomaly).to_have_count(1)
    await page.get_by_label("Shelved").uncheck()
    await page.get_by_label("Not acknowledged").check()
    await expect(page.locator("tr[data-alarm]")).to_have_count(2)
    await page.get_by_label("Device or asset").select_option("pump-1")
    await expect(force).to_have_count(0)
    await expect(anomaly).to_have_count(1)
    browser_log.assert_clean()
