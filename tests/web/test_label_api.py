"""Labels and verdicts over HTTP (issue #12): who may label and judge, CSRF, refusals with
reasons, the exports; a fake gateway here, the real one in tests/gateway/test_labels_end_to_end.py
and the store's rules in tests/gateway/store/test_labels.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import FakeFacade
from tests.web.test_api import call, logged_in
from web.users import Role

LABEL: dict[str, Any] = {
    "asset": "press-1",
    "start": "2026-11-26T08:00:00Z",
    "end": "2026-11-26T09:30:00+00:00",
    "kind": "anomaly",
    "fault_code": " BRG ",
    "note": "outer race",
}
VERDICT = {"verdict": "confirmed", "fault_code": "BRG", "note": "seen at the inspection"}


@pytest.fixture
def facade() -> FakeFacade:
    return FakeFacade()


async def test_a_viewer_reads_labels_and_verdicts_but_changes_nothing(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.VIEWER])
    status, page = await call(served, "GET", "/labels", None)
    assert status == 200
    assert 'src="/static/labels.js"' in page
    assert (await call(served, "GET", "/api/labels", None))[1]["labels"] == []
    assert (await call(served, "GET", "/api/verdicts", None))[1]["verdicts"] == []
    assert (await call(served, "POST", "/api/labels", token, LABEL))[0] == 403
    assert (await call(served, "PUT", "/api/verdicts/e1", token, VERDICT))[0] == 403
    assert (await call(served, "POST", "/api/alarms/press-1_force/verdict", token, VERDICT))[
        0
    ] == 403
    assert (facade.labels_made, facade.verdicts_given, facade.audit_log) == ({}, {}, [])


async def test_an_operator_judges_alarms_but_does_not_label(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    operator = accounts[Role.OPERATOR]
    served, token = await logged_in(start_web, facade, operator)
    assert (await call(served, "POST", "/api/labels", token, LABEL))[0] == 403
    status, answer = await call(served, "PUT", "/api/verdicts/e1", token, VERDICT)
    assert status == 200
    assert answer["verdict"]["user"] == operator.name  # the logged-in user, never the body's
    status, answer = await call(
        served, "POST", "/api/alarms/press-1_force/verdict", token, {"verdict": "false"}
    )
    assert (status, answer["verdict"]["verdict"]) == (200, "false")
    assert [a.action for a in facade.audit_log] == ["alarm judged", "alarm judged"]


async def test_an_engineer_labels_changes_and_deletes_each_audited(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    engineer = accounts[Role.ENGINEER]
    served, token = await logged_in(start_web, facade, engineer)
    status, made = await call(served, "POST", "/api/labels", token, LABEL)
    assert status == 201
    assert (made["user"], made["start"], made["fault_code"]) == (
        engineer.name,
        "2026-11-26T08:00:00+00:00",
        "BRG",
    )
    status, made = await call(served, "PUT", "/api/labels/1", token, {**LABEL, "kind": "normal"})
    assert (status, made["kind"]) == (200, "normal")
    status, answer = await call(served, "GET", "/api/labels?format=json", None)
    assert status == 200
    assert [label["kind"] for label in answer] == ["normal"]  # a file to download
    assert (await call(served, "DELETE", "/api/labels/1", token)) == (200, {"done": True})
    assert (await call(served, "DELETE", "/api/labels/1", token)) == (404, {"error": "no label 1"})
    assert [a.action for a in facade.audit_log] == ["label added", "label changed", "label deleted"]


async def test_changes_without_the_csrf_token_are_refused(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ADMIN])
    await call(served, "POST", "/api/labels", token, LABEL)
    for method, path, body in [
        ("POST", "/api/labels", LABEL),
        ("PUT", "/api/labels/1", LABEL),
        ("DELETE", "/api/labels/1", None),
        ("PUT", "/api/verdicts/e1", VERDICT),
        ("POST", "/api/alarms/press-1_force/verdict", VERDICT),
    ]:
        status, answer = await call(served, method, path, None, body)
        assert (status, answer) == (403, {"error": "missing or wrong CSRF token"}), path
    assert (list(facade.labels_made), facade.verdicts_given) == ([1], {})


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("POST", "/api/labels", {**LABEL, "asset": "press-9"}, 400, "asset: no asset 'press-9'"),
        (
            "POST",
            "/api/labels",
            {**LABEL, "end": "2026-11-26T07:00:00Z"},
            400,
            "end: not after start; select a range from left to right",
        ),
        ("POST", "/api/labels", {**LABEL, "start": None}, 400, "start: expected text"),
        ("PUT", "/api/labels/x", LABEL, 400, "id: expected a label number, got 'x'"),
        ("PUT", "/api/labels/9", LABEL, 404, "no label 9"),
        ("PUT", "/api/verdicts/e9", VERDICT, 404, "no alarm activation e9 is recorded"),
        (
            "PUT",
            "/api/verdicts/e1",
            {"verdict": "maybe"},
            400,
            "verdict: 'maybe' is not one of confirmed, false, unsure",
        ),
        ("POST", "/api/alarms/nope/verdict", VERDICT, 404, "no alarm 'nope'"),
    ],
)
async def test_a_bad_label_or_verdict_is_refused_with_the_reason(
    start_web: StartWeb,
    facade: FakeFacade,
    accounts: dict[Role, Account],
    method: str,
    path: str,
    body: dict[str, Any],
    status: int,
    error: str,
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    assert (await call(served, method, path, token, body)) == (status, {"error": error})
    assert (facade.labels_made, facade.verdicts_given) == ({}, {})


async def test_the_training_csv_is_one_assets(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.VIEWER])
    status, text = await call(served, "GET", "/api/labels?format=csv&asset=press-1", None)
    assert (status, text.splitlines()[0]) == (200, "time,force,anomaly")
    status, answer = await call(served, "GET", "/api/labels?format=csv", None)
    assert (status, answer) == (
        400,
        {"error": "asset: give one asset: a training file is one asset's"},
    )
    status, answer = await call(served, "GET", "/api/labels?format=csv&asset=nope", None)
    assert (status, answer) == (404, {"error": "no asset 'nope'"})
