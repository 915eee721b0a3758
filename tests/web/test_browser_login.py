"""Logging in and out in a real headless Chromium (issue #5), against the served app.

Assertions are on what a person sees: visible text, labels and buttons, the address bar.
"""

from __future__ import annotations

import secrets

import pytest
from playwright.async_api import Page, expect

from tests.fixtures.browser import BrowserLog
from tests.web.conftest import Account, StartWeb, Web
from web.users import Role


async def fill_login_form(page: Page, name: str, password: str) -> None:
    await page.get_by_label("User name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def log_in(page: Page, served: Web, account: Account) -> None:
    """Log in through the form and wait for the start page."""
    await page.goto(served.url("/login"))
    await fill_login_form(page, account.name, account.password)
    await expect(page).to_have_url(served.url("/"))


async def test_login_page_loads_with_no_browser_errors(
    start_web: StartWeb, page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web()
    await page.goto(served.url("/"))
    # Without a session the start page sends the browser to the login page.
    await expect(page).to_have_url(served.url("/login"))
    await expect(page).to_have_title("Uvelka - log in")
    await expect(page.get_by_role("heading", name="Uvelka gateway")).to_be_visible()
    await expect(page.get_by_label("User name")).to_be_focused()
    await expect(page.get_by_label("Password")).to_be_visible()
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    browser_log.assert_clean()


async def test_wrong_password_shows_the_error_message(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web()
    await page.goto(served.url("/login"))
    await expect(page.get_by_role("alert")).to_have_text("")
    await fill_login_form(page, accounts[Role.VIEWER].name, secrets.token_urlsafe(12))
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page).to_have_url(served.url("/login"))
    await expect(page.get_by_label("Password")).to_have_value("")
    # The form comes back with 401 on purpose, which Chromium reports as a failed load.
    browser_log.assert_clean(expected_statuses={401})
    await page.goto(served.url("/"))
    await expect(page).to_have_url(served.url("/login"))


async def test_right_password_lands_on_the_start_page_with_the_users_name(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web()
    account = accounts[Role.OPERATOR]
    await log_in(page, served, account)
    await expect(page.get_by_text(f"{account.name} ({account.role.value})")).to_be_visible()
    await expect(page.get_by_role("button", name="Log out")).to_be_visible()
    browser_log.assert_clean()


async def test_logout_returns_to_the_login_page(
    start_web: StartWeb, accounts: dict[Role, Account], page: Page, browser_log: BrowserLog
) -> None:
    served = await start_web()
    await log_in(page, served, accounts[Role.ENGINEER])
    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(served.url("/login"))
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_text("")
    # The session is over: the start page is out of reach again.
    await page.goto(served.url("/"))
    await expect(page).to_have_url(served.url("/login"))
    browser_log.assert_clean()


async def test_an_inline_script_is_refused_and_reported(
    start_web: StartWeb, page: Page, browser_log: BrowserLog
) -> None:
    """The page's Content-Security-Policy blocks an injected script, and the harness sees the
    violation: proof that `assert_clean` would catch one in the templates."""
    served = await start_web()
    await page.goto(served.url("/login"))
    async with page.expect_console_message(lambda message: message.type == "error") as refusal:
        await page.evaluate("""() => {
            const script = document.createElement("script");
            script.textContent = "window.injected = true";
            document.body.append(script);
        }""")
    assert "Content Security Policy" in (await refusal.value).text
    assert await page.evaluate("() => window.injected") is None
    with pytest.raises(AssertionError, match="Content Security Policy"):
        browser_log.assert_clean()
