"""Payloads and topics without a broker: exact examples, the schema files, the ack parser."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum
from typing import Any

import pytest

from gateway.alarms import AlarmState, EventKind
from gateway.core.quality import Quality
from gateway.core.score import Score
from gateway.mqtt.commands import AckCommand, CommandError, parse_ack
from gateway.mqtt.payloads import alarm_payload, asset_state_payload, utc_text
from gateway.mqtt.topics import Topics
from tests.gateway.mqtt.support import T0, event, schema

EVENT_ID = uuid.UUID("0b7e7d8a-54d4-4d7e-9a53-6c1f0f6f2a11")


def test_alarm_payload_example() -> None:
    acked = event(
        kind=EventKind.ACKNOWLEDGED,
        acked=True,
        user="anna",
        comment="valve checked",
        quality=Quality.LAST_USABLE,
        time=datetime(2025, 3, 1, 13, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=1))),
        id=EVENT_ID,
    )

    assert json.loads(alarm_payload(acked, "plant1", 42)) == {
        "id": "0b7e7d8a-54d4-4d7e-9a53-6c1f0f6f2a11",
        "seq": 42,
        "gateway": "plant1",
        "alarm": "pump1_pressure",
        "source": "pump1.pressure",
        "kind": "acknowledged",
        "state": "active_acked",
        "active": True,
        "acked": True,
        "shelved": False,
        "severity": 700,
        "value": 12.5,
        "limit": 10.0,
        "quality": "LAST_USABLE",
        "message": "Discharge pressure high",
        "time": "2025-03-01T12:00:00.250Z",
        "user": "anna",
        "comment": "valve checked",
    }


@pytest.mark.parametrize("kind", list(EventKind))
@pytest.mark.parametrize("value", [12.5, 3, True, "OPEN", None, math.nan, -math.inf])
def test_every_alarm_payload_matches_its_schema(kind: EventKind, value: Any) -> None:
    payload = json.loads(alarm_payload(event(kind=kind, value=value, limit=None), "gw", 1))

    schema("alarm").validate(payload)
    if isinstance(value, float) and not math.isfinite(value):
        assert payload["value"] is None  # JSON has no NaN: sent as "no usable value"


def test_asset_state_payload_example_matches_its_schema() -> None:
    scores = {
        "anomaly": Score("pump1", "anomaly", 0.91, True, Quality.GOOD, T0, T0, "iforest-3"),
        "rul": Score("pump1", "rul", None, None, Quality.COMM_ERROR, T0, T0, "hgb-1"),
    }
    at = T0 + timedelta(seconds=10)

    payload = json.loads(asset_state_payload("plant1", "pump1", scores, ["pump1_anomaly"], at))

    schema("asset-state").validate(payload)
    assert payload == {
        "gateway": "plant1",
        "asset": "pump1",
        "time": "2025-03-01T12:00:10.000Z",
        "scores": {
            "anomaly": {
                "value": 0.91,
                "anomaly": True,
                "quality": "GOOD",
                "window_end": "2025-03-01T12:00:00.000Z",
                "model_version": "iforest-3",
            },
            "rul": {
                "value": None,
                "anomaly": None,
                "quality": "COMM_ERROR",
                "window_end": "2025-03-01T12:00:00.000Z",
                "model_version": "hgb-1",
            },
        },
        "alarms": ["pump1_anomaly"],
    }


def test_an_asset_without_scores_yet_matches_its_schema() -> None:
    schema("asset-state").validate(json.loads(asset_state_payload("gw", "fan", {}, [], T0)))


@pytest.mark.parametrize(
    ("pointer", "enum"),
    [
        (("properties", "kind"), EventKind),
        (("properties", "state"), AlarmState),
        (("properties", "quality"), Quality),
    ],
)
def test_alarm_schema_enums_are_the_gateways(pointer: tuple[str, ...], enum: type[Enum]) -> None:
    node: Any = schema("alarm").schema
    for key in pointer:
        node = node[key]
    expected = [member.name if enum is Quality else member.value for member in enum]
    assert sorted(node["enum"]) == sorted(expected)


def test_times_are_utc_with_z_and_naive_times_are_refused() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    assert utc_text(at) == "2025-01-02T03:04:05.678Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_text(at.replace(tzinfo=None))


def test_topics() -> None:
    topics = Topics("plant/line2", "gw1")

    assert topics.status == "plant/line2/gw1/status"
    assert topics.alarm("pump_high") == "plant/line2/gw1/alarms/pump_high"
    assert topics.ack("pump_high") == "plant/line2/gw1/alarms/pump_high/ack"
    assert topics.ack_filter == "plant/line2/gw1/alarms/+/ack"
    assert topics.acked_alarm("plant/line2/gw1/alarms/pump_high/ack") == "pump_high"
    assert topics.asset_state("pump1") == "plant/line2/gw1/assets/pump1/state"


ID = "0b7e7d8a-54d4-4d7e-9a53-6c1f0f6f2a11"
COMMANDS: list[tuple[bytes, str | None]] = [
    (b'{"user": "anna", "comment": "checked"}', None),
    (b'{"user": "anna", "comment": ""}', None),
    (f'{{"user": "anna", "comment": "x", "id": "{ID}"}}'.encode(), None),
    (f'{{"user": "anna", "comment": "x", "id": "{ID.upper()}"}}'.encode(), None),
    (b'{"user": "anna", "comment": "x", "id": null}', None),
    ('{"user": "Jürgen", "comment": "Ölstand geprüft"}'.encode(), None),
    (b'{"user": "anna", "comment": "x", "id": "0b7e7d8a54d44d7e9a536c1f0f6f2a11"}', "id must be"),
    (b'{"user": "anna", "comment": "x", "id": "not-a-uuid"}', "id must be"),
    (b'{"user": "anna", "comment": "x", "id": 7}', "id must be"),
    (b'{"user": "", "comment": "x"}', "user must be 1 to 256"),
    (b'{"user": "' + b"u" * 257 + b'", "comment": "x"}', "user must be 1 to 256"),
    (b'{"user": "anna", "comment": "' + b"c" * 4097 + b'"}', "comment must be 0 to 4096"),
    (b'{"comment": "x"}', "user is missing"),
    (b'{"user": "anna"}', "comment is missing"),
    (b'{"user": 7, "comment": "x"}', "user must be a string"),
    (b'{"user": "anna", "comment": null}', "comment must be a string"),
    (b'{"user": "anna", "comment": "x", "when": "now"}', "unknown keys ['when']"),
    (b'["anna", "x"]', "must be a JSON object"),
    (b'"ack"', "must be a JSON object"),
    (b"{user: anna}", "not JSON"),
    (b"", "not JSON"),
    (b'{"user": "\xff", "comment": "x"}', "not JSON"),
]


@pytest.mark.parametrize(("payload", "error"), COMMANDS)
def test_ack_parser_agrees_with_the_schema(payload: bytes, error: str | None) -> None:
    try:
        document = json.loads(payload.decode("utf-8"))
    except ValueError:
        schema_valid = False
    else:
        schema_valid = schema("ack").is_valid(document)
    assert schema_valid is (error is None)

    if error is None:
        command = parse_ack(payload)
        assert command.user == document["user"]
        assert command.comment == document["comment"]
        assert command.event_id == (uuid.UUID(document["id"]) if document.get("id") else None)
    else:
        with pytest.raises(CommandError, match=error.replace("[", r"\[").replace("]", r"\]")):
            parse_ack(payload)


def test_ack_parser_result() -> None:
    payload = f'{{"user": "anna", "comment": "ok", "id": "{ID}"}}'.encode()
    assert parse_ack(payload) == AckCommand("anna", "ok", uuid.UUID(ID))
