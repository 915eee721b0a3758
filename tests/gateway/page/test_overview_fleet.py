"""The overview shows the fleet links of issue #16 (the Sparkplug edge node and the ClickHouse
export) as /metrics counts them: through /api/overview, and on the page in headless Chromium,
in Russian (the gateway's default) with no English left but names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from drivers.base import Table
from gateway.config.model import GatewayConfig
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.mqtt import Mosquitto
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.fixtures.page_api import serving_page
from tests.gateway.test_web_browser import PASSWORD
from tests.web.test_browser_russian import ALLOWED, READ, english_left

WAIT_S = 30.0


def config_for(device: PymodbusServer, broker: Mosquitto, data_dir: Path) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "gateway": {"name": "plant", "data_dir": str(data_dir)},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test",
                  "security": ["None"], "anonymous": True},
        "web": {"port": 0},
        "devices": [{"name": "tank", "url": device.url, "poll_interval": 0.2,
                     "tags": [{"name": "level", "table": "holding", "address": 0,
                               "type": "uint16"}]}],
        "sparkplug": {"group_id": "Line1", "broker": {"url": broker.url}},
        # A ClickHouse that is not there: inserts fail, batches wait.
        "export": {"clickhouse": {"url": "http://127.0.0.1:1", "max_delay": 0.2,
                                  "timeout": 2.0}},
    })


@pytest.mark.timeout(150)
async def test_the_overview_shows_sparkplug_and_the_export(
    modbus_tcp_server: PymodbusServer, mosquitto: Mosquitto, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, page: Page,
) -> None:
    modbus_tcp_server.set(Table.HOLDING, 0, [42])
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    config = config_for(modbus_tcp_server, mosquitto, tmp_path)
    async with serving_page(config, page_language=None) as api:
        edge, exporter = api.gateway.running.edge, api.gateway.running.exporter
        assert edge is not None
        assert exporter is not None
        await wait_until(lambda: edge.stats.online, WAIT_S, "the Sparkplug births")
        await wait_until(lambda: exporter.depth() >= 1 and exporter.counts.failures >= 1,
                         WAIT_S, "a batch waiting after a failed INSERT")

        gateway: dict[str, Any] = (await api.get("/api/overview"))["gateway"]
        sparkplug, export = gateway["sparkplug"], gateway["export"]
        assert sparkplug["online"] is True
        assert sparkplug["births"] >= 1
        # The first polls may come before the births: stored, then replayed.
        assert sparkplug["replayed"] <= sparkplug["stored"] <= edge.stats.stored
        assert isinstance(sparkplug["queued"], int)
        stored_before = edge.stats.stored
        assert export["up"] is False
        assert export["waiting"] >= 1
        assert export["rows_sent"] == 0

        # On the page, in Russian.
        await page.goto(api.base + "/login")
        await page.locator("#name").fill("admin")
        await page.locator("#password").fill(PASSWORD)
        await page.locator("button[type=submit]").click()
        await expect(page).to_have_url(api.base + "/")
        await expect(page.locator("#sparkplug")).to_contain_text("Sparkplug в сети",
                                                                 timeout=WAIT_S * 1000)
        await expect(page.locator("#export")).to_contain_text(
            "Выгрузка в ClickHouse не работает (строки ждут в очереди на диске)")
        await expect(page.locator("#export")).to_have_class("error-text")
        text = await page.evaluate(READ)
        assert not english_left(text, ALLOWED | {"plant", "tank"}), text

        # The broker goes away: the node stores its data, and the page says so.
        await mosquitto.stop()
        await wait_until(lambda: not edge.stats.online, WAIT_S, "the session to end")
        modbus_tcp_server.set(Table.HOLDING, 0, [43])
        await wait_until(lambda: edge.stats.stored > stored_before, WAIT_S, "a DDATA stored")
        sparkplug = (await api.get("/api/overview"))["gateway"]["sparkplug"]
        assert sparkplug["online"] is False
        assert sparkplug["stored"] > stored_before
        await expect(page.locator("#sparkplug")).to_contain_text(
            "Sparkplug не в сети (данные сохраняются)", timeout=WAIT_S * 1000)
        await expect(page.locator("#sparkplug")).to_have_class("error-text")
