"""The Bot API client against the fake Bot API server: what it sends, and how each kind of
failure is translated (tests/fixtures/telegram.py)."""

from __future__ import annotations

import logging

import pytest

from gateway.notify.channel import ChannelDown, Undeliverable
from gateway.notify.telegram.bot_api import BotApi, Button, fitted
from tests.fixtures.telegram import TOKEN, FakeBotApi


async def test_send_message_with_buttons_and_edit_it(bot_api: FakeBotApi) -> None:
    async with BotApi(bot_api.url, TOKEN) as api:
        message_id = await api.send_message(-100, "Насос 3: авария",
                                            [[Button("Квитировать", "a:x:y")]])
        await api.edit_message_text(-100, message_id, "Насос 3: квитировано")
        # The same edit again: Telegram says "not modified", which is no failure.
        await api.edit_message_text(-100, message_id, "Насос 3: квитировано")
    (sent,) = bot_api.messages
    assert (sent.chat_id, sent.message_id) == (-100, message_id)
    assert sent.text == "Насос 3: квитировано"
    assert sent.buttons == []  # an edit without buttons takes them away
    assert bot_api.calls[0][1]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Квитировать", "callback_data": "a:x:y"}]]}


async def test_a_text_too_long_is_cut_to_the_limit(bot_api: FakeBotApi) -> None:
    async with BotApi(bot_api.url, TOKEN) as api:
        await api.send_message(1, "ж" * 5000)
    assert len(bot_api.messages[0].text) == 4096
    assert bot_api.messages[0].text.endswith("…")
    assert fitted("short") == "short"


async def test_429_is_channel_down_with_its_retry_after(bot_api: FakeBotApi) -> None:
    bot_api.too_many_requests(1, retry_after=7)
    async with BotApi(bot_api.url, TOKEN) as api:
        with pytest.raises(ChannelDown) as down:
            await api.send_message(1, "hello")
        assert down.value.retry_after == 7.0
        assert "too many requests" in down.value.reason
        await api.send_message(1, "hello")  # the next one goes
    assert [m.text for m in bot_api.messages] == ["hello"]


async def test_an_outage_is_channel_down_without_retry_after(bot_api: FakeBotApi) -> None:
    bot_api.down = True
    async with BotApi(bot_api.url, TOKEN) as api:
        with pytest.raises(ChannelDown) as down:
            await api.send_message(1, "hello")
    assert down.value.retry_after is None
    assert "HTTP 502, not a Bot API answer" in down.value.reason


async def test_a_server_that_is_gone_is_channel_down(bot_api: FakeBotApi) -> None:
    url = bot_api.url
    async with BotApi("http://127.0.0.1:9", TOKEN) as api:  # discard port: nobody listens
        with pytest.raises(ChannelDown) as down:
            await api.send_message(1, "hello")
    assert url not in down.value.reason
    assert TOKEN not in down.value.reason


async def test_an_unknown_chat_is_undeliverable(bot_api: FakeBotApi) -> None:
    async with BotApi(bot_api.url, TOKEN) as api:
        with pytest.raises(Undeliverable, match="chat not found"):
            await api.send_message(404, "hello")


async def test_a_wrong_token_is_channel_down_and_never_shown(
    bot_api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "999:wrong-token"
    caplog.set_level(logging.DEBUG)
    async with BotApi(bot_api.url, wrong) as api:
        assert wrong not in repr(api)
        with pytest.raises(ChannelDown, match="Unauthorized") as down:
            await api.send_message(1, "hello")
    assert wrong not in str(down.value)
    assert wrong not in caplog.text


async def test_get_updates_skips_what_it_cannot_read(bot_api: FakeBotApi) -> None:
    bot_api.say(5, "/status", username="ivanov")
    bot_api._update({"callback_query": {"id": "broken"}})  # no `from`: not a press
    async with BotApi(bot_api.url, TOKEN, poll_s=0) as api:
        polled = await api.get_updates(None)
        assert polled.malformed == 1
        (update,) = polled.updates
        assert update.message is not None
        assert update.message.text == "/status"
        assert update.message.sender is not None
        assert update.message.sender.shown == "@ivanov"
        # The offset confirms both, the unreadable one too: it never comes back.
        assert (await api.get_updates(polled.next_offset)).updates == []
        me = await api.get_me()
    assert me.username == "uvelka_bot"
