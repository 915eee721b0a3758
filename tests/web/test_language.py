"""A user's language on the page (issue #15): PUT /api/me/language keeps it with the user
(the session goes on), null gives the gateway's default back, anything else is refused."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Account, StartWeb, Web
from web.app import USERS
from web.users import Role


async def put_language(served: Web, token: str, language: Any) -> tuple[int, Any]:
    async with served.client.put(
        served.url("/api/me/language"), json={"language": language}, headers={"X-CSRF-Token": token}
    ) as response:
        return response.status, await response.json()


async def me(served: Web) -> Any:
    async with served.client.get(served.url("/api/me")) as response:
        assert response.status == 200
        return await response.json()


async def test_a_user_chooses_a_language_and_goes_back_to_the_default(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web(language="ru")
    token = await served.login(accounts[Role.VIEWER])
    assert (await me(served))["language"] == "ru"  # the gateway's default

    status, user = await put_language(served, token, "en")
    assert (status, user["language"]) == (200, "en")
    assert (await me(served))["language"] == "en"  # the same session goes on
    assert served.app[USERS].get("viewer").language == "en"  # type: ignore[union-attr]
    async with served.client.get(served.url("/")) as response:
        assert '<html lang="en"' in await response.text()

    status, user = await put_language(served, token, None)
    assert (status, user["language"]) == (200, None)
    assert (await me(served))["language"] == "ru"


async def test_an_unknown_language_is_refused_and_changes_nothing(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web(language="en")
    token = await served.login(accounts[Role.OPERATOR])
    for wrong in ("de", "RU", 1, ["ru"]):
        status, answer = await put_language(served, token, wrong)
        assert status == 400
        assert answer["error"].startswith("language: expected one of ru, en or null (got ")
    assert (await me(served))["language"] == "en"
    assert served.app[USERS].get("operator").language is None  # type: ignore[union-attr]
