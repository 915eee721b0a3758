"""The session key (issue #14): a cookie forged with another key is refused, a rotated key
ends every session at once on the running page, `uvelka web rotate-key` writes it, and a
secret file that others may read is made private at start."""

from __future__ import annotations

import json
import logging
import secrets
import stat
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from gateway.__main__ import main as uvelka
from tests.web.conftest import Account, StartWeb, Web
from web.sessions import KEY_FILE, rotate_key
from web.users import FILE_NAME, Role


def forged(key: bytes, name: str) -> str:
    """A session cookie for `name`, made as aiohttp-session's EncryptedCookieStorage makes
    one, with `key`."""
    now = time.time()
    session = {"user": name, "issued_at": now, "sid": secrets.token_urlsafe(16)}
    payload = json.dumps({"created": int(now), "session": session})
    return Fernet(key).encrypt(payload.encode()).decode()


async def test_a_cookie_forged_with_a_guessed_key_is_refused(
    start_web: StartWeb, web_folder: Path
) -> None:
    served = await start_web()
    guessed = Fernet.generate_key()
    assert await served.get_with_cookie("/api/me", forged(guessed, "admin")) == 401
    assert await served.get_with_cookie("/", forged(guessed, "admin")) == 303  # to /login
    # The same recipe with the real key is a login: the refusal above is the key's.
    real = (web_folder / KEY_FILE).read_bytes().strip()
    assert await served.get_with_cookie("/api/me", forged(real, "admin")) == 200


async def test_a_rotated_key_ends_every_session_of_the_running_page(
    start_web: StartWeb, web_folder: Path, accounts: dict[Role, Account],
    caplog: pytest.LogCaptureFixture,
) -> None:
    served = await start_web()
    await served.login(accounts[Role.VIEWER])
    before = served.session_cookie()
    assert await served.get_with_cookie("/api/me", before) == 200

    await _rotate(web_folder)
    assert await served.get_with_cookie("/api/me", before) == 401
    async with served.client.get(served.url("/api/me")) as response:
        assert response.status == 401  # the browser's own cookie too
    assert "every session has ended" in caplog.text
    await served.login(accounts[Role.VIEWER])  # a new login works with the new key
    assert await served.get_with_cookie("/api/me", served.session_cookie()) == 200


async def _rotate(folder: Path) -> None:
    old = (folder / KEY_FILE).read_bytes()
    path = rotate_key(folder)
    assert path.read_bytes() != old
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_a_broken_key_file_keeps_the_key_read_before(
    start_web: StartWeb, web_folder: Path, accounts: dict[Role, Account],
    caplog: pytest.LogCaptureFixture,
) -> None:
    served: Web = await start_web()
    await served.login(accounts[Role.VIEWER])
    (web_folder / KEY_FILE).write_bytes(b"not a key")
    assert await served.get_with_cookie("/api/me", served.session_cookie()) == 200
    assert "changed but cannot be used" in caplog.text


def test_uvelka_web_rotate_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "var"
    config = tmp_path / "gateway.toml"
    config.write_text(f'[gateway]\nname = "plant"\ndata_dir = "{data_dir}"\n')
    assert uvelka(["web", "rotate-key", "-c", str(config)]) == 0
    key_file = data_dir / "web" / KEY_FILE
    first = key_file.read_bytes()
    Fernet(first)  # a usable key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"new session key {key_file}: every session has ended" in capsys.readouterr().out
    assert uvelka(["web", "rotate-key", "-c", str(config)]) == 0
    assert key_file.read_bytes() != first


async def test_secrets_readable_by_others_are_made_private_at_start(
    start_web: StartWeb, web_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rotate_key(web_folder)
    for name in (FILE_NAME, KEY_FILE):
        (web_folder / name).chmod(0o644)
    with caplog.at_level(logging.WARNING):
        await start_web()
    for name in (FILE_NAME, KEY_FILE):
        assert stat.S_IMODE((web_folder / name).stat().st_mode) == 0o600
        assert f"{web_folder / name} was readable by others (mode 0644), now 0600" in caplog.text
