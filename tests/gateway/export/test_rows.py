"""Rows as gateway.export.rows encodes them are read back by a real ClickHouse exactly:
every value type and the floats JSON has no word for, text with quotes, Cyrillic and
control characters, Bad qualities, and the outputs of scores."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from asyncua import ua

from gateway.core.quality import Quality
from gateway.core.sample import Sample
from gateway.core.score import Score
from gateway.export import schema
from gateway.export.exporter import _OPC_STATUS
from gateway.export.rows import RowEncoder, sample_rows, score_rows
from tests.gateway.export.clickhouse_server import ClickhouseServer

T0 = datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=UTC)


async def test_every_value_reads_back(clickhouse: ClickhouseServer) -> None:
    await clickhouse.query(schema.create_database("plant"))
    await clickhouse.query(schema.create_table("plant", "history"))
    samples = [
        Sample("press.float", 21.5, Quality.GOOD, T0),
        Sample("press.nan", math.nan, Quality.GOOD, T0),
        Sample("press.inf", math.inf, Quality.GOOD, T0),
        Sample("press.minus_inf", -math.inf, Quality.GOOD, T0),
        Sample("press.int", -32768, Quality.GOOD, T0),
        Sample("press.big", 2**53, Quality.GOOD, T0),
        Sample("press.on", True, Quality.GOOD, T0),
        Sample("press.off", False, Quality.LAST_USABLE, T0),
        Sample("press.text", 'Насос "1"\t\x01\\', Quality.GOOD, T0),
        Sample("press.gone", None, Quality.COMM_ERROR, T0 + timedelta(microseconds=1)),
    ]
    scores = [
        Score("pump1", "rul", 120.0, None, Quality.GOOD, T0, T0, "v7", interval=(100.0, 140.0)),
        Score("pump1", "anomaly", 0.25, False, Quality.DEVICE_ERROR, T0, T0, "a3"),
    ]
    encoder = RowEncoder("цех-1", _OPC_STATUS.__getitem__)
    body = encoder.encode(sample_rows(samples) + score_rows(scores))
    await clickhouse.query(schema.insert("plant", "history"), body)

    rows = {row["series"]: row for row in await clickhouse.rows(
        "SELECT gateway, series, toInt64(source_time_us) AS us, value, toString(value) AS shown, "
        "text, quality, model, toString(time) AS time FROM plant.history")}
    t0_us = 1796637600123456
    assert int(rows["press.float"]["us"]) == t0_us
    assert rows["press.float"]["time"] == "2026-12-07 10:00:00"
    assert {row["gateway"] for row in rows.values()} == {"цех-1"}
    values = {series: row["value"] for series, row in rows.items()}
    assert values["press.float"] == 21.5
    # Stored as such; JSONEachRow writes them as null, toString as nan, inf, -inf.
    assert rows["press.nan"]["shown"] == "nan"
    assert rows["press.inf"]["shown"] == "inf"
    assert rows["press.minus_inf"]["shown"] == "-inf"
    assert values["press.int"] == -32768
    assert values["press.big"] == 2**53
    assert (values["press.on"], values["press.off"]) == (1, 0)
    assert rows["press.off"]["quality"] == ua.StatusCodes.UncertainLastUsableValue
    assert values["press.text"] is None
    assert rows["press.text"]["text"] == 'Насос "1"\t\x01\\'
    assert values["press.gone"] is None
    assert rows["press.gone"]["quality"] == ua.StatusCodes.BadCommunicationError
    assert int(rows["press.gone"]["us"]) == t0_us + 1
    assert values["pump1.RemainingUsefulLife"] == 120.0
    assert values["pump1.RemainingUsefulLifeLow"] == 100.0
    assert values["pump1.RemainingUsefulLifeHigh"] == 140.0
    assert rows["pump1.RemainingUsefulLife"]["model"] == "v7"
    assert values["pump1.AnomalyScore"] == 0.25
    assert values["pump1.Anomaly"] == 0
    assert rows["pump1.Anomaly"]["quality"] == ua.StatusCodes.BadDeviceFailure
    assert rows["pump1.Anomaly"]["model"] == "a3"
    assert len(rows) == len(samples) + 5
