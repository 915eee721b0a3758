"""The page in Russian on the real gateway (issue #15): a simulated pump's registers scored
by the shipped models, a level alarm, the gateway's default language ([gateway] language
left out: Russian); every page an admin opens shows no English text but names, units and
data, whatever the running parts put on it (model statuses, quality, states)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.fixtures.modbus import PymodbusServer
from tests.gateway.test_web_asset_page import PASSWORD, WAIT_S, serving
from tests.web.test_browser_russian import ALLOWED, READ, english_left

# Each page and what shows that its script has drawn from the running gateway.
PAGES = {
    "/": "#summary:has-text('MQTT')",
    "/devices": "#tag-grid table",
    "/alarms": "#alarm-list table",
    "/models": ".model.card",
    "/assets/pump1": "#rul .figure:not([data-due=''])",
    "/trends?asset=pump1": "#chart",
    "/maintenance": "#entries > *",
    "/labels": "#verdicts > *",
}
# The plant's names (the gateway's, its signals', the alarm's) and the configuration's own
# words the device editor offers as written in gateway.toml (tables, types).
PLANT = ALLOWED | {"plant", "flow", "level", "degC", "pump", "anomaly", "rul"}
PLANT |= {"coil", "discrete", "bool", "string"}
# An alarm's message is configuration too: without `message` it is "<name> in alarm"
# (gateway/alarms/configured.py), the text OPC UA and MQTT carry as well.
PLANT |= {"in", "alarm"}


@pytest.mark.timeout(120)
async def test_every_page_of_the_running_gateway_is_russian(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    page: Page,
    browser_log: BrowserLog,
) -> None:
    async with serving(modbus_server_factory, tmp_path, monkeypatch, page_language=None) as plant:
        await page.goto(plant.url("/login"))
        await expect(page.get_by_role("heading", name="Шлюз Uvelka")).to_be_visible()
        await page.get_by_label("Имя пользователя").fill("admin")
        await page.get_by_label("Пароль").fill(PASSWORD)
        await page.get_by_role("button", name="Войти").click()
        await expect(page).to_have_url(plant.url("/"))
        for path, drawn in PAGES.items():
            await page.goto(plant.url(path))
            await expect(page.locator(drawn).first).to_be_attached(timeout=WAIT_S * 1000)
            text = await page.evaluate(READ)
            left = english_left(text, PLANT)
            assert not left, f"{path} shows English: {left}\n{text}"
        # A fresh gateway has no alarm delays to compare a model with: the Models page's
        # request for them is answered 400, and the page says so.
        browser_log.assert_clean(expected_statuses=[400])
