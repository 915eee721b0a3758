"""The LabelDesk (issue #12): labels exported for training (an asset's history in a real
History file, labelled, written by `training_csv` in the shape `uvelka train anomaly
--labels` reads, read back by that reader and trained on by the command); the alarm hub's
activations recorded, and kept in memory while the disk is full."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.training.datasets import read_recording
from gateway.__main__ import main as uvelka
from gateway.alarms import Alarm, AlarmRule, Condition
from gateway.config.sources import Source, SourceKind
from gateway.core.clock import Clock
from gateway.core.quality import Quality
from gateway.core.storage import StorageHealth
from gateway.page.label_desk import LabelDesk, training_csv
from gateway.store import History, Point
from gateway.store.history_export import Column
from gateway.store.labels import STORE, InvalidLabel, LabelDraft, LabelStore
from tests.fixtures.disk import SmallDisk

T0 = datetime(2027, 1, 15, 6, 0, tzinfo=UTC)
STEP = timedelta(seconds=1)
ROWS = 240  # 4 minutes at 1 s: 120 normal, then 60 anomalous, then 60 unsure


class FixedClock(Clock):
    def monotonic(self) -> float:
        return 0.0

    def now(self) -> datetime:
        return T0 + timedelta(days=1)


def points() -> list[Point]:
    """flow and pressure each second with noise; flow 40 % higher from row 120."""
    noise = np.random.default_rng(7).normal(0.0, 0.5, size=(ROWS, 2))
    found = []
    for n in range(ROWS):
        at = T0 + n * STEP
        flow = (70.0 if n >= 120 else 50.0) + noise[n, 0]
        found += [
            Point("pump1.flow", at, flow, Quality.GOOD),
            Point("pump1.pressure", at, 4.0 + noise[n, 1], Quality.GOOD),
        ]
    return found


async def labelled_csv(tmp_path: Path) -> Path:
    async with (
        History.open(
            tmp_path / "history.sqlite",
            retention_s=1e9,
            clock=lambda: (T0 + timedelta(days=1)).timestamp(),
        ) as history,
        LabelStore.open(tmp_path / "labels.sqlite") as store,
    ):
        history.record(points())
        await history.flush()
        desk = LabelDesk(
            store, ["pump1"], {"a": Source(SourceKind.ASSET, "pump1", "Anomaly")}, FixedClock()
        )
        await desk.add(LabelDraft("pump1", T0, T0 + 119 * STEP, "normal"), "anna")
        await desk.add(
            LabelDraft("pump1", T0 + 120 * STEP, T0 + 179 * STEP, "anomaly", "F"), "anna"
        )
        await desk.add(LabelDraft("pump1", T0 + 180 * STEP, T0 + 239 * STEP, "unsure"), "anna")
        with pytest.raises(InvalidLabel):  # the rule the export relies on
            await desk.add(LabelDraft("pump1", T0 + 100 * STEP, T0 + 130 * STEP, "normal"), "b")
        labels = await store.labels(assets=["pump1"])
        columns = [Column("flow", "pump1.flow"), Column("pressure", "pump1.pressure")]
        exported = tmp_path / "labels.csv"
        with exported.open("w", encoding="utf-8") as out:
            pieces = history.export(columns, T0, T0 + ROWS * STEP, STEP)
            async for text in training_csv(pieces, labels):
                out.write(text)
    return exported


async def test_exported_labels_are_read_by_the_training_reader(tmp_path: Path) -> None:
    recording = read_recording(await labelled_csv(tmp_path))
    assert recording.signals == ("flow", "pressure")
    assert recording.labels is not None
    # Unsure rows are left out; normal ones 0, anomalous ones 1, in time order.
    assert len(recording.labels) == 180
    assert int(recording.labels.sum()) == 60
    assert not recording.labels[:120].any()
    assert recording.labels[120:].all()
    assert np.isfinite(recording.values).all()


def test_uvelka_train_anomaly_labels_trains_on_them(tmp_path: Path) -> None:
    exported = asyncio.run(labelled_csv(tmp_path))
    model = tmp_path / "labelled.onnx"
    assert (
        uvelka(["train", "anomaly", "--labels", "--data", str(exported), "--out", str(model)]) == 0
    )
    assert model.stat().st_size > 0


async def test_activations_wait_in_memory_while_the_disk_is_full(small_disk: SmallDisk) -> None:
    health = StorageHealth(small_disk.path)
    hour = timedelta(hours=1)
    async with LabelStore.open(small_disk.path / "labels.sqlite", health=health) as store:
        sources = {"pump1_anomaly": Source(SourceKind.ASSET, "pump1", "Anomaly")}
        desk = LabelDesk(store, ["pump1"], sources, FixedClock())
        alarm = Alarm(AlarmRule("pump1_anomaly", "pump1.Anomaly", Condition.ABOVE, 0.5))
        small_disk.fill()
        # One batch: raised, cleared and raised again.
        events = [
            *alarm.observe(1.0, Quality.GOOD, T0),
            *alarm.observe(0.0, Quality.GOOD, T0 + hour),
            *alarm.observe(1.0, Quality.GOOD, T0 + 2 * hour),
        ]
        for _ in range(200):  # until SQLite must grow the file
            await desk.record(events)
            if STORE in health.problems():
                break
        assert health.disk_full
        small_disk.free()
        await desk.retry()
        assert STORE not in health.problems()
        first, second = [await store.activation(e.id) for e in (events[0], events[2])]
        assert (first.asset, first.activated, first.cleared) == ("pump1", T0, T0 + hour)
        assert (second.activated, second.cleared) == (T0 + 2 * hour, None)
        assert desk.dropped == 0
