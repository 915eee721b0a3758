"""The Telegram end-to-end tests' gateway, as a fixture (support.gateway_with_telegram)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.mqtt import Mosquitto
from tests.fixtures.page_api import Page
from tests.fixtures.telegram import FakeBotApi
from tests.gateway.notify.telegram.support import gateway_with_telegram


@pytest.fixture
async def plant(
    modbus_tcp_server: PymodbusServer, mosquitto: Mosquitto, bot_api: FakeBotApi,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Page]:
    """A real gateway with the pump, MQTT, the page (logged in as admin), an operator olga
    and a viewer vera, and [telegram] pointed at `bot_api`."""
    async with gateway_with_telegram(modbus_tcp_server, mosquitto, bot_api, tmp_path,
                                     monkeypatch) as page:
        yield page
