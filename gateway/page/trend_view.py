"""What the Trends page draws beside the history (issue #11): each key's unit, group and
kind, the lines of its alarm limits and model threshold, the assets' keys, and the alarm
activations and clears the gateway holds (no I/O). A candidate in shadow's outputs
(`<asset>.shadow.<output>`, issue #12) are its asset's keys too, with its threshold."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from drivers.base import DataType
from gateway.alarms.events import AlarmEvent, EventKind
from gateway.config.sources import ASSET_OUTPUTS
from gateway.page.running import Running
from gateway.page.views import units
from gateway.runtime.shadow import shadow_asset

_MARKED = (EventKind.ACTIVATED, EventKind.CLEARED)


def trends(running: Running, keys: Iterable[str], events: Iterable[AlarmEvent]) -> dict[str, Any]:
    """{"series": [{key, unit, group, boolean, lines}], "assets": {asset: [keys]},
    "events": [{alarm, key, kind, time}]} for the keys with history."""
    keys = list(keys)
    config = running.config.current
    unit_of = units(running)
    booleans = {
        f"{device.name}.{tag.name}"
        for device in config.devices
        for tag in device.tags
        if tag.type == DataType.BOOL
    }
    booleans.update(
        f"{owner}.{name}"
        for asset in config.assets
        for owner in (asset.name, shadow_asset(asset.name))
        for name, output in ASSET_OUTPUTS.items()
        if output.boolean
    )
    lines: dict[str, list[dict[str, Any]]] = {}
    hub = running.hub
    for name, alarm in sorted(hub.alarms.items()):
        if alarm.rule.limit is not None:
            lines.setdefault(hub.sources[name].key, []).append(
                {"label": f"{name} limit", "value": alarm.rule.limit, "kind": "alarm",
                 "of": name}
            )
    for slot in running.assets.slots:
        if slot.kind == "anomaly" and slot.threshold is not None:
            lines.setdefault(f"{slot.asset.name}.AnomalyScore", []).append(
                {
                    "label": f"{slot.asset.name} model threshold",
                    "value": slot.threshold,
                    "kind": "threshold",
                    "of": slot.asset.name,
                }
            )
    for scorer in [] if running.scoring is None else running.scoring.scorers:
        for shadow in scorer.shadows.values():
            threshold = shadow.model.manifest.threshold
            if shadow.kind == "anomaly" and threshold is not None:
                lines.setdefault(f"{shadow_asset(scorer.config.name)}.AnomalyScore", []).append(
                    {"label": f"{scorer.config.name} shadow threshold", "value": threshold,
                     "kind": "threshold", "of": scorer.config.name, "shadow": True}
                )
    kept = set(keys)
    shadow_keys = {
        f"{shadow_asset(asset.name)}.{name}" for asset in config.assets for name in ASSET_OUTPUTS
    }
    return {
        "series": [
            {
                "key": key,
                "unit": unit_of.get(key, ""),
                "group": key.partition(".")[0],
                "boolean": key in booleans,
                "shadow": key in shadow_keys,
                "lines": lines.get(key, []),
            }
            for key in keys
        ],
        "assets": {
            asset.name: [
                key
                for key in (
                    *asset.inputs.values(),
                    *(f"{asset.name}.{name}" for name in ASSET_OUTPUTS),
                    *(f"{shadow_asset(asset.name)}.{name}" for name in ASSET_OUTPUTS),
                )
                if key in kept
            ]
            for asset in config.assets
        },
        "events": [
            {
                "alarm": event.alarm,
                "key": hub.sources[event.alarm].key,
                "kind": event.kind.value,
                "time": event.time.isoformat(),
            }
            for event in events
            if event.kind in _MARKED and event.alarm in hub.sources
        ],
    }
