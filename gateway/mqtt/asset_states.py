"""Each asset's retained MQTT state (docs/mqtt.md), sent every `state_interval`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from gateway.alarms.hub import AlarmHub
from gateway.core.clock import Clock
from gateway.core.score import Score
from gateway.mqtt.bridge import MqttBridge


async def report_asset_states(
    bridge: MqttBridge,
    assets: Sequence[str],
    scores_of: Callable[[str], Mapping[str, Score]],
    hub: AlarmHub,
    clock: Clock,
    interval_s: float,
) -> None:
    """Send each asset's retained state every `interval_s` while the broker is there.

    A state only matters until the next one: queueing them through an outage would only
    delay the alarms behind them when the broker comes back.
    """
    while True:
        await asyncio.sleep(interval_s)
        if not bridge.stats.connected:
            continue
        now = clock.now()
        for asset in assets:
            await bridge.publish_asset_state(asset, scores_of(asset), hub.standing(asset), now)
