"""The user store: first start, changes, the file on disk."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import stat
from pathlib import Path

import pytest

from tests.web.conftest import FakeClock
from web.passwords import verify_password
from web.users import (
    ADMIN_ENV_VAR,
    FILE_NAME,
    FIRST_ADMIN,
    Role,
    UnknownUser,
    UserConflict,
    UserError,
    UserStore,
)


def new_password() -> str:
    return secrets.token_urlsafe(15)


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> UserStore:
    opened, _ = await UserStore.open(tmp_path, environ={ADMIN_ENV_VAR: new_password()},
                                     clock=clock.wall)
    return opened


async def test_first_start_with_a_generated_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store, generated = await UserStore.open(tmp_path, environ={})
    assert generated is not None
    assert len(generated) >= 24
    admin = store.get(FIRST_ADMIN)
    assert admin is not None
    assert admin.role is Role.ADMIN
    assert verify_password(generated, admin.password_hash)
    path = tmp_path / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert generated not in path.read_text()
    assert generated not in caplog.text
    assert "password generated, shown once" in caplog.text
    # Handed back once: the next start finds the file and generates nothing.
    again, generated_again = await UserStore.open(tmp_path, environ={})
    assert generated_again is None
    assert again.get(FIRST_ADMIN) == admin


async def test_first_start_with_the_password_from_the_environment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = new_password()
    store, generated = await UserStore.open(tmp_path, environ={ADMIN_ENV_VAR: password})
    assert generated is None
    assert await store.authenticate(FIRST_ADMIN, password) == store.get(FIRST_ADMIN)
    assert password not in (tmp_path / FILE_NAME).read_text()
    assert password not in caplog.text
    # Later starts ignore it (and say so): it cannot reset the admin's password.
    other = new_password()
    again, _ = await UserStore.open(tmp_path, environ={ADMIN_ENV_VAR: other})
    assert await again.authenticate(FIRST_ADMIN, other) is None
    assert f"{ADMIN_ENV_VAR} is ignored" in caplog.text


async def test_a_short_environment_password_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError,
                       match=f"{ADMIN_ENV_VAR} must be at least 12 and at most 1024 characters"):
        await UserStore.open(tmp_path, environ={ADMIN_ENV_VAR: "short"})
    assert not (tmp_path / FILE_NAME).exists()


async def test_added_users_are_saved_and_authenticate(
    tmp_path: Path, store: UserStore, clock: FakeClock
) -> None:
    password = new_password()
    clock.advance(60)
    ann = await store.add("ann", Role.OPERATOR, password)
    assert ann.created == ann.changed
    assert ann.created.timestamp() == pytest.approx(clock.wall())
    assert await store.authenticate("ann", password) == ann
    assert await store.authenticate("ann", password[:-1]) is None
    assert await store.authenticate("nobody", password) is None
    reopened, _ = await UserStore.open(tmp_path, environ={})
    assert reopened.get("ann") == ann
    assert [user.name for user in reopened.all()] == [FIRST_ADMIN, "ann"]  # by name
    stored = json.loads((tmp_path / FILE_NAME).read_text())
    assert stored["version"] == 1
    assert password not in json.dumps(stored)
    assert os.listdir(tmp_path) == [FILE_NAME]  # no temporary file left beside it


async def test_new_password_replaces_the_old_and_moves_changed(
    store: UserStore, clock: FakeClock
) -> None:
    old, new = new_password(), new_password()
    ann = await store.add("ann", Role.VIEWER, old)
    clock.advance(5)
    changed = await store.set_password("ann", new)
    assert changed.created == ann.created
    assert changed.changed > ann.changed
    assert await store.authenticate("ann", old) is None
    assert await store.authenticate("ann", new) == changed


async def test_role_change_and_delete(tmp_path: Path, store: UserStore) -> None:
    await store.add("ann", Role.VIEWER, new_password())
    assert (await store.set_role("ann", Role.ENGINEER)).role is Role.ENGINEER
    await store.delete("ann")
    assert store.get("ann") is None
    reopened, _ = await UserStore.open(tmp_path, environ={})
    assert reopened.get("ann") is None


async def test_refused_changes(store: UserStore) -> None:
    await store.add("ann", Role.VIEWER, new_password())
    with pytest.raises(UserConflict, match="exists already"):
        await store.add("ann", Role.ADMIN, new_password())
    with pytest.raises(UnknownUser):
        await store.set_password("bob", new_password())
    with pytest.raises(UnknownUser):
        await store.delete("bob")
    with pytest.raises(UserError, match="at least 12 and at most 1024 characters"):
        await store.add("bob", Role.VIEWER, "short")
    # Longer than the login form's 8 KiB body would let through (issue #17).
    with pytest.raises(UserError, match="at least 12 and at most 1024 characters"):
        await store.add("bob", Role.VIEWER, "p" * 8193)
    for name in ("", "Bob", "1bob", "bob smith", "b" * 33, "bob\n"):
        with pytest.raises(UserError, match="must be 1 to 32"):
            await store.add(name, Role.VIEWER, new_password())


async def test_the_last_admin_stays(store: UserStore) -> None:
    with pytest.raises(UserConflict, match="last admin"):
        await store.delete(FIRST_ADMIN)
    with pytest.raises(UserConflict, match="last admin"):
        await store.set_role(FIRST_ADMIN, Role.ENGINEER)
    await store.add("second", Role.ADMIN, new_password())
    await store.set_role(FIRST_ADMIN, Role.ENGINEER)  # another admin remains
    with pytest.raises(UserConflict, match="last admin"):
        await store.delete("second")


async def test_a_change_during_authentication_wins(store: UserStore) -> None:
    password = new_password()
    await store.add("ann", Role.VIEWER, password)
    login = asyncio.create_task(store.authenticate("ann", password))
    await asyncio.sleep(0)  # one turn of the loop: the login reads the user, starts hashing
    await store.delete("ann")  # a file write: done long before a ~0.1 s hash
    assert not login.done()
    assert await login is None


async def test_a_damaged_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text('{"version": 1, "users": [{"name": "x"}]}')
    with pytest.raises(ValueError, match=f"{FILE_NAME}: not a users file"):
        await UserStore.open(tmp_path, environ={})


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.at_least(Role.ENGINEER)
    assert Role.ENGINEER.at_least(Role.OPERATOR)
    assert Role.ENGINEER.at_least(Role.ENGINEER)
    assert not Role.OPERATOR.at_least(Role.ENGINEER)
    assert not Role.VIEWER.at_least(Role.OPERATOR)
