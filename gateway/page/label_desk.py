"""Expert labels and alarm verdicts while the gateway runs (issue #12): checked against the
running configuration, stored in the label store (gateway/store/labels.py, which says what
a label and a verdict are), and fed with the alarm hub's activations.

Who may do what (docs/web.md): engineers label (add, change, delete); operators and
engineers give verdicts on alarms, as they acknowledge them (MES does over MQTT, in the
acknowledgement's payload); viewers read both. The audit log is written by the caller (the
web page's facade), who knows the user.

`training_csv` writes an asset's labelled history in the shape `uvelka train anomaly
--labels` reads: its inputs at its interval over the labelled ranges, named as the model
names them, with an `anomaly` column.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime

from gateway.alarms.events import AlarmEvent, EventKind
from gateway.config.sources import Source, SourceKind
from gateway.core.clock import Clock
from gateway.store.labels import (
    Activation,
    Label,
    LabelDraft,
    LabelStore,
    NotStored,
    Verdict,
    VerdictDraft,
    check_label,
    check_verdict,
)

logger = logging.getLogger(__name__)

ANOMALY_COLUMN = "anomaly"  # analytics.training.datasets.LABEL_COLUMNS
# Activations waiting in memory for the disk: a flood of alarms on a full disk stays bounded.
MAX_WAITING = 10_000


class LabelDesk:
    """The label store of a running gateway, its checks and its alarm activations."""

    def __init__(
        self,
        store: LabelStore,
        assets: Collection[str],
        sources: Mapping[str, Source],
        clock: Clock,
    ) -> None:
        self.store = store
        self.assets = frozenset(assets)
        # A model alarm's asset, by alarm name: its verdicts label the asset's history.
        self.model_alarms = {
            name: source.owner
            for name, source in sources.items()
            if source.kind is SourceKind.ASSET
        }
        self._clock = clock
        self._waiting: list[Activation] = []
        self._waiting_clears: list[tuple[str, datetime]] = []
        self._writing = asyncio.Lock()
        self.dropped = 0  # activations never recorded: more than MAX_WAITING waited

    async def record(self, events: Sequence[AlarmEvent]) -> None:
        """A sink of the alarm hub: record its activations and clears. While the store
        cannot be written (a full disk, reported to StorageHealth by the store), they wait
        in memory, at most MAX_WAITING activations (the oldest dropped, counted), and are
        written by the next call or `retry`."""
        self._waiting += [
            Activation(e.id, e.alarm, e.source, self.model_alarms.get(e.alarm), e.time)
            for e in events
            if e.kind is EventKind.ACTIVATED
        ]
        self._waiting_clears += [(e.alarm, e.time) for e in events if e.kind is EventKind.CLEARED]
        await self.retry()

    async def retry(self) -> None:
        """Write the activations and clears waiting in memory (storage retries call it)."""
        async with self._writing:  # the hub's sink and the storage retries, one at a time
            if not self._waiting and not self._waiting_clears:
                return
            try:
                await self.store.record_events(self._waiting, self._waiting_clears)
            except NotStored as error:
                over = len(self._waiting) - MAX_WAITING
                if over > 0:
                    del self._waiting[:over]
                    self.dropped += over
                logger.debug(
                    "%d alarm activations wait to be recorded: %s", len(self._waiting), error
                )
                return
            self._waiting, self._waiting_clears = [], []

    async def add(self, draft: LabelDraft, user: str) -> Label:
        """Check and store a new label of `user`'s. InvalidLabel, Overlap, NotStored."""
        check_label(draft, self.assets, self._clock.now())
        return await self.store.add(draft, user)

    async def change(self, number: int, draft: LabelDraft, user: str) -> tuple[Label, Label]:
        """Check and store label `number` as `draft`: (before, after). InvalidLabel,
        Overlap, UnknownLabel, NotStored."""
        check_label(draft, self.assets, self._clock.now())
        return await self.store.update(number, draft, user)

    async def delete(self, number: int) -> Label:
        """Delete label `number`; the label as it was. UnknownLabel, NotStored."""
        return await self.store.delete(number)

    async def judge(
        self, event_id: uuid.UUID, draft: VerdictDraft, user: str
    ) -> tuple[Verdict, Label | None]:
        """Check and store a verdict on the activation `event_id`, and its label on a model
        alarm. InvalidLabel, Overlap, UnknownEvent, NotStored."""
        check_verdict(draft)
        return await self.store.judge(event_id, draft, user)

    async def judge_latest(
        self, alarm: str, draft: VerdictDraft, user: str
    ) -> tuple[Verdict, Label | None]:
        """A verdict on the latest activation of `alarm` (the one an acknowledgement
        acknowledges); as `judge`."""
        check_verdict(draft)
        found = await self.store.latest_activation(alarm)
        return await self.store.judge(found.event_id, draft, user)


async def training_csv(
    history_csv: AsyncIterator[str], labels: Sequence[Label]
) -> AsyncIterator[str]:
    """The rows of `history_csv` (the history's export: a header, then rows whose first
    cell is the time) that lie in a `normal` or `anomaly` label, with an `anomaly` column:
    1 in an anomaly label, 0 in a normal one. Rows nobody labelled, or labelled `unsure`,
    are left out: a model learns only what an expert said."""
    ranges = sorted(
        (label.start, label.end, label.kind == "anomaly")
        for label in labels
        if label.kind in ("normal", "anomaly")
    )
    header = True
    rest = ""
    async for piece in history_csv:
        lines = (rest + piece).split("\n")
        rest = lines.pop()
        kept = []
        for line in lines:
            if header:
                kept.append(f"{line},{ANOMALY_COLUMN}")
                header = False
                continue
            flag = _flag_at(ranges, datetime.fromisoformat(line.partition(",")[0]))
            if flag is not None:
                kept.append(f"{line},{flag}")
        if kept:
            yield "\n".join(kept) + "\n"


def _flag_at(ranges: Sequence[tuple[datetime, datetime, bool]], at: datetime) -> int | None:
    """1 inside an anomaly range, 0 inside a normal one, None outside both (normal and
    anomaly ranges never overlap: the store refuses it)."""
    for start, end, anomalous in ranges:
        if start > at:
            break
        if at <= end:
            return int(anomalous)
    return None
