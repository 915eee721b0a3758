"""The alarms a configuration asks for: its [[alarms]] tables and the assets' defaults.

Default asset alarms (docs/configuration.md, "Default asset alarms"): an anomaly model
brings `<asset>_anomaly` on its Anomaly decision, whose hold already keeps it on after the
score falls back, and which must hold for a few windows before it raises the alarm; a RUL
model brings `<asset>_rul` below a limit, with hysteresis and delays because RUL
estimates wander from window to window. Both are counted in asset intervals, so they
last the same number of rows at any pace (the demo's speed-up scales the interval). An
[[alarms]] table on the same output replaces the default.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.alarms.rules import AlarmRule, Condition
from gateway.config.alarm_checks import default_alarm_names, resolve_source
from gateway.config.model import AlarmConfig, AssetConfig, GatewayConfig
from gateway.config.sources import Source, SourceKind

ANOMALY_SEVERITY = 700
ANOMALY_ON_DELAY_INTERVALS = 3  # a lone window above the threshold raises nothing (issue #11)
RUL_SEVERITY = 600
# Of the model's full life, the top of its score range: the cap of its training target, set
# to the asset's life (`uvelka train rul --cap`; the longest life its runs to failure show),
# when rul_alarm_below is not set. A cap far above that life (125 h for 12 h bearings)
# gives a limit the estimate never rises above, an alarm that never clears (issue #11).
RUL_LIMIT_SHARE = 0.10
RUL_HYSTERESIS_SHARE = 0.10  # of the limit
RUL_DELAY_INTERVALS = 30  # on and off delay, in asset intervals

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RulScale:
    """What a RUL model says about its output: the full life (top of its range), the unit."""

    full_life: float
    unit: str | None


@dataclass(frozen=True, slots=True)
class WatchedAlarm:
    """A rule with the source it watches, resolved."""

    rule: AlarmRule
    source: Source


def configured_alarms(
    config: GatewayConfig, rul_scales: Mapping[str, RulScale]
) -> list[WatchedAlarm]:
    """Every alarm of a validated configuration: its tables first, then asset defaults.

    `rul_scales` has the RUL model's scale of each asset that has one running.
    """
    tag_types = {
        f"{device.name}.{tag.name}": tag.type for device in config.devices for tag in device.tags
    }
    assets = {asset.name: asset for asset in config.assets}
    watched = [_from_table(alarm, resolve_source(alarm.source, tag_types, assets))
               for alarm in config.alarms]
    taken = {alarm.source for alarm in config.alarms}
    for asset in config.assets:
        for key, name in default_alarm_names(asset).items():
            if key not in taken and (
                default := _default(asset, key, name, rul_scales.get(asset.name))
            ) is not None:
                watched.append(default)
    return watched


def _from_table(alarm: AlarmConfig, source: Source | str) -> WatchedAlarm:
    if isinstance(source, str):  # the loader refuses such a file: a caller's bug
        raise ValueError(f"alarm {alarm.name!r}: {source}")
    rule = AlarmRule(
        name=alarm.name,
        source=alarm.source,
        condition=Condition(alarm.condition),
        limit=alarm.limit,
        hysteresis=alarm.hysteresis,
        on_delay_s=alarm.on_delay,
        off_delay_s=alarm.off_delay,
        severity=alarm.severity,
        message=alarm.message or f"{alarm.name} in alarm",
    )
    return WatchedAlarm(rule, source)


def _default(
    asset: AssetConfig, key: str, name: str, scale: RulScale | None
) -> WatchedAlarm | None:
    source = Source(SourceKind.ASSET, asset.name, key.partition(".")[2])
    if source.name == "Anomaly":
        rule = AlarmRule(name, key, Condition.TRUE,
                         on_delay_s=ANOMALY_ON_DELAY_INTERVALS * asset.interval,
                         severity=ANOMALY_SEVERITY, message=f"Anomaly on {asset.name}")
        return WatchedAlarm(rule, source)
    if asset.rul_alarm_below is not None:
        limit = asset.rul_alarm_below
    elif scale is not None:
        limit = RUL_LIMIT_SHARE * scale.full_life
    else:
        # Its RUL model file was refused at start (issue #17): no full life to take 10 %
        # of. The gateway starts without this alarm rather than not at all.
        logger.warning("alarm %r left out until the next start: asset %r has no RUL model "
                       "to take its limit from; rul_alarm_below sets one", name, asset.name)
        return None
    delay_s = RUL_DELAY_INTERVALS * asset.interval
    unit = f" {scale.unit}" if scale is not None and scale.unit else ""
    rule = AlarmRule(
        name, key, Condition.BELOW, limit=limit, hysteresis=RUL_HYSTERESIS_SHARE * limit,
        on_delay_s=delay_s, off_delay_s=delay_s, severity=RUL_SEVERITY,
        message=f"Remaining useful life of {asset.name} below {limit:g}{unit}",
    )
    return WatchedAlarm(rule, source)
