"""Which language each recipient is written in (gateway/notify/outlets.py): its own, else
`[notify] language`, else the gateway's default, which the page also uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.notify.outlets import audiences_of, email_channel

DEVICES = """
[[devices]]
name = "plc1"
url = "modbus-tcp://127.0.0.1:5020"
[[devices.tags]]
name = "t"
table = "holding"
address = 0
type = "uint16"
"""


@pytest.mark.parametrize(("gateway", "notify", "recipient", "expected"), [
    ("en", None, None, ["en"]),
    ("ru", None, None, ["ru"]),
    ("en", "ru", None, ["ru"]),
    ("ru", "ru", "en", ["en"]),
])
async def test_a_recipient_is_written_in_its_language_else_the_notify_else_the_gateway_default(
        tmp_path: Path, gateway: str, notify: str | None, recipient: str | None,
        expected: list[str]) -> None:
    notify_table = f'[notify]\nlanguage = "{notify}"\n' if notify else ""
    recipient_line = f'language = "{recipient}"\n' if recipient else ""
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[gateway]\nname = "g"\nlanguage = "{gateway}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'{notify_table}'
        '[email]\nhost = "127.0.0.1"\nport = 2525\nsecurity = "none"\n'
        'sender = "gateway@plant.local"\n'
        f'[[email.recipients]]\naddress = "crew@plant.local"\n{recipient_line}'
        f'{DEVICES}', encoding="utf-8")
    entry = await email_channel(load_config(path))
    assert entry is not None
    assert [audience.language for audience in audiences_of(load_config(path), entry)] == expected
