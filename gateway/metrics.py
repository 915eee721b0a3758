"""The gateway's metrics in the Prometheus text format (version 0.0.4), for /metrics.

Built on request from the counters the parts already keep; nothing here counts by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.alarms.events import AlarmState
from gateway.alarms.hub import AlarmHub
from gateway.core.status import DeviceStatus
from gateway.mqtt.bridge import BridgeStats

Labels = Mapping[str, str]


@dataclass
class Metric:
    """One metric family: its samples by label set."""

    name: str
    kind: str  # "gauge" | "counter"
    help: str
    samples: list[tuple[Labels, float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Metric:
        self.samples.append((labels, value))
        return self

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += [f"{self.name}{_labels(labels)} {_number(value)}"
                  for labels, value in self.samples]
        return "\n".join(lines)


def device_metrics(statuses: Iterable[DeviceStatus]) -> list[Metric]:
    connected = Metric("uvelka_device_connected", "gauge", "1 while the device answers")
    polls = Metric("uvelka_device_polls_total", "counter", "Poll cycles run")
    errors = Metric("uvelka_device_errors_total", "counter", "Poll cycles that failed")
    overruns = Metric("uvelka_device_overruns_total", "counter",
                      "Poll cycles that ended after the next one was due")
    round_trip = Metric("uvelka_device_round_trip_seconds", "gauge",
                        "Round-trip time of the last successful request")
    for status in statuses:
        device = status.device
        connected.add(float(status.connected), device=device)
        polls.add(status.poll_count, device=device)
        errors.add(status.error_count, device=device)
        overruns.add(status.overruns, device=device)
        if status.round_trip_s is not None:
            round_trip.add(status.round_trip_s, device=device)
    return [connected, polls, errors, overruns, round_trip]


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
               "Messages the outbox dropped unsent (overflow, expiry)").add(stats.dropped),
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
