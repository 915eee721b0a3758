"""Helpers for the Sparkplug tests: an independent codec (Eclipse Tahu's JavaScript
`sparkplug-payload`, run with node), a watcher of the spBv1.0 topics, a primary host."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paho.mqtt.client import MQTTMessage

from tests.fixtures.mqtt import Mosquitto, Subscriber, SubscriberFactory

DECODER = Path(__file__).resolve().parent / "decoder"
NODE = shutil.which("node")
WAIT_S = 15.0
GROUP = "Line1"
EDGE = "plant"  # the gateway's name: the default edge node id
HOST = "scada"


async def tahu(decode: Sequence[bytes] = (), encode: Sequence[dict[str, Any]] = ()
               ) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Decode payloads and encode payload objects with Tahu's sparkplug-payload."""
    # .ci/run installs node and runs `npm ci` in the decoder folder.
    assert NODE is not None, "node is not installed"
    assert (DECODER / "node_modules" / "sparkplug-payload").is_dir(), (
        f"the Sparkplug decoder is not installed: run `npm ci` in {DECODER}")
    request = json.dumps({"decode": [base64.b64encode(raw).decode() for raw in decode],
                          "encode": list(encode)})
    process = await asyncio.create_subprocess_exec(
        NODE, str(DECODER / "decode.js"), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(WAIT_S):
            out, err = await process.communicate(request.encode())
    finally:
        # Cancelled meanwhile (Watcher.quiet's window closing on a message being decoded):
        # end the decoder, or it outlives the test's event loop.
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode == 0, err.decode()
    answer = json.loads(out)
    return answer["decoded"], [base64.b64decode(b64) for b64 in answer["encoded"]]


async def decoded(raw: bytes) -> dict[str, Any]:
    [payload], _ = await tahu(decode=[raw])
    return payload


async def encoded(payload: dict[str, Any]) -> bytes:
    _, [raw] = await tahu(encode=[payload])
    return raw


def topic(message_type: str, device: str | None = None) -> str:
    base = f"spBv1.0/{GROUP}/{message_type}/{EDGE}"
    return base if device is None else f"{base}/{device}"


def message_type(message: MQTTMessage) -> str:
    return str(message.topic.split("/")[2])


@dataclass
class Seen:
    """A Sparkplug message as a subscriber got it, its payload decoded by Tahu."""

    topic: str
    kind: str
    qos: int
    retain: bool
    payload: dict[str, Any]

    @property
    def seq(self) -> int | None:
        seq = self.payload.get("seq")
        return None if seq is None else int(seq)

    def metric(self, name: str) -> dict[str, Any]:
        for metric in self.payload["metrics"]:
            if metric.get("name") == name:
                return dict(metric)
        raise AssertionError(f"no metric {name!r} in {self.kind} {self.payload}")

    def by_alias(self) -> dict[int, dict[str, Any]]:
        return {int(m["alias"]): m for m in self.payload["metrics"]}


class Watcher:
    """Everything published under spBv1.0/<group>/#, in arrival order, decoded."""

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber

    async def _published(self, timeout_s: float) -> MQTTMessage:
        """The next message the edge node published: hosts' commands are skipped."""
        while True:
            message = await self.subscriber.get(timeout_s)
            if message_type(message) not in ("NCMD", "DCMD"):
                return message

    async def next(self, timeout_s: float = WAIT_S) -> Seen:
        message = await self._published(timeout_s)
        return Seen(message.topic, message_type(message), message.qos, message.retain,
                    await decoded(bytes(message.payload)))

    async def many(self, count: int, timeout_s: float = WAIT_S) -> list[Seen]:
        """The next `count` messages, decoded in one run of the decoder."""
        async with asyncio.timeout(timeout_s):
            messages = [await self._published(timeout_s) for _ in range(count)]
        payloads, _ = await tahu(decode=[bytes(m.payload) for m in messages])
        return [Seen(m.topic, message_type(m), m.qos, m.retain, payload)
                for m, payload in zip(messages, payloads, strict=True)]

    async def until(self, kind: str, device: str | None = None,
                    timeout_s: float = WAIT_S) -> tuple[Seen, list[Seen]]:
        """The next message of `kind` (on `device`), and every one before it."""
        wanted = topic(kind, device)
        before: list[Seen] = []
        async with asyncio.timeout(timeout_s):
            while True:
                seen = await self.next(timeout_s)
                if seen.topic == wanted:
                    return seen, before
                before.append(seen)

    async def quiet(self, for_s: float) -> list[Seen]:
        """What arrives within `for_s` (nothing, if all is as it should be)."""
        got = []
        try:
            async with asyncio.timeout(for_s):
                while True:
                    got.append(await self.next(for_s))
        except TimeoutError:
            return got


async def watch(subscribers: SubscriberFactory, broker: Mosquitto) -> Watcher:
    return Watcher(await subscribers(broker, f"spBv1.0/{GROUP}/#"))


STATE_MS = 1_700_000_000_000  # a host's STATE timestamp (its CONNECT time)


async def host_state(
    subscriber: Subscriber, online: bool, stamp_ms: int = STATE_MS, host_id: str = HOST
) -> None:
    """Publish a host's retained STATE (tck-id-host-topic-phid-birth-payload)."""
    payload = json.dumps({"online": online, "timestamp": stamp_ms})
    await host_state_raw(subscriber, payload.encode(), host_id)


async def host_state_raw(subscriber: Subscriber, payload: bytes, host_id: str = HOST) -> None:
    """Publish `payload` as a host's retained STATE, as it is."""
    info = subscriber.client.publish(f"spBv1.0/STATE/{host_id}", payload, qos=1, retain=True)
    await asyncio.to_thread(info.wait_for_publish, WAIT_S)


def words(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]
