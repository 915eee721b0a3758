"""Logging in and out over HTTP: cookies, expiry, fixation, logout, throttling, first start."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import stat
from collections import Counter
from pathlib import Path

import aiohttp

from tests.web.conftest import Account, FakeClock, StartWeb, Web, csrf_field, set_cookies
from web.app import USERS, take_first_admin_password
from web.settings import DEFAULT_SESSION_MAX_AGE_S
from web.throttle import MAX_FAILURES, MAX_QUEUED_LOGINS
from web.users import ADMIN_ENV_VAR, FILE_NAME, FIRST_ADMIN, Role


async def test_right_password_sets_a_strict_http_only_session_cookie(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    engineer = accounts[Role.ENGINEER]
    response = await served.post_login(engineer.name, engineer.password)
    assert response.status == 303
    cookie = set_cookies(response)["uvelka_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(DEFAULT_SESSION_MAX_AGE_S)
    assert not cookie["secure"]  # plain HTTP on loopback: a Secure cookie would not return
    assert engineer.name not in cookie.value  # encrypted
    async with served.client.get(served.url("/api/me")) as me:
        body = await me.json()
    assert body["name"] == engineer.name
    assert body["role"] == "engineer"
    assert len(body["csrf_token"]) >= 32


async def test_wrong_password_gets_401_and_the_form_again(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    response = await served.post_login(accounts[Role.VIEWER].name, secrets.token_urlsafe(12))
    assert response.status == 401
    assert "uvelka_session" not in set_cookies(response)  # no login, the form session stays
    async with served.client.get(served.url("/api/me")) as me:
        assert me.status == 401


async def test_unknown_user_gets_the_same_answer(start_web: StartWeb) -> None:
    served = await start_web()
    token = await served.login_page_token()
    data = {"name": "nobody", "password": secrets.token_urlsafe(12), "csrf_token": token}
    async with served.client.post(served.url("/login"), data=data) as response:
        assert response.status == 401
        assert "Wrong user name or password." in await response.text()


async def test_login_without_the_form_token_is_refused(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    viewer = accounts[Role.VIEWER]
    data = {"name": viewer.name, "password": viewer.password}
    async with served.client.post(served.url("/login"), data=data,
                                  allow_redirects=False) as response:
        assert response.status == 403
    async with served.client.get(served.url("/api/me")) as me:
        assert me.status == 401


async def test_login_starts_a_new_session(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    form_token = await served.login_page_token()
    before = served.session_cookie()
    token = await served.login(accounts[Role.VIEWER])
    assert served.session_cookie() != before
    assert token != form_token
    # The anonymous session's token does not carry over into the login.
    async with served.client.post(served.url("/logout"), data={"csrf_token": form_token},
                                  allow_redirects=False) as response:
        assert response.status == 403
    # Nor does the anonymous cookie gain the login.
    assert await served.get_with_cookie("/api/me", before) == 401


async def test_session_expires_after_max_age(
    start_web: StartWeb, accounts: dict[Role, Account], clock: FakeClock
) -> None:
    served = await start_web(session_max_age_s=600)
    await served.login(accounts[Role.VIEWER])
    cookie = served.session_cookie()
    clock.advance(599)
    assert await served.get_with_cookie("/api/me", cookie) == 200
    clock.advance(1)
    assert await served.get_with_cookie("/api/me", cookie) == 401
    assert await served.get_with_cookie("/", cookie) == 303


async def test_logout_ends_the_session_and_a_copied_cookie(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = await served.login(accounts[Role.VIEWER])
    copied = served.session_cookie()
    async with served.client.post(served.url("/logout"), data={"csrf_token": token},
                                  allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/login"
        assert set_cookies(response)["uvelka_session"]["max-age"] == "0"  # browser drops it
    async with served.client.get(served.url("/api/me")) as me:
        assert me.status == 401
    assert await served.get_with_cookie("/api/me", copied) == 401


async def test_a_user_change_ends_their_sessions(
    start_web: StartWeb, accounts: dict[Role, Account], clock: FakeClock
) -> None:
    served = await start_web()
    engineer = accounts[Role.ENGINEER]
    await served.login(engineer)
    clock.advance(1)
    await served.app[USERS].set_role(engineer.name, Role.VIEWER)
    async with served.client.get(served.url("/api/me")) as me:
        assert me.status == 401
    await served.login(engineer)  # the same password still works, with the new role
    async with served.client.get(served.url("/api/me")) as me:
        assert (await me.json())["role"] == "viewer"


async def test_a_login_at_the_instant_of_a_change_counts(
    start_web: StartWeb, accounts: dict[Role, Account], clock: FakeClock
) -> None:
    clock.wall_s = int(clock.wall_s) + 0.9999996  # stored times round this up a microsecond
    served = await start_web()
    viewer = accounts[Role.VIEWER]
    await served.app[USERS].set_password(viewer.name, viewer.password)
    await served.login(viewer)  # issued at the very time of the change


async def test_start_page_shows_the_user_and_a_logout_form(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    token = await served.login(accounts[Role.OPERATOR])
    async with served.client.get(served.url("/")) as response:
        page = await response.text()
    assert "operator (operator)" in page
    assert csrf_field(page) == token
    assert 'action="/logout"' in page


async def test_sixth_failed_login_is_throttled_until_the_window_passes(
    start_web: StartWeb, accounts: dict[Role, Account], clock: FakeClock
) -> None:
    served = await start_web()
    viewer = accounts[Role.VIEWER]
    for _ in range(5):
        response = await served.post_login(viewer.name, secrets.token_urlsafe(12))
        assert response.status == 401
    response = await served.post_login(viewer.name, viewer.password)  # right, but locked
    assert response.status == 429
    assert response.headers["Retry-After"] == "300"
    clock.advance(299.5)
    response = await served.post_login(viewer.name, viewer.password)
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    clock.advance(0.5)
    response = await served.post_login(viewer.name, viewer.password)
    assert response.status == 303


async def test_failures_from_one_address_lock_every_name(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    for index in range(5):
        response = await served.post_login(f"guess{index}", secrets.token_urlsafe(12))
        assert response.status == 401
    admin = accounts[Role.ADMIN]
    response = await served.post_login(admin.name, admin.password)
    assert response.status == 429


async def test_security_headers_on_every_kind_of_response(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    answers = []
    for path in ("/login", "/healthz", "/static/uvelka.css", "/api/me", "/"):
        async with served.client.get(served.url(path), allow_redirects=False) as response:
            answers.append((path, response.status, response.headers))
    await served.login(accounts[Role.VIEWER])
    async with served.client.get(served.url("/no-such-page")) as response:
        answers.append(("/no-such-page", response.status, response.headers))
    assert [status for _, status, _ in answers] == [200, 200, 200, 401, 303, 404]
    for path, _, headers in answers:
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy, path
        assert "script-src 'self';" in policy, path  # no inline script, no eval
        assert "Strict-Transport-Security" not in headers, path  # plain HTTP
        assert (headers.get("Cache-Control") == "no-store") == (not path.startswith("/static/"))


async def test_first_start_generates_the_admin_password_once(
    start_web: StartWeb, web_folder: Path
) -> None:
    (web_folder / FILE_NAME).unlink()
    served = await start_web()
    password = take_first_admin_password(served.app)
    assert password is not None
    assert len(password) >= 20
    assert take_first_admin_password(served.app) is None
    assert password not in (web_folder / FILE_NAME).read_text()
    for name in (FILE_NAME, "session.key"):
        assert stat.S_IMODE((web_folder / name).stat().st_mode) == 0o600
    assert (await served.post_login(FIRST_ADMIN, password)).status == 303


async def test_first_start_admin_password_from_the_environment(
    start_web: StartWeb, web_folder: Path
) -> None:
    (web_folder / FILE_NAME).unlink()
    password = secrets.token_urlsafe(15)
    served = await start_web(environ={ADMIN_ENV_VAR: password})
    assert take_first_admin_password(served.app) is None
    assert (await served.post_login(FIRST_ADMIN, password)).status == 303
    async with served.client.get(served.url("/api/me")) as me:
        assert (await me.json())["role"] == "admin"


async def test_sessions_survive_a_restart(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    first = await start_web()
    await first.login(accounts[Role.VIEWER])
    cookie = first.session_cookie()
    second = await start_web()  # same folder: same users and session key
    assert await second.get_with_cookie("/api/me", cookie) == 200


async def test_a_cookie_from_another_key_is_refused(
    start_web: StartWeb, accounts: dict[Role, Account], web_folder: Path
) -> None:
    first = await start_web()
    await first.login(accounts[Role.VIEWER])
    cookie = first.session_cookie()
    (web_folder / "session.key").unlink()
    second = await start_web()
    assert await second.get_with_cookie("/api/me", cookie) == 401


async def test_login_form_fields_missing(start_web: StartWeb) -> None:
    served = await start_web()
    token = await served.login_page_token()
    async with served.client.post(served.url("/login"), data={"csrf_token": token}) as response:
        assert response.status == 400


async def test_a_forged_cookie_is_refused(start_web: StartWeb) -> None:
    served = await start_web()
    assert await served.get_with_cookie("/api/me", "not-a-fernet-token") == 401
    async with aiohttp.ClientSession() as other, other.get(served.url("/healthz")) as response:
        assert response.status == 200  # the server carries on


async def _login_statuses(served: Web, name: str, passwords: list[str]) -> list[int]:
    """POST the login form once per password, all at once, with one form token."""
    token = await served.login_page_token()

    async def attempt(password: str) -> int:
        data = {"name": name, "password": password, "csrf_token": token}
        async with served.client.post(served.url("/login"), data=data,
                                      allow_redirects=False) as response:
            await response.read()
            return response.status

    return list(await asyncio.gather(*(attempt(password) for password in passwords)))


async def test_parallel_wrong_passwords_are_throttled_before_they_are_hashed(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    # Issue #17: 300 parallel wrong passwords all got 401, none 429, because the limit was
    # checked before the slow hash of any of them had finished.
    served = await start_web()
    wrong = [secrets.token_urlsafe(12) for _ in range(40)]
    statuses = await _login_statuses(served, accounts[Role.VIEWER].name, wrong)
    assert Counter(statuses) == {401: 5, 429: 35}


async def test_an_attack_from_five_addresses_does_not_lock_the_right_password_out(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    # Issue #17: five failures from five addresses locked the user out everywhere.
    served = await start_web()
    viewer = accounts[Role.VIEWER]
    wrong = [secrets.token_urlsafe(12) for _ in range(6)]
    async with contextlib.AsyncExitStack() as stack:
        attackers = [await stack.enter_async_context(served.from_address(f"127.0.0.{host}"))
                     for host in range(2, 7)]
        user = await stack.enter_async_context(served.from_address("127.0.0.7"))

        async def wave() -> list[int]:
            answers = await asyncio.gather(*(_login_statuses(attacker, viewer.name, wrong)
                                             for attacker in attackers))
            return [status for statuses in answers for status in statuses]

        first = await wave()
        second, login = await asyncio.gather(wave(), user.post_login(viewer.name,
                                                                      viewer.password))
    assert login.status == 303
    # Five attempts at the account, then one more from each address not yet seen: every
    # address that failed against the account under attack is refused it for the window.
    assert first.count(401) <= 10
    assert set(second) == {429}


async def test_logins_beyond_the_queue_are_refused_at_once_and_the_queue_drains(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web()
    wrong = [secrets.token_urlsafe(12) for _ in range(MAX_FAILURES)]
    async with contextlib.AsyncExitStack() as stack:
        # Each address gets MAX_FAILURES places, so this many addresses overfill the queue.
        rush = [await stack.enter_async_context(served.from_address(f"127.0.1.{host}"))
                for host in range(MAX_QUEUED_LOGINS // MAX_FAILURES + 1)]
        answers = await asyncio.gather(*(_login_statuses(client, f"guess{index}", wrong)
                                         for index, client in enumerate(rush)))
        user = await stack.enter_async_context(served.from_address("127.0.1.200"))
        viewer = accounts[Role.VIEWER]
        login = await user.post_login(viewer.name, viewer.password)
    statuses = Counter(status for statuses in answers for status in statuses)
    assert statuses[401] == MAX_QUEUED_LOGINS
    assert statuses[503] == len(rush) * MAX_FAILURES - MAX_QUEUED_LOGINS
    assert login.status == 303
