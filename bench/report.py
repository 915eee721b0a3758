"""The benchmark's figures: how they are reduced from raw samples, and how they print."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """A limit on one metric (a `Figures` field): `at_most` a ceiling, else a floor."""

    metric: str
    limit: float
    at_most: bool = True

    def met(self, value: float | None) -> bool:
        if value is None:
            return False
        return value <= self.limit if self.at_most else value >= self.limit

    def __str__(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.limit:g}"


@dataclass
class Figures:
    """Everything one run measured; None where the gateway did not expose it."""

    scenario: str
    devices: int
    tags_per_device: int
    change_per_s: float
    poll_interval_s: float
    publishing_interval_ms: float
    history: bool
    window_s: float
    # Start-up, all from the gateway's process start.
    startup_port_s: float
    startup_log_s: float | None
    startup_session_s: float
    startup_s: float
    # Throughput.
    changes_per_s: float
    notifications_per_s: float
    delivery_pct: float | None
    bad_notifications: int
    values_polled_per_s: float | None
    poll_cycles_per_s: float | None
    missed_cycles_pct: float | None
    poll_errors: int | None
    round_trip_ms: float | None
    # Cost.
    cpu_pct: float
    loop_cpu_pct: float  # of which the event loop's thread; the rest: worker threads
    rss_mib_max: float
    rss_mib_end: float
    devices_cpu_pct: float
    subscriber_cpu_pct: float
    # Latency: subscriber receive time - SourceTimestamp.
    latency_samples: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    verdicts: dict[str, bool] = field(default_factory=dict)

    def judge(self, targets: Sequence[Target]) -> None:
        """Fill `verdicts`: metric -> met, for every target given."""
        self.verdicts = {t.metric: t.met(getattr(self, t.metric)) for t in targets}

    def as_json(self) -> str:
        return json.dumps({"bench": "uvelka-poll", **asdict(self)}, sort_keys=False)


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def rate(first: tuple[float, float], last: tuple[float, float]) -> float:
    """Per-second rate between two (time s, cumulative count) points."""
    span = last[0] - first[0]
    return (last[1] - first[1]) / span if span > 0 else 0.0


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def table(figures: Figures, targets: Sequence[Target]) -> str:
    """A plain-text table of the figures with their targets and verdicts."""
    f = figures
    target_of = {t.metric: t for t in targets}
    header = (f"scenario {f.scenario}: {f.devices} devices x {f.tags_per_device} tags, "
              f"{f.change_per_s:.0%} of the tags change per s; poll interval "
              f"{f.poll_interval_s:g} s, publishing interval {f.publishing_interval_ms:g} ms, "
              f"history {'on' if f.history else 'off'}, window {f.window_s:.1f} s")
    rows: list[tuple[str, str, str]] = [
        ("start-up: OPC UA port accepts", f"{f.startup_port_s:.2f} s", ""),
        ("start-up: 'serving' logged", _fmt(f.startup_log_s, 2) + " s", ""),
        ("start-up: session created", f"{f.startup_session_s:.2f} s", ""),
        ("start-up: every tag Good at a client", f"{f.startup_s:.2f} s", "startup_s"),
        ("tag changes made by the devices /s", _fmt(f.changes_per_s), ""),
        ("notifications received /s", _fmt(f.notifications_per_s), ""),
        ("  as % of the changes made", _fmt(f.delivery_pct, 2) + " %", "delivery_pct"),
        ("  of them not Good (whole window)", _fmt(f.bad_notifications), ""),
        ("values polled /s", _fmt(f.values_polled_per_s), ""),
        ("poll cycles /s", _fmt(f.poll_cycles_per_s), ""),
        ("poll cycles missed (vs interval)", _fmt(f.missed_cycles_pct, 2) + " %",
         "missed_cycles_pct"),
        ("poll errors in window", _fmt(f.poll_errors), ""),
        ("Modbus round trip, mean of devices (ms)", _fmt(f.round_trip_ms, 2), ""),
        ("gateway CPU (% of one core)", _fmt(f.cpu_pct), "cpu_pct"),
        ("  of it the event loop's thread", _fmt(f.loop_cpu_pct), ""),
        ("gateway RSS max / end (MiB)", f"{f.rss_mib_max:.0f} / {f.rss_mib_end:.0f}",
         "rss_mib_max"),
        ("devices / subscriber CPU (% of one core)",
         f"{f.devices_cpu_pct:.1f} / {f.subscriber_cpu_pct:.1f}", ""),
        ("latency p50 / p99 / max (ms)",
         f"{_fmt(f.latency_p50_ms)} / {_fmt(f.latency_p99_ms)} / {_fmt(f.latency_max_ms)}",
         "latency_p99_ms"),
        ("latency samples", _fmt(f.latency_samples), ""),
    ]
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    lines = [header]
    for name, value, metric in rows:
        judged = ""
        if metric in target_of:
            mark = "ok" if f.verdicts.get(metric) else "MISSED"
            judged = f"  target {target_of[metric]}: {mark}"
        lines.append(f"{name:<{width}}  {value:>{value_width}}{judged}")
    return "\n".join(lines)
