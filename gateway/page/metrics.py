"""The gateway's metrics in the Prometheus text format (version 0.0.4), for /metrics.

Built on request from the counters the parts already keep; nothing here counts by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.alarms.events import AlarmState
from gateway.alarms.hub import AlarmHub
from gateway.core.failures import Failures
from gateway.core.status import DeviceStatus
from gateway.core.storage import StorageHealth
from gateway.mqtt.bridge import BridgeStats
from gateway.runtime.model_slot import ModelSlot
from gateway.runtime.scoring import InferenceStats
from gateway.store.history import HistoryStats

Labels = Mapping[str, str]


@dataclass
class Metric:
    """One metric family: its samples by label set (and name suffix, for a summary)."""

    name: str
    kind: str  # "gauge" | "counter" | "summary"
    help: str
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Metric:
        self.samples.append(("", labels, value))
        return self

    def add_summary(self, total: float, count: int, **labels: str) -> Metric:
        """A summary without quantiles: its `_sum` and `_count`."""
        self.samples += [("_sum", labels, total), ("_count", labels, count)]
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += [f"{self.name}{suffix}{_labels(labels)} {_number(value)}"
                  for suffix, labels, value in self.samples]
        return "\n".join(lines)


def device_metrics(statuses: Iterable[DeviceStatus]) -> list[Metric]:
    connected = Metric("uvelka_device_connected", "gauge", "1 while the device answers")
    polls = Metric("uvelka_device_polls_total", "counter", "Poll cycles run")
    errors = Metric("uvelka_device_errors_total", "counter", "Poll cycles that failed")
    overruns = Metric("uvelka_device_overruns_total", "counter",
                      "Poll cycles that ended after the next one was due")
    round_trip = Metric("uvelka_device_round_trip_seconds", "gauge",
                        "Round-trip time of the last successful request")
    unexpected = Metric("uvelka_device_unexpected_errors_total", "counter",
                        "Failures of the device loop that were not link or device errors")
    for status in statuses:
        device = status.device
        connected.add(float(status.connected), device=device)
        polls.add(status.poll_count, device=device)
        errors.add(status.error_count, device=device)
        overruns.add(status.overruns, device=device)
        unexpected.add(status.unexpected_errors, device=device)
        if status.round_trip_s is not None:
            round_trip.add(status.round_trip_s, device=device)
    return [connected, polls, errors, overruns, round_trip, unexpected]


def alarm_metrics(hub: AlarmHub) -> list[Metric]:
    states = Metric("uvelka_alarms", "gauge", "Alarms by ISA-18.2 state")
    for state in AlarmState:
        count = sum(1 for alarm in hub.alarms.values() if alarm.state is state)
        states.add(count, state=state.value)
    failures = Metric("uvelka_alarm_events_undelivered_total", "counter",
                      "Alarm events a sink failed to take")
    for sink, count in hub.sink_failures.items():
        failures.add(count, sink=sink)
    return [states, failures]


def failure_metrics(tasks: Failures, sinks: Iterable[Failures]) -> list[Metric]:
    """Failures the gateway contained (issue #17): background tasks it restarted, calls of
    sinks that raised (the poll loops' fan-out, the alarm hub's sinks)."""
    task_failures = Metric("uvelka_task_failures_total", "counter",
                           "Times a background task failed and was restarted")
    for task, health in sorted(tasks.parts.items()):
        task_failures.add(health.failures, task=task)
    sink_failures = Metric("uvelka_sink_failures_total", "counter",
                           "Calls of a sink that failed; the other sinks still got the data")
    for group in sinks:
        for sink, health in sorted(group.parts.items()):
            sink_failures.add(health.failures, sink=sink)
    return [task_failures, sink_failures]


def mqtt_metrics(stats: BridgeStats) -> list[Metric]:
    return [
        Metric("uvelka_mqtt_connected", "gauge", "1 while the MQTT broker is connected")
        .add(float(stats.connected)),
        Metric("uvelka_mqtt_delivered_total", "counter", "Messages the broker confirmed")
        .add(stats.delivered),
        Metric("uvelka_mqtt_rejected_total", "counter", "Messages the broker refused")
        .add(stats.rejected),
        Metric("uvelka_outbox_depth", "gauge", "Messages waiting in the outbox")
        .add(stats.queued),
        Metric("uvelka_outbox_dropped_total", "counter",
               "Messages the outbox dropped unsent (overflow, expiry, full disk)")
        .add(stats.dropped),
        Metric("uvelka_outbox_held_alarms", "gauge",
               "Alarm events waiting in memory for disk space to be written").add(stats.held),
        Metric("uvelka_mqtt_commands_total", "counter", "Commands from MES, by outcome")
        .add(stats.commands_accepted, outcome="accepted")
        .add(stats.commands_refused, outcome="refused"),
        Metric("uvelka_mqtt_command_failures_total", "counter",
               "Commands refused because handling them raised an unexpected error")
        .add(stats.commands_failed),
    ]


def storage_metrics(health: StorageHealth) -> list[Metric]:
    """Files under data_dir that could not be read or written (issue #17), by store."""
    errors = Metric("uvelka_storage_errors_total", "counter",
                    "Reads or writes of a store's files that failed (a full disk, ...)")
    degraded = Metric("uvelka_storage_degraded", "gauge",
                      "1 while a store cannot write its files and waits to try again")
    problems = health.problems()
    for store in health.stores():
        errors.add(health.errors[store], store=store)
        degraded.add(int(store in problems), store=store)
    return [errors, degraded]


def inference_metrics(stats: Mapping[str, InferenceStats]) -> list[Metric]:
    """Scoring time per model file (features and inference of one batch)."""
    seconds = Metric("uvelka_inference_seconds", "summary",
                     "Time to score one batch of a model file: features and inference")
    windows = Metric("uvelka_inference_windows_total", "counter", "Windows scored")
    last = Metric("uvelka_inference_last_seconds", "gauge", "Time of the last batch")
    longest = Metric("uvelka_inference_max_seconds", "gauge", "Time of the longest batch")
    for model, stat in sorted(stats.items()):
        seconds.add_summary(stat.total_s, stat.batches, model=model)
        windows.add(stat.windows, model=model)
        last.add(stat.last_s, model=model)
        longest.add(stat.max_s, model=model)
    return [seconds, windows, last, longest]


def model_metrics(slots: Iterable[ModelSlot]) -> list[Metric]:
    """Each asset's model slots: whether a model runs, how many files were refused."""
    running = Metric("uvelka_model_running", "gauge",
                     "1 while the asset's model of this kind runs; 0 when its file was "
                     "refused at start and no good file was taken since")
    refusals = Metric("uvelka_model_refusals_total", "counter",
                      "Model files refused for the asset's slot (at start, hot reload)")
    for slot in slots:
        running.add(int(slot.model is not None), asset=slot.asset.name, kind=slot.kind)
        refusals.add(slot.refusals, asset=slot.asset.name, kind=slot.kind)
    return [running, refusals]


def history_metrics(stats: HistoryStats) -> list[Metric]:
    return [
        Metric("uvelka_history_points_written_total", "counter",
               "Points written to the history file").add(stats.written),
        Metric("uvelka_history_points_dropped_total", "counter",
               "Points dropped unwritten from the full history buffer").add(stats.dropped),
        Metric("uvelka_history_points_expired_total", "counter",
               "Points deleted by the history retention").add(stats.expired),
        Metric("uvelka_history_points_pending", "gauge",
               "Points recorded, not written yet").add(stats.pending),
        Metric("uvelka_history_file_bytes", "gauge",
               "Size of the history file and its WAL").add(stats.file_bytes),
    ]


def render(metrics: Sequence[Metric]) -> str:
    return "\n".join(metric.render() for metric in metrics) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escaped(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)
