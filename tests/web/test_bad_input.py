"""Hostile input gets a clear 400, never a 500 with a traceback (issue #17): each case
answers 400 with a reason, shows no traceback and logs nothing at ERROR."""

from __future__ import annotations

import json
import logging

import aiohttp
import pytest

from tests.web.conftest import Account, StartWeb, Web
from tests.web.fake_facade import FakeFacade
from web.users import Role

DEEP = "[" * 100_000 + "]" * 100_000
DIGITS_5000 = "1" + "0" * 4999
DIGITS_400 = "9" * 400


async def logged_in(start_web: StartWeb, role: Role, accounts: dict[Role, Account],
                    facade: FakeFacade | None = None) -> tuple[Web, str]:
    served = await start_web(facade=facade)
    return served, await served.login(accounts[role])


def assert_clear_refusal(status: int, text: str, reason: str,
                         caplog: pytest.LogCaptureFixture) -> None:
    assert status == 400, text
    assert reason in text
    assert "Traceback" not in text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(("path", "raw", "reason"), [
    ("/api/alarms/press-1_force/acknowledge", DEEP, "nested"),
    ("/api/alarms/press-1_force/shelve", '{"hours": ' + DIGITS_5000 + "}", "digits"),
    ("/api/alarms/press-1_force/shelve", '{"hours": ' + DIGITS_400 + "}", "more than 100 digits"),
    ("/api/alarms/press-1_force/shelve", '{"hours": ' + DIGITS_400 + ".5}", "out of range"),
    ("/api/alarms/press-1_force/shelve", '{"hours": 1e400}', "out of range"),
    ("/api/alarms/press-1_force/shelve", '{"hours": NaN}', "NaN"),
    ("/api/alarms/press-1_force/acknowledge",
     '{"event_id": "e1", "comment": "broken \\ud800 text"}', "UTF-8"),
    ("/api/alarms/press-1_force/acknowledge", '{"event_id": "e1", "\\udfff": 1}', "UTF-8"),
    ("/api/alarms/press-1_force/acknowledge", b'{"event_id": "\xff"}', "UTF-8"),
])
async def test_hostile_json_gets_a_clear_400(
    start_web: StartWeb, accounts: dict[Role, Account], caplog: pytest.LogCaptureFixture,
    path: str, raw: str | bytes, reason: str,
) -> None:
    facade = FakeFacade()
    served, token = await logged_in(start_web, Role.OPERATOR, accounts, facade)
    async with served.client.post(
        served.url(path), data=raw,
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    ) as response:
        assert_clear_refusal(response.status, await response.text(), reason, caplog)
    assert facade.acknowledged == []
    assert facade.audit_log == []


@pytest.mark.parametrize(("query", "reason"), [
    ("start=0001-01-01", "start: expected a time from 1970-01-01"),
    ("end=0001-01-01T00:30", "end: expected a time from 1970-01-01"),
    ("start=9999-12-31T23:59-01:00", "start: expected a time from 1970-01-01"),
    ("end=0001-01-01T00:00%2B01:00", "end: expected a time from 1970-01-01"),
    ("start=yesterday", "start: expected an ISO 8601 time, got 'yesterday'"),
    ("points=" + DIGITS_5000, "points: expected a number from 2 to 2000, got inf"),
    ("points=many", "points: expected a number, got 'many'"),
    ("points=2.5", "points: expected a whole number, got 2.5"),
])
async def test_hostile_history_queries_get_a_clear_400(
    start_web: StartWeb, accounts: dict[Role, Account], caplog: pytest.LogCaptureFixture,
    query: str, reason: str,
) -> None:
    served, _ = await logged_in(start_web, Role.VIEWER, accounts)
    async with served.client.get(served.url(f"/api/history?key=press-1.force&{query}")) as response:
        assert_clear_refusal(response.status, await response.text(), reason, caplog)


async def test_a_model_upload_may_carry_the_csrf_token_as_a_form_field(
    start_web: StartWeb, accounts: dict[Role, Account], caplog: pytest.LogCaptureFixture,
) -> None:
    # docs/web.md: the token goes in the X-CSRF-Token header or the csrf_token form field.
    facade = FakeFacade()
    served, token = await logged_in(start_web, Role.ENGINEER, accounts, facade)
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("model", b"onnx model bytes", filename="m.onnx",
                   content_type="application/octet-stream")
    async with served.client.post(served.url("/api/models/press-1/anomaly"),
                                  data=form) as response:
        assert (response.status, await response.json()) == (200, {"version": "v2"})
    assert facade.uploads == [("press-1", "anomaly", b"onnx model bytes", "engineer")]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n\xff\xfe\r\n--b--\r\n',
     "multipart/form-data; boundary=b", "malformed form"),
    (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
     "multipart/form-data; boundary=b", "malformed form"),
    (b"name=x", "multipart/form-data", "malformed form"),
])
async def test_a_malformed_login_form_gets_a_clear_400(
    start_web: StartWeb, caplog: pytest.LogCaptureFixture,
    body: bytes, content_type: str, reason: str,
) -> None:
    served = await start_web()
    await served.login_page_token()
    async with served.client.post(served.url("/login"), data=body,
                                  headers={"Content-Type": content_type}) as response:
        assert_clear_refusal(response.status, await response.text(), reason, caplog)


async def test_a_model_upload_with_a_malformed_form_gets_a_clear_400(
    start_web: StartWeb, accounts: dict[Role, Account], caplog: pytest.LogCaptureFixture,
) -> None:
    facade = FakeFacade()
    served, token = await logged_in(start_web, Role.ENGINEER, accounts, facade)
    body = b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nonnx\r\n--b--\r\n'
    async with served.client.post(
        served.url("/api/models/press-1/anomaly"), data=body,
        headers={"X-CSRF-Token": token, "Content-Type": "multipart/form-data; boundary=b"},
    ) as response:
        text = await response.text()
    assert_clear_refusal(response.status, text, "model: expected a file part", caplog)
    assert json.loads(text)["error"].startswith("model:")
    assert facade.uploads == []
