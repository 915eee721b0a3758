"""The composition root: builds the gateway from its configuration and runs it."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from drivers.registry import DRIVERS
from gateway.alarms.configured import RulScale, configured_alarms
from gateway.alarms.hub import AlarmHub, EventSink
from gateway.alarms.recent import RecentEvents
from gateway.alarms.saved import AlarmStateFile
from gateway.config.model import GatewayConfig, HistorySection, WebSection
from gateway.config.sources import SourceKind
from gateway.config.web_checks import web_settings
from gateway.core.clock import Clock, SystemClock
from gateway.core.failures import Failures
from gateway.core.sample import Sample
from gateway.core.score import Score
from gateway.core.status import DeviceStatus
from gateway.core.storage import StorageHealth
from gateway.mqtt.bridge import MqttBridge
from gateway.opcua.server import OpcuaServer
from gateway.page.device_editor import DeviceEditor
from gateway.page.facade import GatewayWebFacade
from gateway.page.model_manager import ModelManager
from gateway.runtime.asset_state import AssetStateStore
from gateway.runtime.assets import Assets, open_assets
from gateway.runtime.fleet import DeviceFleet
from gateway.runtime.model_slot import ModelSlot
from gateway.runtime.model_watch import ModelWatcher
from gateway.runtime.poller import PollerOptions
from gateway.runtime.scoring import ScoringEngine
from gateway.runtime.supervisor import Supervisor
from gateway.runtime.tag_cache import TagCache
from gateway.store.audit import AuditLog
from gateway.store.history import History
from gateway.store.history_points import score_points
from gateway.store.outbox import Outbox
from web.app import USERS, create_app, take_first_admin_password
from web.server import serve_web
from web.users import UserError, UserStore

logger = logging.getLogger(__name__)

# How often the files that could not be written (a full disk, issue #17) are tried again.
STORAGE_RETRY_S = 1.0
HISTORY = "history"  # its name in StorageHealth, /metrics and the page
WEB_USERS = "web users"


class Gateway:
    """Devices polled into an OPC UA server, with the assets' models and alarms, and MQTT
    for MES when configured, for as long as `serve` runs."""

    def __init__(
        self,
        config: GatewayConfig,
        clock: Clock | None = None,
        poller_options: PollerOptions | None = None,
        config_file: Path | None = None,
    ) -> None:
        self.config = config
        # The file `config` came from: device edits are saved there (issue #5).
        self.config_file = config_file
        self._server: OpcuaServer | None = None
        self._editor: DeviceEditor | None = None
        self.clock = clock or SystemClock()
        self.fleet = DeviceFleet(
            DRIVERS, self._publish, self._publish_status, self.clock, poller_options
        )
        self.cache = TagCache()
        # Issue #17: a sink that fails stops neither the poll loops nor the other sinks, and
        # a background task that fails is restarted (why: gateway.runtime.supervisor).
        self.sinks = Failures("sink", logger)
        self.supervisor = Supervisor()
        self.watcher: ModelWatcher | None = None
        self.alarms: AlarmHub | None = None
        self.bridge: MqttBridge | None = None
        # While serving: the tag history (None when [history] is disabled), the scoring
        # engine and the model manager.
        self.history: History | None = None
        self.scoring: ScoringEngine | None = None
        self.models: ModelManager | None = None
        self.latest_scores: dict[str, dict[str, Score]] = {}
        self.recent_alarm_events = RecentEvents()
        self.audit_log: AuditLog | None = None  # while the web page serves
        # What cannot be written under data_dir: reported, retried, never fatal (issue #17).
        self.storage = StorageHealth(config.gateway.data_dir)
        self._history_written = 0  # points the history had written when it last failed
        self._users: UserStore | None = None  # the web page's, while it serves
        self._assets: Assets | None = None
        self.started = asyncio.Event()
        # The web page, when configured: its bound port once it listens, and the admin
        # password generated at its first start (None when it came from the environment).
        self.web_port: int | None = None
        self.first_admin_password: str | None = None

    @property
    def alarm_hub(self) -> AlarmHub:
        if self.alarms is None:
            raise RuntimeError("the gateway is not serving")
        return self.alarms

    @property
    def server(self) -> OpcuaServer:
        if self._server is None:
            raise RuntimeError("the gateway is not serving")
        return self._server

    @property
    def devices_editor(self) -> DeviceEditor:
        if self._editor is None:
            raise RuntimeError("the gateway is not serving")
        return self._editor

    def _publish(self, samples: Sequence[Sample]) -> None:
        sinks = self.sinks
        sinks.call("cache", self.cache.update, samples)
        if self._server is not None:
            sinks.call("opcua", self._server.publish, samples)
        if self.alarms is not None:
            sinks.call("alarms", self.alarms.observe_samples, samples)
        if self.history is not None:
            # Queued as published, converted in the history's thread (issue #17).
            sinks.call("history", self.history.record_samples, tuple(samples))

    def _publish_scores(self, scores: Sequence[Score]) -> None:
        for score in scores:
            self.latest_scores.setdefault(score.asset, {})[score.kind] = score
        sinks = self.sinks
        if self._server is not None:
            sinks.call("opcua-scores", self._server.publish_scores, scores)
        if self.alarms is not None:
            sinks.call("alarms-scores", self.alarms.observe_scores, scores)
        if (history := self.history) is not None:
            sinks.call("history-scores", lambda s: history.record(score_points(s)), scores)

    def _publish_status(self, status: DeviceStatus) -> None:
        if self._server is not None:
            self.sinks.call("opcua-status", self._server.publish_status, status)

    def failing(self) -> list[str]:
        """One line per part failing now (issue #17), for the page."""
        groups = [self.supervisor.failures, self.sinks]
        if self.alarms is not None:
            groups.append(self.alarms.sink_health)
        if self.bridge is not None:
            groups.append(self.bridge.command_failures)
        return [f"{group.kind} {part} failing: {error}"
                for group in groups for part, error in group.failing().items()]

    def _publish_model(self, slot: ModelSlot) -> None:
        if self._server is not None:
            self._server.publish_model(slot.asset.name, slot.kind, slot.version, slot.status)

    async def serve(self) -> None:
        """Run until cancelled; `started` is set once the OPC UA server accepts clients."""
        config = self.config
        self._assets = assets = await open_assets(config)
        state_file = AlarmStateFile(config.gateway.data_dir / "alarms.json", self.storage)
        self.alarms = hub = await asyncio.to_thread(_alarm_hub, config, assets, self.clock,
                                                    state_file)
        async with AsyncExitStack() as stack:
            server = await stack.enter_async_context(OpcuaServer(config, self.fleet.write, hub))
            self._server = server
            stack.callback(self._forget_server)
            for scorer in assets.scorers:
                manifests = {slot.kind: None if slot.model is None else slot.model.manifest
                             for slot in scorer.slots}
                await server.add_asset(scorer.config, manifests)
            await _add_conditions(server, hub, config)
            sinks: list[EventSink] = []
            bridge = None
            if config.mqtt is not None:
                outbox = await stack.enter_async_context(Outbox.open(
                    config.gateway.data_dir / "outbox.sqlite",
                    max_messages=config.mqtt.outbox_max_messages,
                    max_age_s=config.mqtt.outbox_max_age,
                    health=self.storage,
                ))
                self.bridge = bridge = MqttBridge(config.mqtt, config.gateway.name, outbox,
                                                  hub.acknowledge)
                sinks.append(bridge.publish_alarms)  # durable first: see gateway.alarms.hub
            sinks.append(server.fire_alarms)
            sinks.append(self.recent_alarm_events)
            if config.history.enabled:
                self.history = await self._open_history(stack, config.history)
            store = AssetStateStore(config.gateway.data_dir / "assets", self.storage)
            self.scoring = engine = ScoringEngine(assets.scorers, self.cache,
                                                  self._publish_scores, store=store)
            self.watcher = watcher = ModelWatcher(
                assets.files, assets.slots, self._publish_model,
                config.analytics.reload_interval,
            )
            self.models = await ModelManager.open(
                assets.slots, config.gateway.data_dir / "models", assets.files, watcher,
                self.clock,
            )
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, watcher.request)
            stack.callback(loop.remove_signal_handler, signal.SIGHUP)
            page = None
            if config.web is not None:
                self.audit_log = await stack.enter_async_context(AuditLog.open(
                    config.gateway.data_dir / "audit.sqlite", health=self.storage))
                page = await self._web_page(config.web)
            stack.callback(self._forget_editor)
            # Everything built so far lives as long as the process: keep it out of the
            # collector's full passes, which otherwise stop the event loop for ~0.5 s every
            # 10-20 s at 15,000 tags (measured, bench/opcua_notify.py). Not the editor's
            # parsed file, opened next: an edit replaces it, and a frozen tree's reference
            # cycles would never be freed (bench/config_edit.py).
            gc.freeze()
            async with asyncio.TaskGroup() as group:
                # Before the web page's task: it may edit devices as soon as it serves.
                self._editor = await DeviceEditor.open(
                    self, group, self.fleet, server, hub, self.config_file
                )
                for device in config.devices:
                    self.fleet.start(group, device)
                keep = self.supervisor.keep_running
                group.create_task(keep("scoring", engine.run), name="scoring")
                group.create_task(keep("model-watch", watcher.run), name="model-watch")
                group.create_task(keep("alarms", functools.partial(hub.run, sinks)),
                                  name="alarms")
                if config.history.enabled:
                    history = functools.partial(self._keep_history, stack, config.history)
                    group.create_task(keep("history", history), name="history")
                retry = functools.partial(self._retry_storage, state_file)
                group.create_task(keep("storage-retry", retry), name="storage-retry")
                if page is not None:
                    group.create_task(keep("web", page), name="web")
                if bridge is not None and config.mqtt is not None:
                    group.create_task(keep("mqtt", bridge.run), name="mqtt")
                    reports = functools.partial(self._report_asset_states, bridge, hub,
                                                config.mqtt.state_interval)
                    group.create_task(keep("asset-states", reports), name="asset-states")
                logger.info("%s: serving %d devices, %d alarms at %s", config.gateway.name,
                            len(config.devices), len(hub.alarms), server.endpoint_url)
                self.started.set()

    async def _web_page(self, section: WebSection) -> Callable[[], Awaitable[None]]:
        """The web page, ready to serve (call it, again after a failure): its users and keys
        are kept under data_dir/web."""
        settings = web_settings(section, self.config.gateway.data_dir / "web")
        await asyncio.to_thread(settings.folder.mkdir, parents=True, exist_ok=True)
        app = await create_app(GatewayWebFacade(self), settings)
        self.first_admin_password = take_first_admin_password(app)
        self._users = users = app[USERS]
        if users.unsaved is not None:
            self.storage.failed(WEB_USERS, "save the web users", users.unsaved)
        return functools.partial(serve_web, app, settings, on_listening=self._web_listening)

    def _web_listening(self, port: int) -> None:
        self.web_port = port

    def model_slots(self) -> list[ModelSlot]:
        """The assets' running models (none before serve has loaded them)."""
        return [] if self._assets is None else self._assets.slots

    def units(self) -> dict[str, str]:
        """The engineering unit of each tag and asset output that has one, by key."""
        units = {f"{device.name}.{tag.name}": tag.unit
                 for device in self.config.devices for tag in device.tags if tag.unit}
        for slot in self.model_slots():
            if slot.kind == "rul" and slot.model is not None and slot.model.manifest.output_unit:
                units[f"{slot.asset.name}.RemainingUsefulLife"] = slot.model.manifest.output_unit
        return units

    def _forget_server(self) -> None:
        self._server = None

    def _forget_editor(self) -> None:
        self._editor = None

    async def _open_history(
        self, stack: AsyncExitStack, section: HistorySection
    ) -> History | None:
        """The tag history at data_dir/history.sqlite, open until `stack` closes; None
        (reported) when the file cannot be opened, as on a full disk (issue #17)."""
        try:
            history = await stack.enter_async_context(History.open(
                self.config.gateway.data_dir / "history.sqlite",
                retention_s=section.retention,
                flush_interval_s=section.flush_interval,
                max_pending=section.max_pending,
                clock=self._epoch_s,
                health=self.storage,
            ))
        except Exception as error:
            self.storage.absorb(HISTORY, "open the history file", error)
            return None
        stack.callback(self._forget_history)  # runs first: nothing records into a closed file
        return history

    async def _keep_history(self, stack: AsyncExitStack, section: HistorySection) -> None:
        """Run the history; open it first if it could not be, and when a write fails (a
        full disk), report it and run it again after a pause: the gateway goes on without
        recording meanwhile (issue #17)."""
        while True:
            if self.history is None:
                self.history = await self._open_history(stack, section)
            if self.history is not None:
                try:
                    await self.history.run()
                except Exception as error:
                    self.storage.absorb(HISTORY, "write the history", error)
                    self._history_written = self.history.stats.written
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        return  # its last flush on the way out failed
                else:
                    return
            await asyncio.sleep(STORAGE_RETRY_S)

    async def _retry_storage(self, state_file: AlarmStateFile) -> None:
        """Write again what waits for disk space: the alarm states, the audit rows."""
        while True:
            await asyncio.sleep(STORAGE_RETRY_S)
            history = self.history
            if history is not None and history.stats.written > self._history_written:
                self.storage.ok(HISTORY)  # it wrote since it last failed
            if state_file.unsaved:
                await asyncio.to_thread(state_file.retry)
            if self.audit_log is not None and self.audit_log.waiting():
                await self.audit_log.retry()
            if self._users is not None and self._users.unsaved is not None:
                await self._save_users_again(self._users)

    async def _save_users_again(self, users: UserStore) -> None:
        try:
            await users.save_again()
        except UserError as error:
            self.storage.failed(WEB_USERS, "save the web users", error.__cause__ or error)
        else:
            self.storage.ok(WEB_USERS)

    def _forget_history(self) -> None:
        self.history = None

    def _epoch_s(self) -> float:
        return self.clock.now().timestamp()

    async def _report_asset_states(
        self, bridge: MqttBridge, hub: AlarmHub, interval_s: float
    ) -> None:
        """Send each asset's retained MQTT state every `interval_s` while the broker is there.

        A state only matters until the next one: queueing them through an outage would
        only delay the alarms behind them when the broker comes back.
        """
        while True:
            await asyncio.sleep(interval_s)
            if not bridge.stats.connected:
                continue
            now = self.clock.now()
            for asset in self.config.assets:
                scores = self.latest_scores.get(asset.name, {})
                await bridge.publish_asset_state(asset.name, scores, hub.standing(asset.name), now)


def _alarm_hub(
    config: GatewayConfig, assets: Assets, clock: Clock, state_file: AlarmStateFile
) -> AlarmHub:
    """The configured alarms in their saved states (blocking: reads the state file)."""
    rul_scales = {
        slot.asset.name: RulScale(slot.model.manifest.score_range[1],
                                  slot.model.manifest.output_unit)
        for slot in assets.slots
        if slot.kind == "rul" and slot.model is not None
    }
    watched = configured_alarms(config, rul_scales)
    return AlarmHub(watched, state_file, clock)


async def _add_conditions(server: OpcuaServer, hub: AlarmHub, config: GatewayConfig) -> None:
    """Each alarm as an OPC UA condition under its asset or device."""
    enabled = {device.name for device in config.devices if device.enabled}
    for name, alarm in hub.alarms.items():
        source = hub.sources[name]
        if source.kind is SourceKind.ASSET:
            await server.add_alarm(alarm, asset=source.owner)
        elif source.owner in enabled:
            await server.add_alarm(alarm, device=source.owner)
        else:
            logger.info("alarm %r: device %r is disabled, so the alarm has no OPC UA "
                        "condition and waits for initial data", name, source.owner)


async def run_until_signalled(*jobs: Coroutine[Any, Any, None]) -> None:
    """Run jobs together until one fails or SIGTERM/SIGINT arrives; then stop them cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(job) for job in jobs]
            await stop.wait()
            logger.info("stopping")
            for task in tasks:
                task.cancel()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    logger.info("stopped")
