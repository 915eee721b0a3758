"""Alarm transitions as the two channels deliver them, and what the benchmark reduces them
to: latency, expected vs received, duplicates, and the order of MQTT's `seq`. No I/O."""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from report import percentile

ACTIVATED = "activated"
CLEARED = "cleared"
DRIVEN = (ACTIVATED, CLEARED)  # the transitions the benchmark causes and expects


@dataclass(frozen=True, slots=True)
class Transition:
    """One alarm event at a client: `event_s` is the event's own time (when the condition
    changed), `arrival_s` when the client got it; both wall-clock epoch seconds."""

    alarm: str
    kind: str  # "activated", "cleared", or another event kind of the gateway
    event_id: str
    event_s: float
    arrival_s: float


def mqtt_transition(arrival_s: float, payload: bytes) -> tuple[Transition, int]:
    """An alarm message (docs/mqtt.md) as a Transition, with its `seq`."""
    message = json.loads(payload)
    # The payload's time has whole milliseconds (truncated): latencies are up to 1 ms long.
    event_s = datetime.fromisoformat(message["time"]).timestamp()
    return Transition(message["alarm"], message["kind"], message["id"], event_s,
                      arrival_s), int(message["seq"])


class ActiveFlips:
    """Names OPC UA condition events by the change of ActiveState/Id since the alarm's
    previous event: every alarm starts inactive (Normal)."""

    def __init__(self) -> None:
        self._active: dict[str, bool] = {}

    def kind(self, alarm: str, active: bool) -> str:
        was = self._active.get(alarm, False)
        self._active[alarm] = active
        if active == was:
            return "other"
        return ACTIVATED if active else CLEARED


@dataclass(frozen=True)
class SeqCheck:
    """Order and completeness of numbered messages against the numbers 1..expected."""

    received: int
    distinct: int
    duplicates: int  # received more than once
    missing: int  # numbers in 1..expected never received
    out_of_order: int  # received after a higher number (duplicates excluded)


def seq_check(seqs: Sequence[int], expected: int) -> SeqCheck:
    seen: set[int] = set()
    highest = 0
    out_of_order = 0
    for seq in seqs:
        if seq in seen:
            continue
        seen.add(seq)
        if seq < highest:
            out_of_order += 1
        highest = max(highest, seq)
    missing = sum(1 for n in range(1, expected + 1) if n not in seen)
    return SeqCheck(len(seqs), len(seen), len(seqs) - len(seen), missing, out_of_order)


@dataclass
class ChannelFigures:
    """One channel's transitions over the run, against what the benchmark drove."""

    channel: str
    expected: int  # per kind: activations, and as many clears
    activations: int  # distinct events received
    clears: int
    missing: int  # expected, never received (both kinds)
    unexpected: int  # received beyond what was driven (both kinds)
    duplicates: int  # the same event id received again
    other_events: int  # events of other kinds (quality, acknowledgement): none are driven
    latency_count: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    # From the benchmark's write of the disturbed input to the activation's arrival:
    # the wait for the device's poll and the asset's next row is part of it.
    input_p50_ms: float | None
    input_p99_ms: float | None


def channel_figures(channel: str, transitions: Iterable[Transition], expected: int,
                    far_writes: Mapping[str, Sequence[float]]) -> ChannelFigures:
    """Reduce a channel's transitions; `far_writes` has each alarm's disturbed-input write
    times, in order."""
    first: dict[str, Transition] = {}
    arrivals = 0
    for transition in transitions:
        arrivals += 1
        first.setdefault(transition.event_id, transition)
    driven = [t for t in first.values() if t.kind in DRIVEN]
    by_kind = Counter(t.kind for t in driven)
    latencies = [(t.arrival_s - t.event_s) * 1e3 for t in driven]
    inputs = []
    for t in driven:
        writes = far_writes.get(t.alarm, ())
        at = bisect.bisect_right(writes, t.event_s)
        if t.kind == ACTIVATED and at:
            inputs.append((t.arrival_s - writes[at - 1]) * 1e3)
    return ChannelFigures(
        channel=channel,
        expected=expected,
        activations=by_kind[ACTIVATED],
        clears=by_kind[CLEARED],
        missing=sum(max(0, expected - by_kind[kind]) for kind in DRIVEN),
        unexpected=sum(max(0, by_kind[kind] - expected) for kind in DRIVEN),
        duplicates=arrivals - len(first),
        other_events=len(first) - len(driven),
        latency_count=len(latencies),
        latency_p50_ms=percentile(latencies, 50.0),
        latency_p99_ms=percentile(latencies, 99.0),
        latency_max_ms=max(latencies, default=None),
        input_p50_ms=percentile(inputs, 50.0),
        input_p99_ms=percentile(inputs, 99.0),
    )
