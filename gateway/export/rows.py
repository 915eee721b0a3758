"""Samples and scores as ClickHouse rows, in the JSONEachRow format (one JSON object a line).

The encoding happens once, when rows enter the outbox: a send is the outbox's bytes joined,
never re-encoded. Each row: gateway, series ("<device>.<tag>" or "<asset>.<output>"),
source_time_us (the SourceTimestamp, microseconds since the epoch, UTC), value (numbers and
booleans as Float64, null for text and for a Bad value), text (a string tag's value, else
""), quality (the OPC UA StatusCode, 0 = Good) and model (a score's model version, else "").
A 64-bit integer above 2**53 loses precision in Float64 (docs/fleet.md says so).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from gateway.core.quality import Quality
from gateway.core.sample import Sample, Value
from gateway.core.score import Score

# The columns of the table (gateway/export/schema.py), in its order.
COLUMNS = ("gateway", "series", "source_time_us", "value", "text", "quality", "model")

# ClickHouse's JSONEachRow reads these (checked against 18.16); Python's repr of a float
# writes nan and inf, which it does not.
_SPECIAL_FLOATS = {math.inf: "Infinity", -math.inf: "-Infinity"}

Row = tuple[str, Value, Quality, datetime, str]  # series, value, quality, time, model


def sample_rows(samples: Iterable[Sample]) -> list[Row]:
    """One row per sample."""
    return [(s.key, s.value, s.quality, s.source_time, "") for s in samples]


def score_rows(scores: Iterable[Score]) -> list[Row]:
    """One row per asset output a score sets (AnomalyScore and Anomaly, or the RUL ones)."""
    return [
        (f"{score.asset}.{output}", value, score.quality, score.window_end, score.model_version)
        for score in scores
        for output, value in score.outputs()
    ]


class RowEncoder:
    """Rows of one gateway to JSONEachRow bytes; `status` maps a quality to its StatusCode."""

    def __init__(self, gateway: str, status: Callable[[Quality], int]) -> None:
        self._prefix = '{"gateway":' + json.dumps(gateway, ensure_ascii=False) + ',"series":'
        self._status = status

    def encode(self, rows: Iterable[Row]) -> bytes:
        """Each row as one line, each line ending with a newline."""
        lines = []
        prefix, status = self._prefix, self._status
        for series, value, quality, time, model in rows:
            number, text = _columns(value)
            lines.append(
                f'{prefix}{json.dumps(series, ensure_ascii=False)},'
                f'"source_time_us":{_epoch_us(time)},"value":{number},'
                f'"text":{text},"quality":{status(quality)},'
                f'"model":{json.dumps(model, ensure_ascii=False)}}}\n'
            )
        return "".join(lines).encode()


def _columns(value: Value) -> tuple[str, str]:
    """The value and text columns as JSON."""
    if value is None:
        return "null", '""'
    if isinstance(value, str):
        return "null", json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return ("1" if value else "0"), '""'
    if isinstance(value, int):
        return str(value), '""'
    if math.isfinite(value):
        return repr(value), '""'
    return _SPECIAL_FLOATS.get(value, "NaN"), '""'


_UTC_EPOCH = datetime.fromtimestamp(0, tz=UTC)


def _epoch_us(time: datetime) -> int:
    """Microseconds since the epoch, exactly (a float timestamp would round them)."""
    delta = time - _UTC_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
