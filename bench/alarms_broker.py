"""The alarm benchmark's MQTT side: a mosquitto child, and a paho subscriber that keeps
every message with the wall-clock time it arrived."""

from __future__ import annotations

import asyncio
import getpass
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from children import Child, ChildProcesses
from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from poll import Bench, _free_port

logger = logging.getLogger(__name__)

MOSQUITTO = "/usr/sbin/mosquitto"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Broker:
    """A mosquitto child listening on 127.0.0.1:`port`."""

    port: int
    child: Child


async def start_mosquitto(children: ChildProcesses, work_dir: Path, name: str,
                          timeout_s: float = 10.0, port: int | None = None) -> Broker:
    """Start mosquitto on `port` (a free one if None) of 127.0.0.1; wait until it accepts."""
    port = _free_port() if port is None else port
    config = work_dir / f"{name}.conf"
    config.write_text("\n".join([
        f"listener {port} {HOST}",
        "allow_anonymous true",
        "persistence false",
        "log_dest stderr",
        "connection_messages true",
        # As root, mosquitto would switch to its own user, who cannot read the work folder.
        f"user {getpass.getuser()}",
        # The default (1000) drops QoS 1 messages for a subscriber that falls that far
        # behind: they would count as lost by the publisher being measured.
        "max_queued_messages 1000000",
    ]) + "\n", encoding="utf-8")
    broker = await children.start(name, [MOSQUITTO, "-c", str(config)])
    await Bench._wait_for_port(port, broker, time.monotonic() + timeout_s)
    logger.info("%s listening on %s:%d", name, HOST, port)
    return Broker(port, broker)


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the subscriber got it; `t` is time.time() in paho's thread."""

    t: float
    topic: str
    payload: bytes


class MqttCollector:
    """A paho subscriber (MQTT 3.1.1, QoS 1) that keeps every message it receives.

    `received` grows in paho's network thread (list.append is atomic); `on_message`, if
    given, is called there too, so it must only hand over (call_soon_threadsafe).
    """

    def __init__(self, port: int, topics: Sequence[str],
                 on_message: Callable[[Received], None] | None = None) -> None:
        self.received: list[Received] = []
        self._port = port
        self._topics = list(topics)
        self._forward = on_message
        self._awaited: tuple[int, asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._client = Client(CallbackAPIVersion.VERSION2, client_id="",
                              protocol=MQTTProtocolVersion.MQTTv311, clean_session=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect, subscribe, and return once the broker confirmed the subscription."""
        await asyncio.to_thread(self._client.connect, HOST, self._port)
        self._client.loop_start()
        if not await asyncio.to_thread(self._subscribed.wait, timeout_s):
            raise TimeoutError(f"the MQTT subscriber was not subscribed within {timeout_s} s")

    async def stop(self) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    async def gathered(self, count: int, timeout_s: float) -> bool:
        """Wait until `received` holds `count` messages; False if it did not in time."""
        reached = asyncio.Event()
        self._awaited = (count, asyncio.get_running_loop(), reached)
        try:
            if len(self.received) < count:
                async with asyncio.timeout(timeout_s):
                    await reached.wait()
        except TimeoutError:
            return False
        finally:
            self._awaited = None
        return True

    def take(self) -> list[Received]:
        """What arrived so far; later messages start a new list."""
        taken, self.received = self.received, []
        return taken

    # -- paho's thread --

    def _on_connect(self, client: Client, userdata: Any, flags: ConnectFlags,
                    reason: ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            logger.error("the broker refused the subscriber: %s", reason)
            return
        if self._connected.is_set():
            logger.warning("the subscriber reconnected: messages may have been lost meanwhile")
        self._connected.set()
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_disconnect(self, client: Client, userdata: Any, flags: DisconnectFlags,
                       reason: ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            logger.warning("the subscriber lost its connection: %s", reason)

    def _on_subscribe(self, client: Client, userdata: Any, mid: int,
                      reasons: list[ReasonCode], properties: Properties | None) -> None:
        refused = [reason for reason in reasons if reason.is_failure]
        if refused:
            logger.error("the broker refused the subscription: %s", refused)
            return
        self._subscribed.set()

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        received = Received(time.time(), message.topic, bytes(message.payload))
        self.received.append(received)
        if self._forward is not None:
            self._forward(received)
        awaited = self._awaited
        if awaited is not None and len(self.received) >= awaited[0]:
            awaited[1].call_soon_threadsafe(awaited[2].set)
