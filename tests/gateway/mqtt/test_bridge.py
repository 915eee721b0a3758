"""The bridge against a real mosquitto: alarm messages, retained state, status, outages,
refused messages."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from gateway.core.quality import Quality
from gateway.core.score import Score
from tests.fixtures.mqtt import Mosquitto, MosquittoFactory, Subscriber, SubscriberFactory
from tests.gateway.mqtt.support import (
    GATEWAY,
    T0,
    bridged,
    event,
    schema,
    settings,
    topic,
    wait_until,
)


@pytest.mark.parametrize("version", ["3.1.1", "5"])
async def test_alarm_event_is_one_message_numbered_across_restarts(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path, version: str
) -> None:
    watcher = await subscribers(mosquitto, topic("alarms/+"))
    section = settings(mosquitto.url, version=version)
    sent = [event("pump1_pressure", 0), event("pump1_temperature", 1)]
    async with bridged(section, tmp_path / "outbox.db") as bridge:
        await bridge.publish_alarms(sent)
        first = await watcher.take(2)
        await wait_until(lambda: bridge.stats.queued == 0, "the outbox to empty")
        assert bridge.stats.delivered == 2

    async with bridged(section, tmp_path / "outbox.db") as bridge:
        await bridge.publish_alarms([event("pump1_pressure", 2, active=False)])
        (later,) = await watcher.take(1)

    messages = [*first, later]
    payloads = [json.loads(message.payload) for message in messages]
    for message, payload in zip(messages, payloads, strict=True):
        schema("alarm").validate(payload)
        assert message.qos == 1
        assert message.retain is False
        assert message.topic == topic(f"alarms/{payload['alarm']}")
    assert [p["seq"] for p in payloads] == [1, 2, 3]
    assert [p["id"] for p in payloads[:2]] == [str(e.id) for e in sent]
    assert payloads[0]["gateway"] == GATEWAY
    assert payloads[0]["time"] == "2025-03-01T12:00:00.000Z"
    assert payloads[2]["active"] is False


async def test_retained_asset_state_reaches_a_later_subscriber(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    score = Score("pump1", "rul", 812.0, None, Quality.GOOD, T0, T0, "hgb-1")
    async with bridged(settings(mosquitto.url), tmp_path / "outbox.db") as bridge:
        await bridge.publish_asset_state("pump1", {"rul": score}, [], T0)
        await bridge.publish_asset_state("pump1", {"rul": score}, ["pump1_rul"], T0)
        await wait_until(lambda: bridge.stats.delivered == 2, "both states delivered")

    late = await subscribers(mosquitto, topic("assets/+/state"))
    message = await late.get()
    payload = json.loads(message.payload)
    schema("asset-state").validate(payload)
    assert message.topic == topic("assets/pump1/state")
    assert message.retain is True
    assert message.qos == 1
    assert payload["alarms"] == ["pump1_rul"]  # the latest state is the one kept
    assert payload["scores"]["rul"]["value"] == 812.0


async def test_status_online_on_connect_and_offline_on_clean_stop(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    watcher = await subscribers(mosquitto, topic("status"))
    async with bridged(settings(mosquitto.url), tmp_path / "outbox.db") as bridge:
        online = await watcher.get()
        assert (online.payload, online.retain, online.qos) == (b"online", True, 1)
        assert bridge.stats.connected
    offline = await watcher.get()
    assert (offline.payload, offline.retain, offline.qos) == (b"offline", True, 1)

    late = await subscribers(mosquitto, topic("status"))
    assert (await late.get()).payload == b"offline"


def first_seen(payloads: list[dict[str, Any]]) -> list[int]:
    """The seqs in order of first arrival; a repeat must be the same event (same id)."""
    ids: dict[int, str] = {}
    order = []
    for payload in payloads:
        seq = payload["seq"]
        if seq in ids:
            assert ids[seq] == payload["id"], f"seq {seq} arrived with two ids"
        else:
            ids[seq] = payload["id"]
            order.append(seq)
    return order


async def collect(
    watcher: Subscriber, last_seq: int, payloads: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Append alarm payloads to `payloads` until every seq up to `last_seq` has arrived."""
    seen = {payload["seq"] for payload in payloads}
    while len(seen) < last_seq:
        payload = json.loads((await watcher.get()).payload)
        payloads.append(payload)
        seen.add(payload["seq"])
    return payloads


@pytest.mark.parametrize("version", ["3.1.1", "5"])
async def test_outage_queues_on_disk_and_delivers_all_in_order_after(
    mosquitto_factory: MosquittoFactory,
    subscribers: SubscriberFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    version: str,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.mqtt.bridge")
    # A persistent broker and session: the subscriber misses nothing while both are away.
    broker = await mosquitto_factory(persistence=True)
    watcher = await subscribers(broker, topic("alarms/+"), client_id="mes", session_s=600)
    section = settings(broker.url, version=version)
    async with bridged(section, tmp_path / "outbox.db", window=50) as bridge:
        # A backlog in flight when the broker goes: unconfirmed messages must go again.
        await bridge.publish_alarms([event(f"a{n}", n) for n in range(2000)])
        payloads = await collect(watcher, 300, [])
        await broker.stop()
        await wait_until(lambda: not bridge.stats.connected, "the bridge to notice")
        for start in range(2000, 2500, 50):
            await bridge.publish_alarms([event(f"a{n}", n) for n in range(start, start + 50)])
        assert bridge.stats.queued >= 500

        await broker.start()
        await collect(watcher, 2500, payloads)
        await wait_until(lambda: bridge.stats.queued == 0, "the outbox to empty")

    assert first_seen(payloads) == list(range(1, 2501))
    transitions = [
        (r.levelno, r.getMessage().split(" (")[0].split(" after")[0])
        for r in caplog.records
        if r.levelno >= logging.WARNING or "back after" in r.getMessage()
    ]
    assert transitions == [
        (logging.WARNING, f"MQTT broker {broker.url} went away"),
        (logging.INFO, f"MQTT broker {broker.url} back"),
    ]


async def test_a_message_the_broker_refuses_is_counted_and_not_retried(
    mosquitto_factory: MosquittoFactory,
    subscribers: SubscriberFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.mqtt.bridge")
    acl = ["topic read #", f"topic write {topic('status')}", f"topic write {topic('alarms/ok')}"]
    broker = await mosquitto_factory(acl=acl)
    watcher = await subscribers(broker, topic("alarms/+"))
    section = settings(broker.url, version="5")  # MQTT 3.1.1 has no way to say "refused"
    async with bridged(section, tmp_path / "outbox.db") as bridge:
        await bridge.publish_alarms([event("denied", 0), event("denied", 1), event("ok", 2)])
        message = await watcher.get()
        await wait_until(lambda: bridge.stats.queued == 0, "the outbox to empty")
        stats = bridge.stats

    assert json.loads(message.payload)["seq"] == 3
    assert (stats.delivered, stats.rejected) == (1, 2)
    assert [r.getMessage() for r in caplog.records] == [
        f"MQTT broker {broker.url} refused a message (Not authorized): deleted, not retried"
    ]


@pytest.mark.parametrize("qos", [0, 2])
async def test_other_qos_levels_are_sent_as_configured_and_deleted_when_done(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path, qos: int
) -> None:
    watcher = await subscribers(mosquitto, topic("alarms/+"))
    async with bridged(settings(mosquitto.url, qos=qos), tmp_path / "outbox.db") as bridge:
        await bridge.publish_alarms([event("a", 0), event("b", 1)])
        messages = await watcher.take(2)
        # QoS 0: done once written to the socket; QoS 2: once PUBCOMP arrived.
        await wait_until(lambda: bridge.stats.queued == 0, "the outbox to empty")
        assert bridge.stats.delivered == 2

    assert [m.qos for m in messages] == [qos, qos]
    assert [json.loads(m.payload)["seq"] for m in messages] == [1, 2]
