"""Messages on a topic the ack filter does not match are no commands (issue #14).

mosquitto delivers a client only what its subscriptions match, and the bridge's session is
clean, so no stale subscription of an earlier session can bring anything else either. The
demo's embedded broker (amqtt) does deliver such messages: on connect it sends the new
client the retained messages of every client's subscriptions. The guard is shown with it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.alarms import Alarm, AlarmRule, Condition
from gateway.cli.demo_broker import embedded_broker
from gateway.core.quality import Quality
from gateway.page.metrics import mqtt_metrics
from tests.fixtures.mqtt import HOST, free_port
from tests.fixtures.prometheus import metric_value
from tests.gateway.mqtt.support import T0, WAIT_S, bridged, settings, topic, wait_until

STATE = topic("assets/pump1/state")


class _Mes:
    """A paho client of MES (MQTT 3.1.1, all amqtt speaks); its blocking calls are made in a
    worker thread, since the broker runs on the test's event loop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.subscribed = threading.Event()
        self.client = Client(
            CallbackAPIVersion.VERSION2, client_id="mes", protocol=MQTTProtocolVersion.MQTTv311
        )
        self.client.on_subscribe = lambda *_: self.subscribed.set()

    def open(self, subscription: str) -> None:
        self.client.connect(HOST, self.port)
        self.client.loop_start()
        self.client.subscribe(subscription, qos=1)
        assert self.subscribed.wait(WAIT_S), "no SUBACK"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def test_a_message_on_another_topic_is_ignored_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.mqtt.bridge")
    alarm = Alarm(AlarmRule("pump_high", "pump1.pressure", Condition.ABOVE, 10.0))
    (activated,) = alarm.observe(12.0, Quality.GOOD, T0)
    calls: list[str] = []

    def acknowledge(name: str, user: str, comment: str, event_id: uuid.UUID | None) -> None:
        calls.append(name)
        alarm.acknowledge(user, comment, datetime.now(UTC), event_id)

    port = free_port()
    async with embedded_broker(HOST, port):
        mes = _Mes(port)
        # MES watches asset states; one is retained before the gateway connects.
        await asyncio.to_thread(mes.open, topic("assets/#"))
        try:
            await asyncio.to_thread(mes.publish, STATE, b'{"asset": "pump1"}', retain=True)
            section = settings(f"mqtt://{HOST}:{port}", version="3.1.1")
            async with bridged(section, tmp_path / "outbox.db", acknowledge) as bridge:
                # amqtt hands the bridge MES's retained asset state on its ack subscription.
                await wait_until(lambda: bridge.stats.commands_ignored >= 1, "the stray ignored")
                ack = {"user": "anna", "comment": "checked", "id": str(activated.id)}
                await asyncio.to_thread(
                    mes.publish, topic("alarms/pump_high/ack"), json.dumps(ack).encode()
                )
                await wait_until(lambda: bridge.stats.commands_accepted == 1, "the ack executed")
                stats = bridge.stats
        finally:
            await asyncio.to_thread(mes.close)

    assert stats.commands_refused == 0  # before the guard: 1, "no such alarm" for the state
    assert stats.commands_failed == 0
    assert calls == ["pump_high"]
    assert alarm.acked
    assert metric_value(mqtt_metrics(stats), "uvelka_mqtt_commands_total", outcome="ignored") >= 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"MQTT message on {STATE!r} ignored: not an acknowledgement topic "
        f"({topic('alarms/+/ack')}); the broker delivered what this client did not subscribe to"
    ]
