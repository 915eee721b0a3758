"""The gateway as a Sparkplug B 3.0 edge node (issue #16): births, data by exception,
deaths, commands, and store-and-forward while the primary host is away.

The session, in the order it runs (the tck-ids are Sparkplug 3.0's normative statements):
- The link (gateway/mqtt/numbered.py, bdSeq its number) connects with the NDEATH Will.
  With a primary host configured, nothing is born until its retained STATE says online
  with a timestamp not older than the last one seen (tck-id-message-flow-edge-node-birth-
  publish-phid-wait, -phid-wait-id, -phid-wait-online, -phid-wait-timestamp); without one,
  at once. A STATE that is not such JSON, or older, is ignored and counted.
- Births: NBIRTH with seq 0 (tck-id-topics-nbirth-seq-num), bdSeq, `Node Control/Rebirth`
  false and the gateway's own metrics, then one DBIRTH per device and asset, every metric
  with its current value (tck-id-payloads-dbirth-order). seq then counts every message of
  the session, 0-255 wrapping (tck-id-payloads-sequence-num-incrementing).
- Data: only what changed since it was last reported (value or quality), one DDATA per
  device and poll cycle, by alias (tck-id-operational-behavior-data-publish-dbirth-change).
- While the session is not up (no broker, or the primary host offline), data messages go
  to a durable outbox (gateway.store.outbox, its own file) instead; once births are out,
  they are replayed oldest first, marked is_historical, before anything newer. Data made
  while a replay runs joins the outbox behind it, so the order holds; when the outbox is
  empty, data goes straight to paho again. QoS 0 throughout (tck-id-topics-ddata-mqtt):
  a stored message leaves the outbox once paho wrote it to the socket, so a SIGKILL loses
  none of it (at worst it is sent twice); a message sent straight is as safe as QoS 0 is.
- A device whose link goes down gets a DDEATH, and a DBIRTH with its current values when
  it is back (tck-id-operational-behavior-device-ddeath); during a replay both wait until
  the replay is done, so no DDATA of the device follows its DDEATH. Assets never die.
- The primary host going offline (STATE online false, not older than the last STATE) ends
  the session: NDEATH, DISCONNECT, a new connection with the next bdSeq, and waiting for
  the host again (tck-id-message-flow-edge-node-birth-publish-phid-offline,
  tck-id-operational-behavior-edge-node-termination-host-offline).
- NCMD `Node Control/Rebirth` true: a new NBIRTH (seq 0, the same bdSeq) and DBIRTHs
  (tck-id-operational-behavior-data-commands-rebirth-action-1, -2, -3).
- DCMD: each metric (by alias or name) is a write of the tag through its device's poll
  loop when `writes` is on, refused otherwise; refusals and failures are counted and
  logged (one WARNING per reason, then DEBUG), never fatal.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value
from gateway.core.score import Score
from gateway.core.status import DeviceStatus
from gateway.core.writes import WriteFailure
from gateway.mqtt.numbered import NumberedLink
from gateway.sparkplug import payloads
from gateway.sparkplug.catalogue import (
    BD_SEQ,
    DEVICES_CONNECTED,
    GATEWAY_NAME,
    REBIRTH,
    SOFTWARE_VERSION,
    DeviceSpec,
    MetricSpec,
    catalogue,
    model_version_metric,
)
from gateway.sparkplug.payloads import CommandError, Reading
from gateway.sparkplug.topics import Topics, state_topic
from gateway.store import Kind, Message, MessageRefused, Outbox

logger = logging.getLogger(__name__)

Write = Callable[[str, Value], Awaitable[None]]
StatusCode = Callable[[Quality], int]

REPLAY_BATCH = 200  # stored messages read and sent at a time
PENDING_MAX = 10_000  # data messages waiting to be stored; more drop the oldest (counted)
COMMANDS_MAX = 100  # commands waiting for the loop; more are refused


@dataclass(frozen=True, slots=True)
class NodeStats:
    """Counters since the edge node started."""

    online: bool  # births are out in the current session
    births: int  # NBIRTH sequences published
    published: int  # data messages handed to paho straight away
    stored: int  # data messages put in the outbox
    replayed: int  # stored messages sent after a session began
    dropped: int  # data messages lost before the outbox (its queue overflowed, or refused)
    queued: int  # in the outbox
    writes: int  # DCMD writes done
    refused: int  # command metrics refused or failed
    states_ignored: int  # primary host STATE messages unreadable or older than the last


class SparkplugNode:
    """One Sparkplug edge node on one broker; construct it inside the event loop, feed it
    with `samples`, `scores` and `status`, and keep `run` running."""

    def __init__(
        self,
        config: Callable[[], GatewayConfig],
        topics: Topics,
        outbox: Outbox,
        write: Write,
        status_code: StatusCode,
        *,
        gateway: str,
        version: str,
        primary_host: str | None,
        writes: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # The running configuration: the device editor may change its devices (issue #5).
        self._config = config
        self._config_seen = config()
        self._catalogue = catalogue(self._config_seen.devices, self._config_seen.assets)
        self._topics = topics
        self._outbox = outbox
        self._write = write
        self._status_code = status_code
        self._primary_host = primary_host
        self._writes = writes
        self._clock = clock
        self._link: NumberedLink | None = None  # bound by `attach` before `run`
        # The latest reading of every metric (births carry them), and what the host was
        # last told of each (report by exception compares with it), by gateway key.
        self._latest: dict[str, Reading] = {}
        self._reported: dict[str, Reading] = {}
        self._node_values: dict[str, Value] = {
            BD_SEQ: 0, REBIRTH: False, GATEWAY_NAME: gateway, SOFTWARE_VERSION: version,
            DEVICES_CONNECTED: 0,
        }
        self._node_reported: dict[str, Value] = {}  # the node's metrics as last reported
        self._link_up: dict[str, bool] = {}
        self._take_metrics()
        # The session.
        self._connected = False
        self._bd_seq = 0
        self._host_online = primary_host is None
        self._host_stamp: int | None = None  # the timestamp of the last STATE taken
        self._online = False  # births out in this connection
        self._current = False  # online, and nothing stored waits: data goes straight out
        self._born: set[str] = set()  # devices with a DBIRTH and no DDEATH since
        self._seq = 0
        self._session_start_s = 0.0
        self._restart = asyncio.Event()
        # Store-and-forward.
        self._pending: collections.deque[Message] = collections.deque()
        self._storing = False
        self._store_wanted = asyncio.Event()
        self._replay_wanted = asyncio.Event()
        self._cursor = 0  # outbox seq of the last stored message handed to paho
        self._unwritten: dict[int, int] = {}  # paho mid -> outbox seq
        self._written_seqs: list[int] = []
        self._deleting: set[int] = set()
        self._delete_wanted = asyncio.Event()
        self._commands: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(COMMANDS_MAX)
        self._refusals: set[str] = set()  # reasons logged once at WARNING
        self._births = self._published = self._stored = self._replayed = 0
        self._dropped = self._write_count = self._refused = self._states_ignored = 0

    def attach(self, link: NumberedLink) -> None:
        """Bind the MQTT link (it calls back into this node)."""
        self._link = link

    @property
    def stats(self) -> NodeStats:
        return NodeStats(
            online=self._online, births=self._births, published=self._published,
            stored=self._stored, replayed=self._replayed, dropped=self._dropped,
            queued=self._outbox.depth() + len(self._pending), writes=self._write_count,
            refused=self._refused, states_ignored=self._states_ignored,
        )

    # -- what the gateway produces, on the event loop; never blocks --

    def samples(self, samples: Sequence[Sample]) -> None:
        """Tag values from the poll loops: changed ones go out as DDATA."""
        self._follow_config()
        changes: dict[str, list[tuple[MetricSpec, Reading, bool]]] = {}
        for sample in samples:
            reading = Reading(sample.value, sample.quality, sample.source_time,
                              self._status_code(sample.quality))
            self._observe(sample.key, reading, changes)
        self._report(changes)

    def scores(self, scores: Sequence[Score]) -> None:
        """Asset model outputs, and the model versions, as DDATA of the asset's device."""
        changes: dict[str, list[tuple[MetricSpec, Reading, bool]]] = {}
        for score in scores:
            code = self._status_code(score.quality)
            for output, value in score.outputs():
                reading = Reading(value, score.quality, score.window_end, code)
                self._observe(f"{score.asset}.{output}", reading, changes)
            version = Reading(score.model_version, Quality.GOOD, score.window_end,
                              self._status_code(Quality.GOOD))
            self._observe(f"{score.asset}.{model_version_metric(score.kind)}", version, changes)
        self._report(changes)

    def status(self, status: DeviceStatus) -> None:
        """A device's link: DDEATH when it goes down, DBIRTH when it is back."""
        self._follow_config()
        if self._link_up.get(status.device, status.connected) == status.connected:
            return
        self._link_up[status.device] = status.connected
        self._node_values[DEVICES_CONNECTED] = sum(self._link_up.values())
        if self._current:
            self._reconcile()
            self._report_node()

    def _follow_config(self) -> None:
        """Take the devices as the device editor changed them: new metrics, and births
        again if the session is up (Sparkplug 3.0 §5.11: metrics are added at runtime with
        a new NBIRTH and DBIRTHs)."""
        config = self._config()
        if config is self._config_seen:
            return
        self._config_seen = config
        updated = catalogue(config.devices, config.assets, self._catalogue)
        if updated == self._catalogue:
            return
        self._catalogue = updated
        self._take_metrics()
        if self._online:
            logger.info("Sparkplug: the devices changed: births again")
            self._births += 1
            self._birth_all()
            if self._current:
                self._reconcile()

    def _take_metrics(self) -> None:
        """The state of the catalogue's metrics and devices, those new to it waiting."""
        waiting = Reading(None, Quality.WAITING, datetime.fromtimestamp(self._clock(), UTC),
                          self._status_code(Quality.WAITING))
        for device in self._catalogue.devices:
            for spec in device.metrics:
                self._latest.setdefault(device.key(spec), waiting)
        polled = [d.device_id for d in self._catalogue.devices if d.polled]
        self._link_up = {device: self._link_up.get(device, True) for device in polled}
        self._node_values[DEVICES_CONNECTED] = sum(self._link_up.values())

    # -- running --

    async def run(self) -> None:
        """Connect, keep the session, store, replay and execute commands until cancelled;
        then NDEATH and DISCONNECT."""
        assert self._link is not None, "attach a link first"  # noqa: S101 - a wiring bug
        link = self._link
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._keep_connected(link), name="sparkplug-link")
                group.create_task(self._store(), name="sparkplug-store")
                group.create_task(self._replay(), name="sparkplug-replay")
                group.create_task(self._delete(), name="sparkplug-delete")
                group.create_task(self._execute_commands(), name="sparkplug-commands")
        finally:
            self._online = self._current = False
            await link.close(publish_will=self._connected)
            await self._flush_pending()

    async def _keep_connected(self, link: NumberedLink) -> None:
        while True:
            await link.open()
            await self._restart.wait()
            self._restart.clear()
            self._end_session()
            logger.warning("Sparkplug: primary host %r is offline: NDEATH, disconnecting, "
                           "and connecting again to wait for it", self._primary_host)
            await link.close(publish_will=True)

    # -- the link's side, on the event loop --

    def connected(self, bd_seq: int) -> None:
        self._connected = True
        self._bd_seq = bd_seq
        self._node_values[BD_SEQ] = bd_seq
        logger.info("Sparkplug: connected as %s (bdSeq %d)%s", self._topics.node("NBIRTH"),
                    bd_seq, "" if self._primary_host is None
                    else f"; waiting for primary host {self._primary_host!r}")
        if self._host_online:
            self._begin_session()

    def disconnected(self, reason: str) -> None:
        was_online = self._online
        self._connected = False
        self._end_session()
        if self._primary_host is not None:
            self._host_online = False  # its STATE is read again after the next connect
        if was_online:
            logger.warning("Sparkplug: broker connection lost (%s); data is stored until "
                           "the next session", reason)

    def arrived(self, topic: str, payload: bytes) -> None:
        if self._primary_host is not None and topic == state_topic(self._primary_host):
            self._host_state(payload)
            return
        try:
            self._commands.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self._refuse("overloaded", "too many commands waiting")

    def written(self, mids: list[int]) -> None:
        for mid in mids:
            seq = self._unwritten.pop(mid, None)
            if seq is not None:
                self.written_seq(seq)

    def written_seq(self, outbox_seq: int) -> None:
        """A stored message is done with: delete it from the outbox."""
        self._written_seqs.append(outbox_seq)
        self._deleting.add(outbox_seq)
        self._delete_wanted.set()

    # -- the session --

    def _host_state(self, raw: bytes) -> None:
        """The primary host's STATE, {"online": bool, "timestamp": ms} (Sparkplug 3.0
        §5.3, tck-id-host-topic-phid-birth-payload): one that cannot be read, or older than
        the last one taken, is ignored and counted; never fatal."""
        try:
            online, stamp = _read_state(raw)
        except ValueError as error:
            self._states_ignored += 1
            self._log_once("STATE", f"the primary host's STATE is ignored: {error}")
            return
        # tck-id-message-flow-edge-node-birth-publish-phid-wait-timestamp,
        # tck-id-operational-behavior-edge-node-termination-host-offline-timestamp: a STATE
        # older than the last one taken is a stale message. An equal one is not: the
        # broker sends the retained STATE again after every reconnect, and a host's death
        # (its Will) carries the timestamp of its birth.
        if self._host_stamp is not None and stamp < self._host_stamp:
            self._states_ignored += 1
            self._log_once("STATE old", f"a STATE of the primary host older than the last "
                           f"one ({stamp} < {self._host_stamp} ms) is ignored")
            return
        self._host_stamp = stamp
        if online:
            if not self._host_online:
                logger.info("Sparkplug: primary host %r is online", self._primary_host)
            self._host_online = True
            if self._connected and not self._online:
                self._begin_session()
            return
        was_online = self._host_online
        self._host_online = False
        if was_online and self._connected:
            self._restart.set()

    def _begin_session(self) -> None:
        """NBIRTH and a DBIRTH per device and asset, then replay what was stored."""
        self._online = True
        self._current = False
        self._session_start_s = self._clock()
        self._cursor = 0
        self._births += 1
        self._birth_all()
        self._replay_wanted.set()

    def _end_session(self) -> None:
        self._online = self._current = False
        self._born.clear()
        self._unwritten.clear()  # never written: the outbox sends them again
        self._cursor = 0

    def _birth_all(self) -> None:
        self._seq = 0
        now = datetime.fromtimestamp(self._clock(), UTC)
        node = self._catalogue.node
        code = self._status_code(Quality.GOOD)
        readings = [Reading(self._node_values[spec.name], Quality.GOOD, now, code)
                    for spec in node]
        self._send(self._topics.node("NBIRTH"), payloads.birth(node, readings, _ms(now)))
        self._node_reported = dict(self._node_values)
        self._born.clear()
        for device in self._catalogue.devices:
            self._birth_device(device)

    def _birth_device(self, device: DeviceSpec) -> None:
        keys = [device.key(spec) for spec in device.metrics]
        readings = [self._latest[key] for key in keys]
        for key, reading in zip(keys, readings, strict=True):
            self._reported[key] = reading
        payload = payloads.birth(device.metrics, readings, _ms_now(self._clock))
        self._send(self._topics.device("DBIRTH", device.device_id), payload)
        self._born.add(device.device_id)

    def _reconcile(self) -> None:
        """Once current: a DBIRTH for each device back up, a DDEATH for each one down."""
        for device in self._catalogue.devices:
            up = self._link_up.get(device.device_id, True)
            born = device.device_id in self._born
            if up and not born:
                self._birth_device(device)
            elif born and not up:
                payload = payloads.data((), _ms_now(self._clock))
                self._send(self._topics.device("DDEATH", device.device_id), payload)
                self._born.discard(device.device_id)

    def _send(self, topic: str, payload: Any, *, historical: bool = False) -> int | None:
        """Stamp the next seq and hand the message to paho (QoS 0, not retained)."""
        assert self._link is not None  # noqa: S101 - run() checked it
        raw = payloads.stamped(payload, self._seq, _ms_now(self._clock), historical=historical)
        self._seq = (self._seq + 1) % 256
        return self._link.publish(topic, raw)

    def _report_node(self) -> None:
        """NDATA with the node's metrics that changed since they were last reported."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        code = self._status_code(Quality.GOOD)
        changes = [
            (spec, Reading(self._node_values[spec.name], Quality.GOOD, now, code), False)
            for spec in self._catalogue.node
            if self._node_values[spec.name] != self._node_reported.get(spec.name)
        ]
        if changes:
            self._node_reported.update(
                (spec.name, reading.value) for spec, reading, _ in changes)
            self._send(self._topics.node("NDATA"), payloads.data(changes, _ms(now)))

    # -- data: report by exception, straight out or stored --

    def _observe(self, key: str, reading: Reading,
                 changes: dict[str, list[tuple[MetricSpec, Reading, bool]]]) -> None:
        found = self._catalogue.find(key)
        if found is None:
            return  # not published: an asset output of a kind the asset has no model for
        device_id, spec = found
        self._latest[key] = reading
        last = self._reported.get(key)
        if last is not None and last.value == reading.value and last.quality == reading.quality:
            return
        with_quality = not reading.quality.is_good or (last is not None
                                                      and not last.quality.is_good)
        self._reported[key] = reading
        changes.setdefault(device_id, []).append((spec, reading, with_quality))

    def _report(self, changes: dict[str, list[tuple[MetricSpec, Reading, bool]]]) -> None:
        for device_id, metrics in changes.items():
            payload = payloads.data(metrics, _ms_now(self._clock))
            topic = self._topics.device("DDATA", device_id)
            if self._current:
                if device_id in self._born:  # a dead device's values wait for its DBIRTH
                    self._send(topic, payload)
                    self._published += 1
                continue
            self._keep(topic, payloads.named(payload, [spec for spec, _, _ in metrics]))

    def _keep(self, topic: str, payload: Any) -> None:
        if len(self._pending) >= PENDING_MAX:
            self._pending.popleft()
            self._dropped += 1
            self._log_once("overflow", f"more than {PENDING_MAX} data messages wait for the "
                           "outbox: the oldest are dropped")
        self._pending.append(Message(
            topic=topic, payload=bytes(payload.SerializeToString()), qos=0, retain=False,
            kind=Kind.TELEMETRY, message_id=str(uuid.uuid4()), created_s=self._clock()))
        self._store_wanted.set()

    async def _store(self) -> None:
        while True:
            await self._store_wanted.wait()
            self._store_wanted.clear()
            await self._flush_pending()
            self._replay_wanted.set()

    async def _flush_pending(self) -> None:
        while self._pending:
            batch = list(self._pending)
            self._pending.clear()
            self._storing = True
            try:
                await self._outbox.put_many(batch)
            except MessageRefused as refused:
                self._dropped += len(batch)
                self._log_once("disk", f"data messages not stored: {refused}")
            else:
                self._stored += len(batch)
            finally:
                self._storing = False

    async def _replay(self) -> None:
        """Send what the outbox holds, oldest first, while the session is up."""
        while True:
            await self._replay_wanted.wait()
            self._replay_wanted.clear()
            while self._online and not self._current:
                batch = await self._outbox.peek(REPLAY_BATCH, after=self._cursor)
                if not self._online:
                    break  # the session ended while the outbox was read
                for stored in batch:
                    self._cursor = stored.seq
                    if stored.seq in self._deleting:
                        continue
                    self._replay_one(stored.seq, stored.message)
                if batch:
                    await asyncio.sleep(0)  # let the loop breathe between batches
                    continue
                if self._pending or self._storing:
                    break  # the store task asks again once they are in the outbox
                self._current = True
                logger.info("Sparkplug: session up (bdSeq %d); stored data replayed",
                            self._bd_seq)
                self._reconcile()
                self._report_node()

    def _replay_one(self, outbox_seq: int, message: Message) -> None:
        device = self._catalogue.device(message.topic.rsplit("/", 1)[-1])
        payload = None
        if device is not None and device.device_id in self._born:
            payload = payloads.resolved(payloads.parse(message.payload), device.metrics)
        if payload is None:
            # A device or tags no longer configured: nothing to attach it to, so it goes.
            self.written_seq(outbox_seq)
            return
        historical = message.created_s < self._session_start_s
        mid = self._send(message.topic, payload, historical=historical)
        self._replayed += 1
        if mid is not None:
            self._unwritten[mid] = outbox_seq

    async def _delete(self) -> None:
        while True:
            await self._delete_wanted.wait()
            self._delete_wanted.clear()
            seqs, self._written_seqs = self._written_seqs, []
            try:
                await self._outbox.ack_many(seqs)
            finally:
                self._deleting.difference_update(seqs)

    # -- commands --

    async def _execute_commands(self) -> None:
        while True:
            topic, raw = await self._commands.get()
            try:
                await self._execute(topic, raw)
            except CommandError as error:
                self._refuse(topic, str(error))

    async def _execute(self, topic: str, raw: bytes) -> None:
        payload = payloads.parse(raw)
        if topic == self._topics.node("NCMD"):
            for metric in payload.metrics:
                name = metric.name or self._node_name(metric.alias)
                if name == REBIRTH and metric.WhichOneof("value") == "boolean_value" \
                        and metric.boolean_value:
                    self._rebirth()
                else:
                    self._refuse("NCMD", f"NCMD metric {name!r} is not a command of this node")
            return
        device_id = self._topics.commanded_device(topic)
        device = None if device_id is None else self._catalogue.device(device_id)
        if device is None:
            raise CommandError(f"DCMD for an unknown device ({topic!r})")
        for metric in payload.metrics:
            await self._command_write(device, metric)

    def _rebirth(self) -> None:
        if not self._online:
            return  # births follow anyway when the session begins
        logger.info("Sparkplug: rebirth requested by NCMD")
        self._births += 1
        self._birth_all()
        if self._current:
            self._reconcile()

    async def _command_write(self, device: DeviceSpec, metric: Any) -> None:
        spec = next((s for s in device.metrics
                     if (metric.name and s.name == metric.name)
                     or (not metric.name and metric.HasField("alias") and s.alias == metric.alias)),
                    None)
        if spec is None:
            raise CommandError(f"DCMD for {device.device_id!r}: no metric "
                               f"{metric.name or metric.alias!r}")
        key = device.key(spec)
        if not self._writes:
            self._refuse("writes", f"DCMD write of {key!r} refused: [sparkplug] writes is off")
            return
        if not device.polled or not spec.writable:
            self._refuse("writable", f"DCMD write of {key!r} refused: not writable")
            return
        value = payloads.command_value(metric, spec)
        try:
            await self._write(key, value)
        except WriteFailure as failure:
            self._refuse(f"write {failure.reason}", f"DCMD write of {key!r} failed: {failure}")
            return
        self._write_count += 1
        logger.info("Sparkplug: DCMD wrote %r = %r", key, value)

    def _node_name(self, alias: int) -> str:
        return next((spec.name for spec in self._catalogue.node if spec.alias == alias), "")

    def _refuse(self, reason: str, message: str) -> None:
        """Count a refused command metric and log it (_log_once)."""
        self._refused += 1
        self._log_once(reason, message)

    def _log_once(self, reason: str, message: str) -> None:
        """Log at WARNING the first time for its reason, then at DEBUG."""
        log = logger.debug if reason in self._refusals else logger.warning
        self._refusals.add(reason)
        log("Sparkplug: %s", message)


def _read_state(raw: bytes) -> tuple[bool, int]:
    """A STATE payload's online flag and timestamp; ValueError says what is wrong."""
    try:
        state = json.loads(raw)
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"not JSON ({error})") from None
    if not isinstance(state, dict):
        raise ValueError("not a JSON object")
    online, stamp = state.get("online"), state.get("timestamp")
    # tck-id-message-flow-edge-node-birth-publish-phid-wait-online: a boolean flag.
    if not isinstance(online, bool):
        raise ValueError(f"'online' must be true or false (got {online!r})")
    if not isinstance(stamp, int) or isinstance(stamp, bool) or stamp < 0:
        raise ValueError(f"'timestamp' must be milliseconds since 1970 (got {stamp!r})")
    return online, stamp


def _ms(time_: datetime) -> int:
    return payloads.epoch_ms(time_)


def _ms_now(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)

