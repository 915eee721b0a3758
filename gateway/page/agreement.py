"""How well each version of an asset's anomaly model agrees with the experts (issue #12):
the Models page's agreement view and `uvelka report` compute the same figures here.

Per version, active or in shadow, over a range [start, end), from its `<asset>.Anomaly`
(active) or `<asset>.shadow.Anomaly` (shadow) history, the periods the model timeline
(gateway.store.model_timeline) gives it, the asset's labels and the verdicts on its model
alarms (gateway.store.labels). The figures are defined in analytics/README.md
("Agreement with the experts"):

- `scored_s`: the version's usable outputs times the median spacing of its outputs;
- `episodes`: alarm episodes (gateway.alarms.episodes, with the delays of the asset's
  anomaly alarm) starting in the version's periods;
- `verdicts`: per verdict, the verdicts whose alarm range (activation to clear, or to
  `end` while active) overlaps one of those episodes;
- `anomaly_labels` / `caught` / `recall`: anomaly labels overlapping the version's
  periods; those an episode overlaps; caught / labelled (None without labels);
- `false_alarms` / `false_alarms_per_day`: episodes overlapping no anomaly label and no
  confirmed verdict's alarm range; per day of `scored_s` (None without scored time);
- `time_to_alarm_s`: per caught label, the first overlapping episode's start minus the
  label's start (negative: the model alarmed before the expert's range began).

Everything reads its own connections read-only (history: SQLite mode=ro; labels: WAL
readers never block the gateway's writes) and runs in a worker thread with its own event
loop (`agreement_in_thread`), so that the gateway's loop only waits for the answer.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.alarms.episodes import Episode, episodes
from gateway.alarms.rules import AlarmRule, Condition
from gateway.core.quality import Quality
from gateway.runtime.shadow import shadow_asset
from gateway.store.history_export import FILE_NAME as HISTORY_FILE
from gateway.store.history_export import RAW_SLICE_MS, open_read_only
from gateway.store.history_query import Grid
from gateway.store.history_schema import to_ms
from gateway.store.labels import FILE_NAME as LABELS_FILE
from gateway.store.labels import VERDICTS, LabelStore
from gateway.store.model_timeline import ModelTimeline, Period, Role

logger = logging.getLogger(__name__)

DAY_S = 86_400.0
# The default range: from the asset's first recorded period, at most this long ago.
AGREEMENT_RANGE = timedelta(days=30)

Observation = tuple[datetime, bool | None]


class AgreementError(ValueError):
    """The figures cannot be computed (an unknown asset, no alarm delays recorded)."""


def output_key(asset: str, role: Role, output: str = "Anomaly") -> str:
    """The history key of a model output of the active model or the one in shadow."""
    return f"{asset if role == 'active' else shadow_asset(asset)}.{output}"


@dataclass(frozen=True, slots=True)
class Judged:
    """A verdict on one of the asset's model alarms, with the alarm's range."""

    verdict: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class VersionAgreement:
    """The figures of one version in one role (see the module's docstring)."""

    role: Role
    version: str | None  # None: outputs from before the timeline was kept
    scored_s: float
    episodes: int
    verdicts: dict[str, int]
    anomaly_labels: int
    caught: int
    recall: float | None
    false_alarms: int
    false_alarms_per_day: float | None
    time_to_alarm_s: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rule_of(timeline: ModelTimeline, asset: str) -> AlarmRule:
    """The anomaly alarm of `asset` as the gateway last ran it (its delays)."""
    delays = timeline.alarms.get(asset)
    if delays is None:
        raise AgreementError(
            f"{asset}: no anomaly alarm delays recorded in "
            f"{timeline.path}; has a gateway run this asset with an anomaly "
            "model since the agreement view came (issue #12)?"
        )
    return AlarmRule(
        f"{asset} agreement",
        output_key(asset, "active"),
        Condition.TRUE,
        on_delay_s=delays.on_delay_s,
        off_delay_s=delays.off_delay_s,
    )


def agreement(
    asset: str,
    periods: Sequence[Period],
    rule: AlarmRule,
    observations: dict[Role, list[Observation]],
    labels: Sequence[tuple[datetime, datetime]],
    judged: Sequence[Judged],
    start: datetime,
    end: datetime,
) -> list[VersionAgreement]:
    """The figures of every version with outputs or periods in [start, end): the active
    ones first, each role oldest first. `labels` are the asset's anomaly ranges."""
    found = []
    for role in ("active", "shadow"):
        role_periods = [p for p in periods if p.role == role and p.asset == asset]
        points = observations.get(role, [])
        runs = episodes(points, rule)
        versions: dict[str | None, list[tuple[datetime, datetime]]] = {}
        for period in role_periods:
            lo, hi = max(period.start, start), min(period.end or end, end)
            if lo < hi:
                versions.setdefault(period.version, []).append((lo, hi))
        if any(_version_at(role_periods, at) is None for at, _ in points):
            # Outputs from before the timeline was kept (or between its periods).
            versions.setdefault(None, []).extend(_uncovered(role_periods, start, end))
        for version, spans in versions.items():
            mine = [e for e in runs if _version_at(role_periods, e.start) == version]
            mine_points = [p for p in points if _version_at(role_periods, p[0]) == version]
            found.append(_figures(role, version, spans, mine_points, mine, labels, judged))
    return found


def _figures(
    role: Role,
    version: str | None,
    spans: Sequence[tuple[datetime, datetime]],
    points: Sequence[Observation],
    runs: Sequence[Episode],
    labels: Sequence[tuple[datetime, datetime]],
    judged: Sequence[Judged],
) -> VersionAgreement:
    usable = [at for at, value in points if value is not None]
    gaps = [(b - a).total_seconds() for a, b in zip(usable, usable[1:], strict=False)]
    scored_s = len(usable) * statistics.median(gaps) if gaps else 0.0
    counts = dict.fromkeys(VERDICTS, 0)
    for verdict in judged:
        if any(run.overlaps(verdict.start, verdict.end) for run in runs):
            counts[verdict.verdict] = counts.get(verdict.verdict, 0) + 1
    seen = [(lo, hi) for lo, hi in labels if any(lo <= s_hi and s_lo <= hi for s_lo, s_hi in spans)]
    delays = []
    for lo, hi in seen:
        overlapping = [run.start for run in runs if run.overlaps(lo, hi)]
        if overlapping:
            delays.append((min(overlapping) - lo).total_seconds())
    confirmed = [(v.start, v.end) for v in judged if v.verdict == "confirmed"]
    false_alarms = sum(
        1 for run in runs if not any(run.overlaps(lo, hi) for lo, hi in (*labels, *confirmed))
    )
    return VersionAgreement(
        role=role,
        version=version,
        scored_s=scored_s,
        episodes=len(runs),
        verdicts=counts,
        anomaly_labels=len(seen),
        caught=len(delays),
        recall=len(delays) / len(seen) if seen else None,
        false_alarms=false_alarms,
        false_alarms_per_day=false_alarms / (scored_s / DAY_S) if scored_s > 0 else None,
        time_to_alarm_s=delays,
    )


def _version_at(periods: Iterable[Period], at: datetime) -> str | None:
    for period in periods:
        if period.start <= at and (period.end is None or at < period.end):
            return period.version
    return None


def _uncovered(
    periods: Sequence[Period], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) no period covers."""
    spans, at = [], start
    for period in sorted(periods, key=lambda p: p.start):
        if period.start > at:
            spans.append((at, min(period.start, end)))
        at = max(at, period.end or end)
    if at < end:
        spans.append((at, end))
    return [(lo, hi) for lo, hi in spans if lo < hi]


async def read_agreement(
    data_dir: Path, asset: str, timeline: ModelTimeline, start: datetime, end: datetime
) -> dict[str, Any]:
    """The agreement of `asset`'s anomaly model versions over [start, end), as JSON (the
    page's and `uvelka report --json`'s answer); raises AgreementError, ExportError."""
    if end <= start:
        raise AgreementError(
            f"the range ends ({end.isoformat()}) before it starts ({start.isoformat()})"
        )
    rule = rule_of(timeline, asset)
    observations: dict[Role, list[Observation]] = {}
    roles: tuple[Role, ...] = ("active", "shadow")
    async with open_read_only(data_dir / HISTORY_FILE) as (reader, ids):
        keys = {role: output_key(asset, role) for role in roles}
        series = {key: ids.get(key) for key in keys.values()}
        start_ms, end_ms = to_ms(start), to_ms(end)
        for role in roles:
            observations[role] = []
        for lo in range(start_ms, end_ms, RAW_SLICE_MS):
            hi = min(lo + RAW_SLICE_MS, end_ms)
            found = await reader.read(series, Grid.every(lo, hi, hi - lo), raw=True)
            for role, key in keys.items():
                observations[role] += [
                    (
                        b.start,
                        None
                        if b.mean is None or b.quality > Quality.LAST_USABLE
                        else b.mean >= 0.5,
                    )
                    for b in found[key]
                ]
    labels: list[tuple[datetime, datetime]] = []
    judged: list[Judged] = []
    labels_path = data_dir / LABELS_FILE
    if labels_path.exists():  # never create it: the report reads what is there
        async with LabelStore.open(labels_path) as store:
            labels = [
                (label.start, label.end)
                for label in await store.labels(
                    assets=[asset], kinds=["anomaly"], start=start, end=end
                )
            ]
            judged = [
                Judged(v.verdict, v.activation.activated, v.activation.cleared or end)
                for v in await store.verdicts(assets=[asset], start=start, end=end)
            ]
    versions = agreement(asset, timeline.of(asset), rule, observations, labels, judged, start, end)
    return {
        "asset": asset,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "alarm": {"on_delay_s": rule.on_delay_s, "off_delay_s": rule.off_delay_s},
        "versions": [v.to_json() for v in versions],
    }


async def agreement_in_thread(
    data_dir: Path, asset: str, timeline: ModelTimeline, start: datetime, end: datetime
) -> dict[str, Any]:
    """`read_agreement` in a worker thread with its own event loop: the history's points
    and the episodes are built there, never on the gateway's loop."""
    return await asyncio.to_thread(
        asyncio.run, read_agreement(data_dir, asset, timeline, start, end)
    )


def default_range(
    timeline: ModelTimeline, asset: str, now: datetime, longest: timedelta
) -> tuple[datetime, datetime]:
    """From the asset's first recorded period (at most `longest` ago) to `now`."""
    periods = timeline.of(asset)
    first = min((p.start for p in periods), default=now - longest)
    return max(first, now - longest), now
