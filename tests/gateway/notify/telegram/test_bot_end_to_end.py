"""The Telegram bot on a real gateway (issue #15), against the fake Bot API server: an
engineer gets link codes on the page, users send them with /link, /status and /alarms
answer linked users only, and the page ends a link (the presses: test_press_end_to_end)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.fixtures.page_api import Page, logged_in
from tests.fixtures.prometheus import metric_value
from tests.fixtures.telegram import FakeBotApi
from tests.gateway.notify.telegram.support import (
    GATEWAY,
    OLGA,
    STRANGER,
    VERA,
    ask,
    audit,
    link,
)
from tests.gateway.test_web_browser import PASSWORD

# A gateway with the page starts in 5-16 s on a loaded machine; users are hashed with scrypt.
pytestmark = pytest.mark.timeout(180)


async def test_codes_from_the_page_link_users_who_then_get_the_gateways_state(
    plant: Page, bot_api: FakeBotApi
) -> None:
    assert await plant.get("/api/telegram") == {"configured": True, "links": []}
    assert "Only linked users" in await ask(bot_api, STRANGER, "/status")
    assert "Not linked: this code is wrong" in await ask(bot_api, STRANGER, "/link ABCDEFGH")

    status, code = await plant.post("/api/telegram/codes", {"user": "olga"})
    assert status == 201
    reply = await ask(bot_api, OLGA, f"/link {code['code'].lower()}", username="olga_tg")
    assert reply == "Linked: you act as gateway user olga."
    # Single use: nobody else links with it.
    assert "wrong, expired or used" in await ask(bot_api, STRANGER, f"/link {code['code']}")
    status, unknown = await plant.post("/api/telegram/codes", {"user": "nobody"})
    assert (status, unknown) == (404, {"error": "no user 'nobody'"})

    state = await ask(bot_api, OLGA, "/status")
    assert state.splitlines()[:2] == [f"Gateway {GATEWAY}: serving",
                                      "Devices: 1 of 1 connected"]
    assert "Alarms: 0 standing, 0 unacknowledged, 0 shelved" in state
    assert await ask(bot_api, OLGA, "/alarms@uvelka_bot") == (
        "No alarm: everything is normal.")
    assert "/link CODE" in await ask(bot_api, OLGA, "hello")  # the help
    # Another bot's command, as in a group both are in: not answered (the updates are
    # handled in order, so the next answer is the next command's).
    before = len(bot_api.in_chat(OLGA))
    bot_api.say(OLGA, "/status@other_bot")
    assert await ask(bot_api, OLGA, "/alarms") == "No alarm: everything is normal."
    assert len(bot_api.in_chat(OLGA)) == before + 1

    links = (await plant.get("/api/telegram"))["links"]
    assert [(link["telegram_id"], link["telegram_name"], link["user"]) for link in links] == [
        (OLGA, "@olga_tg", "olga")]
    (linked,) = await audit(plant, "Telegram linked")
    assert (linked["user"], linked["detail"]) == ("olga", f"@olga_tg ({OLGA})")
    assert len(await audit(plant, "Telegram link code issued")) == 1  # not for nobody
    # /metrics: nine messages handled, eight answered (not another bot's), one link.
    metrics = await plant.get("/metrics")
    assert metric_value(metrics, "uvelka_telegram_updates_total") == 9
    assert metric_value(metrics, "uvelka_telegram_commands_total") == 8
    assert metric_value(metrics, "uvelka_telegram_links") == 1
    assert metric_value(metrics, "uvelka_telegram_presses_acted_total") == 0

    # The page ends the link: the bot no longer answers her with the state.
    status, ended = await plant.send("DELETE", f"/api/telegram/links/{OLGA}")
    assert (status, ended["user"]) == (200, "olga")
    assert "Only linked users" in await ask(bot_api, OLGA, "/status")
    status, _ = await plant.send("DELETE", f"/api/telegram/links/{OLGA}")
    assert status == 404


async def test_a_deleted_user_s_link_ends_and_the_bot_outlives_an_outage(
    plant: Page, bot_api: FakeBotApi
) -> None:
    assert (await link(plant, bot_api, "vera", VERA)).startswith("Linked")
    assert (await ask(bot_api, VERA, "/status")).startswith(f"Gateway {GATEWAY}")

    # The Bot API server goes away for a while: the bot backs off and comes back.
    refused = bot_api.refused
    bot_api.set_down(True)
    await bot_api.wait_for(lambda: bot_api.refused >= refused + 2, "getUpdates refused")
    bot_api.set_down(False)
    assert (await ask(bot_api, VERA, "/alarms")) == "No alarm: everything is normal."

    # Deleted on the plant, then made again under the same name: the link is not hers.
    status, _ = await plant.send("DELETE", "/api/users/vera")
    assert status == 200
    assert "Only linked users" in await ask(bot_api, VERA, "/status")
    status, _ = await plant.post("/api/users", {"name": "vera", "role": "operator",
                                               "password": PASSWORD + "!"})
    assert status == 200
    assert "Only linked users" in await ask(bot_api, VERA, "/status")


async def test_who_may_ask_for_which_code_and_end_which_link(
    plant: Page, bot_api: FakeBotApi
) -> None:

    assert (await link(plant, bot_api, "vera", VERA)).startswith("Linked")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        olga = Page(plant.gateway, plant.opcua, http, plant.base,
                    await logged_in(http, plant.base, "olga", PASSWORD + "!"))
        # An operator: a code for herself, not for another; her links only.
        status, code = await olga.post("/api/telegram/codes", {})
        assert (status, code["user"]) == (201, "olga")
        status, refused = await olga.post("/api/telegram/codes", {"user": "vera"})
        assert (status, refused) == (403, {"error": "only an engineer or admin gets a code "
                                                    "for another user"})
        assert (await olga.get("/api/telegram"))["links"] == []
        status, _ = await olga.send("DELETE", f"/api/telegram/links/{VERA}")
        assert status == 404
    # An API token, even an admin's, gets no code: a leaked one must not link strangers.
    status, made = await plant.post("/api/tokens", {"name": "script"})
    assert status == 201
    async with aiohttp.ClientSession() as script, script.post(
        f"{plant.base}/api/telegram/codes", json={},
        headers={"Authorization": f"Bearer {made['token']}"},
    ) as response:
        assert response.status == 403
    assert [link["user"] for link in (await plant.get("/api/telegram"))["links"]] == ["vera"]
