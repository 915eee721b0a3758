"""The maintenance log's page and API over HTTP (issue #12): who may add, change and delete,
CSRF, refusals with reasons, CSV export; a fake gateway here, the real one in
tests/gateway/test_maintenance_end_to_end.py."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import FakeFacade
from tests.web.test_api import call, logged_in
from web.users import Role

ENTRY: dict[str, Any] = {
    "asset": "press-1",
    "started": "2026-11-26T08:00:00Z",
    "finished": "2026-11-26T09:30:00+00:00",
    "kind": "repair",
    "parts": "bearing 6205",
    "note": "=cmd|' /C calc'!A0",  # a formula: the CSV must not hand it to a spreadsheet
    "resets_life": True,
}


@pytest.fixture
def facade() -> FakeFacade:
    return FakeFacade()


async def test_a_viewer_sees_the_page_and_the_entries_but_cannot_add(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.VIEWER])
    status, page = await call(served, "GET", "/maintenance", None)
    assert status == 200
    assert 'src="/static/maintenance.js"' in page
    status, answer = await call(served, "GET", "/api/maintenance", None)
    assert (status, answer["entries"]) == (200, [])
    status, answer = await call(served, "POST", "/api/maintenance", token, ENTRY)
    assert status == 403
    assert facade.maintenance_entries == {}


async def test_an_operator_adds_but_neither_changes_nor_deletes(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    operator = accounts[Role.OPERATOR]
    served, token = await logged_in(start_web, facade, operator)
    status, entry = await call(served, "POST", "/api/maintenance", token, ENTRY)
    assert status == 201
    assert entry["user"] == operator.name  # the logged-in user, never one the body names
    assert entry["started"] == "2026-11-26T08:00:00+00:00"
    assert entry["resets_life"] is True
    changed = {**ENTRY, "note": "again"}
    assert (await call(served, "PUT", "/api/maintenance/1", token, changed))[0] == 403
    assert (await call(served, "DELETE", "/api/maintenance/1", token))[0] == 403
    assert facade.maintenance_entries[1]["note"] == ENTRY["note"]
    assert [(a.user, a.action) for a in facade.audit_log] == [
        (operator.name, "maintenance entry added")
    ]


async def test_an_engineer_changes_and_deletes_and_every_change_is_audited(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    engineer = accounts[Role.ENGINEER]
    served, token = await logged_in(start_web, facade, engineer)
    await call(served, "POST", "/api/maintenance", token, ENTRY)
    status, entry = await call(
        served,
        "PUT",
        "/api/maintenance/1",
        token,
        {**ENTRY, "kind": "inspection", "resets_life": False},
    )
    assert (status, entry["kind"], entry["resets_life"]) == (200, "inspection", False)
    assert (await call(served, "DELETE", "/api/maintenance/1", token)) == (200, {"done": True})
    status, answer = await call(served, "DELETE", "/api/maintenance/1", token)
    assert (status, answer) == (404, {"error": "no maintenance entry 1"})
    assert [a.action for a in facade.audit_log] == [
        "maintenance entry added",
        "maintenance entry changed",
        "maintenance entry deleted",
    ]


async def test_changes_without_the_csrf_token_are_refused(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ADMIN])
    await call(served, "POST", "/api/maintenance", token, ENTRY)
    for method, path in [
        ("POST", "/api/maintenance"),
        ("PUT", "/api/maintenance/1"),
        ("DELETE", "/api/maintenance/1"),
    ]:
        status, answer = await call(served, method, path, None, ENTRY)
        assert (status, answer) == (403, {"error": "missing or wrong CSRF token"}), method
    assert list(facade.maintenance_entries) == [1]
    assert len(facade.audit_log) == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"asset": "press-9"}, "asset: no asset 'press-9'"),
        ({"finished": "2026-11-26T07:00:00Z"}, "finished: before started"),
        ({"started": "yesterday"}, "started: expected an ISO 8601 time, got 'yesterday'"),
        ({"started": None}, "started: expected text"),
        ({"resets_life": "yes"}, "resets_life: expected true or false"),
        ({"note": 5}, "note: expected text"),
    ],
)
async def test_a_bad_entry_gets_400_with_the_reason(
    start_web: StartWeb,
    facade: FakeFacade,
    accounts: dict[Role, Account],
    change: dict[str, Any],
    error: str,
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.OPERATOR])
    status, answer = await call(served, "POST", "/api/maintenance", token, {**ENTRY, **change})
    assert (status, answer) == (400, {"error": error})
    assert facade.maintenance_entries == {}


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/api/maintenance/abc", "id: expected an entry number, got 'abc'"),
        ("/api/maintenance/99", "no maintenance entry 99"),
    ],
)
async def test_a_change_of_an_entry_that_is_not_there_is_refused(
    start_web: StartWeb,
    facade: FakeFacade,
    accounts: dict[Role, Account],
    path: str,
    error: str,
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    status, answer = await call(served, "PUT", path, token, ENTRY)
    assert answer == {"error": error}
    assert status == (400 if "abc" in path else 404)


async def test_the_list_filters_and_bad_filters_get_400(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.OPERATOR])
    await call(served, "POST", "/api/maintenance", token, ENTRY)
    await call(served, "POST", "/api/maintenance", token, {**ENTRY, "kind": "inspection"})
    status, answer = await call(served, "GET", "/api/maintenance?kind=inspection", None)
    assert [e["kind"] for e in answer["entries"]] == ["inspection"]
    status, answer = await call(
        served, "GET", "/api/maintenance?start=2026-11-27&end=2026-11-26", None
    )
    assert (status, answer) == (400, {"error": "start must not be after end"})
    status, answer = await call(served, "GET", "/api/maintenance?limit=0", None)
    assert status == 400


async def test_the_csv_export_holds_every_field_and_no_formula(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    operator = accounts[Role.OPERATOR]
    served, token = await logged_in(start_web, facade, operator)
    await call(served, "POST", "/api/maintenance", token, ENTRY)
    async with served.client.get(served.url("/api/maintenance?format=csv")) as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        assert response.headers["Content-Disposition"].startswith("attachment; filename=")
        rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert len(rows) == 1
    row = rows[0]
    assert (row["id"], row["asset"], row["kind"], row["parts"], row["resets_life"]) == (
        "1",
        "press-1",
        "repair",
        "bearing 6205",
        "true",
    )
    assert row["started"] == "2026-11-26T08:00:00+00:00"
    assert row["note"] == "'" + ENTRY["note"]
    assert row["user"] == operator.name
