"""The MQTT bridge to MES: alarm events and asset states out, acknowledgements in (issue #4).

Outbound messages go through the durable outbox and `Delivery` (gateway/mqtt/delivery.py,
which explains the ordering and duplicate guarantees and how paho's reconnect behaviour is
kept from breaking them).

Connection. The first connection is opened here, retried with exponential backoff, so a
failure is logged with its reason (paho's reconnect loop swallows it); from then on paho's
thread reconnects (reconnect_delay_set, exponential). Transitions are logged once: one
WARNING when the broker goes away or refuses us (with the reason), one INFO when it is back
(with the outage length). The status topic gets a retained `online` on every connect, the
Last Will is a retained `offline`, and a clean stop publishes `offline` itself.

Commands. Acknowledgements arrive in paho's thread, cross into the loop with
call_soon_threadsafe and a bounded queue, and are executed by a task on the loop. Invalid
ones, unknown alarms and refusals are counted, and logged with the reason: one WARNING per
alarm and reason a minute, then how many more there were (RefusalLog, issue #17).
Anything else one raises (a bug) is contained per command (issue #17): the command is
refused and counted, the error logged once with its traceback, and the next one executed;
a payload that killed the task would otherwise, retained, kill every restart.
A message whose topic the ack filter does not match is no command (issue #14): a broker
may deliver one (amqtt, the demo's broker, sends a newly connected client the retained
messages of every client's subscriptions: gateway/cli/demo_broker.py), so it is ignored
and counted (`commands_ignored`), logged once at WARNING and then at DEBUG.

Verdicts (issue #12). An acknowledgement may carry a `verdict` on the activation it
acknowledges (the alarm's latest); once the acknowledgement holds, `judge` stores it. A
verdict that cannot be stored (no activation recorded, an overlapping label, a full disk)
leaves the acknowledgement done and is refused as the command is: counted and logged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paho.mqtt.client import Client, ConnectFlags, DisconnectFlags, MQTTMessage, topic_matches_sub
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.alarms import AlarmError, AlarmEvent
from gateway.config.model import MqttSection
from gateway.core.failures import Failures
from gateway.core.score import Score
from gateway.mqtt.client import OFFLINE, ONLINE, STATUS_QOS, client_id, connect, make_client
from gateway.mqtt.commands import CommandError, RefusalLog, parse_ack
from gateway.mqtt.delivery import Delivery
from gateway.mqtt.payloads import alarm_payload, asset_state_payload, maintenance_payload
from gateway.mqtt.topics import Topics
from gateway.store import Kind, Message, MessageRefused, Outbox
from gateway.store.labels import NotStored, VerdictDraft
from gateway.store.maintenance_log import Entry

logger = logging.getLogger(__name__)

Acknowledge = Callable[[str, str, str, uuid.UUID | None], object]
# judge(alarm, verdict, user): store a verdict on the alarm's latest activation; raises
# with the reason when it cannot (issue #12).
Judge = Callable[[str, VerdictDraft, str], Awaitable[object]]

WINDOW_MAX = 10_000  # far below paho's 65,535 message ids, so an id is never still in use
COMMANDS_MAX = 100  # commands waiting for the loop; more are refused as "overloaded"
ACK_HANDLER = "mqtt-ack"  # the command handler's name in `command_failures`
STOP_S = 2.0  # a clean stop waits this long for confirmations, then for `offline`
RETRY_S = 1.0  # how often alarms waiting in memory for disk space are written again


class _VerdictRefused(Exception):
    """An acknowledgement held, but its verdict could not be stored; str(exc) says why."""


@dataclass(frozen=True, slots=True)
class BridgeStats:
    """Counters since the bridge started (`queued` and `dropped` are the outbox's)."""

    connected: bool
    delivered: int  # confirmed by the broker
    queued: int  # in the outbox, unconfirmed ones included
    held: int  # alarms waiting in memory for disk space (issue #17), counted in `queued`
    dropped: int  # dropped by the outbox unsent: overflow, expiry
    rejected: int  # refused by the broker (MQTT 5 PUBACK reason >= 0x80): deleted, not retried
    commands_accepted: int
    commands_refused: int
    commands_failed: int  # refused because handling raised an unexpected error (issue #17)
    commands_ignored: int  # messages on a topic the ack filter does not match (issue #14)


class MqttBridge:
    """Publishes the outbox to the broker and executes acknowledgements from MES.

    Construct it inside the event loop; `acknowledge(alarm, user, comment, event_id)` is
    called on the loop and raises KeyError (unknown alarm) or AlarmError (refused); `judge`
    stores a command's verdict (without it, a verdict is refused).
    """

    def __init__(
        self,
        settings: MqttSection,
        gateway: str,
        outbox: Outbox,
        acknowledge: Acknowledge,
        *,
        window: int = 200,
        reconnect_max_s: int = 60,
        judge: Judge | None = None,
    ) -> None:
        if not 1 <= window <= WINDOW_MAX:
            raise ValueError(f"window must be 1 to {WINDOW_MAX} messages (got {window})")
        if reconnect_max_s < 1:
            raise ValueError(f"reconnect_max_s must be >= 1 (got {reconnect_max_s})")
        self._settings = settings
        self._gateway = gateway
        self._outbox = outbox
        self._acknowledge = acknowledge
        self._judge = judge
        self._reconnect_max_s = reconnect_max_s
        self._topics = Topics(settings.topic_prefix, gateway)
        self._loop = asyncio.get_running_loop()
        self._client = make_client(
            settings, gateway, self._topics.status, reconnect_max_s=reconnect_max_s
        )
        self._delivery = Delivery(outbox, self._client, window, settings.url)
        self._client.on_pre_connect = self._on_pre_connect
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._links = 0  # connections so far, counted in paho's thread
        self._commands: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(COMMANDS_MAX)
        self._connecting: asyncio.Future[None] | None = None
        self._looping = False  # paho's network thread runs
        self._stopping = False
        self._down_since: float | None = None
        self._problem: str | None = None  # the connection problem last logged
        self._accepted = 0
        self._refused = 0
        self._ignored = 0
        self._refusals = RefusalLog(logger)
        self.command_failures = Failures("command handler", logger)

    @property
    def stats(self) -> BridgeStats:
        """The bridge's counters now."""
        return BridgeStats(
            connected=self._delivery.connected,
            delivered=self._delivery.delivered,
            queued=self._outbox.depth(),
            held=self._outbox.held(),
            dropped=sum(self._outbox.dropped().values()),
            rejected=self._delivery.rejected,
            commands_accepted=self._accepted,
            commands_refused=self._refused,
            commands_failed=sum(h.failures for h in self.command_failures.parts.values()),
            commands_ignored=self._ignored,
        )

    async def publish_alarms(self, events: Sequence[AlarmEvent]) -> None:
        """Queue one message per event, numbered in order; durable when this returns,
        unless the disk is full: then they wait in memory (gateway.store.outbox)."""
        await self._outbox.put_sequenced(
            [functools.partial(self._alarm_message, event) for event in events]
        )
        self._delivery.queued()

    async def publish_asset_state(
        self, asset: str, scores: Mapping[str, Score], alarms: Sequence[str], at: datetime
    ) -> None:
        """Queue the retained state of `asset`: its latest scores by model kind and its
        alarms that are not Normal; durable when this returns. On a full disk the state is
        dropped and counted by the outbox (the next one replaces it anyway)."""
        payload = asset_state_payload(self._gateway, asset, scores, alarms, at)
        message = Message(
            topic=self._topics.asset_state(asset),
            payload=payload,
            qos=self._settings.qos,
            retain=True,
            kind=Kind.STATE,
            message_id=str(uuid.uuid4()),
            created_s=time.time(),
        )
        try:
            await self._outbox.put(message)
        except MessageRefused as refused:
            logger.debug("state of asset %r not sent: %s", asset, refused)
            return
        self._delivery.queued()

    async def publish_maintenance(self, change: str, entry: Entry, at: datetime) -> None:
        """Queue one message for a change of a maintenance entry (issue #12), QoS 1 at
        least, not retained; durable when this returns. It is kept as an alarm event is
        (never expires, goes last on overflow). MessageRefused when the disk has no room."""
        message = Message(
            topic=self._topics.maintenance(entry.draft.asset),
            payload=maintenance_payload(self._gateway, change, entry),
            qos=max(1, self._settings.qos),
            retain=False,
            kind=Kind.ALARM,
            message_id=str(uuid.uuid4()),
            created_s=at.timestamp(),
        )
        await self._outbox.put(message)
        self._delivery.queued()

    async def run(self) -> None:
        """Connect, deliver the outbox and execute commands until cancelled; then publish
        `offline`, disconnect and stop paho's thread. After a failure it may run again
        (the gateway's supervisor restarts it: issue #17)."""
        self._stopping = False
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._connect(), name="mqtt-connect")
                group.create_task(self._delivery.run(), name="mqtt-delivery")
                group.create_task(self._execute_commands(), name="mqtt-commands")
                group.create_task(self._retry_outbox(), name="mqtt-outbox-retry")
        finally:
            await self._stop()

    async def _retry_outbox(self) -> None:
        """While the outbox waits for disk space, try again every RETRY_S (issue #17)."""
        while True:
            await asyncio.sleep(RETRY_S)
            if self._outbox.waiting():
                await self._outbox.retry()
                self._delivery.queued()  # the file may have opened, alarms may be written

    def _alarm_message(self, event: AlarmEvent, seq: int) -> Message:
        return Message(
            topic=self._topics.alarm(event.alarm),
            payload=alarm_payload(event, self._gateway, seq),
            qos=self._settings.qos,
            retain=False,
            kind=Kind.ALARM,
            message_id=str(event.id),
            created_s=time.time(),
        )

    async def _connect(self) -> None:
        """Open the first connection, then leave reconnecting to paho's thread."""
        delay_s = 1
        while True:
            self._connecting = self._loop.run_in_executor(
                None, connect, self._client, self._settings
            )
            try:
                # Shielded: a stop waits for an attempt under way instead of abandoning
                # a half-open socket to the executor thread.
                await asyncio.shield(self._connecting)
            except OSError as error:
                self._report(f"cannot be reached: {error}")
                await asyncio.sleep(delay_s)
                delay_s = min(2 * delay_s, self._reconnect_max_s)
            else:
                self._client.loop_start()
                self._looping = True
                return

    async def _stop(self) -> None:
        self._stopping = True
        self._refusals.close()
        if self._connecting is not None:
            await asyncio.wait([self._connecting])
            if self._connecting.exception() is not None:
                self._connecting = None  # nothing to disconnect
        online = self._delivery.connected
        await self._delivery.finish(STOP_S)
        if online:
            info = self._client.publish(self._topics.status, OFFLINE, qos=STATUS_QOS, retain=True)
            try:
                await asyncio.to_thread(info.wait_for_publish, STOP_S)
            except RuntimeError as error:  # the connection went down meanwhile
                logger.debug("could not publish %r: %s", self._topics.status, error)
        if self._connecting is not None:
            self._client.disconnect()
        if self._looping:
            await asyncio.to_thread(self._client.loop_stop)

    async def _execute_commands(self) -> None:
        while True:
            topic, payload = await self._commands.get()
            await self._execute(topic, payload)

    async def _execute(self, topic: str, payload: bytes) -> None:
        alarm = self._topics.acked_alarm(topic)
        try:
            command = parse_ack(payload)
            if command.verdict is not None and self._judge is None:
                raise CommandError("verdict: this gateway keeps no verdicts")
            self._acknowledge(alarm, command.user, command.comment, command.event_id)
            if command.verdict is not None and self._judge is not None:
                await self._judged(alarm, command.verdict, command.user)
        except CommandError as error:
            self._refuse(alarm, f"invalid command: {error}")
        except _VerdictRefused as error:
            self._refuse(alarm, str(error))
        except KeyError:
            self._refuse(alarm, "no such alarm")
        except AlarmError as error:
            self._refuse(alarm, str(error))
        except Exception as error:  # noqa: BLE001 - issue #17, see the module docstring
            self._refused += 1
            self.command_failures.failed(
                ACK_HANDLER, error, f"the acknowledgement of alarm {alarm!r} is refused"
            )
            return
        else:
            self._accepted += 1
        self.command_failures.recovered(ACK_HANDLER)

    async def _judged(self, alarm: str, verdict: VerdictDraft, user: str) -> None:
        """Store the verdict of an acknowledgement that held; a refusal is the command's."""
        assert self._judge is not None  # noqa: S101 - the caller's condition
        try:
            await self._judge(alarm, verdict, user)
        except (KeyError, ValueError, NotStored) as error:
            reason = error.args[0] if isinstance(error, KeyError) and error.args else error
            refusal = f"acknowledged, but the verdict is not stored: {reason}"
            raise _VerdictRefused(refusal) from None

    def _refuse(self, alarm: str, reason: str) -> None:
        self._refused += 1
        self._refusals.refused(alarm, reason)

    # -- connection transitions, on the event loop --

    def _connected(self, epoch: int, receive_maximum: int | None) -> None:
        self._delivery.connected_as(epoch, receive_maximum)
        queued = self._outbox.depth()
        if self._down_since is None:
            logger.info(
                "connected to MQTT broker %s as %r; %d messages queued",
                self._settings.url,
                client_id(self._settings, self._gateway),
                queued,
            )
        else:
            logger.info(
                "MQTT broker %s back after %.1f s; %d messages queued",
                self._settings.url,
                time.monotonic() - self._down_since,
                queued,
            )
        self._down_since = None
        self._problem = None

    def _disconnected(self, reason: str) -> None:
        was_connected = self._delivery.connected
        unconfirmed = self._delivery.disconnected()
        if not was_connected:
            return  # a refused attempt, logged as such
        if self._stopping:
            logger.info("disconnected from MQTT broker %s", self._settings.url)
            return
        self._down_since = time.monotonic()
        self._problem = reason
        logger.warning(
            "MQTT broker %s went away (%s); %d messages wait in the outbox, %d to send again",
            self._settings.url,
            reason,
            self._outbox.depth(),
            unconfirmed,
        )

    def _report(self, problem: str) -> None:
        """Log a connection problem once, until it changes or the broker is back."""
        if problem == self._problem:
            logger.debug("MQTT broker %s %s", self._settings.url, problem)
            return
        self._problem = problem
        logger.warning("MQTT broker %s %s; retrying", self._settings.url, problem)

    def _command_arrived(self, topic: str, payload: bytes) -> None:
        if not topic_matches_sub(self._topics.ack_filter, topic):
            self._ignored += 1
            log = logger.warning if self._ignored == 1 else logger.debug
            log(
                "MQTT message on %r ignored: not an acknowledgement topic (%s); the broker "
                "delivered what this client did not subscribe to",
                topic,
                self._topics.ack_filter,
            )
            return
        try:
            self._commands.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self._refuse(self._topics.acked_alarm(topic), "overloaded: too many commands")

    # -- paho's thread: only hand over to the event loop --

    def _on_pre_connect(self, client: Client, userdata: Any) -> None:
        self._delivery.forget_unsent()

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
        client.subscribe(self._topics.ack_filter, qos=1)
        client.publish(self._topics.status, ONLINE, qos=STATUS_QOS, retain=True)
        self._links += 1
        self._delivery.link = self._links
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        self._loop.call_soon_threadsafe(self._connected, self._links, receive_maximum)

    def _on_disconnect(
        self,
        client: Client,
        userdata: Any,
        flags: DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._delivery.link = None
        # paho reports a connection that just dropped as "Unspecified error".
        if flags.is_disconnect_packet_from_server:
            why = f"disconnected by the broker: {reason}"
        elif reason == "Unspecified error":
            why = "connection lost"
        else:
            why = str(reason)
        self._loop.call_soon_threadsafe(self._disconnected, why)

    def _on_publish(
        self, client: Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        self._delivery.on_publish(mid, reason)

    def _on_message(self, client: Client, userdata: Any, message: MQTTMessage) -> None:
        payload = bytes(message.payload)
        self._loop.call_soon_threadsafe(self._command_arrived, message.topic, payload)
