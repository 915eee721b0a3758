"""Checks of [[alarms]]: unique names, a source that exists and fits the condition, a limit
exactly where the condition needs one, and no clash with the assets' default alarms."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from drivers.base import DataType
from gateway.config.asset_checks import ASSET_VARIABLES
from gateway.config.checks import RESERVED_TAG_NAMES, duplicate_names
from gateway.config.model import AlarmConfig, AssetConfig
from gateway.config.problem import Finding, Loc
from gateway.config.sources import ASSET_OUTPUTS, Source, SourceKind, split_source


def default_alarm_names(asset: AssetConfig) -> dict[str, str]:
    """The default alarm of each output an asset's models bring, by source key."""
    if not asset.alarms:
        return {}
    names = {}
    if asset.anomaly is not None:
        names[f"{asset.name}.Anomaly"] = f"{asset.name}_anomaly"
    if asset.rul is not None:
        names[f"{asset.name}.RemainingUsefulLife"] = f"{asset.name}_rul"
    return names


def resolve_source(
    source: str, tag_types: Mapping[str, DataType], assets: Mapping[str, AssetConfig]
) -> Source | str:
    """The source an alarm watches, or why it names none."""
    parts = split_source(source)
    if parts is None:
        return f"must be \"<device>.<tag>\" or \"<asset>.<output>\" (got {source!r})"
    owner, name = parts
    output = ASSET_OUTPUTS.get(name)
    if output is not None and owner in assets:
        kinds = assets[owner].models()
        if output.model_kind not in kinds:
            return (f"asset {owner!r} has no {output.model_kind} model, so no {name} "
                    f"(it has {', '.join(kinds) or 'no model'})")
        return Source(SourceKind.ASSET, owner, name)
    if source in tag_types:
        return Source(SourceKind.TAG, owner, name)
    candidates = sorted([*tag_types, *(f"{a}.{o}" for a in assets for o in ASSET_OUTPUTS)])
    close = difflib.get_close_matches(source, candidates, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else (
        "; expected a configured tag \"<device>.<tag>\" or an asset output "
        f"\"<asset>.{'|'.join(ASSET_OUTPUTS)}\"")
    return f"unknown source {source!r}{hint}"


def check_alarms(
    alarms: Mapping[int, AlarmConfig],
    tag_types: Mapping[str, DataType],
    assets: Mapping[str, AssetConfig],
) -> list[Finding]:
    """Problems of each validated alarm (by its index in the file)."""
    findings = duplicate_names((("alarms", i), alarm.name) for i, alarm in alarms.items())
    watched = {alarm.source for alarm in alarms.values()}
    defaults = {
        name: (asset.name, key)
        for asset in assets.values()
        for key, name in default_alarm_names(asset).items()
        if key not in watched  # a configured alarm on that output replaces the default
    }
    for index, alarm in alarms.items():
        at: Loc = ("alarms", index)
        if alarm.name in defaults:
            asset, key = defaults[alarm.name]
            findings.append(Finding((*at, "name"), f"name {alarm.name!r} is the default alarm "
                                    f"on {key}; choose another name, watch {key} with this "
                                    f"alarm, or set alarms = false on asset {asset!r}"))
        source = resolve_source(alarm.source, tag_types, assets)
        if isinstance(source, str):
            findings.append(Finding((*at, "source"), source))
        else:
            findings += _fits_source(at, alarm, source, tag_types)
            findings += _sibling_clash(at, alarm.name, source, tag_types)
        findings += _limit(at, alarm)
    return findings


def _fits_source(
    at: Loc, alarm: AlarmConfig, source: Source, tag_types: Mapping[str, DataType]
) -> list[Finding]:
    if source.kind is SourceKind.ASSET:
        boolean, text = ASSET_OUTPUTS[source.name].boolean, False
    else:
        data_type = tag_types[source.key]
        boolean, text = data_type is DataType.BOOL, data_type is DataType.STRING
    if text:
        return [Finding((*at, "source"), f"{source.key} is a string tag; an alarm needs a "
                        "number or a bool")]
    if boolean and alarm.condition != "true":
        return [Finding((*at, "condition"), f"{source.key} is a bool: use condition = "
                        f"\"true\", not {alarm.condition!r}")]
    return []


def _sibling_clash(
    at: Loc, name: str, source: Source, tag_types: Mapping[str, DataType]
) -> list[Finding]:
    """The alarm's condition is a child of its source's OPC UA object, beside its variables."""
    if source.kind is SourceKind.ASSET:
        siblings: Iterable[str] = ASSET_VARIABLES
    else:
        prefix = f"{source.owner}."
        siblings = [key.removeprefix(prefix) for key in tag_types if key.startswith(prefix)]
        siblings += RESERVED_TAG_NAMES
    if name in siblings:
        owner = "asset" if source.kind is SourceKind.ASSET else "device"
        return [Finding((*at, "name"), f"{owner} {source.owner!r} already has a child "
                        f"named {name!r}, beside which the alarm's OPC UA condition goes; "
                        "choose another alarm name")]
    return []


def _limit(at: Loc, alarm: AlarmConfig) -> list[Finding]:
    if alarm.condition == "true":
        return [
            Finding((*at, key), "has no meaning for condition \"true\"; remove it")
            for key, given in (("limit", alarm.limit is not None), ("hysteresis", alarm.hysteresis))
            if given
        ]
    if alarm.limit is None:
        return [Finding((*at, "limit"), f"condition \"{alarm.condition}\" needs a limit")]
    return []
