"""The label store (gateway/store/labels.py, issue #12): labels kept across a reopen, queried
by asset and range, changed and deleted; the overlap rule; activations recorded from alarm
events, verdicts on them and the labels verdicts on model alarms make; on a real full and a
read-only filesystem, refusals that lose nothing already stored."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.core.storage import StorageHealth
from gateway.store.labels import (
    STORE,
    Activation,
    InvalidLabel,
    LabelDraft,
    LabelStore,
    NotStored,
    Overlap,
    UnknownEvent,
    UnknownLabel,
    VerdictDraft,
    check_label,
    check_verdict,
)
from tests.fixtures.disk import SmallDisk

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
H = timedelta(hours=1)


def label(
    kind: str = "anomaly",
    start_h: float = 0,
    hours: float = 1,
    asset: str = "pump1",
    code: str = "",
) -> LabelDraft:
    return LabelDraft(asset, T0 + start_h * H, T0 + (start_h + hours) * H, kind, code)


async def fill_with_labels(store: LabelStore) -> None:
    """Add labels until SQLite must grow the file (its last pages may still be free)."""
    for n in range(50):
        start = T0 + n * H
        await store.add(LabelDraft("pump1", start, start + H, "normal", "c" * 64, "n" * 500), "b")


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


async def test_labels_are_kept_queried_changed_and_deleted(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    now = [NOW]
    async with LabelStore.open(path, clock=lambda: now[0]) as store:
        first = await store.add(label("normal", 0, 10, code=""), "anna")
        second = await store.add(label("anomaly", 10, 2, code="BRG"), "anna")
        await store.add(label("anomaly", 5, 1, asset="pump2", code="BRG"), "boris")
        await store.add(label("unsure", 20, 1, code="SEAL"), "boris")
    async with LabelStore.open(path, clock=lambda: now[0]) as store:
        # The query API a training job uses: one asset's labels overlapping [t0, t1].
        found = await store.labels(assets=["pump1"], start=T0 + 9 * H, end=T0 + 11 * H)
        assert [(lab.id, lab.kind) for lab in found] == [
            (first.id, "normal"),
            (second.id, "anomaly"),
        ]
        assert await store.get(first.id) == first
        assert [lab.id for lab in await store.labels(kinds=["unsure"])] == [4]
        assert await store.fault_codes() == ["BRG", "SEAL"]  # most used first

        now[0] = NOW + H
        before, after = await store.update(second.id, label("anomaly", 12, 1, code="IMP"), "eve")
        assert before == second
        assert (after.user, after.entered, after.changed_by, after.changed) == (
            "anna",
            NOW,
            "eve",
            NOW + H,
        )
        assert await store.get(second.id) == after
        assert await store.delete(second.id) == after
        with pytest.raises(UnknownLabel):
            await store.delete(second.id)
        with pytest.raises(UnknownLabel):
            await store.update(second.id, label(), "eve")


async def test_normal_and_anomaly_may_not_overlap_on_one_asset(tmp_path: Path) -> None:
    async with LabelStore.open(tmp_path / "l.sqlite", clock=lambda: NOW) as store:
        normal = await store.add(label("normal", 0, 10), "anna")
        with pytest.raises(Overlap) as refused:
            await store.add(label("anomaly", 9, 2), "anna")
        assert str(refused.value) == (
            "anomaly from 2026-12-01T17:00:00+00:00 to 2026-12-01T19:00:00+00:00 overlaps "
            f"label #{normal.id} (normal, 2026-12-01T08:00:00+00:00 to "
            "2026-12-01T18:00:00+00:00) of pump1: labels of normal and anomaly may not "
            "overlap on one asset; change or delete that label first"
        )
        # Touching is not overlapping; unsure, the same class and another asset may overlap.
        touching = await store.add(label("anomaly", 10, 1), "anna")
        await store.add(label("unsure", 5, 10), "anna")
        await store.add(label("normal", 2, 3), "anna")
        await store.add(label("anomaly", 0, 10, asset="pump2"), "anna")
        # A change is held to the same rule, against every label but itself.
        with pytest.raises(Overlap):
            await store.update(touching.id, label("anomaly", 9, 2), "anna")
        await store.update(touching.id, label("anomaly", 10, 3), "anna")
        assert len(await store.labels()) == 5


@pytest.mark.parametrize(
    ("draft", "problems"),
    [
        (label(asset="pump9"), ["asset: no asset 'pump9' (the assets: pump1, pump2)"]),
        (label("broken"), ["kind: 'broken' is not one of normal, anomaly, unsure"]),
        (label(hours=-1), ["end: not after start; select a range from left to right"]),
        (label(hours=0), ["end: not after start; select a range from left to right"]),
        (label(start_h=24 * 10), ["end: in the future; label what has happened"]),
        (
            LabelDraft("pump1", datetime(2026, 12, 1), T0, "normal"),  # noqa: DTZ001 - tested
            ["start: give a time with its time zone"],
        ),
        (
            LabelDraft("pump1", T0, T0 + H, "normal", "c" * 65, "n" * 501),
            [
                "fault_code: at most 64 characters (got 65)",
                "note: at most 500 characters (got 501)",
            ],
        ),
    ],
)
def test_a_label_is_refused_with_every_reason(draft: LabelDraft, problems: list[str]) -> None:
    with pytest.raises(InvalidLabel) as refused:
        check_label(draft, {"pump1", "pump2"}, NOW)
    assert refused.value.problems == problems


def test_a_verdict_is_checked() -> None:
    check_verdict(VerdictDraft("false", "c" * 64, "n" * 500))
    with pytest.raises(
        InvalidLabel, match="verdict: 'maybe' is not one of confirmed, false, unsure"
    ):
        check_verdict(VerdictDraft("maybe"))


async def test_a_verdict_on_a_model_alarm_labels_its_range(tmp_path: Path) -> None:
    now = [T0 + 3 * H]
    async with LabelStore.open(tmp_path / "l.sqlite", clock=lambda: now[0]) as store:
        raised = Activation(uuid.uuid4(), "pump1_anomaly", "pump1.AnomalyScore", "pump1", T0 + H)
        tag_alarm = Activation(uuid.uuid4(), "flow_high", "pump1.flow", None, T0 + H)
        await store.record_events([raised, tag_alarm], [])
        assert await store.activation(raised.event_id) == raised
        assert (await store.latest_activation("flow_high")).event_id == tag_alarm.event_id

        # Still active: the label runs to now; the clear extends it.
        verdict, made = await store.judge(raised.event_id, VerdictDraft("confirmed", "BRG"), "anna")
        assert made is not None
        assert (made.kind, made.start, made.end, made.fault_code, made.event_id) == (
            "anomaly",
            T0 + H,
            T0 + 3 * H,
            "BRG",
            raised.event_id,
        )
        await store.record_events([], [("pump1_anomaly", T0 + 5 * H)])
        assert (await store.activation(raised.event_id)).cleared == T0 + 5 * H
        assert (await store.get(made.id)).end == T0 + 5 * H

        # A second verdict replaces the first and its label; who gave it first is kept.
        now[0] = T0 + 6 * H
        again, relabelled = await store.judge(raised.event_id, VerdictDraft("false"), "boris")
        assert (again.user, again.changed_by, again.entered) == ("anna", "boris", T0 + 3 * H)
        assert relabelled is not None
        assert (relabelled.id, relabelled.kind, relabelled.end) == (made.id, "normal", T0 + 5 * H)

        # A tag alarm's verdict makes no label.
        _, none = await store.judge(tag_alarm.event_id, VerdictDraft("unsure"), "anna")
        assert none is None
        assert [v.activation.event_id for v in await store.verdicts(assets=["pump1"])] == [
            raised.event_id
        ]
        assert len(await store.verdicts(alarms=["flow_high"])) == 1
        assert len(await store.labels()) == 1

        with pytest.raises(UnknownEvent, match="no alarm activation .* is recorded"):
            await store.judge(uuid.uuid4(), VerdictDraft("false"), "anna")
        with pytest.raises(UnknownEvent, match="no activation of alarm 'fan' is recorded"):
            await store.latest_activation("fan")


async def test_a_verdict_whose_label_would_overlap_is_refused_whole(tmp_path: Path) -> None:
    async with LabelStore.open(tmp_path / "l.sqlite", clock=lambda: T0 + 3 * H) as store:
        normal = await store.add(label("normal", 0, 2), "anna")
        raised = Activation(uuid.uuid4(), "pump1_anomaly", "pump1.AnomalyScore", "pump1", T0 + H)
        await store.record_events([raised], [])
        with pytest.raises(Overlap, match=f"overlaps label #{normal.id} \\(normal"):
            await store.judge(raised.event_id, VerdictDraft("confirmed"), "anna")
        assert await store.verdicts() == []
        await store.judge(raised.event_id, VerdictDraft("false"), "anna")  # normal over normal


async def test_a_full_disk_refuses_a_label_and_loses_none_stored(small_disk: SmallDisk) -> None:
    health = StorageHealth(small_disk.path)
    path = small_disk.path / "l.sqlite"
    async with LabelStore.open(path, clock=lambda: NOW, health=health) as store:
        kept = await store.add(label("normal", 0, 1), "anna")
        small_disk.fill()
        with pytest.raises(
            NotStored,
            match="could not store the label: database or disk is "
            "full; nothing stored before is lost",
        ):
            await fill_with_labels(store)
        assert STORE in health.problems()
        assert health.disk_full
        small_disk.free()
        added = await store.add(label("anomaly", 100, 1), "boris")
        assert STORE not in health.problems()
    async with LabelStore.open(path) as store:
        ids = [lab.id for lab in await store.labels()]
        assert ids[0] == kept.id
        assert ids[-1] == added.id


async def test_a_read_only_data_dir_refuses_labels_with_the_reason(small_disk: SmallDisk) -> None:
    health = StorageHealth(small_disk.path)
    path = small_disk.path / "l.sqlite"
    async with LabelStore.open(path, clock=lambda: NOW, health=health) as store:
        await store.add(label(), "anna")
    await asyncio.to_thread(remount, small_disk.path, "ro")
    try:
        async with LabelStore.open(path, clock=lambda: NOW, health=health) as store:
            with pytest.raises(NotStored) as refused:
                await store.add(label("anomaly", 5), "boris")
            assert str(refused.value) == (
                f"the labels file {path} cannot be opened now, so the gateway cannot store the "
                "label: see the gateway's problems"
            )
            assert health.problems()[STORE].message.startswith(f"cannot open {path}: ")
    finally:
        await asyncio.to_thread(remount, small_disk.path, "rw")
    async with LabelStore.open(path) as store:
        assert [lab.user for lab in await store.labels()] == ["anna"]
