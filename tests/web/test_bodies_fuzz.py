"""Property: whatever JSON body or form fields reach a route that takes input, the page
answers 2xx or 4xx with a one-line reason, never 500 (issue #14, the fault and fuzz suite).

One served page per test (the real app over the fake facade) and an admin session, so
every route's own checks are reached; Hypothesis makes the bodies: any JSON document,
objects holding the field names the routes read with values of any JSON type, and the
same names as form fields.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.conftest import Account, StartWeb, Web
from tests.web.fake_facade import ASSET
from web.users import Role

ALARM = "/api/alarms/press-1_force"
MODELS = f"/api/models/{ASSET['name']}/anomaly"
# Every route that reads a body, the way the page calls it. Logging out, the model upload
# (tests/web/test_model_repair.py and the bodies tests) and deletions read no fields.
ROUTES = [
    ("POST", "/login"),
    ("POST", f"{ALARM}/acknowledge"),
    ("POST", f"{ALARM}/shelve"),
    ("POST", f"{ALARM}/unshelve"),
    ("POST", f"{ALARM}/verdict"),
    ("PUT", "/api/devices"),
    ("POST", "/api/devices/check"),
    ("POST", "/api/tags/csv"),
    ("POST", "/api/config"),
    ("POST", "/api/byte-order"),
    ("POST", "/api/labels"),
    ("PUT", "/api/labels/1"),
    ("PUT", "/api/verdicts/e1"),
    ("POST", "/api/maintenance"),
    ("PUT", "/api/maintenance/1"),
    ("POST", f"{MODELS}/activate"),
    ("POST", f"{MODELS}/rollback"),
    ("POST", f"{MODELS}/shadow"),
    ("POST", f"{MODELS}/discard"),
    ("POST", f"/api/assets/{ASSET['name']}/repair"),
    ("POST", "/api/tokens"),
    ("POST", "/api/training/jobs"),
    ("POST", "/api/training/jobs/1/cancel"),
    ("POST", "/api/users"),
    ("PUT", "/api/users/viewer"),
    ("POST", "/api/me/password"),
    ("PUT", "/api/me/desktop-notifications"),
    ("POST", "/api/notifications/read"),
]
# The names the routes read (grep field(body, ...) and friends in web/).
FIELDS = [
    "action",
    "address",
    "all",
    "asset",
    "comment",
    "confirm",
    "count",
    "csv",
    "current",
    "device",
    "devices",
    "end",
    "event_id",
    "fault_code",
    "finished",
    "format",
    "from",
    "hours",
    "id",
    "ids",
    "kind",
    "labels",
    "limit",
    "name",
    "note",
    "on",
    "order",
    "parts",
    "password",
    "resets_life",
    "revision",
    "role",
    "start",
    "started",
    "table",
    "tags",
    "text",
    "time",
    "to",
    "type",
    "verdict",
    "version",
    "words",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(
        ["", "0", "-1", "1e999", "2024-13-01", "ABCD", "holding", "engineer", "v1", "e1", "press-1"]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
OBJECTS = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)
FORMS = st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=40), max_size=6)


@pytest.fixture
async def admin_page(start_web: StartWeb, accounts: dict[Role, Account]) -> tuple[Web, str]:
    """One page for all examples (a body that changed its state is more input to try),
    an admin logged in, and the session's CSRF token."""
    served = await start_web()
    return served, await served.login(accounts[Role.ADMIN])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(route=st.sampled_from(ROUTES), body=st.one_of(OBJECTS, JSON), form=st.none() | FORMS)
async def test_any_body_gets_2xx_or_4xx_with_a_reason(
    admin_page: tuple[Web, str],
    caplog: pytest.LogCaptureFixture,
    route: tuple[str, str],
    body: Any,
    form: dict[str, str] | None,
) -> None:
    served, token = admin_page
    method, path = route
    headers = {"X-CSRF-Token": token}
    data: Any
    if form is None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    else:
        data = {**form, "csrf_token": token}
    caplog.clear()
    async with served.client.request(
        method, served.url(path), data=data, headers=headers, allow_redirects=False
    ) as response:
        text = await response.text()
    assert response.status < 500, f"{method} {path}: {response.status} {text}"
    if 400 <= response.status < 500:
        reason = text.strip()
        assert reason, f"{method} {path}: {response.status} without a reason"
        assert "Traceback" not in text
        if response.content_type == "application/json":
            answer = json.loads(text)
            assert isinstance(answer, dict), text
            assert "error" in answer or "problems" in answer, text
            if "error" in answer:
                assert "\n" not in answer["error"], answer
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
