"""The composition root: builds the gateway's parts from its configuration, runs them in one
TaskGroup, and owns the process's signals."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.registry import DRIVERS
from gateway.alarms.configured import RulScale, configured_alarms
from gateway.alarms.hub import AlarmHub, EventSink
from gateway.alarms.recent import RecentEvents
from gateway.alarms.saved import AlarmStateFile
from gateway.config.model import GatewayConfig
from gateway.core.clock import Clock, SystemClock
from gateway.core.status import DeviceStatus
from gateway.core.storage import StorageHealth
from gateway.notify.notifier import FinishedJob
from gateway.notify.outlets import ChannelAudiences, email_channel, open_notifications
from gateway.opcua.condition_sources import add_conditions
from gateway.opcua.server import OpcuaServer
from gateway.page.bell import Bell
from gateway.page.device_editor import DeviceEditor, RunningConfig
from gateway.page.label_desk import LabelDesk
from gateway.page.maintenance_desk import MaintenanceDesk
from gateway.page.model_manager import ModelManager
from gateway.page.model_shadow import ShadowModels
from gateway.page.running import Running
from gateway.page.training_jobs import FINISHED, TrainingJobs, archived_as_candidate
from gateway.runtime.assets import Assets, open_assets
from gateway.runtime.fanout import Fanout
from gateway.runtime.fleet import DeviceFleet
from gateway.runtime.heap_trim import trim_heap
from gateway.runtime.history_keeper import HistoryKeeper
from gateway.runtime.model_slot import ModelSlot
from gateway.runtime.model_watch import ModelWatcher
from gateway.runtime.poller import PollerOptions
from gateway.runtime.score_cache import ScoreCache
from gateway.runtime.storage_retry import alarm_states, audit_rows, retry_storage
from gateway.runtime.supervisor import Supervisor
from gateway.runtime.tag_cache import TagCache
from gateway.store.audit import AuditLog
from gateway.store.labels import FILE_NAME as LABELS_FILE
from gateway.store.labels import LabelStore
from gateway.store.maintenance_log import MaintenanceLog
from gateway.store.notification_feed import NotificationFeedStore
from gateway.store.outbox import Outbox
from web.i18n import Language
from web.users import UserStore

if TYPE_CHECKING:
    from gateway.export.exporter import ClickhouseExporter
    from gateway.mqtt.bridge import MqttBridge
    from gateway.notify.telegram.service import Telegram
    from gateway.runtime.scoring import ScoringEngine
    from gateway.sparkplug.node import SparkplugNode

logger = logging.getLogger(__name__)


class Gateway:
    """Devices polled into an OPC UA server, with the assets' models and alarms, and MQTT
    for MES when configured, for as long as `serve` runs."""

    def __init__(
        self,
        config: GatewayConfig,
        clock: Clock | None = None,
        poller_options: PollerOptions | None = None,
        config_file: Path | None = None,
        page_language: Language | None = None,
    ) -> None:
        self._config = RunningConfig(config)
        # The web page's default language when not [gateway] language's: the tests read the
        # English page whatever their configuration says, and edit that configuration.
        self._page_language = page_language
        # The file `config` came from: device edits are saved there (issue #5).
        self._config_file = config_file
        self._clock = clock or SystemClock()
        self._poller_options = poller_options
        self.started = asyncio.Event()
        self._running: Running | None = None  # while `serve` runs

    @property
    def config(self) -> GatewayConfig:
        """The configuration running now (the device editor may have changed its devices)."""
        return self._config.current

    @property
    def running(self) -> Running:
        """The gateway's parts while `serve` runs."""
        if self._running is None:
            raise RuntimeError("the gateway is not serving")
        return self._running

    async def serve(self) -> None:
        """Run until cancelled; `started` is set once the OPC UA server accepts clients."""
        config, clock = self._config.current, self._clock
        data_dir = config.gateway.data_dir
        # What cannot be written under data_dir: reported, retried, never fatal (issue #17).
        storage = StorageHealth(data_dir)
        assets = await open_assets(config)
        state_file = AlarmStateFile(data_dir / "alarms.json", storage)
        hub = await asyncio.to_thread(_alarm_hub, config, assets, clock, state_file)
        recent_alarm_events = RecentEvents()
        # The fleet publishes through the fan-out, which feeds the server built next: no
        # device is polled before `fanout` is bound below (fleet.start, in the TaskGroup).
        fleet = DeviceFleet(DRIVERS, lambda samples: fanout.samples(samples),
                            lambda status: status_changed(status), clock, self._poller_options)
        async with AsyncExitStack() as stack:
            # OPC UA logs in the web page's users (issue #14): its own reader of their
            # file, which the page or `uvelka users` creates.
            opcua_users, _ = await UserStore.open(data_dir / "web", create=False)
            audit_log = None
            if config.web is not None:
                # Before the server: OPC UA clients' writes, acknowledgements and shelving
                # are recorded with their user, as the page's changes are (issue #14).
                audit_log = await stack.enter_async_context(
                    AuditLog.open(data_dir / "audit.sqlite", health=storage))
            server = await stack.enter_async_context(
                OpcuaServer(config, fleet.write, hub, opcua_users, audit_log))
            for scorer in assets.scorers:
                manifests = {slot.kind: None if slot.model is None else slot.model.manifest
                             for slot in scorer.slots}
                await server.add_asset(scorer.config, manifests)
            await add_conditions(server, hub, config.devices)
            labels = LabelDesk(
                await stack.enter_async_context(LabelStore.open(
                    data_dir / LABELS_FILE, clock=clock.now, health=storage)),
                [a.name for a in config.assets], hub.sources, clock)
            sinks: list[EventSink] = []
            bridge: MqttBridge | None = None
            if config.mqtt is not None:
                # paho and the bridge only with [mqtt], as the web stack with [web] below
                # (issue #10).
                from gateway.mqtt.bridge import MqttBridge  # noqa: PLC0415

                outbox = await stack.enter_async_context(Outbox.open(
                    data_dir / "outbox.sqlite",
                    max_messages=config.mqtt.outbox_max_messages,
                    max_age_s=config.mqtt.outbox_max_age,
                    health=storage,
                ))
                bridge = MqttBridge(config.mqtt, config.gateway.name, outbox, hub.acknowledge,
                                    judge=labels.judge_latest)
                sinks.append(bridge.publish_alarms)  # durable first: see gateway.alarms.hub
            sinks.append(server.fire_alarms)
            sinks.append(recent_alarm_events)
            sinks.append(labels.record)  # last: the page and OPC UA wait for no disk
            history = None
            if config.history.enabled:
                history = await stack.enter_async_context(HistoryKeeper(
                    data_dir / "history.sqlite", config.history,
                    lambda: clock.now().timestamp(), storage,
                ))
            edge: SparkplugNode | None = None
            if config.sparkplug is not None and config.sparkplug.enabled:
                # The Sparkplug B edge node (issue #16), with protobuf, only when enabled.
                from gateway.sparkplug.edge import edge_node  # noqa: PLC0415

                edge = await stack.enter_async_context(edge_node(
                    config, fleet.write, storage, running=lambda: self._config.current))
            exporter: ClickhouseExporter | None = None
            if config.export is not None and config.export.clickhouse is not None:
                # The history to ClickHouse through its outbox (issue #16), aiohttp's
                # client with it.
                from gateway.export.exporter import clickhouse_exporter  # noqa: PLC0415

                exporter = await stack.enter_async_context(
                    clickhouse_exporter(config, storage))
            cache, scores = TagCache(), ScoreCache()
            fanout = Fanout(cache, scores, server, hub, history, edge, exporter)
            scoring: ScoringEngine | None = None
            if assets.scorers:
                # The scoring engine and numpy with the assets, as their scorers
                # (gateway.runtime.assets, issue #10).
                from gateway.runtime.asset_state import AssetStateStore  # noqa: PLC0415
                from gateway.runtime.scoring import ScoringEngine  # noqa: PLC0415

                scoring = ScoringEngine(
                    assets.scorers, cache, fanout.scores,
                    store=AssetStateStore(data_dir / "assets", storage),
                    # Candidates in shadow: to the history alone (issue #12).
                    shadow_sink=None if history is None else history.record_scores)

            def model_changed(slot: ModelSlot) -> None:
                fanout.model(slot)
                shadows.slot_changed(slot)  # bound below, before the watcher runs
                notifier.model_changed(slot.asset.name, slot.kind, slot.status)  # as shadows

            watcher = ModelWatcher(assets.files, assets.slots, model_changed,
                                   config.analytics.reload_interval)
            models = await ModelManager.open(
                assets.slots, data_dir / "models", assets.files, watcher, clock)
            shadows = await ShadowModels.open(data_dir, models, scoring, assets.slots, hub,
                                              history is not None, clock, storage)
            # Models trained from the history, each in a child process (issue #12).
            training = await asyncio.to_thread(
                TrainingJobs.open, data_dir / "training", data_dir,
                store=archived_as_candidate(models))
            maintenance_log = await stack.enter_async_context(
                MaintenanceLog.open(data_dir / "maintenance.sqlite", health=storage))
            maintenance = MaintenanceDesk(maintenance_log, [a.name for a in config.assets],
                                          scoring, server, bridge, clock)
            await maintenance.show_latest()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGHUP, watcher.request)
            stack.callback(loop.remove_signal_handler, signal.SIGHUP)
            web, bell = None, None
            if config.web is not None:
                # The web stack (aiohttp and its sessions, the templates, prometheus_client)
                # is imported by a gateway that serves the page, not by every gateway
                # (issue #10, bench/README.md "Footprint").
                from gateway.page.site import WebPage  # noqa: PLC0415

                language = self._page_language or config.gateway.language
                web = WebPage(config.web, data_dir, storage, language)
                # The page's notification bell (issue #15).
                bell = Bell(await stack.enter_async_context(NotificationFeedStore.open(
                    data_dir / "notify" / "feed.sqlite", health=storage)))
            telegram: Telegram | None = None
            if config.telegram is not None:
                # aiohttp's client and the bot only with [telegram] (issue #10's footprint).
                from gateway.notify.telegram.service import open_telegram  # noqa: PLC0415

                telegram = await stack.enter_async_context(
                    open_telegram(config.telegram, data_dir, clock))
            # Notifications by e-mail and Telegram, each through its outbox (issue #15).
            channels = [c for c in [await email_channel(config)] if c is not None]
            if telegram is not None:
                channels.append(ChannelAudiences(telegram.channel, [
                    (str(chat.chat_id), chat) for chat in telegram.section.chats],
                    on_sent=telegram.board.sent))
                # It only queues the edits that show an acknowledgement; before the labels,
                # which stay last.
                sinks.insert(sinks.index(labels.record), telegram.board.alarm_events)
            notifications = await stack.enter_async_context(open_notifications(
                config, channels, hub.sources, scores.of, _units(config, assets), clock=clock,
                storage=storage, feed=bell, jobs=lambda: _finished_jobs(training)))
            notifier = notifications.notifier
            notifier.seed(hub.retained())
            # On disk before the hub saves its states, as the bridge's (gateway.alarms.hub).
            sinks.insert(1 if bridge is not None else 0, notifier.alarm_events)

            def status_changed(status: DeviceStatus) -> None:
                fanout.status(status)
                notifier.device_status(status)

            stack.callback(self._stopped)
            # Everything built so far lives as long as the process: keep it out of the
            # collector's full passes, which otherwise stop the event loop for ~0.5 s every
            # 10-20 s at 15,000 tags (measured, bench/opcua_notify.py). Not the editor's
            # file, opened next, nor the tree its first edit parses: an edit replaces them,
            # and a frozen tree's reference cycles would never be freed
            # (bench/config_edit.py).
            gc.freeze()
            # What is built after this (the editor's file, clients' monitored items:
            # ~830,000 objects at 15,000 tags) still goes through full passes of ~0.7 s.
            # With the default young threshold (700) a poll-heavy loop promotes enough to
            # start one every 3-10 s, and those stalls set the latency p99 (199 ms in
            # bench/poll.py --scenario B); at 50,000 they are rare (p99 12 ms) and cyclic
            # garbage is still collected (issue #17).
            gc.set_threshold(50_000, 20, 10)
            async with asyncio.TaskGroup() as group:
                editor = await DeviceEditor.open(
                    self._config, group, fleet, server, hub, self._config_file)
                running = self._running = Running(
                    config=self._config, clock=clock, started=self.started, storage=storage,
                    supervisor=Supervisor(), cache=cache, scores=scores, fanout=fanout,
                    fleet=fleet, server=server, hub=hub,
                    recent_alarm_events=recent_alarm_events, assets=assets, scoring=scoring,
                    watcher=watcher, models=models, shadows=shadows, editor=editor,
                    maintenance=maintenance, training=training,
                    bridge=bridge,
                    history=history, audit_log=audit_log, labels=labels, web=web,
                    telegram=None if telegram is None else telegram.linking, bell=bell,
                    notifications=notifications, edge=edge, exporter=exporter,
                    telegram_parts=telegram,
                )
                if web is not None:
                    # Before its task, and with the editor open: it may edit devices as
                    # soon as it serves.
                    await web.open(running)
                for device in config.devices:
                    fleet.start(group, device)
                retries = [alarm_states(state_file), maintenance.retry, labels.retry]
                if history is not None:
                    retries.append(history.retry)
                if audit_log is not None:
                    retries.append(audit_rows(audit_log))
                if web is not None:
                    retries.append(web.retry)
                if bell is not None:
                    retries.append(bell.retry)
                tasks: dict[str, Callable[[], Awaitable[None]]] = {}
                if scoring is not None:
                    tasks["scoring"] = scoring.run
                tasks["model-watch"] = watcher.run
                # Renewed before it expires, without a restart (issue #14).
                tasks["opcua-certificate"] = server.keep_certificate
                tasks["model-timeline"] = shadows.run
                tasks["training"] = training.run
                tasks["alarms"] = functools.partial(hub.run, sinks)
                tasks.update(notifications.tasks())
                if bell is not None:
                    tasks["notify-bell"] = bell.run
                if history is not None:
                    tasks["history"] = history.run
                tasks["storage-retry"] = functools.partial(retry_storage, retries)
                # Free C heap pages back to the system: without it the RSS crept ~1 MiB/h
                # with nothing live growing (issue #14, gateway/runtime/heap_trim.py).
                tasks["heap-trim"] = trim_heap
                if web is not None:
                    tasks["web"] = web.serve
                if telegram is not None:
                    # Presses act as the page's buttons do: through its facade (audited).
                    from gateway.page.facade import GatewayWebFacade  # noqa: PLC0415

                    tasks["telegram-bot"] = telegram.bot(
                        hub, GatewayWebFacade(running), config.notify_language, clock).run
                if edge is not None:
                    tasks["sparkplug"] = edge.run
                if exporter is not None:
                    tasks["export-clickhouse"] = exporter.run
                if bridge is not None and config.mqtt is not None:
                    from gateway.mqtt.asset_states import report_asset_states  # noqa: PLC0415

                    tasks["mqtt"] = bridge.run
                    tasks["asset-states"] = functools.partial(
                        report_asset_states, bridge, [asset.name for asset in config.assets],
                        scores.of, hub, clock, config.mqtt.state_interval)
                for name, run in tasks.items():
                    group.create_task(running.supervisor.keep_running(name, run), name=name)
                logger.info("%s: serving %d devices, %d alarms at %s", config.gateway.name,
                            len(config.devices), len(hub.alarms), server.endpoint_url)
                self.started.set()

    def _stopped(self) -> None:
        self._running = None


def _units(config: GatewayConfig, assets: Assets) -> dict[str, str]:
    """The unit of each alarm source that has one: tags', and RUL models' outputs."""
    units = {f"{device.name}.{tag.name}": tag.unit
             for device in config.devices for tag in device.tags if tag.unit}
    for slot in assets.slots:
        if slot.kind == "rul" and slot.model is not None and slot.model.manifest.output_unit:
            units[f"{slot.asset.name}.RemainingUsefulLife"] = slot.model.manifest.output_unit
    return units


def _finished_jobs(training: TrainingJobs) -> list[FinishedJob]:
    return [FinishedJob(job.id, job.request.asset, job.request.kind, job.state, job.reason)
            for job in training.jobs() if job.state in FINISHED]


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
