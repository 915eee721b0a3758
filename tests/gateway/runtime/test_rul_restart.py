"""A maintenance entry that resets life restarts an asset's RUL commissioning (issue #12):
the new life and its baseline are learnt from the rows after the entry's end, the scores
are Uncertain again until the new baseline is complete, and the states are saved at once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from gateway.core.clock import SystemClock
from gateway.core.quality import Quality
from gateway.runtime.asset_state import AssetStateStore
from gateway.runtime.scoring import ScoringEngine
from gateway.runtime.tag_cache import TagCache
from tests.gateway.runtime.test_scoring import T0, feed, scorer, step


def test_a_restart_learns_the_baseline_from_the_rows_after_the_entry_only() -> None:
    target, cache = scorer("rul"), TagCache()
    feed(cache, motor_current=30.0)  # the old bearing's life
    for i in range(60):
        step(target, cache, i)
    feed(cache)  # the new bearing's rows: healthy values
    for i in range(60, 70):
        step(target, cache, i)

    # The work ended after row 64 (times are T0 + i s): rows 65 to 69 are the new life.
    assert target.restart_life(T0 + timedelta(seconds=64.5)) == ["rul"]
    state = target.rul_states["rul"]
    assert state.cycle == 5
    assert not state.baseline_complete
    assert np.allclose(
        state.commissioning_rows[:, list(target.signals).index("motor_current")], 18.0
    )
    qualities = [step(target, cache, i)[0].quality for i in range(70, 86)]
    assert qualities[:14] == [Quality.LAST_USABLE] * 14  # until 20 complete rows again
    assert qualities[-1] is Quality.GOOD
    assert target.rul_states["rul"].cycle == 21


def test_an_anomaly_model_alone_has_no_life_to_restart() -> None:
    target, cache = scorer("anomaly"), TagCache()
    feed(cache)
    step(target, cache, 0)
    assert target.restart_life(T0) == []


async def test_the_engine_saves_the_new_life_at_once(tmp_path: Path) -> None:
    target, cache = scorer("rul"), TagCache()
    feed(cache)
    for i in range(40):
        step(target, cache, i)
    store = AssetStateStore(tmp_path)
    engine = ScoringEngine([target], cache, lambda scores: None, SystemClock(), store)

    assert await engine.restart_life("pump", T0 + timedelta(seconds=36.5)) == ["rul"]
    assert json.loads(store.path("pump", "rul").read_text())["cycle"] == 3
    with pytest.raises(KeyError):
        await engine.restart_life("pump9", T0)
