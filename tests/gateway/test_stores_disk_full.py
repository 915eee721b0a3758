"""The small stores under data_dir on a full disk (issue #17), on a real full filesystem:
the alarm state file, the asset states, the audit log and the web users file report a
failed write, keep what they could not write, and write it once space returns."""

from __future__ import annotations

import json

import pytest

from analytics.rul_features import RulState
from gateway.alarms.saved import AlarmStateFile
from gateway.core.storage import StorageHealth
from gateway.notify.problems import ENGLISH, storage_lines
from gateway.runtime.asset_state import AssetStateStore
from gateway.store.audit import AuditLog
from tests.fixtures.disk import SmallDisk
from web.users import FIRST_ADMIN, Role, UserError, UserStore

STATES = {"pressure_high": {"state": "active_unacked"}}


def test_the_alarm_states_are_saved_once_space_returns(small_disk: SmallDisk) -> None:
    health = StorageHealth(small_disk.path)
    states = AlarmStateFile(small_disk.path / "alarms.json", health)
    small_disk.fill()
    states.save(STATES)  # reported, not raised
    assert states.unsaved
    assert health.errors["alarm states"] == 1
    assert storage_lines(ENGLISH, health, 0) == [
        f"disk full under {small_disk.path}: not saved: alarm states"]
    states.retry()
    assert states.unsaved

    small_disk.free()
    states.retry()
    assert not states.unsaved
    assert json.loads(states.path.read_text())["alarms"] == STATES
    assert health.problems() == {}


def test_the_asset_states_are_saved_again_at_the_next_save(small_disk: SmallDisk) -> None:
    health = StorageHealth(small_disk.path)
    store = AssetStateStore(small_disk.path / "assets", health)
    state = RulState(["flow"])
    store.save({("pump", "rul"): state})
    small_disk.fill()
    state.update([1.0])
    store.save({("pump", "rul"): state})  # reported, not raised
    assert "asset states" in health.problems()

    small_disk.free()
    store.save({("pump", "rul"): state})
    assert store.load("pump", "rul") is not None
    assert json.loads(store.path("pump", "rul").read_text()) == state.to_dict()
    assert health.problems() == {}


async def test_audit_rows_wait_in_memory_and_a_start_on_a_full_disk_opens(
    small_disk: SmallDisk,
) -> None:
    path = small_disk.path / "audit.sqlite"
    health = StorageHealth(small_disk.path)
    async with AuditLog.open(path, health=health) as log:
        await log.record("anna", "devices changed", "pump1")
    small_disk.fill()
    async with AuditLog.open(path, health=health) as log:  # cannot even read it now
        await log.record("boris", "model uploaded", "pump/anomaly")
        assert log.waiting() == 1
        assert "audit log" in health.problems()
        assert [r.user for r in await log.recent(10)] == ["boris"]

        small_disk.free()
        await log.retry()
        assert log.waiting() == 0
        assert [r.user for r in await log.recent(10)] == ["boris", "anna"]
        assert health.problems() == {}


async def test_a_first_admin_unsaved_on_a_full_disk_is_saved_later(
    small_disk: SmallDisk,
) -> None:
    folder = small_disk.path / "web"
    folder.mkdir()
    small_disk.fill()
    environ = {"UVELKA_ADMIN_PASSWORD": "correct horse battery"}
    store, _ = await UserStore.open(folder, environ=environ)
    assert isinstance(store.unsaved, OSError)
    assert store.get(FIRST_ADMIN) is not None
    with pytest.raises(UserError, match="cannot save the users file"):
        await store.add("operator1", Role.OPERATOR, "another long password")
    assert store.get("operator1") is None

    small_disk.free()
    await store.save_again()
    assert store.unsaved is None
    reopened, _ = await UserStore.open(folder, environ={})
    assert [user.name for user in reopened.all()] == [FIRST_ADMIN]
