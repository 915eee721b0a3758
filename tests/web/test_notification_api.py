"""The notification bell's API (issue #15): every logged-in user reads the list and marks
what they read (per user, with the CSRF token); anonymous callers get 401; a bad body 400.
A fake gateway here; the real one in tests/gateway/notify/test_bell_browser.py."""

from __future__ import annotations

import pytest

from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import NOW, FakeFacade
from tests.web.test_api import call, logged_in
from web.users import Role


@pytest.fixture
def facade() -> FakeFacade:
    notice = {"time": NOW.isoformat(), "kind": "alarm_raised", "severity": 800,
              "title": "Alarm level_high on pump1", "detail": "", "link": "/alarms"}
    return FakeFacade(notices=[{**notice, "id": 1}, {**notice, "id": 2}])


async def test_a_viewer_reads_the_list_and_marks_read_for_themselves(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    viewer = accounts[Role.VIEWER]
    served, token = await logged_in(start_web, facade, viewer)
    status, answer = await call(served, "GET", "/api/notifications", None)
    assert status == 200
    assert (answer["unread"], answer["latest"]) == (2, 2)
    assert [item["id"] for item in answer["items"]] == [2, 1]
    assert (await call(served, "POST", "/api/notifications/read", token, {"ids": [1]})) == (
        200, {"unread": 1})
    assert (await call(served, "POST", "/api/notifications/read", token, {"all": True})) == (
        200, {"unread": 0})
    assert facade.notices_read == {viewer.name: {1, 2}}


@pytest.mark.parametrize("body", [{}, {"ids": "1"}, {"ids": [True]}, {"ids": [1.5]},
                                  {"all": "yes"}])
async def test_a_body_that_names_no_notifications_is_refused(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account], body: dict[str, object]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.VIEWER])
    status, answer = await call(served, "POST", "/api/notifications/read", token, body)
    assert status == 400
    assert "ids" in answer["error"]
    assert facade.notices_read == {}


async def test_marking_read_needs_the_csrf_token_and_a_login(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.VIEWER])
    assert (await call(served, "POST", "/api/notifications/read", None, {"all": True}))[0] == 403
    anonymous = await start_web(facade=facade)
    assert (await call(anonymous, "GET", "/api/notifications", None))[0] == 401
    assert facade.notices_read == {}
