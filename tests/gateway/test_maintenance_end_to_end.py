"""Issue #12's maintenance log on the real gateway: an entry added over HTTP is audited,
sent once over MQTT (a real mosquitto, the payload checked against its schema), shown as
LastMaintenance to an asyncua client, and, resetting life, restarts the pump's RUL
commissioning from the rows after it, saved at once and kept by a restart."""

from __future__ import annotations

import json
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from drivers.base import Table
from gateway.app import Gateway
from gateway.config import load_config
from gateway.opcua.assets import NO_MAINTENANCE
from tests.fixtures.assets import words
from tests.fixtures.gateway import node_of, running
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.mqtt import Mosquitto, SubscriberFactory
from tests.fixtures.page_api import logged_in
from tests.gateway.mqtt.support import schema
from tests.gateway.test_web_asset_page import LEVEL, PASSWORD, SHIPPED, SIGNALS, config_text

WAIT_S = 30.0
LIVED_ROWS = 200  # samples of the pump's first life before its bearing is renewed (10 s)


def rul_cycle(gateway: Gateway) -> int:
    scorer = gateway.running.assets.scorers[0]
    return scorer.rul_states["rul"].cycle if "rul" in scorer.rul_states else 0


async def test_a_renewing_entry_is_audited_sent_shown_and_restarts_the_rul_life(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    mosquitto: Mosquitto,
    subscribers: SubscriberFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    pump = await modbus_server_factory()
    pump.set(Table.HOLDING, 0, [w for value in SIGNALS.values() for w in words(value)])
    pump.set(Table.HOLDING, LEVEL, [10])
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    for name in ("pump_anomaly.onnx", "pump_rul.onnx"):
        shutil.copy(SHIPPED / name, models_dir / name)
    data_dir = tmp_path / "var"
    config_file = tmp_path / "uvelka.toml"
    config_file.write_text(
        config_text(pump, data_dir, models_dir) + f'\n[mqtt]\nurl = "{mosquitto.url}"\n',
        encoding="utf-8",
    )
    subscriber = await subscribers(mosquitto, "uvelka/plant/maintenance/#")

    async with running(load_config(config_file), config_file) as (gateway, client):
        last_maintenance = node_of(gateway, client)("pump1.LastMaintenance")
        assert await last_maintenance.read_value() == NO_MAINTENANCE  # OPC UA's null DateTime
        await wait_until(lambda: rul_cycle(gateway) >= LIVED_ROWS, WAIT_S, "a first life")
        lived = rul_cycle(gateway)
        base = f"http://127.0.0.1:{gateway.running.web.port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            token = await logged_in(http, base)
            finished = datetime.now(UTC) - timedelta(seconds=0.5)
            entry = {
                "asset": "pump1",
                "started": (finished - timedelta(hours=2)).isoformat(),
                "finished": finished.isoformat(),
                "kind": "part_replacement",
                "parts": "bearing 6205-2RS",
                "note": "new bearing",
                "resets_life": True,
            }
            async with http.post(
                f"{base}/api/maintenance", json=entry, headers={"X-CSRF-Token": token}
            ) as response:
                assert response.status == 201, await response.text()
                added = await response.json()
            # The new life holds only the rows sampled after the work ended.
            restarted = rul_cycle(gateway)
            assert restarted < lived
            saved = json.loads((data_dir / "assets" / "pump1.rul.json").read_text())
            assert saved["cycle"] < lived  # written at once, not at the next minute's save
            async with http.get(f"{base}/api/audit") as response:
                audit = await response.json()
        assert added["user"] == "admin"
        assert any(
            a["action"] == "maintenance entry added" and f"#{added['id']} pump1" in a["detail"]
            for a in audit
        )

        (message,) = await subscriber.take(1)
        assert message.topic == "uvelka/plant/maintenance/pump1"
        assert message.qos == 1
        payload = json.loads(message.payload)
        schema("maintenance").validate(payload)
        assert (payload["change"], payload["entry"], payload["kind"], payload["resets_life"]) == (
            "added",
            added["id"],
            "part_replacement",
            True,
        )
        assert payload["user"] == payload["changed_by"] == "admin"

        value = await last_maintenance.read_data_value()
        assert value.StatusCode.is_good()
        shown = value.Value.Value.replace(tzinfo=UTC)
        assert abs(shown - finished) < timedelta(milliseconds=1)

        periods = await gateway.running.maintenance.log.normal_periods("pump1")
        assert [(p.end, p.begun_by) for p in periods] == [
            (finished - timedelta(hours=2), None),
            (None, added["id"]),
        ]
        assert abs(periods[1].start - finished) < timedelta(milliseconds=1)  # type: ignore[operator]

    # A restart keeps the new life and shows the entry again.
    async with running(load_config(config_file), config_file) as (gateway, client):
        assert rul_cycle(gateway) < lived
        value = await node_of(gateway, client)("pump1.LastMaintenance").read_value()
        assert abs(value.replace(tzinfo=UTC) - finished) < timedelta(milliseconds=1)


async def test_an_unknown_asset_and_a_bad_time_are_refused_and_nothing_is_sent(
    modbus_server_factory: Callable[..., Awaitable[PymodbusServer]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    pump = await modbus_server_factory()
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    for name in ("pump_anomaly.onnx", "pump_rul.onnx"):
        shutil.copy(SHIPPED / name, models_dir / name)
    config_file = tmp_path / "uvelka.toml"
    config_file.write_text(config_text(pump, tmp_path / "var", models_dir), encoding="utf-8")
    async with running(load_config(config_file), config_file) as (gateway, _):
        base = f"http://127.0.0.1:{gateway.running.web.port}"
        now = datetime.now(UTC)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            token = await logged_in(http, base)
            for change, error in [
                ({"asset": "pump9"}, "asset: no asset 'pump9' (the assets: pump1)"),
                ({"finished": (now - timedelta(days=1)).isoformat()}, "finished: before started"),
                (
                    {"kind": "polish"},
                    "kind: 'polish' is not one of inspection, lubrication, "
                    "repair, part_replacement, calibration, other",
                ),
                ({"note": "n" * 501}, "note: at most 500 characters (got 501)"),
            ]:
                entry = {
                    "asset": "pump1",
                    "started": (now - timedelta(hours=1)).isoformat(),
                    "finished": now.isoformat(),
                    "kind": "repair",
                    **change,
                }
                async with http.post(
                    f"{base}/api/maintenance", json=entry, headers={"X-CSRF-Token": token}
                ) as response:
                    assert (response.status, await response.json()) == (400, {"error": error})
        assert await gateway.running.maintenance.log.entries() == []
