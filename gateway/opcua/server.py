"""The gateway's OPC UA server: every enabled device's tags, their status, client writes,
the assets' model outputs, and the alarms as conditions."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self
from urllib.parse import urlsplit

from asyncua import Server, ua

from gateway.alarms import Alarm, AlarmEvent
from gateway.config.model import NO_SECURITY, AssetConfig, DeviceConfig, GatewayConfig
from gateway.core.sample import Sample
from gateway.core.score import Score
from gateway.core.status import DeviceStatus
from gateway.opcua.access import Access, Users
from gateway.opcua.address_space import DeviceNodes, GatewayNodes, TagNode, node_shape
from gateway.opcua.assets import AssetState, Update, optional_variables, property_values
from gateway.opcua.asyncua_internals import (
    AddressSpace,
    address_space,
    bound_url,
    check,
    replace_attribute_service,
    stop_clock,
    track_callers,
    use_certificate,
)
from gateway.opcua.audit import AuditTrail
from gateway.opcua.condition_methods import ConditionMethods
from gateway.opcua.conditions import AlarmHandler, Conditions
from gateway.opcua.datatypes import checked_value
from gateway.opcua.limits import apply_limits
from gateway.opcua.nodesets import import_nodesets
from gateway.opcua.notify import Notifier
from gateway.opcua.pki import (
    OwnCertificate,
    PkiFolders,
    TrustList,
    own_certificate,
    renew_if_due,
)
from gateway.opcua.standard_nodes import use_standard_nodes
from gateway.opcua.status import keeps_value, status_code
from gateway.opcua.uatypes import make_status, string_id
from gateway.opcua.units import UnitCatalogue
from gateway.opcua.writes import TagWriteService, WriteHandler

if TYPE_CHECKING:
    # numpy with it: a gateway without assets does not import it (issue #10).
    from analytics.manifest import Manifest

logger = logging.getLogger(__name__)

_GOOD = make_status(ua.StatusCodes.Good)
_WAITING = make_status(ua.StatusCodes.BadWaitingForInitialData)
CERTIFICATE_CHECK_S = 24 * 3600.0  # how often a running server looks at its certificate


class OpcuaServer:
    """The OPC UA server; an async context manager that starts on enter and stops on exit.

    Security (issue #14): the [opcua] security entries as endpoints, with the certificate
    and trust list of `<data_dir>/pki` (gateway.opcua.pki) when any entry is not None;
    sessions log in with a user of `users` (the web page's store) unless anonymous ones
    are allowed; gateway.opcua.access guards the rest. Remote admin is off (an admin
    may add and delete nodes through NodeManagement). What clients may ask is bounded by
    the [opcua] limits (gateway.opcua.limits).
    """

    def __init__(
        self,
        config: GatewayConfig,
        write_handler: WriteHandler,
        alarm_handler: AlarmHandler | None = None,
        users: Users | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        self._config = config
        self._users = users
        self._audit = audit  # records what clients change, with their user
        self.certificate: OwnCertificate | None = None  # once started with security
        self._write_handler = write_handler
        self._alarm_handler = alarm_handler
        self._server: Server | None = None
        self._nodes: GatewayNodes | None = None
        self._endpoint_url: str | None = None
        self._namespace_index: int | None = None
        self._devices: dict[str, DeviceNodes] = {}
        self._tags: dict[str, TagNode] = {}
        self._assets: dict[str, AssetState] = {}
        self._conditions: Conditions | None = None
        self._notifier = Notifier()
        self._units = UnitCatalogue()
        self._unknown_keys: set[str] = set()

    @property
    def endpoint_url(self) -> str:
        """The URL clients connect to; with port 0 configured, the port actually bound."""
        if self._endpoint_url is None:
            raise RuntimeError("the OPC UA server is not running")
        return self._endpoint_url

    @property
    def namespace_index(self) -> int:
        """The index of the configured namespace URI in the server's NamespaceArray."""
        if self._namespace_index is None:
            raise RuntimeError("the OPC UA server is not running")
        return self._namespace_index

    async def __aenter__(self) -> Self:
        opcua, gateway = self._config.opcua, self._config.gateway
        trust = None
        if any(entry != NO_SECURITY for entry in opcua.security):
            folders = PkiFolders(gateway.data_dir / "pki")
            self.certificate = await asyncio.to_thread(
                own_certificate, folders, f"urn:uvelka:{gateway.name}",
                host_names(opcua.endpoint), datetime.now(UTC), opcua.certificate_renew_days)
            trust = TrustList(folders)
        access = Access(opcua.security, opcua.anonymous, self._users, trust)
        server = Server(user_manager=access)  # type: ignore[arg-type]
        use_standard_nodes(server, self._config.gateway.data_dir)
        await server.init()
        # Before anything below reaches into asyncua: a release that moved one of its
        # internals fails here, naming it.
        check(server)
        name = self._config.gateway.name
        server.set_server_name(f"Uvelka gateway {name}")
        await server.set_application_uri(f"urn:uvelka:{name}")
        server.set_endpoint(opcua.endpoint)
        if self.certificate is not None:
            await server.load_certificate(str(self.certificate.cert))
            await server.load_private_key(str(self.certificate.key))
        access.install(server)
        server.allow_remote_admin(False)
        # Registered first, the configured namespace keeps index 2 whatever the NodeSets add.
        namespace_index = await server.register_namespace(self._config.opcua.namespace)
        types = await import_nodesets(server)
        aspace = address_space(server)
        self._nodes = GatewayNodes(aspace, namespace_index, name, self._units, types)
        replace_attribute_service(
            server,
            TagWriteService(
                aspace, namespace_index, self._tags, self._write_handler, self._audit
            ),
        )
        self._conditions = Conditions(
            server,
            self._notifier,
            namespace_index,
            string_id(name, namespace_index),
            (self._nodes.devices_folder, self._nodes.assets_folder),
        )
        ConditionMethods(server, self._conditions, self._alarm_handler, self._audit).link()
        track_callers(server)
        await apply_limits(server, self._config.opcua)
        self._server = server
        self._namespace_index = namespace_index
        try:
            for device in self._config.devices:
                if device.enabled:
                    await self.add_device(device)
            await server.start()
        except BaseException:
            self._reset()
            raise
        self._endpoint_url = bound_url(server)
        logger.info(
            "OPC UA server listening on %s (%d devices, %d tags)",
            self._endpoint_url,
            len(self._devices),
            len(self._tags),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server = self._server
        if server is None:
            return
        try:
            await self._notifier.aclose()
            await stop_clock(server)
        finally:
            await server.stop()
            self._reset()

    async def renew_certificate(self, now: datetime | None = None) -> OwnCertificate | None:
        """Renew the application certificate if it expires within [opcua]
        certificate_renew_days of `now` (default: the wall clock's) and serve with the new
        one at once; the new one, or None if none was due or the server has none.

        Never silently: a WARNING naming both thumbprints (gateway.opcua.pki), and an
        audit entry by "gateway"."""
        server, current = self._server, self.certificate
        if server is None or current is None:
            return None
        config = self._config
        renewed = await asyncio.to_thread(
            renew_if_due, PkiFolders(config.gateway.data_dir / "pki"),
            f"urn:uvelka:{config.gateway.name}", host_names(config.opcua.endpoint),
            now or datetime.now(UTC), config.opcua.certificate_renew_days)
        if renewed is None:
            return None
        await use_certificate(server, str(renewed.cert), str(renewed.key))
        self.certificate = renewed
        if self._audit is not None:
            await self._audit.record("gateway", "OPC UA certificate renewed",
                                     renewed.replaced or "")
        return renewed

    async def keep_certificate(self, interval_s: float = CERTIFICATE_CHECK_S) -> None:
        """Check the application certificate now and every `interval_s`, and renew it before
        it expires, for as long as the server runs (a gateway runs for years). A renewal
        that fails (a full disk) raises: the supervisor shows it and runs this again."""
        while True:
            await self.renew_certificate()
            await asyncio.sleep(interval_s)

    async def add_device(self, device: DeviceConfig) -> None:
        """Expose a device's tags and Status object (all BadWaitingForInitialData)."""
        nodes = self._require_nodes()
        if device.name in self._devices:
            raise ValueError(f"device {device.name!r} is already in the address space")
        built = nodes.build_device(device)
        self._devices[device.name] = built
        self._tags.update(built.tags)
        logger.info("device %r added to the address space (%d tags)", device.name, len(built.tags))

    async def remove_device(self, name: str) -> None:
        """Delete a device's nodes; clients monitoring them get BadNodeIdUnknown."""
        nodes = self._require_nodes()
        built = self._devices.pop(name)
        for key in built.tags:
            del self._tags[key]
        aspace = self._require_aspace()
        for attribute in built.value_attributes():
            self._notifier.forget(attribute, aspace)
        self._notifier.flush()
        nodes.remove_device(built)
        logger.info("device %r removed from the address space", name)

    async def update_device(self, old: DeviceConfig, new: DeviceConfig) -> None:
        """Bring an exposed device's nodes from its configuration `old` to `new`.

        A tag whose node `new` builds the same way (type, access, unit, range, description:
        address_space.node_shape) keeps its node, value and monitored items: when only its
        Modbus side changed, clients just see the values that follow. The other tags'
        nodes are deleted, their monitored items told BadNodeIdUnknown as in
        `remove_device`, and built again; new tags are added waiting for initial data.
        """
        nodes = self._require_nodes()
        if old.name != new.name:
            raise ValueError(f"cannot update device {old.name!r} to {new.name!r}: another name")
        built = self._devices[old.name]
        before = {tag.name: node_shape(tag) for tag in old.tags}
        kept = {tag.name for tag in new.tags if before.get(tag.name) == node_shape(tag)}
        dropped = [f"{old.name}.{tag.name}" for tag in old.tags if tag.name not in kept]
        aspace = self._require_aspace()
        for key in dropped:
            for attribute in built.tag_value_attributes(key):
                self._notifier.forget(attribute, aspace)
            del self._tags[key]
        self._notifier.flush()
        nodes.remove_tags(built, dropped)
        added = [tag for tag in new.tags if tag.name not in kept]
        nodes.add_tags(built, new, added)
        for tag in added:
            key = f"{new.name}.{tag.name}"
            self._tags[key] = built.tags[key]
        if old.poll_interval != new.poll_interval:
            nodes.set_sampling_interval(built, new.poll_interval)
        logger.info("device %r updated in the address space (%d tags kept, %d removed, %d added)",
                    new.name, len(kept), len(dropped), len(added))

    async def add_asset(self, asset: AssetConfig, kinds: Mapping[str, Manifest | None]) -> None:
        """Expose an asset with the variables of its models' kinds ("anomaly", "rul" ->
        the loaded model's manifest, None if it has none); outputs wait for initial data."""
        nodes = self._require_nodes()
        if asset.name in self._assets:
            raise ValueError(f"asset {asset.name!r} is already in the address space")
        if not kinds:
            raise ValueError(f"asset {asset.name!r} needs at least one model")
        built = nodes.build_asset(
            asset.name,
            optional_variables(kinds),
            property_values(kinds, self._units),
            asset.interval * 1000.0,
        )
        self._assets[asset.name] = AssetState.of(asset.name, built, kinds)
        logger.info("asset %r added to the address space (%s)", asset.name, ", ".join(kinds))

    async def remove_asset(self, name: str) -> None:
        """Delete an asset's nodes; clients monitoring them get BadNodeIdUnknown."""
        nodes = self._require_nodes()
        state = self._assets.pop(name)
        aspace = self._require_aspace()
        for attribute in state.nodes.value_attributes():
            self._notifier.forget(attribute, aspace)
        self._notifier.flush()
        nodes.remove_asset(state.nodes)
        logger.info("asset %r removed from the address space", name)

    def publish_scores(self, scores: Sequence[Score]) -> None:
        """Show model outputs: each score's value (or decision) with the status of its
        quality and the end of its input window as SourceTimestamp; LastScored."""
        now = datetime.now(UTC)
        assets = self._assets
        for score in scores:
            state = assets.get(score.asset)
            if state is None:
                self._unknown(score.asset)
                continue
            self._store(state.score_updates(score, now))
        self._notifier.flush()

    def publish_model(
        self, asset: str, kind: str, version: str | None, status: str, threshold: float | None
    ) -> None:
        """Show the running `kind` model's version (None: it has none), the outcome of its
        last (re)load and its threshold (an anomaly model's; None for a rul model)."""
        state = self._assets.get(asset)
        if state is None:
            self._unknown(asset)
            return
        self._store(state.model_updates(kind, version, status, threshold, datetime.now(UTC)))
        self._notifier.flush()

    def publish_maintenance(self, asset: str, finished: datetime | None) -> None:
        """Show when `asset`'s latest maintenance entry finished (None: it has none)."""
        state = self._assets.get(asset)
        if state is None:
            self._unknown(asset)
            return
        self._store([state.maintenance_update(finished, datetime.now(UTC))])
        self._notifier.flush()

    async def add_alarm(
        self, alarm: Alarm, *, asset: str | None = None, device: str | None = None
    ) -> None:
        """Expose an alarm as a condition below its asset's or device's object (exactly one
        of them, already added), in the alarm's current state."""
        conditions = self._require_conditions()
        nodes = self._require_nodes()
        name = alarm.rule.name
        if self._alarm_handler is None:
            raise RuntimeError("alarms need an alarm handler: OpcuaServer(..., alarm_handler)")
        if asset is not None and device is None:
            state = self._assets.get(asset)
            if state is None:
                raise ValueError(f"alarm {name!r}: asset {asset!r} is not exposed")
            conditions.add(alarm, state.nodes.nodeid, asset, nodes.assets_folder, True)
            logger.info("alarm %r added to the address space below asset %r", name, asset)
        elif device is not None and asset is None:
            built = self._devices.get(device)
            if built is None:
                raise ValueError(f"alarm {name!r}: device {device!r} is not exposed")
            conditions.add(alarm, built.nodeid, device, nodes.devices_folder, False)
            logger.info("alarm %r added to the address space below device %r", name, device)
        else:
            raise ValueError(f"alarm {name!r}: give exactly one of asset and device")

    async def remove_alarm(self, name: str) -> None:
        """Delete an alarm's condition; clients monitoring its variables get
        BadNodeIdUnknown. Remove an asset's or device's alarms before the asset or device."""
        self._require_conditions().remove(name)
        logger.info("alarm %r removed from the address space", name)

    async def fire_alarms(self, events: Sequence[AlarmEvent]) -> None:
        """Show alarm transitions: update each condition's variables and emit its event,
        in order. An event of an alarm not exposed (racing a remove_alarm) is logged once
        and dropped."""
        await self._require_conditions().fire(events)

    def _store(self, updates: Iterable[Update]) -> None:
        store = self._notifier.store
        for attribute, value, eu_span in updates:
            store(attribute, value, eu_span)

    def publish(self, samples: Sequence[Sample]) -> None:
        """Show a batch of changed values to clients; keys are "<device>.<tag>"."""
        now = datetime.now(UTC)
        tags = self._tags
        store = self._notifier.store_tag
        for sample in samples:
            tag = tags.get(sample.key)
            if tag is None:
                self._unknown(sample.key)
                continue
            quality = sample.quality
            shown = keeps_value(quality)
            value = checked_value(sample.value, tag.vtype) if shown else None
            store(tag.current, value, shown, status_code(quality), sample.source_time, now)
        self._notifier.flush()

    def publish_status(self, status: DeviceStatus) -> None:
        """Update a device's Status object."""
        device = self._devices.get(status.device)
        if device is None:
            self._unknown(status.device)
            return
        now = datetime.now(UTC)
        nodes = device.status
        # Sent after every poll cycle, where mostly the poll count and round trip change:
        # a variable keeps its value (and timestamps) until its field changes.
        shown = device.shown_status
        device.shown_status = status
        store = self._notifier.store_tag
        if shown is None or status.connected != shown.connected:
            store(nodes.connected, status.connected, True, _GOOD, now, now)
        if shown is None or status.last_error != shown.last_error:
            store(nodes.last_error, status.last_error, True, _GOOD, now, now)
        if shown is None or status.poll_count != shown.poll_count:
            store(nodes.poll_count, status.poll_count, True, _GOOD, now, now)
        if shown is None or status.error_count != shown.error_count:
            store(nodes.error_count, status.error_count, True, _GOOD, now, now)
        if shown is None or status.round_trip_s != shown.round_trip_s:
            if status.round_trip_s is None:
                # No response measured yet.
                store(nodes.round_trip_time, None, False, _WAITING, None, now)
            else:
                store(nodes.round_trip_time, status.round_trip_s * 1000.0, True, _GOOD, now, now)
        if shown is None or status.overruns != shown.overruns:
            store(nodes.overruns, status.overruns, True, _GOOD, now, now)
        self._notifier.flush()

    def _unknown(self, name: str) -> None:
        # A sample can race a remove_device; say so once per name, not per poll.
        if name not in self._unknown_keys:
            self._unknown_keys.add(name)
            logger.warning("publish for %r, which is not in the address space: ignored", name)

    def _require_nodes(self) -> GatewayNodes:
        if self._nodes is None:
            raise RuntimeError("the OPC UA server is not running")
        return self._nodes

    def _require_aspace(self) -> AddressSpace:
        if self._server is None:
            raise RuntimeError("the OPC UA server is not running")
        return address_space(self._server)

    def _require_conditions(self) -> Conditions:
        if self._conditions is None:
            raise RuntimeError("the OPC UA server is not running")
        return self._conditions

    def _reset(self) -> None:
        self._server = None
        self._nodes = None
        self._endpoint_url = None
        self._namespace_index = None
        self._conditions = None
        self._devices.clear()
        self._tags.clear()
        self._assets.clear()


def host_names(endpoint: str) -> list[str]:
    """The names clients may reach the server by, for its certificate's subjectAltName."""
    host = urlsplit(endpoint).hostname or ""
    names = [socket.gethostname(), socket.getfqdn(), "localhost"]
    if host and host not in ("0.0.0.0", "::"):  # noqa: S104 - compares, binds nothing
        names.insert(0, host)
    return names
