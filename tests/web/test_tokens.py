"""API tokens (issue #14): created by a logged-in user, shown once, stored hashed, used as
a Bearer header with the user's role and no CSRF token, revoked (401 from then on), and
ended with their user; the page creates and shows one in a real Chromium."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import aiohttp
from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.web.conftest import Account, FakeClock, StartWeb, Web
from tests.web.test_browser_login import log_in
from web.tokens import FILE_NAME
from web.users import Role


async def created(served: Web, account: Account, name: str = "nightly export") -> dict[str, str]:
    """Log `account` in on the served client and create a token (201)."""
    csrf = await served.login(account)
    async with served.client.post(served.url("/api/tokens"), json={"name": name},
                                  headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 201, await response.text()
        return dict(await response.json())


async def with_token(served: Web, method: str, path: str, token: str,
                     body: object = None) -> tuple[int, dict[str, object]]:
    """A request from a client without cookies, carrying only the token."""
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as script,
        script.request(method, served.url(path), json=body,
                       headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        return response.status, await response.json()


async def test_a_token_is_shown_once_stored_hashed_and_acts_with_its_users_role(
    start_web: StartWeb, web_folder: Path, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    made = await created(served, accounts[Role.VIEWER])
    token = made["token"]
    assert token.startswith("uvk_")
    assert made["name"] == "nightly export"
    assert made["user"] == "viewer"

    # Shown once: the list never has it; the file has its hash only, readable by no one else.
    async with served.client.get(served.url("/api/tokens")) as response:
        listed = await response.json()
    assert [t["id"] for t in listed] == [made["id"]]
    assert "token" not in listed[0]
    stored = (web_folder / FILE_NAME).read_text()
    assert token not in stored
    # uvk_<id>_<secret>: the secret, whose URL-safe alphabet has "_" too, is never stored.
    assert token.split("_", 2)[2] not in stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert stat.S_IMODE((web_folder / FILE_NAME).stat().st_mode) == 0o600

    status, me = await with_token(served, "GET", "/api/me", token)
    assert (status, me["name"], me["role"]) == (200, "viewer", "viewer")
    # No CSRF token needed, but the role counts: a viewer cannot write.
    status, body = await with_token(served, "POST", "/api/users", token,
                                    {"name": "x", "role": "admin", "password": "p" * 12})
    assert (status, body) == (403, {"error": "this needs the admin role"})
    status, body = await with_token(served, "POST", "/api/me/password", token,
                                    {"current": "wrong password", "password": "p" * 12})
    assert (status, body) == (400, {"error": "current: not your password"})
    # A token cannot make a successor of itself.
    status, body = await with_token(served, "POST", "/api/tokens", token, {"name": "more"})
    assert status == 403
    assert "created on the page" in str(body["error"])


async def test_an_admins_token_writes_and_a_revoked_token_is_refused(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = (await created(served, accounts[Role.ADMIN]))["token"]
    status, body = await with_token(served, "POST", "/api/users", token,
                                    {"name": "script", "role": "viewer", "password": "p" * 12})
    assert (status, body["name"]) == (200, "script")

    status, _ = await with_token(served, "DELETE", f"/api/tokens/{token.split('_')[1]}", token)
    assert status == 200
    assert await with_token(served, "GET", "/api/me", token) == (
        401, {"error": "unknown or revoked API token"})


async def test_a_wrong_token_is_refused_even_beside_a_valid_session(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = (await created(served, accounts[Role.ENGINEER]))["token"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    async with served.client.get(served.url("/api/me"),
                                 headers={"Authorization": f"Bearer {forged}"}) as response:
        assert response.status == 401
    for wrong in ("", "uvk_", "not a token", token.upper()):
        assert (await with_token(served, "GET", "/api/me", wrong))[0] == 401


async def test_tokens_end_with_their_user_and_stay_across_a_restart(
    start_web: StartWeb, accounts: dict[Role, Account], clock: FakeClock
) -> None:
    served = await start_web()
    admin_csrf = await served.login(accounts[Role.ADMIN])
    async with served.client.post(served.url("/api/users"), headers={"X-CSRF-Token": admin_csrf},
                                  json={"name": "robot", "role": "operator",
                                        "password": "p" * 12}) as response:
        assert response.status == 200
    robot = Account("robot", "p" * 12, Role.OPERATOR)
    token = (await created(served, robot))["token"]
    restarted = await start_web()
    assert (await with_token(restarted, "GET", "/api/me", token))[1]["name"] == "robot"

    csrf = await restarted.login(accounts[Role.ADMIN])
    async with restarted.client.get(restarted.url("/api/tokens")) as response:
        assert "robot" in {t["user"] for t in await response.json()}  # an admin sees all
    async with restarted.client.delete(restarted.url("/api/users/robot"),
                                       headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 200
    assert (await with_token(restarted, "GET", "/api/me", token))[0] == 401
    # A new user of the same name, made later, does not inherit the token.
    clock.advance(1.0)
    async with restarted.client.post(restarted.url("/api/users"),
                                     headers={"X-CSRF-Token": csrf},
                                     json={"name": "robot", "role": "admin",
                                           "password": "p" * 12}) as response:
        assert response.status == 200
    assert (await with_token(restarted, "GET", "/api/me", token))[0] == 401


async def test_only_an_admin_revokes_anothers_token(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    made = await created(served, accounts[Role.OPERATOR])
    viewer = (await created(served, accounts[Role.VIEWER]))["token"]
    path = f"/api/tokens/{made['id']}"
    assert await with_token(served, "DELETE", path, viewer) == (
        404, {"error": f"no token {made['id']!r}"})
    assert (await with_token(served, "GET", "/api/me", made["token"]))[0] == 200


async def test_the_page_creates_a_token_and_shows_it_once(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web()
    await log_in(page, served, accounts[Role.ENGINEER])
    await page.get_by_role("link", name="API tokens").click()
    await expect(page.get_by_text("No tokens.")).to_be_visible()
    await page.get_by_label("What uses it").fill("historian pull")
    await page.get_by_role("button", name="Create token").click()
    await expect(page.get_by_text("it is shown only this once")).to_be_visible()
    token = await page.locator("#new-token").text_content()
    assert token is not None
    status, me = await with_token(served, "GET", "/api/me", token)
    assert (status, me["name"], me["role"]) == (200, "engineer", "engineer")
    await expect(page.get_by_role("cell", name="historian pull")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("cell", name="historian pull")).to_be_visible()
    await expect(page.locator("#new-token")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Revoke").click()
    await expect(page.get_by_text("historian pull revoked")).to_be_visible()
    assert (await with_token(served, "GET", "/api/me", token))[0] == 401
    browser_log.assert_clean()
