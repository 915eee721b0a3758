"""A publisher child for part 2 of bench/alarms.py: the outbox drain, or raw paho.

    python bench/alarms_publisher.py raw --port P --messages N --window W --gateway raw1
    python bench/alarms_publisher.py bridge --port P --messages N --window W --gateway drain1 \
        --outbox FILE

`raw`: one paho client (MQTT 3.1.1, `max_inflight_messages` = W) publishes N alarm
messages at QoS 1 as fast as paho takes them, then waits for every PUBACK.
`bridge`: N alarm events are queued in the outbox FILE through
`MqttBridge.publish_alarms` (batches of 1,000, while nothing runs the bridge: the broker
is out of reach for it); then `MqttBridge.run` starts and the outbox drains to the broker.
On stdout: `{"publishing": true}` when the timed part starts, then one JSON line with its
figures at the end (exit 0); logs go to stderr.
Both publish the same payloads (gateway.mqtt.payloads), numbered 1..N in `seq`, under
`bench/<gateway>/alarms/<alarm>`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from paho.mqtt.client import Client, ConnectFlags
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.alarms import AlarmEvent, EventKind
from gateway.config.model import MqttSection
from gateway.core.quality import Quality
from gateway.mqtt import MqttBridge
from gateway.mqtt.payloads import alarm_payload
from gateway.mqtt.topics import Topics
from gateway.store import Outbox

logger = logging.getLogger("bench.alarms_publisher")

HOST = "127.0.0.1"
TOPIC_PREFIX = "bench"
ALARMS = 20  # the alarm names cycle through as many assets as part 1 has by default
FILL_BATCH = 1000
CONNECT_TIMEOUT_S = 10.0
POLL_S = 0.005  # how often the drain looks at the outbox's depth
QOS = 1
PAHO_IDS = 65_535  # MQTT packet ids are 16-bit, 0 excluded


def events(count: int) -> Iterator[AlarmEvent]:
    """Activations as part 1's alarms send them, each with its own id: ~400-byte payloads."""
    for index in range(count):
        asset = f"pump{index % ALARMS:02d}"
        yield AlarmEvent(
            kind=EventKind.ACTIVATED, alarm=f"{asset}_score", source=f"{asset}.AnomalyScore",
            time=datetime.now(UTC), active=True, acked=False, shelved=False, severity=500,
            value=17.385581290912628, limit=8.693, quality=Quality.GOOD,
            message=f"Anomaly score of {asset} above its limit",
        )


def raw(port: int, gateway: str, count: int, window: int, timeout_s: float) -> dict[str, Any]:
    """Publish `count` messages with one paho client; the figures as a dict."""
    topics = Topics(TOPIC_PREFIX, gateway)
    messages = [(topics.alarm(event.alarm), alarm_payload(event, gateway, seq))
                for seq, event in enumerate(events(count), start=1)]
    connected = threading.Event()
    confirmed = threading.Event()
    room = threading.Event()
    published = acked = pauses = 0
    # paho numbers unconfirmed messages with 16-bit ids and refuses a publish() when the
    # next id is still unconfirmed: past that, wait for a window's worth of PUBACKs.
    resume_at = PAHO_IDS - 1 - window

    def on_connect(client: Client, userdata: Any, flags: ConnectFlags, reason: ReasonCode,
                   properties: Properties | None) -> None:
        if not reason.is_failure:
            connected.set()

    def on_publish(client: Client, userdata: Any, mid: int, reason: ReasonCode,
                   properties: Properties) -> None:
        nonlocal acked
        acked += 1
        if published - acked <= resume_at:
            room.set()
        if acked == count:
            confirmed.set()

    client = Client(CallbackAPIVersion.VERSION2, client_id="uvelka-bench-raw",
                    protocol=MQTTProtocolVersion.MQTTv311, clean_session=True)
    client.max_inflight_messages_set(window)
    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect(HOST, port)
    client.loop_start()
    try:
        if not connected.wait(CONNECT_TIMEOUT_S):
            raise TimeoutError(f"no CONNACK from 127.0.0.1:{port}")
        _publishing()
        cpu0, began = time.process_time(), time.monotonic()
        for topic, payload in messages:
            if published - acked >= PAHO_IDS - 1:
                pauses += 1
                room.clear()
                while published - acked > resume_at:
                    if not room.wait(timeout_s):
                        raise TimeoutError(f"no PUBACK for {timeout_s:.0f} s")
            rc = client.publish(topic, payload, qos=QOS).rc
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"paho refused a message: {rc}")
            published += 1
        handed_s = time.monotonic() - began
        if not confirmed.wait(timeout_s):
            raise TimeoutError(f"{acked} of {count} PUBACKs within {timeout_s:.0f} s")
        elapsed_s = time.monotonic() - began
        cpu_s = time.process_time() - cpu0
    finally:
        client.disconnect()
        client.loop_stop()
    return {"mode": "raw", "messages": count, "payload_bytes": len(messages[0][1]),
            "elapsed_s": elapsed_s, "handover_s": handed_s, "cpu_s": cpu_s,
            "pauses": pauses}


async def drain(port: int, gateway: str, count: int, window: int, outbox_path: str,
                timeout_s: float) -> dict[str, Any]:
    """Fill the outbox through the bridge, then run the bridge until the outbox is empty."""
    settings = MqttSection.model_validate(
        {"url": f"mqtt://{HOST}:{port}", "topic_prefix": TOPIC_PREFIX})
    # Opened as gateway.app opens it (fsync on), with room for every message.
    async with Outbox.open(outbox_path,
                           max_messages=max(count, settings.outbox_max_messages),
                           max_age_s=settings.outbox_max_age) as outbox:
        bridge = MqttBridge(settings, gateway, outbox, _no_alarms, window=window)
        began = time.monotonic()
        batch: list[AlarmEvent] = []
        for event in events(count):
            batch.append(event)
            if len(batch) == FILL_BATCH:
                await bridge.publish_alarms(batch)
                batch = []
        await bridge.publish_alarms(batch)
        fill_s = time.monotonic() - began
        logger.info("%d alarm messages queued in %.1f s; starting the bridge",
                    outbox.depth(), fill_s)

        _publishing()
        cpu0, began = time.process_time(), time.monotonic()
        connect_s: float | None = None
        runner = asyncio.create_task(bridge.run(), name="bridge")
        try:
            while bridge.stats.queued:
                if runner.done():
                    runner.result()  # raises what ended it
                    raise RuntimeError("the bridge stopped with messages queued")
                if time.monotonic() - began > timeout_s:
                    raise TimeoutError(f"{bridge.stats.queued} messages still queued after "
                                       f"{timeout_s:.0f} s")
                if connect_s is None and bridge.stats.connected:
                    connect_s = time.monotonic() - began
                await asyncio.sleep(POLL_S)
            elapsed_s = time.monotonic() - began
            cpu_s = time.process_time() - cpu0
        finally:
            runner.cancel()
            await asyncio.wait([runner])
        stats = bridge.stats
        if not runner.cancelled() and runner.exception() is not None:
            raise RuntimeError("the bridge failed while stopping") from runner.exception()
    return {"mode": "drain", "messages": count, "elapsed_s": elapsed_s, "fill_s": fill_s,
            "connect_s": connect_s, "cpu_s": cpu_s, "delivered": stats.delivered,
            "rejected": stats.rejected, "dropped": stats.dropped}


def _publishing() -> None:
    """Tell the parent that the timed part starts (it watches the broker's CPU)."""
    print(json.dumps({"publishing": True}), flush=True)


def _no_alarms(alarm: str, user: str, comment: str, event_id: uuid.UUID | None) -> None:
    raise KeyError(alarm)  # nobody acknowledges in this benchmark


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("raw", "bridge"))
    parser.add_argument("--port", type=int, required=True, help="the broker's, on 127.0.0.1")
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--window", type=int, required=True,
                        help="messages unconfirmed at most (paho's max_inflight / the bridge's)")
    parser.add_argument("--gateway", required=True, help="the gateway name in the topics")
    parser.add_argument("--outbox", help="the outbox file (bridge)")
    parser.add_argument("--timeout", type=float, default=600.0, help="s for the publishing")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if args.mode == "raw":
        figures = raw(args.port, args.gateway, args.messages, args.window, args.timeout)
    elif args.outbox is None:
        parser.error("bridge needs --outbox")
    else:
        figures = asyncio.run(drain(args.port, args.gateway, args.messages, args.window,
                                    args.outbox, args.timeout))
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
