"""The alarm benchmark's targets, verdicts and printed tables."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from alarms_drain import DrainFigures, total
from alarms_latency import LatencyFigures
from alarms_transitions import ChannelFigures, SeqCheck
from report import Target

BEYOND_INTERVAL_MS = 50.0  # issue #4: p99 <= the scoring interval + 50 ms
DRAIN_RATIO_PCT = 70.0  # issue #4: drain >= 70 % of the raw paho QoS-1 rate

Row = tuple[str, str, str]  # label, value, metric judged ("" for none)


def latency_targets(interval_s: float) -> list[Target]:
    ceiling = interval_s * 1e3 + BEYOND_INTERVAL_MS
    return [Target("mqtt_latency_p99_ms", ceiling), Target("opcua_latency_p99_ms", ceiling),
            # Every activation and clear must reach both clients.
            Target("mqtt_missing", 0), Target("opcua_missing", 0)]


def drain_targets() -> list[Target]:
    return [Target("drain_ratio_pct", DRAIN_RATIO_PCT, at_most=False), Target("drain_lost", 0)]


def latency_metrics(f: LatencyFigures) -> dict[str, float | None]:
    return {"mqtt_latency_p99_ms": f.mqtt.latency_p99_ms,
            "opcua_latency_p99_ms": f.opcua.latency_p99_ms,
            "mqtt_missing": f.mqtt.missing, "opcua_missing": f.opcua.missing}


def drain_metrics(f: DrainFigures) -> dict[str, float | None]:
    return {"drain_ratio_pct": f.ratio_pct, "drain_lost": f.lost}


def judge(targets: Sequence[Target], metrics: dict[str, float | None]) -> dict[str, bool]:
    return {t.metric: t.met(metrics[t.metric]) for t in targets}


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _channel_rows(c: ChannelFigures) -> list[Row]:
    name = {"mqtt": "MQTT subscriber", "opcua": "OPC UA client"}[c.channel]
    return [
        (f"{name}: latency p50 / p99 / max (ms)",
         f"{_ms(c.latency_p50_ms)} / {_ms(c.latency_p99_ms)} / {_ms(c.latency_max_ms)}",
         f"{c.channel}_latency_p99_ms"),
        (f"{name}: activations / clears received (of {c.expected:,} each)",
         f"{c.activations:,} / {c.clears:,}", ""),
        (f"{name}: missing / unexpected / duplicates / other events",
         f"{c.missing:,} / {c.unexpected:,} / {c.duplicates:,} / {c.other_events:,}",
         f"{c.channel}_missing"),
        (f"{name}: input write to activation p50 / p99 (ms)",
         f"{_ms(c.input_p50_ms)} / {_ms(c.input_p99_ms)}", ""),
    ]


_SEQ = "distinct / duplicates / missing / out of order"


def _seq(s: SeqCheck) -> str:
    return f"{s.distinct:,} / {s.duplicates:,} / {s.missing:,} / {s.out_of_order:,}"


def latency_table(f: LatencyFigures, targets: Sequence[Target],
                  verdicts: dict[str, bool]) -> str:
    header = (f"alarm latency: {f.assets} assets x {f.cycles} cycles, scoring interval "
              f"{f.interval_s:g} s, poll interval {f.poll_interval_s:g} s, OPC UA publishing "
              f"interval {f.publishing_interval_ms:g} ms; {f.window_rows}-row windows, score "
              f"{f.normal_score:.2g} normal / {f.disturbed_score:.3g} disturbed, limit "
              f"{f.limit:g}")
    rows: list[Row] = [
        ("start-up: every asset scored, MQTT online", f"{f.startup_s:.1f} s", ""),
        ("cycles ran for", f"{f.run_s:.0f} s", ""),
        *_channel_rows(f.mqtt),
        *_channel_rows(f.opcua),
        ("events at one client only: MQTT / OPC UA", f"{f.only_mqtt} / {f.only_opcua}", ""),
        (f"MQTT seq: {_SEQ}", _seq(f.mqtt_seq), ""),
        ("transitions at neither client in time", f"{f.timeouts}", ""),
        ("gateway CPU (% of one core) / RSS max (MiB)",
         f"{f.gateway_cpu_pct:.1f} / {f.gateway_rss_mib_max:.0f}", ""),
        ("gateway log: warnings / errors", f"{f.gateway_warnings} / {f.gateway_errors}", ""),
        ("load average (1 min) at the start / end", _load(f.load_average), ""),
    ]
    lines = _rows(header, rows, targets, verdicts)
    lines += [f"  gateway: {line}" for line in f.gateway_problems]
    return "\n".join(lines)


def _load(load: tuple[float, float]) -> str:
    return f"{load[0]:.1f} / {load[1]:.1f}"


def _each(values: Sequence[float | None], spec: str) -> str:
    return " / ".join("n/a" if v is None else format(v, spec) for v in values)


def drain_table(f: DrainFigures, targets: Sequence[Target], verdicts: dict[str, bool]) -> str:
    header = (f"outbox drain: {f.messages:,} alarm messages of {f.payload_bytes} bytes, QoS 1, "
              f"{f.window} unconfirmed at most; {len(f.rounds)} rounds of raw paho then the "
              f"bridge (one value per round)")
    r = f.rounds
    rows: list[Row] = [
        ("raw paho: messages/s (first publish to last PUBACK)",
         _each([x.raw_rate for x in r], ",.0f"), ""),
        ("raw paho: publish() calls took (s)", _each([x.raw_handover_s for x in r], ".1f"), ""),
        ("raw paho: pauses, all 65,535 message ids in use",
         _each([x.raw_pauses for x in r], ","), ""),
        ("raw paho: CPU of publisher / broker / subscriber (%)",
         " | ".join(f"{x.raw_cpu_pct:.0f}/{x.raw_broker_cpu_pct:.0f}/"
                    f"{x.raw_subscriber_cpu_pct:.0f}" for x in r), ""),
        ("outbox filled in (s, not part of the drain)", _each([x.fill_s for x in r], ".1f"), ""),
        ("bridge: connected after (s)", _each([x.connect_s for x in r], ".2f"), ""),
        ("bridge: messages/s (start to empty outbox)",
         _each([x.drain_rate for x in r], ",.0f"), ""),
        ("bridge: CPU of bridge / broker / subscriber (%)",
         " | ".join(f"{x.drain_cpu_pct:.0f}/{x.drain_broker_cpu_pct:.0f}/"
                    f"{x.drain_subscriber_cpu_pct:.0f}" for x in r), ""),
        ("drain / raw (%)", _each([x.ratio_pct for x in r], ".1f"), ""),
        ("drain / raw, median of the rounds", f"{f.ratio_pct:.1f} %", "drain_ratio_pct"),
        ("CPU per message (us): raw paho", _each([x.raw_cpu_us for x in r], ".0f"), ""),
        ("CPU per message (us): bridge", _each([x.drain_cpu_us for x in r], ".0f"), ""),
        ("bridge: delivered / rejected / dropped",
         f"{sum(x.delivered for x in r):,} / {sum(x.rejected for x in r):,} / "
         f"{sum(x.dropped for x in r):,}", ""),
        (f"subscriber, raw: {_SEQ}", _seq(total([x.raw_received for x in r])), ""),
        (f"subscriber, drain: {_SEQ}", _seq(total([x.drain_received for x in r])),
         "drain_lost"),
        ("subscriber: messages/s, raw", _each([x.raw_subscriber_rate for x in r], ",.0f"), ""),
        ("subscriber: messages/s, drain",
         _each([x.drain_subscriber_rate for x in r], ",.0f"), ""),
        ("load average (1 min) at the start / end", _load(f.load_average), ""),
    ]
    return "\n".join(_rows(header, rows, targets, verdicts))


def _rows(header: str, rows: Sequence[Row], targets: Sequence[Target],
          verdicts: dict[str, bool]) -> list[str]:
    target_of = {t.metric: t for t in targets}
    width = max(len(label) for label, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    lines = [header]
    for label, value, metric in rows:
        judged = ""
        if metric in target_of:
            mark = "ok" if verdicts.get(metric) else "MISSED"
            judged = f"  target {target_of[metric]}: {mark}"
        lines.append(f"{label:<{width}}  {value:>{value_width}}{judged}")
    return lines


def as_json(latency: LatencyFigures | None, drain: DrainFigures | None,
            verdicts: dict[str, bool]) -> dict[str, Any]:
    return {"bench": "uvelka-alarms",
            "latency": None if latency is None else asdict(latency),
            "drain": None if drain is None else asdict(drain),
            "verdicts": verdicts}
