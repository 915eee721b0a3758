"""Training jobs over HTTP (issue #12): engineers queue and cancel, viewers read; CSRF;
400 for a request the gateway cannot take, 404 for an unknown job, 409 on a full disk and
for a job that has ended; every action audited. A fake gateway here; the real one, its
child process and the archive in tests/gateway/test_training_end_to_end.py."""

from __future__ import annotations

import pytest

from tests.web.conftest import Account, StartWeb
from tests.web.fake_facade import FakeFacade
from tests.web.test_api import call, logged_in
from web.users import Role

JOB = {
    "asset": "press-1",
    "kind": "anomaly",
    "from": "2026-11-25T00:00:00Z",
    "to": "2026-11-26T00:00:00+00:00",
}


@pytest.fixture
def facade() -> FakeFacade:
    return FakeFacade()


async def test_a_viewer_reads_jobs_and_history_but_cannot_queue_or_cancel(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.VIEWER])
    status, answer = await call(served, "GET", "/api/training/jobs", None)
    assert (status, answer) == (200, {"jobs": []})
    status, answer = await call(served, "GET", "/api/training/assets", None)
    assert status == 200
    assert answer["assets"][0]["history"]["last"] == "2026-11-26T12:00:00+00:00"
    assert (await call(served, "POST", "/api/training/jobs", token, JOB))[0] == 403
    assert (await call(served, "POST", "/api/training/jobs/1/cancel", token))[0] == 403
    assert facade.training == {}


async def test_an_engineer_queues_and_cancels_and_both_are_audited(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    engineer = accounts[Role.ENGINEER]
    served, token = await logged_in(start_web, facade, engineer)
    status, job = await call(
        served, "POST", "/api/training/jobs", token, {**JOB, "supervised": True}
    )
    assert status == 201
    assert job["request"] == {
        "asset": "press-1",
        "kind": "anomaly",
        "labels": True,
        "start": "2026-11-25T00:00:00+00:00",
        "end": "2026-11-26T00:00:00+00:00",
    }
    assert job["user"] == engineer.name
    status, job = await call(served, "POST", "/api/training/jobs/1/cancel", token)
    assert (status, job["state"]) == (200, "cancelled")
    status, answer = await call(served, "POST", "/api/training/jobs/1/cancel", token)
    assert status == 409
    assert "ended already" in answer["error"]
    assert [(a.user, a.action) for a in facade.audit_log] == [
        (engineer.name, "training job queued"),
        (engineer.name, "training job cancelled"),
    ]


async def test_without_the_csrf_token_nothing_is_queued(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    assert (await call(served, "POST", "/api/training/jobs", None, JOB))[0] == 403
    assert facade.training == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**JOB, "asset": "press-9"}, "no asset 'press-9'"),
        ({**JOB, "from": "yesterday"}, "from: expected an ISO 8601 time"),
        ({**JOB, "to": "2026-11-24T00:00:00Z"}, "end of the range must be after its start"),
        ({**JOB, "supervised": "yes"}, "supervised: expected true or false"),
        ({"kind": "anomaly"}, "asset: expected text"),
    ],
)
async def test_bad_requests_are_400_with_the_reason(
    start_web: StartWeb,
    facade: FakeFacade,
    accounts: dict[Role, Account],
    body: dict[str, object],
    message: str,
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    status, answer = await call(served, "POST", "/api/training/jobs", token, body)
    assert status == 400
    assert message in answer["error"]
    assert facade.training == {}
    assert facade.audit_log == []


async def test_a_full_disk_is_409_and_an_unknown_job_404(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    facade.training_disk_full = True
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    status, answer = await call(served, "POST", "/api/training/jobs", token, JOB)
    assert status == 409
    assert "No space left on device" in answer["error"]
    assert (await call(served, "POST", "/api/training/jobs/7/cancel", token))[0] == 404
    status, answer = await call(served, "POST", "/api/training/jobs/x/cancel", token)
    assert status == 400
