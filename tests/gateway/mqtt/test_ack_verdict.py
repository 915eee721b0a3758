"""A verdict in MES's acknowledgement (issue #12): the parser and the schema agree on it, and
through a real mosquitto the verdict reaches the label store once the acknowledgement holds;
one that cannot be stored is refused and counted, the acknowledgement done."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.alarms import Alarm, AlarmRule, Condition
from gateway.config.sources import Source, SourceKind
from gateway.core.clock import SystemClock
from gateway.core.quality import Quality
from gateway.mqtt import MqttBridge
from gateway.mqtt.commands import CommandError, parse_ack
from gateway.page.label_desk import LabelDesk
from gateway.store.labels import LabelStore, VerdictDraft
from tests.fixtures.mqtt import Mosquitto, SubscriberFactory
from tests.gateway.mqtt.support import GATEWAY, opened, schema, settings, topic, wait_until

ID = "0b7e7d8a-54d4-4d7e-9a53-6c1f0f6f2a11"
VERDICTS: list[tuple[object, str | None]] = [
    ({"verdict": "confirmed"}, None),
    ({"verdict": "false", "fault_code": "", "note": "sensor wiring"}, None),
    ({"verdict": "unsure", "fault_code": "BRG-" + "x" * 60, "note": "n" * 500}, None),
    (None, None),
    ({"verdict": "maybe"}, "verdict.verdict must be one of confirmed, false, unsure"),
    ({}, "verdict.verdict must be one of"),
    ({"verdict": "false", "fault_code": "c" * 65}, "verdict.fault_code must be 0 to 64"),
    ({"verdict": "false", "note": "n" * 501}, "verdict.note must be 0 to 500"),
    ({"verdict": "false", "note": 5}, "verdict.note must be a string"),
    ({"verdict": "false", "why": "x"}, "verdict: unknown keys ['why']"),
    ("confirmed", "verdict must be an object or null"),
]


@pytest.mark.parametrize(("verdict", "error"), VERDICTS)
def test_the_verdict_parser_agrees_with_the_schema(verdict: object, error: str | None) -> None:
    document = {"user": "anna", "comment": "", "id": ID, "verdict": verdict}
    assert schema("ack").is_valid(document) is (error is None)
    payload = json.dumps(document).encode()
    if error is None:
        parsed = parse_ack(payload).verdict
        assert parsed == (None if verdict is None else VerdictDraft(**verdict))  # type: ignore[arg-type]
    else:
        with pytest.raises(CommandError, match=error.replace("[", r"\[").replace("]", r"\]")):
            parse_ack(payload)


def test_the_longest_valid_command_is_under_the_payload_bound() -> None:
    escaped = "\\ud83d\\ude00"  # one character outside the BMP, as 12 bytes of JSON
    document = (
        f'{{"user": "{escaped * 256}", "comment": "{escaped * 4096}", "id": "{ID}", '
        f'"verdict": {{"verdict": "confirmed", "fault_code": "{escaped * 64}", '
        f'"note": "{escaped * 500}"}}}}'
    )
    assert parse_ack(document.encode()).verdict is not None


@asynccontextmanager
async def judging_bridge(
    mosquitto: Mosquitto, tmp_path: Path, alarm: Alarm, desk: LabelDesk
) -> AsyncIterator[MqttBridge]:
    def acknowledge(name: str, user: str, comment: str, event_id: uuid.UUID | None) -> None:
        if name != alarm.rule.name:
            raise KeyError(name)
        alarm.acknowledge(user, comment, datetime.now(UTC), event_id)

    async with opened(tmp_path / "outbox.db") as outbox:
        bridge = MqttBridge(
            settings(mosquitto.url),
            GATEWAY,
            outbox,
            acknowledge,
            reconnect_max_s=1,
            judge=desk.judge_latest,
        )
        task = asyncio.create_task(bridge.run(), name="bridge")
        try:
            await wait_until(lambda: bridge.stats.connected, "the bridge to connect")
            yield bridge
        finally:
            task.cancel()
            await asyncio.wait([task])


async def test_a_verdict_in_an_ack_labels_the_model_alarms_range(
    mosquitto: Mosquitto,
    subscribers: SubscriberFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.mqtt.bridge")
    alarm = Alarm(AlarmRule("pump1_anomaly", "pump1.Anomaly", Condition.ABOVE, 0.5))
    sources = {"pump1_anomaly": Source(SourceKind.ASSET, "pump1", "Anomaly")}
    started = datetime.now(UTC)
    (raised,) = alarm.observe(1.0, Quality.GOOD, started)
    mes = await subscribers(mosquitto)
    async with LabelStore.open(tmp_path / "labels.sqlite") as store:
        desk = LabelDesk(store, ["pump1"], sources, SystemClock())
        # No activation recorded yet: acknowledged, the verdict refused with the reason.
        # Retained, so that the bridge gets it once subscribed (its "connected" comes first).
        unknown = {"user": "anna", "comment": "", "verdict": {"verdict": "confirmed"}}
        info = mes.client.publish(
            topic("alarms/pump1_anomaly/ack"), json.dumps(unknown).encode(), qos=1, retain=True
        )
        await asyncio.to_thread(info.wait_for_publish, 10.0)
        async with judging_bridge(mosquitto, tmp_path, alarm, desk) as bridge:
            await wait_until(lambda: bridge.stats.commands_refused == 1, "the verdict refused")
            assert alarm.acked
            assert "acknowledged, but the verdict is not stored: no activation of alarm " in (
                caplog.records[-1].getMessage()
            )

            # Raised again, recorded as the hub's sink records it, acknowledged with a verdict.
            (cleared,) = alarm.observe(0.0, Quality.GOOD, datetime.now(UTC))
            (raised,) = alarm.observe(1.0, Quality.GOOD, datetime.now(UTC))
            await desk.record([cleared, raised])
            good = {
                "user": "mes-anna",
                "comment": "bearing",
                "id": str(raised.id),
                "verdict": {"verdict": "confirmed", "fault_code": "BRG", "note": "outer race"},
            }
            await mes.publish(topic("alarms/pump1_anomaly/ack"), json.dumps(good).encode())
            await wait_until(lambda: bridge.stats.commands_accepted == 1, "the ack with verdict")
        (verdict,) = await store.verdicts(assets=["pump1"])
        assert (verdict.activation.event_id, verdict.verdict, verdict.user) == (
            raised.id,
            "confirmed",
            "mes-anna",
        )
        (label,) = await store.labels(assets=["pump1"])
        assert (label.kind, label.start, label.fault_code, label.event_id) == (
            "anomaly",
            raised.time,
            "BRG",
            raised.id,
        )
