"""A real gateway with a simulated device, MQTT, the page and [telegram] pointed at the
fake Bot API server, with an operator and a viewer, as the Telegram end-to-end tests use
it; and the Telegram users' side: linking, asking, pressing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from drivers.base import Table
from gateway.config.model import GatewayConfig
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.mqtt import Mosquitto
from tests.fixtures.page_api import Page, serving_page
from tests.fixtures.telegram import TOKEN, FakeBotApi
from tests.gateway.test_alarms_end_to_end import GATEWAY, words
from tests.gateway.test_alarms_end_to_end import config_for as alarms_config
from tests.gateway.test_web_browser import PASSWORD

CHAT = -1001234567890
OLGA, VERA, STRANGER = 501, 502, 999  # Telegram user ids: an operator, a viewer, nobody
WAIT_S = 20.0


def config_for(device: PymodbusServer, broker: Mosquitto, bot_api: FakeBotApi,
               data_dir: Path) -> GatewayConfig:
    """The alarms end-to-end test's gateway (a pump whose pressure_high is raised above
    10.0, MQTT), with the page, English texts and a chat of the fake Bot API's."""
    base = alarms_config(device, broker, data_dir)
    return GatewayConfig.model_validate({
        **base.model_dump(mode="json", exclude_none=True),
        "gateway": {"name": GATEWAY, "data_dir": str(data_dir), "language": "en"},
        "web": {"port": 0},
        "notify": {"language": "en"},
        "telegram": {"api_url": bot_api.url,
                     "chats": [{"chat_id": CHAT, "events": ["alarm"], "min_severity": 500}]},
    })


@asynccontextmanager
async def gateway_with_telegram(
    device: PymodbusServer, mosquitto: Mosquitto, bot_api: FakeBotApi, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Page]:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.setenv("UVELKA_TELEGRAM_TOKEN", TOKEN)
    device.set(Table.HOLDING, 0, words(5.0))
    async with serving_page(config_for(device, mosquitto, bot_api, tmp_path)) as page:
        for name, role in (("olga", "operator"), ("vera", "viewer")):
            status, body = await page.post("/api/users", {"name": name, "role": role,
                                                          "password": PASSWORD + "!"})
            assert status == 200, body
        yield page


async def link(page: Page, bot_api: FakeBotApi, user: str, telegram_id: int) -> str:
    """An engineer (admin) gets `user` a code on the page, sent by `telegram_id` to the bot;
    the bot's reply."""
    status, code = await page.post("/api/telegram/codes", {"user": user})
    assert status == 201, code
    assert code["user"] == user
    return await ask(bot_api, telegram_id, f"/link {code['code']}", username=f"{user}_tg")


async def ask(bot_api: FakeBotApi, telegram_id: int, text: str,
               username: str | None = None) -> str:
    """What the bot answers `telegram_id` writing `text` in their private chat."""
    before = len(bot_api.in_chat(telegram_id))
    bot_api.say(telegram_id, text, username=username)
    await bot_api.wait_for(lambda: len(bot_api.in_chat(telegram_id)) > before,
                           f"the bot's answer to {text!r}")
    return bot_api.in_chat(telegram_id)[-1].text


async def audit(page: Page, action: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = await page.get("/api/audit")
    return [entry for entry in entries if entry["action"] == action]


