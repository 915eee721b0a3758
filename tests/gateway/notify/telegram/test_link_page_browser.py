"""The Telegram page in headless Chromium on a real gateway (issue #15): an operator gets a
link code, sends it to the bot (the fake Bot API), sees the link listed and ends it."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.fixtures.browser import BrowserLog
from tests.fixtures.page_api import Page as Api
from tests.fixtures.telegram import FakeBotApi
from tests.gateway.notify.telegram.support import OLGA, ask
from tests.gateway.test_web_browser import PASSWORD

# A gateway with the page starts in 5-16 s on a loaded machine; users are hashed with scrypt.
pytestmark = pytest.mark.timeout(180)


async def test_an_operator_links_her_telegram_account_on_the_page_and_unlinks_it(
    plant: Api, bot_api: FakeBotApi, page: Page, browser_log: BrowserLog
) -> None:

    await page.goto(f"{plant.base}/login")
    await page.get_by_label("User name").fill("olga")
    await page.get_by_label("Password").fill(PASSWORD + "!")
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("link", name="Telegram").click()
    await expect(page.get_by_text("No Telegram account is linked.")).to_be_visible()
    # An operator gets a code for herself only: no user field.
    await expect(page.get_by_label("For user")).to_have_count(0)

    await page.get_by_role("button", name="Get a link code").click()
    code = page.locator("#link-code")
    await expect(code).to_have_text(re.compile(r"^/link [A-HJ-NP-Z2-9]{8}$"))
    command = await code.inner_text()
    assert await ask(bot_api, OLGA, command, username="olga_tg") == (
        "Linked: you act as gateway user olga.")

    await page.reload()
    row = page.locator(f'tr[data-telegram="{OLGA}"]')
    await expect(row).to_contain_text("@olga_tg")

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.once("dialog", accept)
    await row.get_by_role("button", name="Unlink").click()
    await expect(page.get_by_text("No Telegram account is linked.")).to_be_visible()
    assert (await plant.get("/api/telegram"))["links"] == []
    browser_log.assert_clean()
