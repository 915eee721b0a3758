"""The devices grid's API (issue #11): the choices with each type's width, a check that
applies nothing, a device's tags as CSV and a CSV file read into tags."""

from __future__ import annotations

import pytest

from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import FakeFacade
from tests.web.test_api import call, logged_in
from web.facade import FieldProblem
from web.tag_csv import BOM
from web.users import Role


@pytest.fixture
def facade() -> FakeFacade:
    return FakeFacade()


async def test_the_choices_come_with_each_types_width_in_words(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.VIEWER])
    status, answer = await call(served, "GET", "/api/devices", None)
    assert status == 200
    assert answer["choices"] == {
        "table": ["holding"],
        "type": ["float32"],
        "order": ["ABCD"],
        "words": {"float32": 2},
    }


async def test_a_check_answers_the_problems_and_changes_nothing(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    facade.problems = [FieldProblem("devices[0].tags[0].address", "must be >= 0", "error")]
    before = list(facade.device_tables)
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    status, answer = await call(
        served,
        "POST",
        "/api/devices/check",
        token,
        {"devices": [{"name": "d", "tags": [{"address": "-1"}]}]},
    )
    assert (status, answer) == (
        200,
        {
            "problems": [
                {
                    "path": "devices[0].tags[0].address",
                    "message": "must be >= 0",
                    "severity": "error",
                },
            ]
        },
    )
    assert facade.device_tables == before
    assert facade.audit_log == []


async def test_a_devices_tags_are_exported_as_csv_to_a_viewer(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.VIEWER])
    async with served.client.get(served.url("/api/devices/press-1/tags.csv")) as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        assert response.headers["Content-Disposition"] == (
            'attachment; filename="press-1-tags.csv"'
        )
        text = await response.text()
    assert text.removeprefix(BOM).splitlines()[1] == "force,holding,0,float32" + "," * 11
    status, answer = await call(served, "GET", "/api/devices/nope/tags.csv", None)
    assert (status, answer) == (404, {"error": "no device 'nope'"})


async def test_a_csv_file_is_read_into_tags_or_its_bad_lines_and_nothing_is_applied(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    before = list(facade.device_tables)
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    status, answer = await call(
        served,
        "POST",
        "/api/tags/csv",
        token,
        {"text": "name,address,writable\na,1,true\n\nb,2,\n"},
    )
    assert (status, answer) == (
        200,
        {
            "tags": [{"name": "a", "address": 1, "writable": True}, {"name": "b", "address": 2}],
            "lines": [2, 4],
            "problems": [],
        },
    )
    status, answer = await call(
        served, "POST", "/api/tags/csv", token, {"text": "name,writable\na,true\nb,perhaps\n"}
    )
    assert (status, answer) == (
        200,
        {
            "tags": [],
            "lines": [],
            "problems": [
                {"line": 3, "message": "writable: expected true or false (got 'perhaps')"}
            ],
        },
    )
    assert facade.device_tables == before


async def test_a_viewer_may_not_check_or_read_csv(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.VIEWER])
    for path, body in [("/api/devices/check", {"devices": []}), ("/api/tags/csv", {"text": ""})]:
        status, answer = await call(served, "POST", path, token, body)
        assert (status, answer) == (403, {"error": "this needs the engineer role"}), path
