"""Who may do what over HTTP: anonymous refusals, roles, CSRF, /healthz, /metrics, static."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.web.conftest import Account, FakeFacade, StartWeb
from web.auth import requires
from web.users import Role


@requires(Role.ENGINEER)
async def configure(request: web.Request) -> web.Response:
    """An engineer-only state change, as configuration routes will be."""
    return web.json_response({"configured": True})


ENGINEER_ROUTES = [web.post("/api/configure", configure)]


@pytest.mark.parametrize("path", ["/api/me", "/metrics", "/api/no-such-thing"])
async def test_anonymous_api_request_gets_401_json(start_web: StartWeb, path: str) -> None:
    served = await start_web()
    async with served.client.get(served.url(path), allow_redirects=False) as response:
        assert response.status == 401
        assert response.content_type == "application/json"
        assert await response.json() == {"error": "log in first"}


@pytest.mark.parametrize("path", ["/", "/no-such-page"])
async def test_anonymous_page_request_is_sent_to_login(start_web: StartWeb, path: str) -> None:
    served = await start_web()
    async with served.client.get(served.url(path), allow_redirects=False) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/login"


async def test_anonymous_state_change_is_refused_before_csrf(start_web: StartWeb) -> None:
    served = await start_web(routes=ENGINEER_ROUTES)
    token = await served.login_page_token()  # an anonymous session has a token too
    async with served.client.post(served.url("/api/configure"),
                                  headers={"X-CSRF-Token": token}) as response:
        assert response.status == 401


async def test_login_page_and_static_files_are_open(start_web: StartWeb) -> None:
    served = await start_web()
    async with served.client.get(served.url("/login")) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert 'action="/login"' in page
    assert 'href="/static/uvelka.css"' in page
    # The CSP allows no inline code.
    assert "<script" not in page
    assert "style=" not in page
    async with served.client.get(served.url("/static/uvelka.css")) as response:
        assert response.status == 200
        assert response.content_type == "text/css"
        assert "--accent" in await response.text()


async def test_healthz_is_open_and_shows_only_the_status(start_web: StartWeb) -> None:
    facade = FakeFacade()
    served = await start_web(facade=facade)
    async with served.client.get(served.url("/healthz")) as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
    facade.status = "degraded"
    async with served.client.get(served.url("/healthz")) as response:
        assert response.status == 503
        assert await response.json() == {"status": "degraded"}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_metrics_are_refused_below_engineer(
    start_web: StartWeb, accounts: dict[Role, Account], role: Role
) -> None:
    served = await start_web()
    await served.login(accounts[role])
    async with served.client.get(served.url("/metrics")) as response:
        assert response.status == 403
        assert await response.json() == {"error": "this needs the engineer role"}


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.ADMIN])
async def test_metrics_in_prometheus_text_for_engineers(
    start_web: StartWeb, accounts: dict[Role, Account], role: Role
) -> None:
    facade = FakeFacade()
    served = await start_web(facade=facade)
    await served.login(accounts[role])
    async with served.client.get(served.url("/metrics")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert await response.text() == facade.metrics_text


async def test_metrics_open_by_setting(start_web: StartWeb) -> None:
    facade = FakeFacade()
    served = await start_web(facade=facade, metrics_open=True)
    async with served.client.get(served.url("/metrics")) as response:
        assert response.status == 200
        assert await response.text() == facade.metrics_text
    async with served.client.get(served.url("/api/me")) as response:
        assert response.status == 401  # only /metrics opened


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_lower_roles_cannot_change_engineer_things(
    start_web: StartWeb, accounts: dict[Role, Account], role: Role
) -> None:
    served = await start_web(routes=ENGINEER_ROUTES)
    token = await served.login(accounts[role])
    async with served.client.post(served.url("/api/configure"),
                                  headers={"X-CSRF-Token": token}) as response:
        assert response.status == 403
        assert await response.json() == {"error": "this needs the engineer role"}


@pytest.mark.parametrize("role", [Role.ENGINEER, Role.ADMIN])
async def test_engineer_and_admin_can(
    start_web: StartWeb, accounts: dict[Role, Account], role: Role
) -> None:
    served = await start_web(routes=ENGINEER_ROUTES)
    token = await served.login(accounts[role])
    async with served.client.post(served.url("/api/configure"),
                                  headers={"X-CSRF-Token": token}) as response:
        assert response.status == 200
        assert await response.json() == {"configured": True}


@pytest.mark.parametrize("headers", [{}, {"X-CSRF-Token": "not-the-token"}, {"X-CSRF-Token": ""}])
async def test_state_change_without_the_csrf_token_is_refused(
    start_web: StartWeb, accounts: dict[Role, Account], headers: dict[str, str]
) -> None:
    served = await start_web(routes=ENGINEER_ROUTES)
    await served.login(accounts[Role.ENGINEER])
    async with served.client.post(served.url("/api/configure"), headers=headers,
                                  json={"setting": 1}) as response:
        assert response.status == 403
        assert await response.json() == {"error": "missing or wrong CSRF token"}


async def test_csrf_token_in_a_form_field(
    start_web: StartWeb, accounts: dict[Role, Account]
) -> None:
    served = await start_web(routes=ENGINEER_ROUTES)
    token = await served.login(accounts[Role.ENGINEER])
    async with served.client.post(served.url("/api/configure"),
                                  data={"csrf_token": "wrong", "x": "1"}) as response:
        assert response.status == 403
    async with served.client.post(served.url("/api/configure"),
                                  data={"csrf_token": token, "x": "1"}) as response:
        assert response.status == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_every_state_changing_method_needs_the_token(
    start_web: StartWeb, accounts: dict[Role, Account], method: str
) -> None:
    async def change(request: web.Request) -> web.Response:
        return web.json_response({"changed": True})

    served = await start_web(routes=[web.route(method, "/api/thing", change)])
    token = await served.login(accounts[Role.VIEWER])
    async with served.client.request(method, served.url("/api/thing")) as response:
        assert response.status == 403
    async with served.client.request(method, served.url("/api/thing"),
                                     headers={"X-CSRF-Token": token}) as response:
        assert response.status == 200


async def test_logout_needs_the_token(start_web: StartWeb, accounts: dict[Role, Account]) -> None:
    served = await start_web()
    await served.login(accounts[Role.VIEWER])
    async with served.client.post(served.url("/logout"), allow_redirects=False) as response:
        assert response.status == 403
    async with served.client.get(served.url("/api/me")) as response:
        assert response.status == 200  # still logged in
