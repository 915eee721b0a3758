"""The running gateway as one immutable bundle of its parts, built by `Gateway.serve` and
handed to the web page's side."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.alarms.hub import AlarmHub
from gateway.alarms.recent import RecentEvents
from gateway.core.clock import Clock
from gateway.core.failures import Failures
from gateway.core.storage import StorageHealth
from gateway.opcua.server import OpcuaServer
from gateway.page.device_editor import DeviceEditor, RunningConfig
from gateway.page.label_desk import LabelDesk
from gateway.page.maintenance_desk import MaintenanceDesk
from gateway.page.model_manager import ModelManager
from gateway.page.model_shadow import ShadowModels
from gateway.page.training_jobs import TrainingJobs
from gateway.runtime.assets import Assets
from gateway.runtime.fanout import Fanout
from gateway.runtime.fleet import DeviceFleet
from gateway.runtime.history_keeper import HistoryKeeper
from gateway.runtime.model_watch import ModelWatcher
from gateway.runtime.score_cache import ScoreCache
from gateway.runtime.supervisor import Supervisor
from gateway.runtime.tag_cache import TagCache
from gateway.store.audit import AuditLog

if TYPE_CHECKING:
    # Imported only by a gateway that uses them (gateway.app, issue #10): paho with [mqtt],
    # the web stack with [web], numpy and the scorers with assets.
    from gateway.export.exporter import ClickhouseExporter
    from gateway.mqtt.bridge import MqttBridge
    from gateway.notify.outlets import Notifications
    from gateway.notify.telegram.linking import Linking
    from gateway.notify.telegram.service import Telegram
    from gateway.page.bell import Bell
    from gateway.page.site import WebPage
    from gateway.runtime.scoring import ScoringEngine
    from gateway.sparkplug.node import SparkplugNode


@dataclass(frozen=True, slots=True, kw_only=True)
class Running:
    """The parts of a serving gateway. A part is None only when the configuration leaves
    it out, never while waiting to be built."""

    config: RunningConfig
    clock: Clock
    started: asyncio.Event  # set once OPC UA clients are accepted
    storage: StorageHealth  # what cannot be written under data_dir (issue #17)
    supervisor: Supervisor
    cache: TagCache
    scores: ScoreCache
    fanout: Fanout
    fleet: DeviceFleet
    server: OpcuaServer
    hub: AlarmHub
    recent_alarm_events: RecentEvents
    assets: Assets
    scoring: ScoringEngine | None  # without assets
    watcher: ModelWatcher
    models: ModelManager
    shadows: ShadowModels  # candidates in shadow and the model timeline (issue #12)
    editor: DeviceEditor
    maintenance: MaintenanceDesk
    training: TrainingJobs  # models trained from the history (issue #12)
    bridge: MqttBridge | None  # without [mqtt]
    history: HistoryKeeper | None  # with [history] enabled = false
    audit_log: AuditLog | None  # without [web]
    labels: LabelDesk  # expert labels and alarm verdicts (issue #12)
    web: WebPage | None  # without [web]
    telegram: Linking | None  # Telegram accounts linked to users; without [telegram]
    bell: Bell | None = None  # the page's notification list; without [web] (issue #15)
    notifications: Notifications | None = None  # the notifier and its channels (issue #15)
    edge: SparkplugNode | None = None  # the Sparkplug B edge node; without [sparkplug]
    exporter: ClickhouseExporter | None = None  # without [export.clickhouse] (#16)
    telegram_parts: Telegram | None = None  # the bot's counts and board; without [telegram]

    def failures(self) -> list[Failures]:
        """The parts whose failures are contained (issue #17), by kind."""
        groups = [self.supervisor.failures, self.fanout.failures, self.hub.sink_health]
        if self.bridge is not None:
            groups.append(self.bridge.command_failures)
        return groups
