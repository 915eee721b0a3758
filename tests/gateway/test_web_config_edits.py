"""The page's configuration edits over HTTP on the running gateway lose nothing (issue #17):
an empty import is refused, an import that removes [web], changes [opcua] or empties the
devices waits for an explicit confirmation, and a change made against an old revision of
the file (If-Match) is refused rather than dropping someone else's."""

from __future__ import annotations

import asyncio
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
from tests.fixtures.modbus import PymodbusServer
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
security = ["None"]
anonymous = true

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

    async def change(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """A change made against the current revision, as the page makes it."""
        status, answer, _ = await self.call(method, path, body,
                                            {"If-Match": await self.revision()})
        return status, answer


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
        base = f"http://127.0.0.1:{gateway.running.web.port}"
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
    assert "pump1" in session.gateway.running.fleet.pollers


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
    poller = session.gateway.running.fleet.pollers["pump1"]
    text = change(before)

    status, answer = await session.change("POST", "/api/config", {"text": text})

    assert status == 409
    assert answer == {"error": f"this import needs your confirmation: {danger}",
                      "confirm": [danger]}
    assert text_of(session.config_file) == before
    assert session.gateway.config is running
    assert session.gateway.running.fleet.pollers["pump1"] is poller

    status, answer = await session.change("POST", "/api/config", {"text": text, "confirm": True})

    assert status == 200, answer
    assert answer["applied"]
    assert text_of(session.config_file) == text
    assert session.gateway.running.editor.export_text() == text


def with_tag(devices: list[dict[str, Any]], name: str, address: int) -> list[dict[str, Any]]:
    """`devices` with a tag added to pump1, as an engineer adds one on the page."""
    tag = {"name": name, "table": "holding", "address": address, "type": "uint16"}
    return [{**device, "tags": [*device["tags"], tag]} if device["name"] == "pump1" else device
            for device in devices]


async def test_of_twenty_concurrent_edits_against_one_revision_one_applies_and_none_is_lost(
    session: Session,
) -> None:
    status, listed, headers = await session.call("GET", "/api/devices")
    assert status == 200
    revision = headers["ETag"]
    assert listed["revision"] == revision
    names = [f"t{index}" for index in range(20)]

    answers = await asyncio.gather(*(
        session.call("PUT", "/api/devices",
                     {"devices": with_tag(listed["devices"], name, 10 + index)},
                     {"If-Match": revision})
        for index, name in enumerate(names)
    ))

    statuses = [status for status, _, _ in answers]
    assert sorted(statuses) == [200] + [409] * 19, statuses
    winner = names[statuses.index(200)]
    current = await session.revision()
    assert current != revision
    assert answers[statuses.index(200)][2]["ETag"] == current
    for status, answer, headers in answers:
        if status == 409:
            assert answer == {"error": "the configuration was changed by someone else since "
                                       "you loaded it; load it again and redo your change",
                              "revision": current}
            assert headers["ETag"] == current
    saved = load_config(session.config_file)
    assert saved == session.gateway.config
    assert [tag.name for tag in saved.device("pump1").tags] == ["speed", winner]
    assert session.gateway.running.editor.export_text() == text_of(session.config_file)

    # Each refused engineer loads the devices again and redoes the change: none is lost.
    for index, name in enumerate(names):
        if name != winner:
            _, listed, headers = await session.call("GET", "/api/devices")
            status, answer, _ = await session.call(
                "PUT", "/api/devices", {"devices": with_tag(listed["devices"], name, 10 + index)},
                {"If-Match": headers["ETag"]})
            assert status == 200, answer
    saved = load_config(session.config_file)
    assert saved == session.gateway.config
    assert {tag.name for tag in saved.device("pump1").tags} == {"speed", *names}


async def test_a_change_without_if_match_gets_428_and_changes_nothing(session: Session) -> None:
    before = text_of(session.config_file)
    _, listed, _ = await session.call("GET", "/api/devices")
    for method, path, body in [
        ("PUT", "/api/devices", {"devices": with_tag(listed["devices"], "extra", 9)}),
        ("POST", "/api/config", {"text": before.replace("address = 0", "address = 9")}),
    ]:
        status, answer, _ = await session.call(method, path, body)
        assert (status, answer) == (428, {
            "error": "send If-Match with the configuration's revision: the ETag of GET "
                     "/api/devices or GET /api/config"}), path
    assert text_of(session.config_file) == before


async def test_a_change_against_an_old_revision_gets_409_with_the_current_one(
    session: Session,
) -> None:
    _, listed, headers = await session.call("GET", "/api/devices")
    old = headers["ETag"]
    _, exported, headers = await session.call("GET", "/api/config")
    assert headers["ETag"] == old  # the same revision: the file the devices come from
    status, _ = await session.change("PUT", "/api/devices",
                                     {"devices": with_tag(listed["devices"], "first", 9)})
    assert status == 200
    after = text_of(session.config_file)
    current = await session.revision()
    for method, path, body in [
        ("PUT", "/api/devices", {"devices": with_tag(listed["devices"], "second", 8)}),
        ("POST", "/api/config", {"text": exported.replace("address = 0", "address = 7")}),
    ]:
        status, answer, _ = await session.call(method, path, body, {"If-Match": old})
        assert (status, answer["revision"]) == (409, current), path
    assert text_of(session.config_file) == after
    # A weak tag never matches (If-Match compares strongly); "*" matches any revision.
    status, _, _ = await session.call("PUT", "/api/devices", {"devices": listed["devices"]},
                                      {"If-Match": f"W/{current}"})
    assert status == 409
    status, _, _ = await session.call("PUT", "/api/devices", {"devices": listed["devices"]},
                                      {"If-Match": "*"})
    assert status == 200
    assert [t.name for t in session.gateway.config.device("pump1").tags] == ["speed"]
    status, answer, _ = await session.call("PUT", "/api/devices", {"devices": []},
                                           {"If-Match": "3"})
    assert (status, answer) == (400, {
        "error": 'If-Match: expected the quoted revision from an ETag, like "1f0c…", or *'})
