"""One-time link codes and the saved links."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.notify.telegram.links import (
    CODE_ALPHABET,
    CODES_FILE_NAME,
    FILE_NAME,
    MAX_WRONG_CODES,
    Link,
    LinkCodes,
    LinkError,
    LinkStore,
)
from tests.fixtures.disk import SmallDisk

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_code_works_once() -> None:
    codes = LinkCodes(Clock())
    code = await codes.issue("ivanov", CREATED)
    assert len(code.code) == 8
    assert set(code.code) <= set(CODE_ALPHABET)
    # Typed from a phone: lower case and spaces are fine.
    assert (await codes.redeem(f" {code.code[:4].lower()} {code.code[4:]} ", 11)).user == "ivanov"
    with pytest.raises(LinkError, match="wrong, expired or used"):
        await codes.redeem(code.code, 11)


async def test_a_code_expires_after_ten_minutes() -> None:
    clock = Clock()
    codes = LinkCodes(clock)
    code = await codes.issue("ivanov", CREATED)
    clock.now += timedelta(minutes=10)
    with pytest.raises(LinkError, match="wrong, expired or used"):
        await codes.redeem(code.code, 11)


async def test_a_new_code_ends_the_users_former_one() -> None:
    codes = LinkCodes(Clock())
    first = await codes.issue("ivanov", CREATED)
    second = await codes.issue("ivanov", CREATED)
    with pytest.raises(LinkError):
        await codes.redeem(first.code, 11)
    assert (await codes.redeem(second.code, 11)).user == "ivanov"


async def test_guessing_is_stopped_after_a_few_wrong_codes() -> None:
    clock = Clock()
    codes = LinkCodes(clock)
    code = await codes.issue("ivanov", CREATED)
    for _ in range(MAX_WRONG_CODES):
        with pytest.raises(LinkError, match="wrong"):
            await codes.redeem("AAAAAAAA", 66)
    with pytest.raises(LinkError, match="too many wrong codes"):
        await codes.redeem(code.code, 66)  # even the right one, for this Telegram user
    assert (await codes.redeem(code.code, 11)).user == "ivanov"  # others are not held
    clock.now += timedelta(minutes=11)
    with pytest.raises(LinkError, match="wrong"):
        await codes.redeem("AAAAAAAA", 66)  # tries again after the lifetime


def _link(telegram_id: int, user: str) -> Link:
    return Link(telegram_id=telegram_id, telegram_name=f"@{user}", user=user,
                user_created=CREATED, linked=CREATED)


async def test_links_are_saved_and_read_back(tmp_path: Path) -> None:
    store = await LinkStore.open(tmp_path)
    assert await store.link(_link(11, "ivanov")) is None
    await store.link(_link(12, "petrov"))
    assert (await store.link(_link(11, "sidorov"))) == _link(11, "ivanov")
    await store.unlink(12)
    with pytest.raises(LinkError, match="no Telegram user 12"):
        await store.unlink(12)
    again = await LinkStore.open(tmp_path)
    assert again.all() == [_link(11, "sidorov")]
    assert (tmp_path / FILE_NAME).stat().st_mode & 0o777 == 0o600


async def test_a_damaged_links_file_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_text(json.dumps({"version": 1, "links": [{"user": 5}]}))
    store = await LinkStore.open(tmp_path)
    assert store.all() == []
    assert (tmp_path / f"{FILE_NAME}.unreadable").exists()
    assert "links[0].telegram_id: Field required" in caplog.text


async def test_a_link_that_cannot_be_saved_is_refused(small_disk: SmallDisk) -> None:
    store = await LinkStore.open(small_disk.path / "telegram")
    small_disk.fill()
    with pytest.raises(LinkError, match="nothing was changed"):
        await store.link(_link(11, "ivanov"))
    assert store.of_telegram(11) is None
    small_disk.free()
    await store.link(_link(11, "ivanov"))
    assert (await LinkStore.open(small_disk.path / "telegram")).all() == [_link(11, "ivanov")]


async def test_a_code_issued_before_a_restart_works_after_it(tmp_path: Path) -> None:
    clock = Clock()
    codes = await LinkCodes.open(tmp_path, clock)
    code = await codes.issue("ivanov", CREATED)
    other = await codes.issue("petrov", CREATED)
    saved = (tmp_path / CODES_FILE_NAME).read_text()
    assert code.code not in saved  # its digest only
    assert (tmp_path / CODES_FILE_NAME).stat().st_mode & 0o777 == 0o600

    again = await LinkCodes.open(tmp_path, clock)  # the gateway restarted
    assert (await again.redeem(code.code, 11)).user == "ivanov"
    once_more = await LinkCodes.open(tmp_path, clock)
    with pytest.raises(LinkError, match="wrong, expired or used"):
        await once_more.redeem(code.code, 11)  # used before this restart
    clock.now += timedelta(minutes=10)
    with pytest.raises(LinkError, match="wrong, expired or used"):
        await (await LinkCodes.open(tmp_path, clock)).redeem(other.code, 12)  # expired


async def test_a_damaged_codes_file_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / CODES_FILE_NAME).write_text("{not json")
    codes = await LinkCodes.open(tmp_path, Clock())
    assert (tmp_path / f"{CODES_FILE_NAME}.unreadable").exists()
    assert "is not a Telegram codes file" in caplog.text
    code = await codes.issue("ivanov", CREATED)
    assert (await codes.redeem(code.code, 11)).user == "ivanov"


async def test_a_code_that_cannot_be_saved_is_not_issued(small_disk: SmallDisk) -> None:
    folder = small_disk.path / "telegram"
    codes = await LinkCodes.open(folder, Clock())
    small_disk.fill()
    with pytest.raises(LinkError, match="no code was issued"):
        await codes.issue("ivanov", CREATED)
    small_disk.free()
    code = await codes.issue("ivanov", CREATED)
    assert (await (await LinkCodes.open(folder, Clock())).redeem(code.code, 11)).user == "ivanov"
