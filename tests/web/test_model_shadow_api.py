"""The API of candidates in shadow, stopped, discarded, and the agreement view (issue #12):
engineers only for changes, with the CSRF token; viewers read the agreement; bad requests
say why."""

from __future__ import annotations

from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import FakeFacade
from tests.web.test_api import call, facade, logged_in
from web.users import Role

BASE = "/api/models/press-1/anomaly"
__all__ = ["facade"]  # the fixture, imported for pytest


async def test_an_engineer_puts_a_candidate_in_shadow_stops_it_and_discards_it(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    assert await call(served, "POST", BASE + "/shadow", token, {"version": "v2"}) == (
        200,
        {"status": "shadow: v2"},
    )
    assert await call(served, "POST", BASE + "/shadow/stop", token, {"version": "v2"}) == (
        200,
        {"status": "v2 out of shadow; kept as a candidate"},
    )
    assert await call(served, "POST", BASE + "/discard", token, {"version": "v2"}) == (
        200,
        {"status": "v2 discarded"},
    )
    status, answer = await call(served, "POST", BASE + "/shadow", token, {})
    assert status == 400
    assert "version" in answer["error"]
    # Without the CSRF token nothing is done.
    assert (await call(served, "POST", BASE + "/shadow", None, {"version": "v2"}))[0] == 403


async def test_an_operator_may_not_shadow_stop_or_discard(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.OPERATOR])
    for action in ("/shadow", "/shadow/stop", "/discard"):
        status, answer = await call(served, "POST", BASE + action, token, {"version": "v2"})
        assert (status, answer) == (403, {"error": "this needs the engineer role"})


async def test_a_viewer_reads_the_agreement_and_a_bad_query_is_refused(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.VIEWER])
    assert await call(served, "GET", "/api/models/press-1/agreement", token) == (
        200,
        {"asset": "press-1", "versions": []},
    )
    status, answer = await call(served, "GET", "/api/models/pump9/agreement", token)
    assert (status, answer) == (400, {"error": "no asset 'pump9' with models"})
    status, answer = await call(
        served, "GET", "/api/models/press-1/agreement?from=yesterday", token
    )
    assert status == 400
    assert "from" in answer["error"]
