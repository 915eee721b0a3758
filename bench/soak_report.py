"""The soak benchmark's figures: what it counts, the per-minute line, the slopes and the
end-of-run summary with its verdicts (see bench/README.md, "bench/soak.py"). No I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

RSS_TARGET_MIB_PER_H = 1.0
MISSED_TARGET_PCT = 1.0


@dataclass
class Counts:
    """What happened so far; the gateway's side read from its log."""

    dropouts: int = 0
    links_down: int = 0
    links_back: int = 0
    broker_restarts: int = 0
    mqtt_reconnects: int = 0
    swaps_written: int = 0
    swaps_taken: int = 0
    swaps_rejected: int = 0
    activations_driven: int = 0
    activations_delivered: int = 0
    clears_delivered: int = 0
    notifications: int = 0
    bad_notifications: int = 0
    polls_owed: float = 0.0  # by devices whose link stayed up through a sample interval
    polls_missed: float = 0.0
    gateway_warnings: int = 0
    gateway_errors: int = 0


@dataclass(frozen=True)
class Sample:
    """One look at the gateway: hours since the first look, RSS MiB, CPU % of one core."""

    hours: float
    rss_mib: float
    cpu_pct: float


@dataclass
class Figures:
    samples: list[Sample] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)

    def slopes(self, skip_h: float) -> tuple[float | None, float | None]:
        """Least-squares slopes of RSS (MiB/h) and CPU (%/h) over samples after `skip_h`."""
        kept = [s for s in self.samples if s.hours >= skip_h]
        if len(kept) < 3:
            return None, None
        hours = np.array([s.hours for s in kept])
        rss_slope = float(np.polyfit(hours, [s.rss_mib for s in kept], 1)[0])
        cpu_slope = float(np.polyfit(hours, [s.cpu_pct for s in kept], 1)[0])
        return rss_slope, cpu_slope


def warmup_h(run_h: float) -> float:
    """The start-up transient left out of the judged slope: 10 min, or a quarter of a
    short run (a cache filling, the history's first pages)."""
    return min(10.0 / 60.0, run_h / 4.0)


def minute_line(sample: Sample, counts: Counts, duration_s: float) -> str:
    """The line printed at each sample."""
    c = counts
    return (f"[{60 * sample.hours:6.1f}/{duration_s / 60:.0f} min] rss "
            f"{sample.rss_mib:6.1f} MiB  cpu {sample.cpu_pct:5.1f} %  notifications "
            f"{c.notifications} (Bad {c.bad_notifications})  polls missed "
            f"{c.polls_missed:.0f} of {c.polls_owed:.0f}  links down/back "
            f"{c.links_down}/{c.links_back}  "
            f"broker restarts {c.broker_restarts} (reconnects {c.mqtt_reconnects})  "
            f"swaps {c.swaps_taken}/{c.swaps_written}  alarms "
            f"{c.activations_delivered}/{c.activations_driven} (clears "
            f"{c.clears_delivered})")


def slope_line(figures: Figures, hours: float) -> str:
    """The running slopes after the warm-up of a run `hours` long so far."""
    rss, cpu = figures.slopes(warmup_h(hours))
    return (f"  slope since {60 * warmup_h(hours):.0f} min: RSS {_fmt(rss, 2)} MiB/h, "
            f"CPU {_fmt(cpu, 2)} %/h")


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def summary(figures: Figures, shape: str, duration_s: float) -> tuple[str, dict[str, Any], bool]:
    """The end-of-run lines, their JSON, and whether every target was met; `shape` says
    what was polled."""
    c = figures.counts
    run_h = duration_s / 3600.0
    skip_h = warmup_h(run_h)
    rss_all, cpu_all = figures.slopes(0.0)
    rss, cpu = figures.slopes(skip_h)
    missed_pct = 100.0 * c.polls_missed / c.polls_owed if c.polls_owed else None
    verdicts = {
        "rss_slope": rss is not None and rss < RSS_TARGET_MIB_PER_H,
        "polls_missed": missed_pct is not None and missed_pct <= MISSED_TARGET_PCT,
        "swaps": c.swaps_taken == c.swaps_written and c.swaps_rejected == 0,
        "alarms": c.activations_delivered == c.activations_driven
        and c.clears_delivered == c.activations_driven,
        "links": c.links_back >= c.dropouts,
        "broker": c.mqtt_reconnects >= c.broker_restarts,
    }
    rss_values = [s.rss_mib for s in figures.samples]
    lines = [
        f"soak: {shape}, {len(figures.samples)} samples over {60 * run_h:.0f} min",
        f"RSS first / last / max: {_fmt_plain(rss_values[:1])} / "
        f"{_fmt_plain(rss_values[-1:])} / {_fmt_plain([max(rss_values, default=0.0)])} MiB",
        f"RSS slope after {60 * skip_h:.0f} min: {_fmt(rss, 2)} MiB/h "
        f"(target < {RSS_TARGET_MIB_PER_H:g}; whole run {_fmt(rss_all, 2)})",
        f"CPU slope after {60 * skip_h:.0f} min: {_fmt(cpu, 2)} %/h (whole run "
        f"{_fmt(cpu_all, 2)}); mean CPU "
        f"{np.mean([s.cpu_pct for s in figures.samples]) if figures.samples else 0.0:.1f} %",
        f"polls missed (devices up): {c.polls_missed:.0f} of {c.polls_owed:.0f} "
        f"({'-' if missed_pct is None else f'{missed_pct:.2f}'} %, target <= "
        f"{MISSED_TARGET_PCT:g} %)",
        f"device dropouts {c.dropouts}: links down {c.links_down}, back {c.links_back}",
        f"broker restarts {c.broker_restarts}: gateway reconnects {c.mqtt_reconnects}",
        f"model swaps written {c.swaps_written}: taken {c.swaps_taken}, rejected "
        f"{c.swaps_rejected}",
        f"alarms driven {c.activations_driven}: activations delivered "
        f"{c.activations_delivered}, clears {c.clears_delivered}",
        f"OPC UA notifications {c.notifications} (Bad {c.bad_notifications}); gateway log: "
        f"{c.gateway_warnings} warnings, {c.gateway_errors} errors",
        "verdicts: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in verdicts.items()),
    ]
    data = {"counts": asdict(c), "rss_slope_mib_per_h": rss, "cpu_slope_pct_per_h": cpu,
            "rss_slope_whole_run": rss_all, "cpu_slope_whole_run": cpu_all,
            "warmup_min": 60 * skip_h, "missed_pct": missed_pct, "verdicts": verdicts,
            "samples": [asdict(s) for s in figures.samples]}
    return "\n".join(lines), data, all(verdicts.values())


def _fmt_plain(values: list[float]) -> str:
    return f"{values[0]:.1f}" if values else "-"
