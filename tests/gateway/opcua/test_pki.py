"""The application instance certificate under <data_dir>/pki/own (issue #14): made once,
kept across starts, replaced before it expires or for another ApplicationUri, never
silently."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.opcua.pki import (
    RENEW_DAYS,
    VALID_DAYS,
    PkiFolders,
    own_certificate,
    renew_if_due,
)
from tests.fixtures.disk import SmallDisk

# A certificate is made valid from the wall clock (own_certificate), so the times it is
# judged at count from the wall clock too: a fixed date here made the expiry case fail
# from the day after it.
NOW = datetime.now(UTC)
URI = "urn:uvelka:plant"


def test_made_once_then_kept(tmp_path: Path) -> None:
    folders = PkiFolders(tmp_path / "pki")

    first = own_certificate(folders, URI, ["localhost"], NOW)
    again = own_certificate(folders, URI, ["localhost"], NOW + timedelta(days=30))

    assert first.replaced is None
    assert again == first
    for folder in (folders.certs, folders.issuers, folders.crl, folders.rejected):
        assert folder.is_dir()


@pytest.mark.parametrize(
    ("uri", "later", "reason"),
    [
        (URI, timedelta(days=VALID_DAYS - RENEW_DAYS + 1), "it expires"),
        ("urn:uvelka:renamed", timedelta(days=1), "it does not name urn:uvelka:renamed"),
    ],
)
def test_replaced_with_a_warning_and_the_old_one_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, uri: str, later: timedelta, reason: str
) -> None:
    folders = PkiFolders(tmp_path / "pki")
    old = own_certificate(folders, URI, ["localhost"], NOW)

    with caplog.at_level(logging.WARNING, logger="gateway.opcua.pki"):
        new = own_certificate(folders, uri, ["localhost"], NOW + later)

    assert new.thumbprint != old.thumbprint
    assert new.replaced is not None
    assert new.replaced.startswith(f"the OPC UA certificate was replaced ({reason}")
    assert f"{old.thumbprint} -> {new.thumbprint}" in new.replaced
    assert [record.getMessage() for record in caplog.records] == [new.replaced]
    assert (folders.replaced / f"{old.thumbprint}.der").is_file()


@pytest.mark.parametrize(("renew_days", "renewed"), [(45, True), (43, False)])
def test_the_renewal_window_is_the_configured_one(
    tmp_path: Path, renew_days: int, renewed: bool
) -> None:
    folders = PkiFolders(tmp_path / "pki")
    made = own_certificate(folders, URI, ["localhost"], NOW)
    days_left_44 = made.not_after - timedelta(days=44)

    again = own_certificate(folders, URI, ["localhost"], days_left_44, renew_days)

    assert (again.thumbprint != made.thumbprint) is renewed
    assert (again.replaced is not None) is renewed


def test_a_renewal_on_a_full_disk_fails_and_keeps_the_current_certificate(
    small_disk: SmallDisk,
) -> None:
    folders = PkiFolders(small_disk.path / "pki")
    made = own_certificate(folders, URI, ["localhost"], NOW)
    cert, key = folders.own_cert.read_bytes(), folders.own_key.read_bytes()
    due = made.not_after - timedelta(days=1)
    small_disk.fill()

    with pytest.raises(OSError, match="No space left on device"):
        renew_if_due(folders, URI, ["localhost"], due)

    assert (folders.own_cert.read_bytes(), folders.own_key.read_bytes()) == (cert, key)
    assert sorted(path.name for path in folders.own_cert.parent.iterdir()) == [
        "cert.der", "private", "replaced"]
    assert list(folders.own_key.parent.iterdir()) == [folders.own_key]
    assert list(folders.replaced.iterdir()) == []
    small_disk.free()

    renewed = renew_if_due(folders, URI, ["localhost"], due)

    assert renewed is not None
    assert renewed.thumbprint != made.thumbprint
    assert (folders.replaced / f"{made.thumbprint}.der").read_bytes() == cert
