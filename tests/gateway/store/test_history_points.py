"""Scores as history points: keys, values kept, times, quality."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.config.sources import ASSET_OUTPUTS
from gateway.core.quality import Quality
from gateway.core.score import Score
from gateway.store.history import Point
from gateway.store.history_points import score_points

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


def test_scores_give_one_point_per_output_named_as_alarm_sources() -> None:
    window_end, scored_at = T0, T0 + timedelta(seconds=2)
    anomaly = Score("pump1", "anomaly", 4.5, True, Quality.GOOD, window_end, scored_at, "m/1")
    rul = Score("pump1", "rul", None, None, Quality.COMM_ERROR, window_end, scored_at, "r/1")

    points = list(score_points([anomaly, rul]))

    assert points == [
        Point("pump1.AnomalyScore", window_end, 4.5, Quality.GOOD),
        Point("pump1.Anomaly", window_end, True, Quality.GOOD),
        Point("pump1.RemainingUsefulLife", window_end, None, Quality.COMM_ERROR),
    ]
    # Every output an alarm can watch has its series, so Trends and alarms name the same.
    assert {point.key.split(".")[1] for point in points} == set(ASSET_OUTPUTS)
