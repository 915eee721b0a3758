"""The maintenance log's store (gateway/store/maintenance_log.py, issue #12): entries kept
across a reopen, filtered, changed and deleted; the checks' reasons; the normal periods;
on a real full and a read-only filesystem, refusals that lose nothing already stored."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.core.storage import StorageHealth
from gateway.store.maintenance_log import (
    STORE,
    Draft,
    InvalidEntry,
    MaintenanceLog,
    NotStored,
    Period,
    UnknownEntry,
    check_entry,
)
from tests.fixtures.disk import SmallDisk

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
H = timedelta(hours=1)


def remount(path: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def draft(
    asset: str = "pump1",
    start_h: float = 0,
    hours: float = 1,
    *,
    kind: str = "inspection",
    parts: str = "",
    note: str = "",
    resets_life: bool = False,
) -> Draft:
    started = T0 + start_h * H
    return Draft(asset, started, started + hours * H, kind, parts, note, resets_life)


async def test_entries_are_kept_across_a_reopen_and_filtered(tmp_path: Path) -> None:
    path = tmp_path / "maintenance.sqlite"
    async with MaintenanceLog.open(path, clock=lambda: NOW) as log:
        first = await log.add(draft(kind="lubrication", note="grease"), "anna")
        await log.add(draft("pump2", 24, kind="repair", parts="seal"), "boris")
        await log.add(draft(start_h=48, kind="repair", resets_life=True), "anna")
    assert (first.id, first.user, first.entered, first.changed_by) == (1, "anna", NOW, "anna")
    async with MaintenanceLog.open(path) as log:
        assert [e.id for e in await log.entries()] == [3, 2, 1]  # newest start first
        assert await log.get(1) == first
        assert [e.id for e in await log.entries(assets=["pump1"])] == [3, 1]
        assert [e.id for e in await log.entries(kinds=["repair"])] == [3, 2]
        # Overlapping [start, end]: entry 1 runs 08:00-09:00, entry 2 a day later.
        window = await log.entries(start=T0 + 0.5 * H, end=T0 + 30 * H)
        assert [e.id for e in window] == [2, 1]
        assert [e.id for e in await log.entries(limit=1)] == [3]
        assert await log.latest_finished() == {"pump1": T0 + 49 * H, "pump2": T0 + 25 * H}


async def test_a_change_keeps_who_entered_it_and_a_delete_gives_it_back(tmp_path: Path) -> None:
    later = NOW + H
    now = [NOW]
    async with MaintenanceLog.open(tmp_path / "m.sqlite", clock=lambda: now[0]) as log:
        entry = await log.add(draft(), "anna")
        now[0] = later
        before, after = await log.update(entry.id, draft(kind="calibration"), "eve")
        assert before == entry
        assert (after.user, after.entered, after.changed_by, after.changed) == (
            "anna",
            NOW,
            "eve",
            later,
        )
        assert await log.get(entry.id) == after
        assert await log.delete(entry.id) == after
        assert await log.entries() == []
        with pytest.raises(UnknownEntry):
            await log.delete(entry.id)
        with pytest.raises(UnknownEntry):
            await log.update(entry.id, draft(), "eve")


@pytest.mark.parametrize(
    ("entry", "problems"),
    [
        (draft("pump9"), ["asset: no asset 'pump9' (the assets: pump1, pump2)"]),
        (
            draft(kind="polishing"),
            [
                "kind: 'polishing' is not one of inspection, lubrication, "
                "repair, part_replacement, calibration, other"
            ],
        ),
        (draft(hours=-1), ["finished: before started"]),
        (draft(start_h=24 * 10), ["finished: in the future; enter the work once it is done"]),
        (
            Draft("pump1", datetime(2026, 12, 1), T0, "other"),  # noqa: DTZ001 - the mistake tested
            ["started: give a time with its time zone"],
        ),
        (
            draft(parts="x" * 501, note="y" * 501),
            ["parts: at most 500 characters (got 501)", "note: at most 500 characters (got 501)"],
        ),
    ],
)
def test_an_entry_is_refused_with_every_reason(entry: Draft, problems: list[str]) -> None:
    with pytest.raises(InvalidEntry) as refused:
        check_entry(entry, {"pump1", "pump2"}, NOW)
    assert refused.value.problems == problems


def test_a_good_entry_passes_the_checks() -> None:
    check_entry(draft(parts="x" * 500, hours=0), {"pump1"}, NOW)


async def test_resets_life_entries_cut_the_normal_periods(tmp_path: Path) -> None:
    async with MaintenanceLog.open(tmp_path / "m.sqlite", clock=lambda: NOW) as log:
        assert await log.normal_periods("pump1") == [Period("pump1", None, None, None)]
        await log.add(draft(start_h=10, kind="lubrication"), "anna")  # no renewal
        second = await log.add(draft(start_h=100, hours=4, resets_life=True), "anna")
        first = await log.add(draft(start_h=50, hours=2, resets_life=True), "anna")
        await log.add(draft("pump2", 70, resets_life=True), "anna")
        assert await log.normal_periods("pump1") == [
            Period("pump1", None, T0 + 50 * H, None),
            Period("pump1", T0 + 52 * H, T0 + 100 * H, first.id),
            Period("pump1", T0 + 104 * H, None, second.id),
        ]


async def test_a_full_disk_refuses_an_entry_and_loses_none_stored(small_disk: SmallDisk) -> None:
    health = StorageHealth(small_disk.path)
    async with MaintenanceLog.open(small_disk.path / "m.sqlite", health=health) as log:
        kept = await log.add(draft(note="kept"), "anna")
        small_disk.fill()
        with pytest.raises(
            NotStored,
            match="could not store the entry: database or disk is "
            "full; nothing stored before is lost",
        ):
            # Big enough that SQLite must grow the file: the last pages may still be free.
            await log.add(draft(note="n" * 500, parts="p" * 500), "boris")
        assert STORE in health.problems()
        assert health.disk_full
        assert [e.id for e in await log.entries()] == [kept.id]

        small_disk.free()
        added = await log.add(draft(note="later"), "boris")
        assert STORE not in health.problems()
    async with MaintenanceLog.open(small_disk.path / "m.sqlite") as log:
        found = await log.entries()
        assert [(e.id, e.draft.note) for e in found] == [(added.id, "later"), (kept.id, "kept")]


async def test_a_start_on_a_full_disk_opens_the_log_once_there_is_room(
    small_disk: SmallDisk,
) -> None:
    health = StorageHealth(small_disk.path)
    path = small_disk.path / "m.sqlite"
    async with MaintenanceLog.open(path, health=health) as log:
        await log.add(draft(), "anna")
    small_disk.fill()
    async with MaintenanceLog.open(path, health=health) as log:  # cannot even read it now
        assert STORE in health.problems()
        with pytest.raises(NotStored, match="cannot be opened now"):
            await log.entries()
        small_disk.free()
        assert len(await log.entries()) == 1
        await log.add(draft(), "boris")
        assert health.problems() == {}


async def test_a_read_only_data_dir_refuses_entries_with_the_reason(
    small_disk: SmallDisk,
) -> None:
    health = StorageHealth(small_disk.path)
    path = small_disk.path / "m.sqlite"
    async with MaintenanceLog.open(path, health=health) as log:
        await log.add(draft(), "anna")
    await asyncio.to_thread(remount, small_disk.path, "ro")
    try:
        async with MaintenanceLog.open(path, health=health) as log:
            with pytest.raises(NotStored) as refused:
                await log.add(draft(), "boris")
            assert str(refused.value) == (
                f"the maintenance log {path} cannot be opened now, so it cannot store the "
                "entry: see the gateway's problems"
            )
            assert health.problems()[STORE].message.startswith(f"cannot open {path}: ")
    finally:
        await asyncio.to_thread(remount, small_disk.path, "rw")
    async with MaintenanceLog.open(path) as log:
        assert [e.user for e in await log.entries()] == ["anna"]
