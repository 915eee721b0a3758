"""Every page in headless Chromium against a fake gateway: it draws from the API with no
browser error (the CSP forbids inline script and style: a violation is a console error)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import FakeFacade
from tests.web.test_browser_login import log_in
from web.users import Role


@pytest.mark.parametrize(("path", "shows"), [
    ("/", "press-1"),
    ("/devices", "Changes are saved to /etc/uvelka/uvelka.toml"),
    ("/byte-order", "press-1.force"),
    ("/models", "press-1: anomaly"),
    ("/alarms", "press-1_force"),
    ("/audit", "Detail"),
    ("/users", "operator"),
])
async def test_each_page_draws_without_browser_errors(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog,
    path: str, shows: str,
) -> None:
    served = await start_web(facade=FakeFacade())
    await log_in(page, served, accounts[Role.ADMIN])
    await page.goto(served.url(path))
    await expect(page.locator("#app")).to_contain_text(shows)
    browser_log.assert_clean()


async def test_trends_draw_a_chart_with_the_shipped_library(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web(facade=FakeFacade())
    await log_in(page, served, accounts[Role.VIEWER])
    await page.goto(served.url("/trends"))
    await page.get_by_label("Search series").fill("force")  # picked by search (issue #11)
    await page.locator('#matches button[data-key="press-1.force"]').click()
    await page.get_by_role("button", name="Draw").click()
    await expect(page.locator("#chart")).to_have_attribute("data-points", "1")
    await expect(page.locator("#chart .main-svg").first).to_be_visible()
    browser_log.assert_clean()


async def test_a_viewer_sees_no_editing_controls(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web(facade=FakeFacade())
    await log_in(page, served, accounts[Role.VIEWER])
    await page.goto(served.url("/devices"))
    await expect(page.get_by_label("Name").first).to_be_disabled()
    await expect(page.get_by_role("button", name="Apply")).to_have_count(0)
    await expect(page.get_by_role("link", name="Users")).to_be_hidden()
    await expect(page.get_by_role("link", name="Byte order")).to_be_hidden()
    browser_log.assert_clean()
