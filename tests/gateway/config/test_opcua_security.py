"""[opcua] security, anonymous and max_monitored_items_per_session (issue #14): what the
check refuses, and what `uvelka check-config` explains under a valid file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.__main__ import main
from gateway.config import OpcuaSection, validate_text

BASE = '[gateway]\nname = "g"\n\n[[devices]]\nname = "pump"\nurl = "modbus-tcp://127.0.0.1"\n'


def problems_of(opcua: str) -> list[str]:
    _, problems = validate_text(f"{BASE}\n[opcua]\n{opcua}\n", "gateway.toml")
    return [str(problem) for problem in problems]


def test_the_default_is_sign_and_encrypt_with_users() -> None:
    section = OpcuaSection()

    assert section.security == [
        "Basic256Sha256:SignAndEncrypt",
        "Aes128_Sha256_RsaOaep:SignAndEncrypt",
        "Aes256_Sha256_RsaPss:SignAndEncrypt",
    ]
    assert section.anonymous is False
    assert section.max_monitored_items_per_session == 20_000


def test_none_and_sign_entries_are_accepted() -> None:
    assert problems_of('security = ["None", "Basic256Sha256:Sign"]\nanonymous = true') == []


@pytest.mark.parametrize(
    ("security", "message"),
    [
        (
            '["Basic256:SignAndEncrypt"]',
            "gateway.toml: opcua.security: 'Basic256:SignAndEncrypt' is not a security entry: "
            '"None" or <policy>:<mode>, policy one of Basic256Sha256, Aes128_Sha256_RsaOaep, '
            "Aes256_Sha256_RsaPss, mode Sign or SignAndEncrypt",
        ),
        (
            '["Basic256Sha256"]',
            "gateway.toml: opcua.security: 'Basic256Sha256' is not a security entry: "
            '"None" or <policy>:<mode>, policy one of Basic256Sha256, Aes128_Sha256_RsaOaep, '
            "Aes256_Sha256_RsaPss, mode Sign or SignAndEncrypt",
        ),
        ('["None", "None"]', "gateway.toml: opcua.security: lists 'None' twice"),
    ],
)
def test_a_wrong_entry_is_named(security: str, message: str) -> None:
    assert [line.split(" (got ")[0] for line in problems_of(f"security = {security}")] == [message]


def test_an_empty_list_is_refused() -> None:
    [problem] = problems_of("security = []")
    assert problem.startswith("gateway.toml: opcua.security: ")


def test_check_config_explains_each_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "gateway.toml"
    file.write_text(
        f'{BASE}\n[opcua]\nsecurity = ["None", "Aes256_Sha256_RsaPss:SignAndEncrypt", '
        '"Basic256Sha256:Sign"]\n',
        encoding="utf-8",
    )

    assert main(["check-config", str(file)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{file}: OK"
    assert lines[1].startswith(f"{file}: opcua.security 'None': no signature, no encryption")
    assert lines[2].startswith(
        f"{file}: opcua.security 'Aes256_Sha256_RsaPss:SignAndEncrypt': messages signed and "
        "encrypted; RSA keys of 2048 to 4096 bits, SHA-256 signatures (RSA-PSS)"
    )
    assert lines[3].startswith(
        f"{file}: opcua.security 'Basic256Sha256:Sign': messages signed (nothing can be "
        "changed unseen) but readable on the network"
    )
    assert lines[4].startswith(f"{file}: opcua.anonymous = false: every session logs in")
    assert len(lines) == 5
