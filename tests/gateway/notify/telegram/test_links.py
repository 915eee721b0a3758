"""One-time link codes and the saved links."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.notify.telegram.links import (
    CODE_ALPHABET,
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


def test_a_code_works_once() -> None:
    codes = LinkCodes(Clock())
    code = codes.issue("ivanov", CREATED)
    assert len(code.code) == 8
    assert set(code.code) <= set(CODE_ALPHABET)
    # Typed from a phone: lower case and spaces are fine.
    assert codes.redeem(f" {code.code[:4].lower()} {code.code[4:]} ", 11).user == "ivanov"
    with pytest.raises(LinkError, match="wrong, expired or used"):
        codes.redeem(code.code, 11)


def test_a_code_expires_after_ten_minutes() -> None:
    clock = Clock()
    codes = LinkCodes(clock)
    code = codes.issue("ivanov", CREATED)
    clock.now += timedelta(minutes=10)
    with pytest.raises(LinkError, match="wrong, expired or used"):
        codes.redeem(code.code, 11)


def test_a_new_code_ends_the_users_former_one() -> None:
    codes = LinkCodes(Clock())
    first = codes.issue("ivanov", CREATED)
    second = codes.issue("ivanov", CREATED)
    with pytest.raises(LinkError):
        codes.redeem(first.code, 11)
    assert codes.redeem(second.code, 11).user == "ivanov"


def test_guessing_is_stopped_after_a_few_wrong_codes() -> None:
    clock = Clock()
    codes = LinkCodes(clock)
    code = codes.issue("ivanov", CREATED)
    for _ in range(MAX_WRONG_CODES):
        with pytest.raises(LinkError, match="wrong"):
            codes.redeem("AAAAAAAA", 66)
    with pytest.raises(LinkError, match="too many wrong codes"):
        codes.redeem(code.code, 66)  # even the right one, for this Telegram user
    assert codes.redeem(code.code, 11).user == "ivanov"  # others are not held
    clock.now += timedelta(minutes=11)
    with pytest.raises(LinkError, match="wrong"):
        codes.redeem("AAAAAAAA", 66)  # tries again after the lifetime


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
