"""JSON payloads the bridge publishes; their schemas are gateway/mqtt/schemas/*.json.

Compact UTF-8 JSON. Times are ISO 8601 UTC with a "Z" and milliseconds. Quality is the
gateway's Quality name ("GOOD", "COMM_ERROR", ...). JSON has no NaN or infinity, so a
non-finite value is sent as null, as a value without a reading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gateway.alarms.events import AlarmEvent
from gateway.core.sample import Value
from gateway.core.score import Score
from gateway.store.maintenance_log import Entry


def alarm_payload(event: AlarmEvent, gateway: str, seq: int) -> bytes:
    """One alarm event; `seq` is the gateway's alarm number (+1 per event, kept on disk)."""
    return _dumps(
        {
            "id": str(event.id),
            "seq": seq,
            "gateway": gateway,
            "alarm": event.alarm,
            "source": event.source,
            "kind": event.kind.value,
            "state": event.state.value,
            "active": event.active,
            "acked": event.acked,
            "shelved": event.shelved,
            "severity": event.severity,
            "value": _finite(event.value),
            "limit": _finite(event.limit),
            "quality": event.quality.name,
            "message": event.message,
            "time": utc_text(event.time),
            "user": event.user,
            "comment": event.comment,
        }
    )


def asset_state_payload(
    gateway: str, asset: str, scores: Mapping[str, Score], alarms: Sequence[str], at: datetime
) -> bytes:
    """An asset's latest scores by model kind ("anomaly", "rul") and its alarms that are not
    Normal, as of `at`."""
    return _dumps(
        {
            "gateway": gateway,
            "asset": asset,
            "time": utc_text(at),
            "scores": {kind: _score(score) for kind, score in scores.items()},
            "alarms": list(alarms),
        }
    )


def maintenance_payload(gateway: str, change: str, entry: Entry) -> bytes:
    """One change ("added", "changed", "deleted") of a maintenance entry, as it is after
    the change (as it was, for "deleted")."""
    draft = entry.draft
    return _dumps(
        {
            "gateway": gateway,
            "asset": draft.asset,
            "change": change,
            "entry": entry.id,
            "started": utc_text(draft.started),
            "finished": utc_text(draft.finished),
            "kind": draft.kind,
            "parts": draft.parts,
            "note": draft.note,
            "resets_life": draft.resets_life,
            "user": entry.user,
            "changed_by": entry.changed_by,
            "time": utc_text(entry.changed),
        }
    )


def utc_text(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a "Z": 2025-03-01T12:00:00.250Z."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"payload times must be timezone-aware (got {at!r})")
    text = at.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def _score(score: Score) -> dict[str, Any]:
    payload = {
        "value": _finite(score.value),
        "anomaly": score.anomaly,
        "quality": score.quality.name,
        "window_end": utc_text(score.window_end),
        "model_version": score.model_version,
    }
    if score.interval is not None and payload["value"] is not None:
        payload["low"], payload["high"] = score.interval  # a RUL model's interval (issue #13)
    return payload


def _finite(value: Value) -> Value:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
