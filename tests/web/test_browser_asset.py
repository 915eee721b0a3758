"""Issue #11's asset page in headless Chromium against the fake gateway: health at a
glance, numbers rounded for people with their units, the link to Trends."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import FakeFacade
from tests.web.test_browser_login import log_in
from web.users import Role


async def test_the_asset_page_shows_health_at_a_glance(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web(facade=FakeFacade())
    await log_in(page, served, accounts[Role.VIEWER])
    await page.goto(served.url("/assets/pump-1"))
    await expect(page.locator("#anomaly")).to_contain_text("28.9 of threshold 3: anomalous")
    await expect(page.locator("#anomaly .bar.bad")).to_be_visible()
    rul = page.locator("#rul .figure")
    await expect(rul).to_contain_text("about 6 h: due ")
    await expect(page.locator('tr[data-input="pump-1.flow"]')).to_contain_text("50 m3/h")
    await expect(page.locator('tr[data-alarm="pump-1_anomaly"] .state')).to_have_text(
        "Cleared, not acknowledged; shelved until "
        + await page.evaluate("new Date('2026-11-26T12:00:00+00:00').toLocaleString()")
    )
    link = page.locator("#trends-link")
    await expect(link).to_have_attribute("href", "/trends?asset=pump-1")
    # Issue #12 filled issue #11's placeholder: the asset's maintenance entries (none here).
    await expect(page.locator("#maintenance")).to_contain_text("No maintenance entries.")
    browser_log.assert_clean()


async def test_an_unknown_asset_says_so(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web(facade=FakeFacade())
    await log_in(page, served, accounts[Role.VIEWER])
    await page.goto(served.url("/assets/nope"))
    await expect(page.locator("#notice")).to_have_text("no asset 'nope'")
    browser_log.assert_clean()
