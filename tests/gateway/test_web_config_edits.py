"""The page's configuration edits over HTTP on the running gateway lose nothing (issue #17):
an empty import is refused, an import that removes [web], changes [opcua] or empties the
devices waits for an explicit confirmation, and a change made against an old revision of
the file is refused rather than dropping someone else's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import load_config
from tests.fixtures.gateway import running
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.web.conftest import csrf_field

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test credential
WAIT_S = 15.0

CONFIG = """\
# The plant's gateway: edited from the web page.
[gateway]
name = "plant"
data_dir = "{data_dir}"

[opcua]
endpoint = "{endpoint}"
namespace = "urn:uvelka:test"

[web]
port = 0

[[devices]]
name = "pump1"  # the first pump
url = "{url}"
poll_interval = 0.1

[[devices.tags]]
name = "speed"
table = "holding"
address = 0
type = "uint16"
"""


@dataclass
class Session:
    """An engineer logged in to the running gateway's page over HTTP."""

    gateway: Gateway
    client: aiohttp.ClientSession
    base_url: str
    token: str
    config_file: Path

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, Mapping[str, str]]:
        async with self.client.request(method, self.base_url + path, json=body, headers={
                "X-CSRF-Token": self.token, **(headers or {})}) as response:
            text = await response.text()
            answer = json.loads(text) if response.content_type == "application/json" else text
            return response.status, answer, response.headers

    async def revision(self) -> str:
        """The ETag of GET /api/devices: what the next change names in If-Match."""
        _, _, headers = await self.call("GET", "/api/devices")
        return headers["ETag"]


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@pytest.fixture
async def session(
    modbus_tcp_server: PymodbusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Session]:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    config_file = tmp_path / "uvelka.toml"
    config_file.write_text(CONFIG.format(data_dir=tmp_path / "var", endpoint=LOOPBACK_ENDPOINT,
                                         url=modbus_tcp_server.url), encoding="utf-8")
    async with running(load_config(config_file), config_file) as (gateway, _):
        await wait_until(lambda: gateway.web_port is not None, WAIT_S, "the web page")
        base = f"http://127.0.0.1:{gateway.web_port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
            async with client.get(f"{base}/login") as response:
                form = {"name": "admin", "password": PASSWORD,
                        "csrf_token": csrf_field(await response.text())}
            async with client.post(f"{base}/login", data=form, allow_redirects=False) as response:
                assert response.status == 303
            async with client.get(f"{base}/api/me") as response:
                token = (await response.json())["csrf_token"]
            yield Session(gateway, client, base, token, config_file)


@pytest.mark.parametrize("text", ["", " \n\t\n", "# nothing but a comment\n\n# and another\n",
                                  "\ufeff"])
async def test_an_empty_import_is_refused_and_changes_nothing(
    session: Session, text: str
) -> None:
    before = text_of(session.config_file)
    running = session.gateway.config

    status, answer, _ = await session.call("POST", "/api/config", {"text": text})

    assert status == 400
    assert answer == {"error": "the imported file holds no configuration (only blank lines "
                               "and comments); nothing was changed"}
    assert text_of(session.config_file) == before
    assert session.gateway.config is running
    assert "pump1" in session.gateway.fleet.pollers


def without_web(text: str) -> str:
    return text.replace("[web]\nport = 0\n", "")


def with_other_opcua(text: str) -> str:
    return text.replace('namespace = "urn:uvelka:test"', 'namespace = "urn:uvelka:other"')


def without_devices(text: str) -> str:
    return text.split("[[devices]]")[0]


@pytest.mark.parametrize(("change", "danger"), [
    (without_web, "it has no [web] section: this page will not be served after the next start"),
    (with_other_opcua, "it changes [opcua] namespace: OPC UA clients must use the new "
                       "settings after the next start"),
    (without_devices, "it has no devices: pump1 stops being polled now and its OPC UA nodes "
                      "go"),
])
async def test_a_dangerous_import_waits_for_an_explicit_confirmation(
    session: Session, change: Any, danger: str
) -> None:
    before = text_of(session.config_file)
    running = session.gateway.config
    poller = session.gateway.fleet.pollers["pump1"]
    text = change(before)

    status, answer, _ = await session.call("POST", "/api/config", {"text": text})

    assert status == 409
    assert answer == {"error": f"this import needs your confirmation: {danger}",
                      "confirm": [danger]}
    assert text_of(session.config_file) == before
    assert session.gateway.config is running
    assert session.gateway.fleet.pollers["pump1"] is poller

    status, answer, _ = await session.call("POST", "/api/config",
                                           {"text": text, "confirm": True})

    assert status == 200, answer
    assert answer["applied"]
    assert text_of(session.config_file) == text
    assert session.gateway.devices_editor.export_text() == text
