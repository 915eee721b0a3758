"""Where the bot's token comes from, and a gateway without one (issue #15): nothing is
sent, nothing is lost, and the reason is said once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.config.telegram import TOKEN_ENV, TelegramSection
from gateway.core.clock import SystemClock
from gateway.notify.channel import ChannelDown, RenderedMessage
from gateway.notify.telegram.service import open_telegram
from tests.fixtures.telegram import TOKEN, FakeBotApi


def test_the_token_file_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    token_file = tmp_path / "telegram.token"
    token_file.write_text(f"  {TOKEN}  \nsecond line ignored\n")
    assert TelegramSection(token_file=token_file).token() == TOKEN
    assert TelegramSection().token() == "from-the-environment"
    monkeypatch.delenv(TOKEN_ENV)
    assert TelegramSection().token() is None
    token_file.write_text("\n")
    assert TelegramSection(token_file=token_file).token() is None


async def test_without_a_token_nothing_is_sent_and_it_is_said_once(
    bot_api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    section = TelegramSection(api_url=bot_api.url, token_file=tmp_path / "missing.token")
    message = RenderedMessage(subject="s", text="t", html="", language="en", event_id="e")
    async with open_telegram(section, tmp_path, SystemClock()) as telegram:
        with pytest.raises(ChannelDown, match="no Telegram token"):
            await telegram.channel.send("-100", message)
    assert bot_api.calls == []  # never asked with a wrong URL
    (said,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "cannot read the token file" in said.getMessage()
    assert "notifications wait in the outbox" in said.getMessage()
