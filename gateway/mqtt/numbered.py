"""A connection whose sessions are numbered: the Sparkplug edge node's (issue #16), on paho.

Sparkplug's edge node needs what the bridge's connection (bridge.py) does not: a Will whose
payload changes with each CONNECT, carrying the session's number (its bdSeq), and that
number taken, and saved, exactly when a CONNECT goes out. That is MQTT work, so it is here
with paho (shared/docs/style.md: paho only in gateway/mqtt); what the number and the Will
mean is the caller's (gateway/sparkplug).

Decisions, in the order a reader meets them:
- The Will is QoS 1 and not retained (Sparkplug 3.0: tck-id-payloads-ndeath-will-message,
  -will-message-qos, -will-message-retain), its payload `will(number)`. The number goes up
  by one on every CONNECT packet, wrapping after 255 (tck-id-topics-nbirth-bdseq-increment),
  from `first_number`. paho sends a CONNECT from its own thread when it reconnects, so the
  Will is set in on_pre_connect, which paho calls before each attempt, and the number is
  taken, and handed to `keep_number`, in on_socket_open, which paho calls only when the
  socket opened, just before the CONNECT goes out: an attempt on a broker that is down uses
  no number.
- Clean sessions (Sparkplug 3.0 §5.4: every Sparkplug client sets Clean Session/Clean
  Start): the caller's outbox, not the broker, keeps what must survive.
- The subscriptions are made with QoS 1 on every connect, before anything is published on
  it (tck-id-message-flow-edge-node-ncmd-subscribe, tck-id-message-flow-device-dcmd-
  subscribe).
- paho's thread only hands over: every callback crosses into the loop with
  call_soon_threadsafe; written QoS 0 messages (on_publish) are gathered into one call.
- The first connection is opened here with backoff, so its failure is logged with the
  reason; later ones are paho's (reconnect_delay_set). `close` ends a connection on
  purpose: the Will's message published first if asked (Sparkplug's NDEATH before a
  DISCONNECT), then DISCONNECT.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config.model import MqttSection
from gateway.mqtt.client import connect, new_client

logger = logging.getLogger(__name__)

WILL_QOS = 1
SUBSCRIBE_QOS = 1
STOP_S = 2.0  # a clean stop waits this long for the Will's message to be written


class Listener(Protocol):
    """What the link tells its owner, on the event loop."""

    def connected(self, number: int) -> None: ...

    def disconnected(self, reason: str) -> None: ...

    def arrived(self, topic: str, payload: bytes) -> None: ...

    def written(self, mids: list[int]) -> None: ...


class NumberedLink:
    """One paho client whose CONNECTs are numbered; build it inside the event loop."""

    def __init__(
        self,
        settings: MqttSection,
        client_id: str,
        will_topic: str,
        will: Callable[[int], bytes],
        subscriptions: Sequence[str],
        listener: Listener,
        *,
        first_number: int,
        keep_number: Callable[[int], None],
        reconnect_max_s: int = 30,
    ) -> None:
        self._settings = settings
        self._will_topic = will_topic
        self._will = will  # a CONNECT's number -> the Will's payload
        self._subscriptions = tuple(subscriptions)
        self._keep_number = keep_number  # saves a CONNECT's number, in paho's thread
        self._listener = listener
        self._reconnect_max_s = reconnect_max_s
        self._client_id = client_id
        self._loop = asyncio.get_running_loop()
        self._client = self._make_client()
        # paho's thread's own: the number of the next CONNECT, and of the one in use.
        self._next_number = first_number
        self.number = first_number
        self._written: collections.deque[int] = collections.deque()
        self._written_scheduled = False
        self._looping = False
        self._problem: str | None = None

    def _make_client(self) -> Client:
        client = new_client(self._settings, self._client_id,
                            reconnect_max_s=self._reconnect_max_s)
        client.on_pre_connect = self._on_pre_connect
        client.on_socket_open = self._on_socket_open
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> int | None:
        """Hand a message to paho; its mid, or None when there is no connection (a QoS 0
        message is then dropped by paho: the caller keeps what it must not lose)."""
        info = self._client.publish(topic, payload, qos=qos, retain=False)
        return None if info.rc is MQTTErrorCode.MQTT_ERR_NO_CONN else info.mid

    async def open(self) -> None:
        """Connect (retrying with backoff) and start paho's network thread."""
        delay_s = 1
        while True:
            attempt = asyncio.ensure_future(
                asyncio.to_thread(connect, self._client, self._settings))
            try:
                # Shielded: a stop waits for an attempt under way, and a connection it
                # made gets its network thread, so that `close` ends it properly.
                await asyncio.shield(attempt)
            except asyncio.CancelledError:
                await asyncio.wait([attempt])
                if not attempt.cancelled() and attempt.exception() is None:
                    self._client.loop_start()
                    self._looping = True
                raise
            except OSError as error:
                self._report(f"cannot be reached: {error}")
                await asyncio.sleep(delay_s)
                delay_s = min(2 * delay_s, self._reconnect_max_s)
            else:
                self._client.loop_start()
                self._looping = True
                return

    async def close(self, *, publish_will: bool) -> None:
        """End the connection on purpose: the Will's message first if asked (the broker
        does not send a Will on a DISCONNECT), then DISCONNECT
        (tck-id-operational-behavior-edge-node-intentional-disconnect-ndeath, -packet)."""
        if publish_will and self._client.is_connected():
            info = self._client.publish(
                self._will_topic, self._will(self.number), qos=WILL_QOS)
            try:
                await asyncio.to_thread(info.wait_for_publish, STOP_S)
            except RuntimeError as error:  # the connection went down meanwhile
                logger.debug("MQTT %s not published: %s", self._will_topic, error)
        self._client.disconnect()
        if self._looping:
            await asyncio.to_thread(self._client.loop_stop)
            self._looping = False
        # A fresh client for the next `open`: paho 2.2's loop_start makes a new socket
        # pair each time and never closes the previous one (Client.loop_start), while a
        # client that is dropped closes its own (Client.__del__).
        self._client = self._make_client()

    def _report(self, problem: str) -> None:
        """Log a connection problem once, until it changes."""
        log = logger.debug if problem == self._problem else logger.warning
        self._problem = problem
        log("MQTT broker %s %s (client %s); retrying", self._settings.url, problem,
            self._client_id)

    # -- paho's thread: only hand over to the event loop --

    def _on_pre_connect(self, client: Client, userdata: Any) -> None:
        client.will_set(self._will_topic, self._will(self._next_number), qos=WILL_QOS,
                        retain=False)

    def _on_socket_open(self, client: Client, userdata: Any, sock: Any) -> None:
        self.number = self._next_number
        self._next_number = (self.number + 1) % 256
        self._keep_number(self.number)

    def _on_connect(
        self,
        client: Client,
        userdata: Any,
        flags: ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._loop.call_soon_threadsafe(self._report, f"refused the connection: {reason}")
            return
        for topic in self._subscriptions:
            client.subscribe(topic, qos=SUBSCRIBE_QOS)
        self._loop.call_soon_threadsafe(self._connected, self.number)

    def _connected(self, number: int) -> None:
        self._problem = None
        self._listener.connected(number)

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        why = "connection lost" if reason == "Unspecified error" else str(reason)
        self._loop.call_soon_threadsafe(self._listener.disconnected, why)

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        self._loop.call_soon_threadsafe(
            self._listener.arrived, message.topic, bytes(message.payload))

    def _on_publish(
        self, client: Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        # One loop wake-up per burst; the loop clears the flag before it empties the deque.
        self._written.append(mid)
        if not self._written_scheduled:
            self._written_scheduled = True
            self._loop.call_soon_threadsafe(self._take_written)

    def _take_written(self) -> None:
        self._written_scheduled = False
        mids = []
        while self._written:
            mids.append(self._written.popleft())
        self._listener.written(mids)
