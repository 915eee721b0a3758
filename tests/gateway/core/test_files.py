"""The gateway's one atomic write (issue #10), on real file systems: the whole content or
the old one, its permission bits, nothing left behind by a write that fails (a real full
tmpfs answering ENOSPC, issue #17), the file and then its folder synced; a write in a
thread ends before its cancelled caller."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from gateway.core.files import PRIVATE, SHARED, explain, in_thread, write_atomically
from tests.fixtures.disk import FILLER, SmallDisk

DATA = bytes(range(256)) * 1024  # 256 KiB: more than one write of the kernel's page cache
WAIT_S = 5.0


def test_the_file_holds_all_of_the_new_content_and_nothing_is_left_beside(
    tmp_path: Path,
) -> None:
    path = tmp_path / "states" / "alarms.json"  # the folder does not exist yet
    write_atomically(path, b"old")
    write_atomically(path, DATA)
    assert path.read_bytes() == DATA
    assert [entry.name for entry in path.parent.iterdir()] == ["alarms.json"]


@pytest.mark.parametrize("mode", [PRIVATE, SHARED])
def test_the_file_gets_the_mode_asked_for(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "pump.onnx"
    write_atomically(path, DATA, mode=mode)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_write_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary_file(
    small_disk: SmallDisk,
) -> None:
    path = small_disk.path / "alarms.json"
    write_atomically(path, b"old")
    small_disk.fill()
    with pytest.raises(OSError, match="No space left") as raised:
        write_atomically(path, DATA)
    assert raised.value.errno == errno.ENOSPC
    assert path.read_bytes() == b"old"
    # Not a byte more used on the full disk: the temporary file is gone.
    assert sorted(entry.name for entry in small_disk.path.iterdir()) == [FILLER, "alarms.json"]

    small_disk.free()
    write_atomically(path, DATA)
    assert path.read_bytes() == DATA


def test_before_replace_sees_the_old_file_and_its_failure_changes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "gateway.toml"
    write_atomically(path, b"old")
    seen = []
    write_atomically(path, b"new", before_replace=lambda: seen.append(path.read_bytes()))
    assert (seen, path.read_bytes()) == ([b"old"], b"new")

    def refuse() -> None:
        raise OSError(errno.EPERM, "no backup")

    with pytest.raises(OSError, match="no backup"):
        write_atomically(path, b"newer", before_replace=refuse)
    assert path.read_bytes() == b"new"
    assert [entry.name for entry in tmp_path.iterdir()] == ["gateway.toml"]


def test_the_file_and_then_its_folder_are_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No peer can observe durability (only a power cut could): what reaches fsync is
    # recorded, by the inode and kind of what the descriptor is open on.
    synced: list[tuple[int, bool]] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        status = os.fstat(fd)
        synced.append((status.st_ino, stat.S_ISDIR(status.st_mode)))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    path = tmp_path / "assets" / "pump.rul.json"
    write_atomically(path, DATA)
    assert synced == [(path.stat().st_ino, False), (path.parent.stat().st_ino, True)]


class _Saved(BaseModel):
    name: str
    counts: list[int]

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name != "pump":
            raise ValueError(f"unknown asset {name!r}")
        return name


def test_explain_names_each_problem_by_its_key_path() -> None:
    with pytest.raises(ValidationError) as raised:
        _Saved.model_validate({"name": "fan", "counts": [1, "x"]})
    assert explain(raised.value) == (
        "name: unknown asset 'fan'; counts[1]: Input should be a valid integer, unable to "
        "parse string as an integer"
    )


async def test_a_write_in_a_thread_whose_caller_is_cancelled_ends_before_the_caller(
    tmp_path: Path,
) -> None:
    # asyncio.to_thread alone let the cancelled caller (the alarm hub, the scoring, the
    # storage retry) stop while its thread still wrote under data_dir (issue #17).
    path = tmp_path / "alarms.json"
    writing, go_on = threading.Event(), threading.Event()

    def write() -> None:
        writing.set()
        go_on.wait(WAIT_S)
        write_atomically(path, DATA)

    saving = asyncio.create_task(in_thread(write))
    assert await asyncio.to_thread(writing.wait, WAIT_S)
    saving.cancel()
    caller_stopped_first: list[bool] = []

    def release() -> None:  # runs after the task took its cancellation (call_soon is FIFO)
        caller_stopped_first.append(saving.done())
        go_on.set()

    asyncio.get_running_loop().call_soon(release)
    await asyncio.wait([saving], timeout=WAIT_S)
    assert caller_stopped_first == [False]
    assert saving.cancelled()
    assert path.read_bytes() == DATA
