"""The simulated plant's repair from the Models page's API (issue #11): engineers only,
with the CSRF token, recorded in the audit log; an asset without one is 404."""

from __future__ import annotations

from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import FakeFacade
from tests.web.test_api import call, logged_in
from web.users import Role


async def test_an_engineer_repairs_a_simulated_pump_and_it_is_audited(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    facade = FakeFacade()
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    assert await call(served, "POST", "/api/assets/press-1/repair", token) == (
        200, {"status": "press-1: repair sent"})
    entry = facade.audit_log[-1]
    assert (entry.user, entry.action, entry.detail) == ("engineer", "asset repaired", "press-1")
    assert await call(served, "POST", "/api/assets/fan-9/repair", token) == (
        404, {"error": "asset 'fan-9' has no simulated repair"})


async def test_a_repair_needs_an_engineer_and_the_csrf_token(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    facade = FakeFacade()
    served, token = await logged_in(start_web, facade, accounts[Role.OPERATOR])
    assert (await call(served, "POST", "/api/assets/press-1/repair", token))[0] == 403
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    assert (await call(served, "POST", "/api/assets/press-1/repair", None))[0] == 403
    assert facade.audit_log == []
