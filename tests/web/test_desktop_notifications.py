"""The bell's desktop notifications choice (issue #15): PUT /api/me/desktop-notifications
keeps it with the user, so another browser (another client, another session) sees it; the
session goes on; it needs the CSRF token; anything but true or false is refused."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Account, StartWeb, Web
from tests.web.test_language import me
from web.app import USERS
from web.users import Role

PATH = "/api/me/desktop-notifications"


async def put_choice(served: Web, token: str, body: Any) -> tuple[int, Any]:
    async with served.client.put(served.url(PATH), json=body,
                                 headers={"X-CSRF-Token": token}) as response:
        return response.status, await response.json()


async def test_the_choice_follows_the_user_to_another_browser(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = await served.login(accounts[Role.VIEWER])
    assert (await me(served))["desktop_notifications"] is False

    status, user = await put_choice(served, token, {"on": True})
    assert (status, user["desktop_notifications"]) == (200, True)
    assert (await me(served))["desktop_notifications"] is True  # the session goes on
    assert served.app[USERS].get("viewer").desktop_notifications  # type: ignore[union-attr]

    async with served.from_address("127.0.0.2") as other:  # another browser, logged in anew
        other_token = await other.login(accounts[Role.VIEWER])
        assert (await me(other))["desktop_notifications"] is True
        async with other.client.get(other.url("/")) as response:
            assert 'data-desktop-notifications="on"' in await response.text()
        status, user = await put_choice(other, other_token, {"on": False})
        assert (status, user["desktop_notifications"]) == (200, False)
    assert (await me(served))["desktop_notifications"] is False
    async with served.client.get(served.url("/")) as response:
        assert 'data-desktop-notifications="off"' in await response.text()


async def test_it_is_each_users_own(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = await served.login(accounts[Role.OPERATOR])
    assert (await put_choice(served, token, {"on": True}))[0] == 200
    async with served.from_address("127.0.0.3") as other:
        await other.login(accounts[Role.ENGINEER])
        assert (await me(other))["desktop_notifications"] is False


async def test_without_the_csrf_token_or_with_a_wrong_body_nothing_changes(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = await served.login(accounts[Role.VIEWER])
    status, answer = await put_choice(served, "not-the-token", {"on": True})
    assert (status, answer) == (403, {"error": "missing or wrong CSRF token"})
    for wrong in ({}, {"on": 1}, {"on": "true"}, {"on": None}):
        status, answer = await put_choice(served, token, wrong)
        assert status == 400
        assert answer["error"].startswith("on: expected true or false (got ")
    assert (await me(served))["desktop_notifications"] is False
    assert not served.app[USERS].get("viewer").desktop_notifications  # type: ignore[union-attr]
