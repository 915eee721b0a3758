"""The page's notification bell in headless Chromium on the real gateway (issue #15): a new
alarm is counted live (server-sent events), listed with its link, and marked read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from drivers.base import Table
from gateway.config import load_config
from tests.fixtures.browser import BrowserLog
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
