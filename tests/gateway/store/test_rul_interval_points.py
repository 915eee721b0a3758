"""A RUL score's interval in the history, beside its value (issue #13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.core.quality import Quality
from gateway.core.score import Score
from gateway.store.history import Point
from gateway.store.history_points import score_points

END = datetime(2025, 3, 1, 12, tzinfo=UTC)
AT = END + timedelta(milliseconds=40)


def test_low_and_high_are_recorded_with_the_value_s_time_and_quality() -> None:
    score = Score(
        "pump1", "rul", 55.0, None, Quality.LAST_USABLE, END, AT, "r/2", interval=(40.0, 70.0)
    )
    assert list(score_points([score])) == [
        Point("pump1.RemainingUsefulLife", END, 55.0, Quality.LAST_USABLE),
        Point("pump1.RemainingUsefulLifeLow", END, 40.0, Quality.LAST_USABLE),
        Point("pump1.RemainingUsefulLifeHigh", END, 70.0, Quality.LAST_USABLE),
    ]


def test_an_older_model_records_no_interval() -> None:
    older = Score("pump2", "rul", 60.0, None, Quality.GOOD, END, AT, "r/1")
    assert list(score_points([older])) == [
        Point("pump2.RemainingUsefulLife", END, 60.0, Quality.GOOD),
    ]
