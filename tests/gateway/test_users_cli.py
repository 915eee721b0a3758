"""`uvelka users add|passwd|role|list` (issue #14) on the store the page and OPC UA share;
a store opened before the change (the running gateway's) sees it at the next login."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from gateway.__main__ import main
from web.users import Role, UserStore

PASSWORD = "a long enough password"  # noqa: S105 - the test user's


def run(config: Path, *args: str, stdin: str = "") -> int:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stdin))
        return main(["users", "-c", str(config), *args])


def test_users_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    # The running gateway's reader, opened before the file exists.
    running, _ = asyncio.run(UserStore.open(tmp_path / "web", create=False))

    assert run(config, "add", "oleg", "--role", "operator", stdin=f"{PASSWORD}\n") == 0
    out = capsys.readouterr().out
    assert "created" in out  # the first admin, with the password shown once
    assert "user 'oleg' added with role operator" in out
    assert asyncio.run(running.authenticate("oleg", PASSWORD)) is not None

    assert run(config, "role", "oleg", "engineer") == 0
    assert run(config, "passwd", "oleg", stdin="another long password\n") == 0
    assert run(config, "list") == 0
    listing = capsys.readouterr().out.splitlines()[-2:]
    assert [line.split("\t")[:2] for line in listing] == [["admin", "admin"], ["oleg", "engineer"]]
    user = asyncio.run(running.authenticate("oleg", "another long password"))
    assert user is not None
    assert user.role is Role.ENGINEER
    assert asyncio.run(running.authenticate("oleg", PASSWORD)) is None

    assert run(config, "add", "x", "--role", "viewer", stdin="short\n") == 1
    assert "at least 12" in capsys.readouterr().out
