"""The page's notification bell in headless Chromium on the real gateway (issue #15): a new
alarm is counted live (server-sent events), listed with its link, and marked read; desktop
notifications chosen in one browser are shown in another once that one allows them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect

from drivers.base import Table
from gateway.config import load_config
from tests.fixtures.browser import BrowserLog, chromium
from tests.fixtures.gateway import running
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.gateway.test_web_asset_page import PASSWORD, Plant, log_in

LEVEL = 0  # the tank level's register
START_S = 60.0  # a loaded 2-core machine
pytestmark = pytest.mark.timeout(180)


def _config(pump: PymodbusServer, data_dir: Path) -> str:
    return f"""
[gateway]
name = "plant"
data_dir = "{data_dir}"

[opcua]
endpoint = "opc.tcp://127.0.0.1:0/uvelka"
security = ["None"]
anonymous = true

[web]
port = 0

[[devices]]
name = "pump1"
url = "{pump.url}"
poll_interval = 0.05

[[devices.tags]]
name = "level"
table = "holding"
address = {LEVEL}
type = "uint16"

[[alarms]]
name = "level_high"
source = "pump1.level"
condition = "above"
limit = 80.0
severity = 800
message = "Tank level high"
"""


# Records each desktop notification a page shows (Chromium shows none headless), keeping
# the real Notification's permission and requestPermission.
RECORD_NOTIFICATIONS = """
window.shownNotifications = [];
window.Notification = class extends window.Notification {
  constructor(title, options) {
    window.shownNotifications.push(title);
    super(title, options);
  }
};
"""


@pytest.fixture
async def plant(modbus_tcp_server: PymodbusServer, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Plant]:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    modbus_tcp_server.set(Table.HOLDING, LEVEL, [10])
    config_file = tmp_path / "uvelka.toml"
    config_file.write_text(_config(modbus_tcp_server, tmp_path / "var"), encoding="utf-8")
    async with running(load_config(config_file), config_file, START_S) as (gateway, _):
        await wait_until(lambda: gateway.running.web is not None
                         and gateway.running.web.port is not None, START_S, "the web page")
        assert gateway.running.web is not None
        yield Plant(gateway, modbus_tcp_server, f"http://127.0.0.1:{gateway.running.web.port}")


async def test_the_bell_counts_a_new_alarm_live_and_lists_it(
    plant: Plant, page: Page, browser_log: BrowserLog
) -> None:
    await log_in(page, plant)
    count = page.locator("#bell-count")
    await expect(page.locator("#bell-button")).to_be_visible()
    await expect(count).to_be_hidden()  # nothing yet

    plant.pump.set(Table.HOLDING, LEVEL, [95])  # the page is not reloaded: the stream tells it
    await expect(count).to_have_text("1")

    await page.locator("#bell-button").click()
    item = page.locator("#bell-panel li.unread")
    await expect(item).to_have_count(1)
    link = item.get_by_role("link", name="Alarm level_high on pump1")
    await expect(link).to_have_attribute("href", "/alarms")
    await page.get_by_role("button", name="Mark all read").click()
    await expect(count).to_be_hidden()
    await expect(page.locator("#bell-panel li.read")).to_have_count(1)

    # Read is kept for the user: a new page shows no unread count, the alarm still listed.
    await page.reload()
    await expect(page.locator("#bell-button")).to_be_visible()
    await expect(count).to_be_hidden()
    plant.pump.set(Table.HOLDING, LEVEL, [10])  # cleared: a second notification, live
    await expect(count).to_have_text("1")

    # In the user's language: the list speaks Russian once they choose it.
    await page.locator("#language").select_option("ru")
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
    await page.locator("#bell-button").click()
    items = page.locator("#bell-panel li")
    await expect(items).to_have_count(2)
    await expect(items.first).to_contain_text("Авария level_high на pump1 снята")
    await expect(items.nth(1)).to_contain_text("Авария level_high на pump1")
    await expect(page.get_by_role("button", name="Отметить все прочитанными")).to_be_visible()
    browser_log.assert_clean()


async def _shown(page: Page) -> list[str]:
    shown: list[str] = await page.evaluate("window.shownNotifications")
    return shown


async def wait_until_shown(page: Page, titles: list[str]) -> None:
    await page.wait_for_function(f"JSON.stringify(window.shownNotifications) === "
                                 f"{json.dumps(json.dumps(titles))}")


async def _chosen(page: Page, plant: Plant) -> bool:
    """The user's desktop notifications choice, as the gateway keeps it (GET /api/me)."""
    response = await page.request.get(plant.url("/api/me"))
    return bool((await response.json())["desktop_notifications"])


async def test_desktop_notifications_chosen_in_one_browser_show_in_another(
    plant: Plant, browser_context: BrowserContext, page: Page, browser_log: BrowserLog,
    tmp_path: Path
) -> None:
    await browser_context.grant_permissions(["notifications"], origin=plant.url(""))
    await log_in(page, plant)
    await page.locator("#bell-button").click()
    choice = page.locator("#bell-desktop")
    await expect(choice).not_to_be_checked()
    async with page.expect_response("**/api/me/desktop-notifications"):
        await choice.check()
    await expect(page.locator("#bell-desktop")).to_be_checked()
    assert await _chosen(page, plant)

    # Another browser (its own profile: no local storage, no permission yet) of the same user.
    async with chromium(tmp_path / "other-profile", browser_log) as other:
        await other.add_init_script(RECORD_NOTIFICATIONS)
        second = other.pages[0] if other.pages else await other.new_page()
        await log_in(second, plant)
        await second.locator("#bell-button").click()
        await expect(second.locator("#bell-desktop")).to_be_checked()  # the user's choice
        allow = second.get_by_role("button", name="Allow in this browser")
        await expect(allow).to_be_visible()  # this browser has not allowed them yet
        await other.grant_permissions(["notifications"], origin=plant.url(""))
        await allow.click()
        await expect(allow).to_be_hidden()
        await expect(second.locator("#bell-desktop")).to_be_checked()

        plant.pump.set(Table.HOLDING, LEVEL, [95])
        await expect(second.locator("#bell-count")).to_have_text("1")
        await wait_until_shown(second, ["Alarm level_high on pump1"])

        # Turned off there, it is off for the user: a new alarm shows no notification.
        async with second.expect_response("**/api/me/desktop-notifications"):
            await second.locator("#bell-desktop").uncheck()
        assert not await _chosen(second, plant)
        plant.pump.set(Table.HOLDING, LEVEL, [10])
        await expect(second.locator("#bell-count")).to_have_text("2")
        assert await _shown(second) == ["Alarm level_high on pump1"]
    browser_log.assert_clean()
