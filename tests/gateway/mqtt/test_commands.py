"""Acknowledgements from MES over MQTT, executed on the event loop; bad ones are refused."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.alarms import Alarm, AlarmRule, Condition
from gateway.core.quality import Quality
from tests.fixtures.mqtt import Mosquitto, SubscriberFactory
from tests.gateway.mqtt.support import T0, bridged, event, settings, topic, wait_until


class Alarms:
    """Real alarms behind the acknowledge callable, recording every call and its thread."""

    def __init__(self, *names: str) -> None:
        self.alarms = {
            name: Alarm(AlarmRule(name, "pump1.pressure", Condition.ABOVE, 10.0)) for name in names
        }
        self.calls: list[tuple[str, str, str, uuid.UUID | None]] = []
        self.threads: set[int] = set()

    def acknowledge(self, name: str, user: str, comment: str, event_id: uuid.UUID | None) -> None:
        self.calls.append((name, user, comment, event_id))
        self.threads.add(threading.get_ident())
        self.alarms[name].acknowledge(user, comment, datetime.now(UTC), event_id)


async def test_ack_command_reaches_the_callable_and_bad_ones_are_counted(
    mosquitto: Mosquitto,
    subscribers: SubscriberFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.mqtt.bridge")
    alarms = Alarms("pump_high", "fan_low")
    (activated,) = alarms.alarms["pump_high"].observe(12.0, Quality.GOOD, T0)
    alarms.alarms["fan_low"].observe(12.0, Quality.GOOD, T0)
    mes = await subscribers(mosquitto, topic("alarms/+"))

    section = settings(mosquitto.url)
    async with bridged(section, tmp_path / "outbox.db", alarms.acknowledge) as bridge:
        await wait_until(lambda: bridge.stats.connected, "the bridge to connect")

        async def command(alarm: str, payload: bytes, accepted: int, refused: int) -> None:
            await mes.publish(topic(f"alarms/{alarm}/ack"), payload)
            await wait_until(
                lambda: (
                    (bridge.stats.commands_accepted, bridge.stats.commands_refused)
                    == (accepted, refused)
                ),
                f"command {payload!r} counted",
            )

        good = {"user": "anna", "comment": "valve checked", "id": str(activated.id)}
        await command("pump_high", json.dumps(good).encode(), 1, 0)
        await command("pump_high", b"{not json", 1, 1)
        await command("pump_high", b'{"user": "anna"}', 1, 2)
        await command("no_such_alarm", b'{"user": "anna", "comment": ""}', 1, 3)
        # Already acknowledged: the alarm refuses.
        await command("pump_high", b'{"user": "bob", "comment": "again"}', 1, 4)
        # Names an event that is not the latest: refused as stale.
        stale = {"user": "bob", "comment": "", "id": str(uuid.uuid4())}
        await command("fan_low", json.dumps(stale).encode(), 1, 5)
        await command("fan_low", b'{"user": "bob", "comment": "", "id": null}', 2, 5)

        # Still publishing after all that.
        await bridge.publish_alarms([event("pump_high")])
        assert json.loads((await mes.get()).payload)["alarm"] == "pump_high"

    assert alarms.calls == [
        ("pump_high", "anna", "valve checked", activated.id),
        ("no_such_alarm", "anna", "", None),
        ("pump_high", "bob", "again", None),
        ("fan_low", "bob", "", uuid.UUID(stale["id"])),
        ("fan_low", "bob", "", None),
    ]
    assert alarms.threads == {threading.get_ident()}  # the event loop's thread, not paho's
    assert alarms.alarms["pump_high"].acked
    assert alarms.alarms["fan_low"].acked
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 5
    for text, reason in zip(
        warnings,
        [
            "invalid command: not JSON",
            "invalid command: comment is missing",
            "no such alarm",
            "is already acknowledged",
            "is not its latest",
        ],
        strict=True,
    ):
        assert text.startswith("acknowledgement of alarm ")
        assert reason in text
