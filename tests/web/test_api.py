"""The page's JSON API over HTTP: roles, CSRF, refusals with reasons, and what reaches
the gateway (a fake one here; the real one in tests/gateway/test_web_end_to_end.py)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.web.conftest import Account, StartWeb, Web
from tests.web.fake_facade import FakeFacade
from web.facade import FieldProblem
from web.layout import PAGES
from web.users import Role


async def call(
    served: Web, method: str, path: str, token: str | None, body: Any = None,
    if_match: str | None = None,
) -> tuple[int, Any]:
    headers = {"X-CSRF-Token": token} if token else {}
    if if_match is not None:  # the configuration's revision a change is made against
        headers["If-Match"] = if_match
    async with served.client.request(method, served.url(path), json=body, headers=headers,
                                     allow_redirects=False) as response:
        text = await response.text()
        is_json = response.content_type == "application/json"
        return response.status, json.loads(text) if is_json else text


JAVASCRIPT = ("text/javascript", "application/javascript")


@pytest.fixture
def facade() -> FakeFacade:
    return FakeFacade()


async def logged_in(
    start_web: StartWeb, facade: FakeFacade, account: Account
) -> tuple[Web, str]:
    served = await start_web(facade=facade)
    return served, await served.login(account)


@pytest.mark.parametrize("path", ["/", "/devices", "/trends", "/models", "/alarms", "/audit"])
async def test_a_viewer_sees_every_page_frame_with_its_script(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account], path: str
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.VIEWER])
    status, page = await call(served, "GET", path, None)
    assert status == 200
    assert '<script type="module" src="/static/' in page
    assert "viewer (viewer)" in page


@pytest.mark.parametrize(("path", "role"), [("/users", "admin"), ("/byte-order", "engineer")])
async def test_pages_above_a_viewer_are_refused(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account], path: str, role: str
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.VIEWER])
    status, text = await call(served, "GET", path, None)
    assert status == 403
    assert role in text


async def test_every_script_a_page_names_is_served(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.ADMIN])
    for _, script, _ in PAGES.values():
        async with served.client.get(served.url(f"/static/{script}.js")) as response:
            assert response.status == 200, script
            assert response.content_type in JAVASCRIPT


async def test_the_chart_library_is_served_by_the_gateway_to_anyone(start_web: StartWeb) -> None:
    served = await start_web()
    async with served.client.get(served.url("/vendor/plotly/plotly.min.js")) as response:
        assert response.status == 200
        assert response.content_type in JAVASCRIPT
        assert b"plotly" in (await response.content.read(4096)).lower()


async def test_a_viewer_reads_devices_but_cannot_change_them(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.VIEWER])
    status, answer = await call(served, "GET", "/api/devices", None)
    assert status == 200
    assert answer["devices"][0]["name"] == "press-1"
    assert answer["file"] == "/etc/uvelka/uvelka.toml"
    before = list(facade.device_tables)
    for method, path, body in [("PUT", "/api/devices", {"devices": []}),
                               ("POST", "/api/config", {"text": ""}),
                               ("GET", "/api/config", None),
                               ("POST", "/api/byte-order", {"device": "press-1", "address": 0})]:
        status, answer = await call(served, method, path, token, body)
        assert (status, answer) == (403, {"error": "this needs the engineer role"}), path
    assert facade.device_tables == before
    assert facade.audit_log == []


async def test_an_engineer_changes_devices_with_typed_values_and_it_is_audited(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    device = {"name": "press-2", "url": "tcp://10.0.0.8:502", "unit_id": "2",
              "tags": [{"name": "speed", "table": "holding", "address": "7", "type": "uint16"}]}
    status, answer = await call(served, "PUT", "/api/devices", token, {"devices": [device]},
                                if_match='"1"')
    assert status == 200
    assert answer == {"applied": True, "problems": [], "changes": ["1 devices"], "saved": True,
                      "restart_needed": []}
    assert facade.device_tables[0]["unit_id"] == 2
    assert facade.device_tables[0]["tags"][0]["address"] == 7
    status, audit = await call(served, "GET", "/api/audit", None)
    assert status == 200
    assert [(e["user"], e["action"]) for e in audit] == [("engineer", "devices changed")]


async def test_a_change_with_problems_answers_422_with_each_key_path(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    message = "unknown type 'flaot32'; expected one of bool, int16, ..."
    facade.problems = [FieldProblem("devices[0].tags[0].type", message, "error")]
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    status, answer = await call(served, "PUT", "/api/devices", token, {"devices": []},
                                if_match='"1"')
    assert status == 422
    assert answer["applied"] is False
    assert answer["problems"] == [{"path": "devices[0].tags[0].type", "message": message,
                                   "severity": "error"}]


async def test_state_changes_without_the_csrf_token_are_refused(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.ADMIN])
    for method, path in [("PUT", "/api/devices"), ("POST", "/api/alarms/press-1_force/acknowledge"),
                         ("POST", "/api/users"), ("DELETE", "/api/users/viewer")]:
        status, answer = await call(served, method, path, None, {})
        assert (status, answer) == (403, {"error": "missing or wrong CSRF token"}), path
    assert facade.audit_log == []
    assert facade.acknowledged == []


@pytest.mark.parametrize(("body", "error"), [
    ("not json", "malformed JSON"),
    ([1, 2], "the body must be a JSON object"),
])
async def test_malformed_bodies_get_400_with_the_reason(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account], body: Any, error: str
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    data = body if isinstance(body, str) else json.dumps(body)
    async with served.client.put(served.url("/api/devices"), data=data, headers={
            "X-CSRF-Token": token, "Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert error in (await response.json())["error"]


async def test_export_and_import_of_the_toml_file(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    async with served.client.get(served.url("/api/config")) as response:
        assert response.status == 200
        assert response.headers["Content-Disposition"] == 'attachment; filename="uvelka.toml"'
        assert await response.text() == facade.export_config()
    status, answer = await call(served, "POST", "/api/config", token, {"text": "x = 1\n"},
                                if_match='"1"')
    assert status == 200
    assert answer["restart_needed"] == ["opcua"]
    status, answer = await call(served, "POST", "/api/config", token, {"text": 5})
    assert (status, answer) == (400, {"error": "text: expected text"})


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"device": "press-1", "address": 0, "count": 2}, 200, None),
    ({"device": "press-9", "address": 0}, 404, "no device 'press-9' is polled"),
    ({"device": "press-1", "address": 1.5}, 400, "address: expected a whole number, got 1.5"),
    ({"device": "press-1", "address": 0, "count": 17}, 400,
     "count: expected a number from 1 to 16, got 17"),
    ({"device": "press-1", "address": 70000}, 400, "address: expected a number from 0 to 65535"),
])
async def test_the_byte_order_helper_reads_live_registers(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account],
    body: dict[str, Any], status: int, error: str | None,
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    got, answer = await call(served, "POST", "/api/byte-order", token, body)
    assert got == status
    if error is None:
        assert answer["words"] == [0x3FC0, 0]
        assert answer["decodings"][0]["value"] == 1.5
    else:
        assert error in answer["error"]


async def test_history_queries_are_checked(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.VIEWER])
    assert await call(served, "GET", "/api/history/keys", None) == (200, ["press-1.force"])
    status, series = await call(served, "GET", "/api/history?key=press-1.force"
                                "&start=2026-11-26T10:00:00Z&end=2026-11-26T11:00:00Z", None)
    assert status == 200
    assert series[0]["key"] == "press-1.force"
    assert series[0]["unit"] == "kN"
    assert series[0]["times"] == ["2026-11-26T10:00:00+00:00"]
    for query, error in [("", "key: give 1 to 12 keys"),
                         ("?key=a&start=yesterday", "start: expected an ISO 8601 time"),
                         ("?key=a&start=2026-11-26T12:00:00&end=2026-11-26T11:00:00",
                          "start must be before end"),
                         ("?key=a&points=1", "points: expected a number from 2 to 2000")]:
        status, answer = await call(served, "GET", f"/api/history{query}", None)
        assert status == 400, query
        assert error in answer["error"], query


async def upload(served: Web, token: str, data: bytes) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("model", data, filename="m.onnx", content_type="application/octet-stream")
    async with served.client.post(served.url("/api/models/press-1/anomaly"), data=form,
                                  headers={"X-CSRF-Token": token}) as response:
        return response.status, await response.json()


async def test_an_engineer_uploads_a_model_and_a_bad_file_gets_the_reason(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    assert await upload(served, token, b"onnx model bytes") == (200, {"version": "v2"})
    assert facade.uploads == [("press-1", "anomaly", b"onnx model bytes", "engineer")]
    assert await upload(served, token, b"garbage") == (
        409, {"error": "the model was not taken: not an ONNX file"})
    status, answer = await call(served, "POST", "/api/models/press-1/anomaly/activate", token,
                                {"version": "v2"})
    assert (status, answer) == (200, {"status": "ok: v2"})


async def test_an_operator_may_not_upload_models(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.OPERATOR])
    assert (await upload(served, token, b"onnx"))[0] == 403
    assert facade.uploads == []


async def test_an_operator_acknowledges_an_alarm_with_a_comment(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.OPERATOR])
    path = "/api/alarms/press-1_force/acknowledge"
    assert await call(served, "POST", path, token, {"event_id": "old"}) == (
        409, {"error": "press-1_force: the event id is not the latest"})
    assert await call(served, "POST", "/api/alarms/nope/acknowledge", token,
                      {"event_id": "e1"}) == (404, {"error": "no alarm 'nope'"})
    assert (await call(served, "POST", path, token, {"event_id": "e1", "comment": "x" * 501}))[0] \
        == 400
    assert await call(served, "POST", path, token, {"event_id": "e1", "comment": " seen "}) == (
        200, {"done": True})
    assert facade.acknowledged == [("press-1_force", "e1", "operator", "seen")]


async def test_a_viewer_cannot_acknowledge_or_shelve(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.VIEWER])
    for action in ("acknowledge", "shelve", "unshelve"):
        status, _ = await call(served, "POST", f"/api/alarms/press-1_force/{action}", token,
                               {"event_id": "e1"})
        assert status == 403, action
    assert facade.acknowledged == []
    assert facade.audit_log == []


async def test_an_admin_manages_users_and_each_change_is_audited(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ADMIN])
    status, added = await call(served, "POST", "/api/users", token,
                               {"name": "olga", "role": "operator", "password": "p" * 14})
    assert (status, added["role"]) == (200, "operator")
    status, changed = await call(served, "PUT", "/api/users/olga", token, {"role": "engineer"})
    assert (status, changed["role"]) == (200, "engineer")
    assert (await call(served, "POST", "/api/users", token,
                       {"name": "olga", "role": "viewer", "password": "p" * 14}))[0] == 409
    assert await call(served, "POST", "/api/users", token,
                      {"name": "ivan", "role": "boss", "password": "p" * 14}) == (
        400, {"error": "role: unknown role 'boss'; expected one of viewer, operator, engineer, "
                       "admin"})
    assert (await call(served, "DELETE", "/api/users/admin", token))[0] == 409  # the last admin
    assert await call(served, "DELETE", "/api/users/olga", token) == (200, {"done": True})
    assert [(e.user, e.action) for e in facade.audit_log] == [
        ("admin", "user added"), ("admin", "user role changed"), ("admin", "user deleted")]


async def test_an_engineer_cannot_manage_users(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, token = await logged_in(start_web, facade, accounts[Role.ENGINEER])
    assert (await call(served, "GET", "/api/users", None))[0] == 403
    assert (await call(served, "POST", "/api/users", token,
                       {"name": "x", "role": "admin", "password": "p" * 14}))[0] == 403


async def test_the_event_stream_pushes_the_overview_and_a_devices_values(
    start_web: StartWeb, facade: FakeFacade, accounts: dict[Role, Account]
) -> None:
    served, _ = await logged_in(start_web, facade, accounts[Role.VIEWER])
    async with served.client.get(served.url("/api/events?device=press-1")) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        events: dict[str, Any] = {}
        while len(events) < 2:
            name = (await response.content.readline()).decode().removeprefix("event: ").strip()
            data = (await response.content.readline()).decode().removeprefix("data: ")
            await response.content.readline()
            events[name] = json.loads(data)
    assert events["overview"]["gateway"]["name"] == "test"
    assert events["values"][0] == {"key": "press-1.force", "value": 1.5, "quality": "Good",
                                   "time": "2026-11-26T12:00:00+00:00", "unit": ""}


async def test_an_anonymous_event_stream_is_refused(start_web: StartWeb) -> None:
    served = await start_web()
    assert (await call(served, "GET", "/api/events", None))[0] == 401
