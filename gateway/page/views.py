"""The gateway's live state as the web page shows it: JSON-ready overview, tag values and
alarms, built from what the gateway already holds (no I/O)."""

from __future__ import annotations

import gettext
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gateway.alarms.events import AlarmEvent, AlarmState
from gateway.alarms.state import Alarm
from gateway.config.sources import SourceKind
from gateway.core.quality import Quality
from gateway.core.sample import Value
from gateway.core.score import Score
from gateway.core.status import DeviceStatus
from gateway.notify.problems import ENGLISH, problem_lines
from gateway.page.running import Running
from gateway.runtime.model_slot import ModelSlot

if TYPE_CHECKING:
    # paho and aiohttp with them: a gateway without [sparkplug] or [export] does not
    # import them (as gateway/page/metrics.py).
    from gateway.export.exporter import ClickhouseExporter
    from gateway.sparkplug.node import SparkplugNode

QUALITY_LABELS = {
    Quality.GOOD: "Good",
    Quality.LAST_USABLE: "Uncertain (last usable value)",
    Quality.WAITING: "Bad (waiting for initial data)",
    Quality.COMM_ERROR: "Bad (communication failure)",
    Quality.DEVICE_ERROR: "Bad (device failure)",
    Quality.CONFIG_ERROR: "Bad (configuration error)",
}
# A RUL in one of these units gives a date; in others ("cycles", none) it does not.
_SECONDS_PER_UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
RECENT_EVENTS_OF_ASSET = 20


def health(running: Running) -> dict[str, Any]:
    """Serving or starting, and how many devices are connected (/healthz shows the first),
    and what cannot be written under data_dir (issue #17: the gateway serves on)."""
    statuses = [poller.status() for poller in running.fleet.pollers.values()]
    return {
        "status": "ok" if running.started.is_set() else "starting",
        "devices": len(statuses),
        "devices_connected": sum(status.connected for status in statuses),
        # And the parts that fail, contained (issue #17); /healthz stays "ok": the gateway
        # serves, and a restart would only stop the parts that work.
        "problems": problems(running, ENGLISH),
    }


def problems(running: Running, t: gettext.NullTranslations) -> list[str]:
    """What cannot be written, the parts failing and the models missing, in `t`'s language
    (the page's API: English; the Telegram bot's /status: the reader's)."""
    held = running.bridge.stats.held if running.bridge is not None else 0
    return problem_lines(t, running.storage, held, running.failures(), running.assets.slots)


def units(running: Running) -> dict[str, str]:
    """The engineering unit of each tag and asset output that has one, by key."""
    found = {f"{device.name}.{tag.name}": tag.unit
             for device in running.config.current.devices for tag in device.tags if tag.unit}
    found.update((f"{asset}.{output}", unit) for asset, unit in _rul_units(running) if unit
                 for output in _RUL_OUTPUTS)
    return found


# A RUL model's outputs, all in its output unit: the value and its interval (issue #13).
_RUL_OUTPUTS = ("RemainingUsefulLife", "RemainingUsefulLifeLow", "RemainingUsefulLifeHigh")


def _rul_units(running: Running) -> list[tuple[str, str]]:
    """Each asset running a RUL model, with its output unit ("" when it has none)."""
    return [(slot.asset.name, slot.model.manifest.output_unit or "")
            for slot in running.assets.slots if slot.kind == "rul" and slot.model is not None]


def overview(running: Running, now: datetime) -> dict[str, Any]:
    bridge = running.bridge
    rul_units = dict(_rul_units(running))
    config = running.config.current
    hub = running.hub
    # One pass over the alarms, not one per device: 500 devices are shown every second.
    # By kind too: a device and an asset may share a name (the demo's pumps do).
    standing: dict[tuple[SourceKind, str], list[str]] = {}
    for name, alarm in hub.alarms.items():
        if alarm.state is not AlarmState.NORMAL:
            source = hub.sources[name]
            standing.setdefault((source.kind, source.owner), []).append(name)
    return {
        "time": now.isoformat(),
        "gateway": {
            **health(running),
            "name": config.gateway.name,
            "alarms": alarm_counts(hub.alarms.values()),
            "mqtt": None if bridge is None
            else "connected" if bridge.stats.connected else "disconnected (alarms are kept)",
            # Issue #16: the fleet links, as /metrics counts them (gateway/page/metrics.py).
            "sparkplug": None if running.edge is None else _sparkplug(running.edge),
            "export": None if running.exporter is None else _export(running.exporter),
        },
        "devices": [{**_device(poller.status()), "alarms": standing.get((SourceKind.TAG, name), [])}
                    for name, poller in running.fleet.pollers.items()],
        "assets": [{**_asset(running, asset.name, rul_units.get(asset.name, "")),
                    "alarms": standing.get((SourceKind.ASSET, asset.name), [])}
                   for asset in config.assets],
    }


def _sparkplug(node: SparkplugNode) -> dict[str, Any]:
    """The edge node: online (its births out in a session), and its data counts."""
    stats = node.stats
    return {"online": stats.online, "births": stats.births, "stored": stats.stored,
            "replayed": stats.replayed, "queued": stats.queued}


def _export(exporter: ClickhouseExporter) -> dict[str, Any]:
    """The ClickHouse export: up (inserts go through), and what waits. The outbox counts
    messages, each a write of at most `batch_rows` rows; the rows in them are not counted
    without reading them all, so the page shows the batches (as `uvelka_export_waiting`)."""
    counts = exporter.counts
    return {"up": counts.down_since is None, "waiting": exporter.depth(),
            "rows_sent": counts.rows_sent}


def alarm_counts(alarms: Iterable[Alarm]) -> dict[str, int]:
    """What the overview and the alarms page count, the same way (issue #11): "standing" is
    every alarm that is not Normal (the overview lists them per device and asset),
    which is "active" plus "returned_unacked" (cleared, not acknowledged);
    "unacknowledged" and "shelved" cut across them."""
    counts = dict.fromkeys(
        ("standing", "active", "returned_unacked", "unacknowledged", "shelved"), 0)
    for alarm in alarms:
        state = alarm.state
        counts["standing"] += state is not AlarmState.NORMAL
        counts["active"] += alarm.active
        counts["returned_unacked"] += state is AlarmState.RETURNED_UNACKED
        counts["unacknowledged"] += not alarm.acked
        counts["shelved"] += alarm.shelved
    return counts


def _device(status: DeviceStatus) -> dict[str, Any]:
    polls = status.poll_count + status.error_count
    return {
        "name": status.device,
        "connected": status.connected,
        "last_error": status.last_error,
        "round_trip_ms": None if status.round_trip_s is None
        else round(status.round_trip_s * 1000.0, 2),
        "poll_count": status.poll_count,
        "error_count": status.error_count,
        "error_rate": status.error_count / polls if polls else 0.0,
    }


def _asset(running: Running, name: str, rul_unit: str) -> dict[str, Any]:
    scores = running.scores.of(name)
    anomaly, rul = scores.get("anomaly"), scores.get("rul")
    slot = _slot(running, name, "anomaly")
    return {
        "name": name,
        "anomaly_score": _number(anomaly.value) if anomaly else None,
        "anomaly_threshold": None if slot is None else slot.threshold,
        "anomaly": anomaly.anomaly if anomaly else None,
        "rul": _number(rul.value) if rul else None,
        "rul_unit": rul_unit,
    }


def asset(running: Running, name: str, recent: Iterable[AlarmEvent]) -> dict[str, Any] | None:
    """One asset's health for its page: the model outputs against the threshold, the RUL
    with its due date, the models, the alarms on its outputs and inputs with their recent
    events, the inputs' live values; None for an asset not configured."""
    config = next((a for a in running.config.current.assets if a.name == name), None)
    if config is None:
        return None
    scores = running.scores.of(name)
    hub = running.hub
    inputs = set(config.inputs.values())
    owned = sorted(alarm for alarm, source in hub.sources.items()
                   if (source.kind is SourceKind.ASSET and source.owner == name)
                   or source.key in inputs)
    unit_of = _units_of(running, inputs)
    return {
        "name": name,
        "anomaly": _anomaly_of(running, name, scores.get("anomaly")),
        "rul": _rul_of(running, name, scores.get("rul")),
        "models": [{"kind": slot.kind, "version": slot.version, "status": slot.status}
                   for slot in running.assets.slots if slot.asset.name == name],
        "alarms": [_alarm(hub.alarms[alarm], hub.sources[alarm].key) for alarm in owned],
        "recent": [_event(event) for event in recent
                   if event.alarm in owned][:RECENT_EVENTS_OF_ASSET],
        "inputs": [{"signal": signal, **_tag_value(running, key, unit_of.get(key, ""))}
                   for signal, key in config.inputs.items()],
    }


def _units_of(running: Running, keys: Iterable[str]) -> dict[str, str]:
    """The units of the tags `keys` (units() would walk every tag: 15,000 each second)."""
    devices = {device.name: device for device in running.config.current.devices}
    found: dict[str, str] = {}
    for key in keys:
        device, _, tag = key.partition(".")
        tags = devices[device].tags if device in devices else ()
        found[key] = next((t.unit or "" for t in tags if t.name == tag), "")
    return found


def _anomaly_of(running: Running, name: str, score: Score | None) -> dict[str, Any] | None:
    slot = _slot(running, name, "anomaly")
    if slot is None:
        return None
    return {
        "key": f"{name}.AnomalyScore",
        "score": None if score is None else _number(score.value),
        "threshold": slot.threshold,
        "range": None if slot.model is None else list(slot.model.manifest.score_range),
        "anomaly": None if score is None else score.anomaly,
        **_score_quality(score),
    }


def _rul_of(running: Running, name: str, score: Score | None) -> dict[str, Any] | None:
    slot = _slot(running, name, "rul")
    if slot is None:
        return None
    unit = "" if slot.model is None else slot.model.manifest.output_unit or ""
    value = None if score is None else _number(score.value)
    seconds = _SECONDS_PER_UNIT.get(unit)
    # Due once the life left after the scored window has run out: a date only for a unit
    # of time (a RUL in cycles has none).
    due = None if score is None or value is None or seconds is None \
        else score.window_end + timedelta(seconds=max(value, 0.0) * seconds)
    # Low and High of the model's interval (issue #13); null without one (an older file).
    low, high = (None, None) if score is None or score.interval is None else score.interval
    return {
        "key": f"{name}.RemainingUsefulLife",
        "value": value,
        "low": _number(low),
        "high": _number(high),
        "unit": unit,
        "due": None if due is None else due.isoformat(),
        **_score_quality(score),
    }


def _score_quality(score: Score | None) -> dict[str, Any]:
    quality = Quality.WAITING if score is None else score.quality
    return {"quality": QUALITY_LABELS[quality], "good": quality is Quality.GOOD,
            "time": None if score is None else score.window_end.isoformat()}


def _slot(running: Running, asset: str, kind: str) -> ModelSlot | None:
    return next((slot for slot in running.assets.slots
                 if slot.asset.name == asset and slot.kind == kind), None)


def tag_values(running: Running, device: str) -> list[dict[str, Any]] | None:
    """Each tag of `device` with its latest value; None for a device not configured."""
    config = next((d for d in running.config.current.devices if d.name == device), None)
    if config is None:
        return None
    return [_tag_value(running, f"{device}.{tag.name}", tag.unit or "") for tag in config.tags]


def _tag_value(running: Running, key: str, unit: str) -> dict[str, Any]:
    """A tag's latest value with its quality, time and unit."""
    sample = running.cache.latest(key)
    quality = Quality.WAITING if sample is None else sample.quality
    return {
        "key": key,
        "value": None if sample is None else _json_value(sample.value),
        "quality": QUALITY_LABELS[quality],
        "good": quality is Quality.GOOD,
        "time": None if sample is None else sample.source_time.isoformat(),
        "unit": unit,
    }


def alarms(running: Running, recent: Iterable[AlarmEvent]) -> dict[str, Any]:
    hub = running.hub
    listed = [{**_alarm(alarm, hub.sources[name].key), "owner": hub.sources[name].owner}
              for name, alarm in sorted(hub.alarms.items())]
    return {"alarms": listed, "counts": alarm_counts(hub.alarms.values()),
            "recent": [_event(event) for event in recent]}


def _alarm(alarm: Alarm, source: str) -> dict[str, Any]:
    last = alarm.last_event
    return {
        "name": alarm.rule.name,
        "source": source,
        "state": alarm.state.value,
        "active": alarm.active,
        "acked": alarm.acked,
        "shelved": alarm.shelved,
        "shelved_until": alarm.shelved_until.isoformat() if alarm.shelved_until else None,
        "severity": alarm.rule.severity,
        "value": _json_value(alarm.value),
        "quality": QUALITY_LABELS[alarm.quality],
        "message": alarm.rule.message or (last.message if last else ""),
        "time": alarm.changed_at.isoformat() if alarm.changed_at else None,
        "event_id": str(last.id) if last else None,
    }


def _event(event: AlarmEvent) -> Mapping[str, Any]:
    return {
        "id": str(event.id),
        "alarm": event.alarm,
        "kind": event.kind.value,
        "time": event.time.isoformat(),
        "state": event.state.value,
        "value": _json_value(event.value),
        "user": event.user,
        "comment": event.comment,
    }


def _json_value(value: Value) -> Value:
    # JSON has no NaN or infinity; the page shows nothing for them.
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value
