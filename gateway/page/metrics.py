"""The gateway's metrics for /metrics, in the Prometheus text format (version 0.0.4).

prometheus_client writes the text (names, label escaping, numbers); this module only says
what to expose. Decisions a reader will wonder about:

- A custom collector, not Counter/Gauge objects: the parts already keep their counters
  (device status, bridge stats, ...), so `GatewayMetrics.collect` reads them at scrape
  time and nothing here counts by itself or can drift from what the page shows.
- A private `CollectorRegistry` per gateway, never the process-global default registry:
  nothing registers itself at import time, and two gateways in one process (tests) each
  serve their own state.
- No `_created` series, and no process-global switch to turn them off: prometheus_client
  adds them only for a counter family given a `created` time, which these never are.
  A counter family is named without `_total`; prometheus_client appends it when it writes.
- Every value is written as a float (`1.0`), as prometheus_client writes numbers.
- No process or platform collectors (process_*, python_info): they describe the Python
  process rather than the plant, and the machine's own exporter reports them anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from gateway.alarms.events import AlarmState
from gateway.alarms.hub import AlarmHub
from gateway.core.failures import Failures
from gateway.core.status import DeviceStatus
from gateway.core.storage import StorageHealth
from gateway.page.running import Running
from gateway.runtime.model_slot import ModelSlot
from gateway.store.history import HistoryStats

if TYPE_CHECKING:
    # paho with the one, numpy with the other: a gateway without [mqtt] or without assets
    # does not import them (issue #10).
    from gateway.export.exporter import ClickhouseExporter
    from gateway.mqtt.bridge import BridgeStats
    from gateway.notify.outlets import Notifications
    from gateway.notify.telegram.service import Telegram
    from gateway.runtime.scoring import InferenceStats
    from gateway.sparkplug.node import NodeStats


class GatewayMetrics(Collector):
    """The running gateway's metric families, read from its parts at each scrape."""

    def __init__(self, running: Running) -> None:
        self._running = running
        # auto_describe off: registering would otherwise collect once just to learn the
        # names, and this registry holds nothing else for them to collide with.
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self)

    def collect(self) -> Iterator[Metric]:
        running = self._running
        yield from device_metrics(poller.status() for poller in running.fleet.pollers.values())
        yield from failure_metrics(running.supervisor.failures,
                                   [running.fanout.failures, running.hub.sink_health])
        yield from alarm_metrics(running.hub)
        if running.bridge is not None:
            yield from mqtt_metrics(running.bridge.stats)
        yield from inference_metrics({} if running.scoring is None else running.scoring.inference)
        yield from model_metrics(running.assets.slots)
        if running.history is not None and (history := running.history.current) is not None:
            yield from history_metrics(history.stats)
        yield from storage_metrics(running.storage)
        if running.notifications is not None:
            yield from notification_metrics(running.notifications)
        if running.telegram_parts is not None:
            yield from telegram_metrics(running.telegram_parts)
        if running.edge is not None:
            yield from sparkplug_metrics(running.edge.stats)
        if running.exporter is not None:
            yield from export_metrics(running.exporter)

    def text(self) -> str:
        """Every metric in the Prometheus text format, version 0.0.4."""
        return generate_latest(self._registry).decode()


def device_metrics(statuses: Iterable[DeviceStatus]) -> list[Metric]:
    labels = ["device"]
    connected = GaugeMetricFamily("uvelka_device_connected", "1 while the device answers",
                                  labels=labels)
    polls = CounterMetricFamily("uvelka_device_polls", "Poll cycles run", labels=labels)
    errors = CounterMetricFamily("uvelka_device_errors", "Poll cycles that failed",
                                 labels=labels)
    overruns = CounterMetricFamily("uvelka_device_overruns",
                                   "Poll cycles that ended after the next one was due",
                                   labels=labels)
    round_trip = GaugeMetricFamily("uvelka_device_round_trip_seconds",
                                   "Round-trip time of the last successful request",
                                   labels=labels)
    unexpected = CounterMetricFamily(
        "uvelka_device_unexpected_errors",
        "Failures of the device loop that were not link or device errors", labels=labels)
    for status in statuses:
        device = [status.device]
        connected.add_metric(device, float(status.connected))
        polls.add_metric(device, status.poll_count)
        errors.add_metric(device, status.error_count)
        overruns.add_metric(device, status.overruns)
        unexpected.add_metric(device, status.unexpected_errors)
        if status.round_trip_s is not None:
            round_trip.add_metric(device, status.round_trip_s)
    return [connected, polls, errors, overruns, round_trip, unexpected]


def alarm_metrics(hub: AlarmHub) -> list[Metric]:
    states = GaugeMetricFamily("uvelka_alarms", "Alarms by ISA-18.2 state", labels=["state"])
    for state in AlarmState:
        count = sum(1 for alarm in hub.alarms.values() if alarm.state is state)
        states.add_metric([state.value], count)
    failures = CounterMetricFamily("uvelka_alarm_events_undelivered",
                                   "Alarm events a sink failed to take", labels=["sink"])
    for sink, count in hub.sink_failures.items():
        failures.add_metric([sink], count)
    return [states, failures]


def failure_metrics(tasks: Failures, sinks: Iterable[Failures]) -> list[Metric]:
    """Failures the gateway contained (issue #17): background tasks it restarted, calls of
    sinks that raised (the poll loops' fan-out, the alarm hub's sinks)."""
    task_failures = CounterMetricFamily("uvelka_task_failures",
                                        "Times a background task failed and was restarted",
                                        labels=["task"])
    for task, health in sorted(tasks.parts.items()):
        task_failures.add_metric([task], health.failures)
    sink_failures = CounterMetricFamily(
        "uvelka_sink_failures", "Calls of a sink that failed; the other sinks still got the data",
        labels=["sink"])
    for group in sinks:
        for sink, health in sorted(group.parts.items()):
            sink_failures.add_metric([sink], health.failures)
    return [task_failures, sink_failures]


def mqtt_metrics(stats: BridgeStats) -> list[Metric]:
    commands = CounterMetricFamily("uvelka_mqtt_commands", "Commands from MES, by outcome",
                                   labels=["outcome"])
    commands.add_metric(["accepted"], stats.commands_accepted)
    commands.add_metric(["refused"], stats.commands_refused)
    commands.add_metric(["ignored"], stats.commands_ignored)  # not on the ack topics
    return [
        GaugeMetricFamily("uvelka_mqtt_connected", "1 while the MQTT broker is connected",
                          value=float(stats.connected)),
        CounterMetricFamily("uvelka_mqtt_delivered", "Messages the broker confirmed",
                            value=stats.delivered),
        CounterMetricFamily("uvelka_mqtt_rejected", "Messages the broker refused",
                            value=stats.rejected),
        GaugeMetricFamily("uvelka_outbox_depth", "Messages waiting in the outbox",
                          value=stats.queued),
        CounterMetricFamily("uvelka_outbox_dropped",
                            "Messages the outbox dropped unsent (overflow, expiry, full disk)",
                            value=stats.dropped),
        GaugeMetricFamily("uvelka_outbox_held_alarms",
                          "Alarm events waiting in memory for disk space to be written",
                          value=stats.held),
        commands,
        CounterMetricFamily("uvelka_mqtt_command_failures",
                            "Commands refused because handling them raised an unexpected error",
                            value=stats.commands_failed),
    ]


def storage_metrics(health: StorageHealth) -> list[Metric]:
    """Files under data_dir that could not be read or written (issue #17), by store."""
    errors = CounterMetricFamily(
        "uvelka_storage_errors",
        "Reads or writes of a store's files that failed (a full disk, ...)", labels=["store"])
    degraded = GaugeMetricFamily("uvelka_storage_degraded",
                                 "1 while a store cannot write its files and waits to try again",
                                 labels=["store"])
    problems = health.problems()
    for store in health.stores():
        errors.add_metric([store], health.errors[store])
        degraded.add_metric([store], int(store in problems))
    return [errors, degraded]


def inference_metrics(stats: Mapping[str, InferenceStats]) -> list[Metric]:
    """Scoring time per model file (features and inference of one batch)."""
    labels = ["model"]
    # A summary without quantiles: its `_count` and `_sum`.
    seconds = SummaryMetricFamily(
        "uvelka_inference_seconds",
        "Time to score one batch of a model file: features and inference", labels=labels)
    windows = CounterMetricFamily("uvelka_inference_windows", "Windows scored", labels=labels)
    last = GaugeMetricFamily("uvelka_inference_last_seconds", "Time of the last batch",
                             labels=labels)
    longest = GaugeMetricFamily("uvelka_inference_max_seconds", "Time of the longest batch",
                                labels=labels)
    for model, stat in sorted(stats.items()):
        seconds.add_metric([model], count_value=stat.batches, sum_value=stat.total_s)
        windows.add_metric([model], stat.windows)
        last.add_metric([model], stat.last_s)
        longest.add_metric([model], stat.max_s)
    return [seconds, windows, last, longest]


def model_metrics(slots: Iterable[ModelSlot]) -> list[Metric]:
    """Each asset's model slots: whether a model runs, how many files were refused."""
    labels = ["asset", "kind"]
    running = GaugeMetricFamily("uvelka_model_running",
                                "1 while the asset's model of this kind runs; 0 when its file "
                                "was refused at start and no good file was taken since",
                                labels=labels)
    refusals = CounterMetricFamily(
        "uvelka_model_refusals", "Model files refused for the asset's slot (at start, hot reload)",
        labels=labels)
    for slot in slots:
        slot_labels = [slot.asset.name, slot.kind]
        running.add_metric(slot_labels, int(slot.model is not None))
        refusals.add_metric(slot_labels, slot.refusals)
    return [running, refusals]


def history_metrics(stats: HistoryStats) -> list[Metric]:
    return [
        CounterMetricFamily("uvelka_history_points_written", "Points written to the history file",
                            value=stats.written),
        CounterMetricFamily("uvelka_history_points_dropped",
                            "Points dropped unwritten from the full history buffer",
                            value=stats.dropped),
        CounterMetricFamily("uvelka_history_points_expired",
                            "Points deleted by the history retention", value=stats.expired),
        GaugeMetricFamily("uvelka_history_points_pending", "Points recorded, not written yet",
                          value=stats.pending),
        GaugeMetricFamily("uvelka_history_file_bytes", "Size of the history file and its WAL",
                          value=stats.file_bytes),
    ]


def notification_metrics(notifications: Notifications) -> list[Metric]:
    """Issue #15: each notification channel's sends and queue, and the digests' backlog."""
    labels = ["channel"]
    sent = CounterMetricFamily("uvelka_notifications_sent",
                               "Notifications the channel's peer took", labels=labels)
    refused = CounterMetricFamily("uvelka_notifications_undeliverable",
                                  "Notifications the peer refused for good (dropped)",
                                  labels=labels)
    waiting = GaugeMetricFamily("uvelka_notifications_waiting",
                                "Notifications waiting in the channel's outbox", labels=labels)
    up = GaugeMetricFamily("uvelka_notification_channel_up",
                           "0 while the channel cannot send (an outage, a 429)", labels=labels)
    for sender in notifications.senders:
        name, counts = [sender.channel.name], sender.counts
        sent.add_metric(name, counts.sent)
        refused.add_metric(name, counts.undeliverable)
        waiting.add_metric(name, sender.waiting())
        up.add_metric(name, float(counts.down_since is None))
    held = GaugeMetricFamily("uvelka_notifications_held_for_digest",
                             "Events gathered for the next digests, all audiences",
                             value=notifications.notifier.waiting_for_digest())
    return [sent, refused, waiting, up, held]


def telegram_metrics(telegram: Telegram) -> list[Metric]:
    """Issue #15: the Telegram bot: whether the Bot API answers, the updates, commands and
    presses it handled, the edits that show an action, and the accounts linked."""
    counts = telegram.counts
    counters = [
        ("updates", "Updates (messages, presses) handled", counts.updates),
        ("updates_malformed", "Updates skipped, not understood", counts.malformed),
        ("updates_failed", "Updates whose handling failed (skipped)", counts.failed),
        ("commands", "Messages to the bot answered", counts.commands),
        ("presses_acted", "Presses that acknowledged, shelved or judged", counts.presses_acted),
        ("presses_refused", "Presses refused, with the reason", counts.presses_refused),
        ("edits", "Messages edited to show an action", counts.edits),
        ("edits_failed", "Edits Telegram refused or could not take", counts.edits_failed),
        ("edits_dropped", "Edits not made: too many waited", telegram.board.dropped_edits),
    ]
    return [
        GaugeMetricFamily("uvelka_telegram_api_up", "1 while the Bot API answers the bot",
                          value=float(counts.api_up)),
        GaugeMetricFamily("uvelka_telegram_links", "Telegram accounts linked to users",
                          value=len(telegram.linking.links(None))),
        *(CounterMetricFamily(f"uvelka_telegram_{name}", text, value=value)
          for name, text, value in counters),
    ]


def sparkplug_metrics(stats: NodeStats) -> list[Metric]:
    """Issue #16: the Sparkplug B edge node's session and what it published or kept."""
    return [
        GaugeMetricFamily("uvelka_sparkplug_online",
                          "1 while the node's births are out in a session",
                          value=float(stats.online)),
        CounterMetricFamily("uvelka_sparkplug_births", "NBIRTH sequences published",
                            value=stats.births),
        CounterMetricFamily("uvelka_sparkplug_published",
                            "Data messages published at once", value=stats.published),
        CounterMetricFamily("uvelka_sparkplug_stored",
                            "Data messages kept in the outbox for a later session",
                            value=stats.stored),
        CounterMetricFamily("uvelka_sparkplug_replayed",
                            "Stored data messages sent as historical", value=stats.replayed),
        CounterMetricFamily("uvelka_sparkplug_dropped",
                            "Data messages lost before the outbox", value=stats.dropped),
        GaugeMetricFamily("uvelka_sparkplug_queued", "Data messages waiting in the outbox",
                          value=stats.queued),
        CounterMetricFamily("uvelka_sparkplug_writes", "DCMD writes done", value=stats.writes),
        CounterMetricFamily("uvelka_sparkplug_commands_refused",
                            "Command metrics refused or failed", value=stats.refused),
        CounterMetricFamily("uvelka_sparkplug_states_ignored",
                            "Primary host STATE messages unreadable or older than the last",
                            value=stats.states_ignored),
    ]


def export_metrics(exporter: ClickhouseExporter) -> list[Metric]:
    """Issue #16: the history's copy to ClickHouse: rows sent, lost, waiting, and whether
    inserts go through."""
    counts = exporter.counts
    return [
        CounterMetricFamily("uvelka_export_rows_sent", "Rows ClickHouse took",
                            value=counts.rows_sent),
        CounterMetricFamily("uvelka_export_batches_sent", "INSERTs ClickHouse took",
                            value=counts.batches_sent),
        CounterMetricFamily("uvelka_export_insert_failures", "INSERTs ClickHouse did not take",
                            value=counts.failures),
        CounterMetricFamily("uvelka_export_rows_dropped",
                            "Rows lost before the outbox (its memory queue, a full disk)",
                            value=counts.rows_dropped),
        CounterMetricFamily("uvelka_export_batches_dropped",
                            "Stored batches the outbox dropped unsent (its bound or age)",
                            value=exporter.outbox_dropped()),
        GaugeMetricFamily("uvelka_export_waiting", "Batches waiting in the outbox",
                          value=exporter.depth()),
        GaugeMetricFamily("uvelka_export_up", "0 while inserts fail",
                          value=float(counts.down_since is None)),
    ]
