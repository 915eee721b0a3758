"""A RUL model's prediction interval in the asset state, through a real mosquitto (issue #13)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.core.quality import Quality
from gateway.core.score import Score
from tests.fixtures.mqtt import Mosquitto, SubscriberFactory
from tests.gateway.mqtt.support import T0, bridged, schema, settings, topic, wait_until


async def test_asset_state_carries_low_and_high_only_when_the_model_has_them(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    with_interval = Score(
        "pump1", "rul", 55.0, None, Quality.GOOD, T0, T0, "hgb-2", interval=(40.0, 70.0)
    )
    older = Score("pump2", "rul", 55.0, None, Quality.GOOD, T0, T0, "hgb-1")
    bad = Score("pump3", "rul", None, None, Quality.COMM_ERROR, T0, T0, "hgb-2")
    watcher = await subscribers(mosquitto, topic("assets/+/state"))
    async with bridged(settings(mosquitto.url), tmp_path / "outbox.db") as bridge:
        for score in (with_interval, older, bad):
            await bridge.publish_asset_state(score.asset, {"rul": score}, [], T0)
        await wait_until(lambda: bridge.stats.delivered == 3, "three states delivered")
        messages = await watcher.take(3)

    scores = {}
    for message in messages:
        payload = json.loads(message.payload)
        schema("asset-state").validate(payload)
        scores[payload["asset"]] = payload["scores"]["rul"]
    assert (scores["pump1"]["value"], scores["pump1"]["low"], scores["pump1"]["high"]) == (
        55.0,
        40.0,
        70.0,
    )
    # A model file without an interval, and a Bad window: neither gives a made-up one.
    assert scores["pump2"]["value"] == 55.0
    assert "low" not in scores["pump2"]
    assert "high" not in scores["pump2"]
    assert scores["pump3"]["value"] is None
    assert "low" not in scores["pump3"]
