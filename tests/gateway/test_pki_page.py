"""The page's OPC UA certificates for admins (issue #14), on a real gateway with the
default SignAndEncrypt endpoints: a node-opcua client with an unknown certificate is
refused and listed (subject, thumbprint, application URI, first seen), trusted through the
page's API and accepted without a restart, removed and refused again, deleted; each change
audited; the own certificate and, after a renewal, the one it replaced; admins only; the
same in headless Chromium."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from gateway.app import Gateway
from gateway.config.model import GatewayConfig
from tests.fixtures.browser import BrowserLog
from tests.fixtures.modbus import wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.gateway.opcua import test_security
from tests.gateway.opcua.test_security import CLIENT_URI, client_certificate, node_client
from tests.web.conftest import csrf_field

ADMIN_PASSWORD = "correct horse battery staple"  # noqa: S105 - a test credential
START_S = 60.0


@dataclass
class Session:
    """One user's login on the page."""

    http: aiohttp.ClientSession
    base: str
    token: str  # the session's CSRF token

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.base + path) as response:
            return response.status, await response.json()

    async def send(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, json=body,
                                     headers={"X-CSRF-Token": self.token}) as response:
            return response.status, await response.json()


@asynccontextmanager
async def logged_in(base: str, name: str, password: str) -> AsyncIterator[Session]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{base}/login") as response:
            token = csrf_field(await response.text())
        form = {"name": name, "password": password, "csrf_token": token}
        async with http.post(f"{base}/login", data=form, allow_redirects=False) as response:
            assert response.status == 303, await response.text()
        async with http.get(f"{base}/tokens") as response:
            yield Session(http, base, csrf_field(await response.text()))


@asynccontextmanager
async def serving(config: GatewayConfig) -> AsyncIterator[Gateway]:
    """The gateway serving `config` with its page; no OPC UA client of its own (the
    tests' clients need trusted certificates and users)."""
    gateway = Gateway(config)
    task = asyncio.create_task(gateway.serve())
    try:
        async with asyncio.timeout(START_S):
            await gateway.started.wait()
        web = gateway.running.web
        assert web is not None
        await wait_until(lambda: web.port is not None, START_S, "the web page")
        yield gateway
    finally:
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.result()


@pytest.fixture
async def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gateway]:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", ADMIN_PASSWORD)
    config = GatewayConfig.model_validate({
        "gateway": {"name": "plant", "data_dir": str(tmp_path / "var"), "language": "en"},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test"},
        "web": {"port": 0},
    })
    async with serving(config) as running:
        yield running


def base_of(gateway: Gateway) -> str:
    web = gateway.running.web
    assert web is not None
    return f"http://127.0.0.1:{web.port}"


async def audited(admin: Session, action: str) -> list[dict[str, Any]]:
    status, entries = await admin.get("/api/audit")
    assert status == 200
    return [entry for entry in entries if entry["action"] == action]


async def test_a_refused_client_is_trusted_on_the_page_and_accepted_without_a_restart(
    gateway: Gateway, tmp_path: Path
) -> None:
    server = gateway.running.server
    stranger = client_certificate(tmp_path, "node-stranger")
    async with logged_in(base_of(gateway), "admin", ADMIN_PASSWORD) as admin:
        # The OPC UA user logs in with the page's users, which it reads again at a login.
        added, _ = await admin.send("POST", "/api/users", {
            "name": "vera", "role": "viewer", "password": test_security.PASSWORD})
        assert added in (200, 201)
        status, view = await admin.get("/api/pki")
        assert status == 200
        assert server.certificate is not None
        assert view["own"]["thumbprint"] == server.certificate.thumbprint
        assert view["own"]["subject"] == "O=Uvelka,CN=uvelka:plant"
        assert (view["previous"], view["rejected"], view["trusted"]) == (None, [], [])

        refused = await node_client(server, tmp_path, stranger, "vera")

        assert refused["connected"] is False
        status, view = await admin.get("/api/pki")
        [listed] = view["rejected"]
        assert listed["subject"] == "CN=node-stranger"
        assert listed["application_uri"] == CLIENT_URI
        first_seen = datetime.fromisoformat(listed["changed"])
        assert abs(datetime.now(first_seen.tzinfo) - first_seen) < timedelta(minutes=2)
        thumbprint = listed["thumbprint"]

        status, trusted = await admin.send("POST", f"/api/pki/rejected/{thumbprint}/trust")

        assert status == 200, trusted
        accepted = await node_client(server, tmp_path, stranger, "vera")
        assert (accepted["connected"], accepted["error"]) == (True, None)
        status, view = await admin.get("/api/pki")
        assert view["rejected"] == []
        assert [cert["thumbprint"] for cert in view["trusted"]] == [thumbprint]
        [entry] = await audited(admin, "OPC UA certificate trusted")
        assert entry["user"] == "admin"
        assert entry["detail"] == f"CN=node-stranger (thumbprint {thumbprint}, {CLIENT_URI})"

        status, _ = await admin.send("DELETE", f"/api/pki/trusted/{thumbprint.upper()}")

        assert status == 200
        again = await node_client(server, tmp_path, stranger, "vera")
        assert again["connected"] is False
        status, view = await admin.get("/api/pki")
        assert ([c["thumbprint"] for c in view["rejected"]], view["trusted"]) == ([thumbprint], [])

        status, _ = await admin.send("DELETE", f"/api/pki/rejected/{thumbprint}")

        assert status == 200
        status, view = await admin.get("/api/pki")
        assert (view["rejected"], view["trusted"]) == ([], [])
        assert len(await audited(admin, "OPC UA certificate no longer trusted")) == 1
        assert len(await audited(admin, "rejected OPC UA certificate deleted")) == 1
        missing = await admin.send("DELETE", f"/api/pki/rejected/{thumbprint}")
        assert missing[0] == 404
        assert "no certificate with thumbprint" in missing[1]["error"]
        assert (await admin.send("POST", "/api/pki/rejected/nonsense/trust"))[0] == 400


async def test_only_admins_see_and_change_the_certificates(gateway: Gateway) -> None:
    base = base_of(gateway)
    async with logged_in(base, "admin", ADMIN_PASSWORD) as admin:
        for name, role in (("oleg", "operator"), ("elena", "engineer")):
            added, _ = await admin.send("POST", "/api/users", {
                "name": name, "role": role, "password": test_security.PASSWORD})
            assert added in (200, 201)
    async with logged_in(base, "elena", test_security.PASSWORD) as engineer:
        assert (await engineer.get("/api/pki"))[0] == 403
        trust = await engineer.send("POST", f"/api/pki/rejected/{'a' * 40}/trust")
        assert trust[0] == 403
        assert (await engineer.send("DELETE", f"/api/pki/trusted/{'a' * 40}"))[0] == 403
        async with engineer.http.get(f"{base}/pki", allow_redirects=False) as page:
            assert page.status == 403


async def test_the_page_shows_the_certificate_a_renewal_replaced(gateway: Gateway) -> None:
    server = gateway.running.server
    old = server.certificate
    assert old is not None

    renewed = await server.renew_certificate(old.not_after - timedelta(days=10))

    assert renewed is not None
    async with logged_in(base_of(gateway), "admin", ADMIN_PASSWORD) as admin:
        status, view = await admin.get("/api/pki")
        assert status == 200
        assert view["own"]["thumbprint"] == renewed.thumbprint
        assert view["previous"]["thumbprint"] == old.thumbprint
        replaced_at = datetime.fromisoformat(view["previous"]["changed"])
        assert abs(datetime.now(replaced_at.tzinfo) - replaced_at) < timedelta(minutes=2)
        [entry] = await audited(admin, "OPC UA certificate renewed")
        assert entry["user"] == "gateway"
        assert f"{old.thumbprint} -> {renewed.thumbprint}" in entry["detail"]


async def test_an_admin_trusts_a_refused_client_in_the_browser(
    gateway: Gateway, tmp_path: Path, page: Page, browser_log: BrowserLog
) -> None:
    server = gateway.running.server
    assert server.certificate is not None
    stranger = client_certificate(tmp_path, "browser-stranger")
    assert (await node_client(server, tmp_path, stranger, "nobody"))["connected"] is False
    base = base_of(gateway)
    await page.goto(f"{base}/login")
    await page.get_by_label("User name").fill("admin")
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{base}/")

    await page.get_by_role("link", name="Certificates").click()

    await expect(page.locator("#own-certificate")).to_contain_text(server.certificate.thumbprint)
    row = page.locator("#rejected tr", has_text="CN=browser-stranger")
    await expect(row).to_contain_text(CLIENT_URI)
    await expect(page.get_by_text("No trusted certificates.")).to_be_visible()
    await row.get_by_role("button", name="Trust").click()
    await expect(page.get_by_text("CN=browser-stranger trusted")).to_be_visible()
    await expect(page.locator("#trusted tr", has_text="CN=browser-stranger")).to_be_visible()
    await expect(page.get_by_text("No refused certificates.")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator("#trusted").get_by_role("button", name="Remove").click()
    await expect(page.get_by_text("CN=browser-stranger no longer trusted")).to_be_visible()
    await expect(page.locator("#rejected tr", has_text="CN=browser-stranger")).to_be_visible()
    browser_log.assert_clean()
