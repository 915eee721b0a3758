"""The application certificate renewed while the server runs (issue #14): when it expires
within [opcua] certificate_renew_days it is made again, logged at WARNING, audited, kept
in own/replaced/, and new SecureChannels (asyncua's client and node-opcua's) use the new
one at once while a channel opened before goes on."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asyncua import ua
from cryptography import x509

from gateway.config.model import GatewayConfig
from gateway.opcua import OpcuaServer
from gateway.opcua.pki import VALID_DAYS, PkiFolders, read_certificate, thumbprint
from gateway.store.audit import AuditLog
from tests.fixtures.modbus import wait_until
from tests.fixtures.opcua import WAIT_S
from tests.gateway.opcua import test_conditions_shelving, test_security
from tests.gateway.opcua.test_security import (
    client_certificate,
    node_client,
    secure_client,
    tag,
)

Cert = tuple[Path, Path]
users = test_security.users
hub = test_security.hub
trusted_client = test_security.trusted_client  # in trusted/certs/
# The server with a real audit log, made from this module's opcua_config.
audit = test_conditions_shelving.audit
opcua_server = test_conditions_shelving.opcua_server


@pytest.fixture
def opcua_config(tmp_path: Path) -> GatewayConfig:
    return test_security.secure_config(tmp_path, certificate_renew_days=45)


def served_der(server: OpcuaServer) -> bytes:
    assert server.certificate is not None
    return server.certificate.cert.read_bytes()


async def test_renewed_while_running_and_new_channels_use_it_at_once(
    opcua_server: OpcuaServer,
    trusted_client: Cert,
    audit: AuditLog,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = opcua_server.certificate
    assert old is not None
    old_der = served_der(opcua_server)
    assert await opcua_server.renew_certificate() is None  # 5 years left: kept
    speed = tag(opcua_server, "pump.speed")
    async with await secure_client(opcua_server, trusted_client, "vera") as before:
        # 44 days before it expires: inside the configured 45.
        later = old.not_after - timedelta(days=44)
        with caplog.at_level(logging.WARNING, logger="gateway.opcua.pki"):
            renewed = await opcua_server.renew_certificate(later)

        assert renewed is not None
        assert renewed.thumbprint != old.thumbprint
        assert opcua_server.certificate == renewed
        assert renewed.replaced is not None
        assert renewed.replaced.startswith("the OPC UA certificate was replaced (it expires")
        assert f"{old.thumbprint} -> {renewed.thumbprint}" in renewed.replaced
        warned = [r.getMessage() for r in caplog.records if r.name == "gateway.opcua.pki"]
        assert warned == [renewed.replaced]
        kept = tmp_path / "pki" / "own" / "replaced" / f"{old.thumbprint}.der"
        assert kept.read_bytes() == old_der
        new_der = served_der(opcua_server)
        cert = x509.load_der_x509_certificate(new_der)
        assert cert.not_valid_before_utc <= datetime.now(UTC)
        assert cert.not_valid_after_utc - datetime.now(UTC) > timedelta(days=VALID_DAYS - 1)
        # The channel opened with the old certificate goes on.
        value = await before.get_node(speed).read_data_value(raise_on_bad_status=False)
        assert value.StatusCode == ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData)

    async with await secure_client(opcua_server, trusted_client, "vera") as after:
        endpoints = await after.get_endpoints()
        assert {endpoint.ServerCertificate for endpoint in endpoints} == {new_der}
        assert after.security_policy.peer_certificate == new_der
        assert await after.get_namespace_index("urn:uvelka:test") == 2
    independent = await node_client(opcua_server, tmp_path, trusted_client, "vera")
    assert (independent["connected"], independent["error"]) == (True, None)
    [entry] = await audit.recent(5)
    assert (entry.user, entry.action, entry.detail) == (
        "gateway", "OPC UA certificate renewed", renewed.replaced)
    assert (await opcua_server.renew_certificate()) is None  # the new one is kept



async def test_the_daily_check_looks_at_once_and_renews_what_expires_soon(
    opcua_server: OpcuaServer, tmp_path: Path
) -> None:
    # A certificate 30 days from its end sits in own/, as after almost 5 years of running.
    expiring_cert, expiring_key = client_certificate(tmp_path, "expiring")
    folders = PkiFolders(tmp_path / "pki")
    folders.own_cert.write_bytes(expiring_cert.read_bytes())
    folders.own_key.write_bytes(expiring_key.read_bytes())
    expiring = thumbprint(read_certificate(folders.own_cert))

    started = opcua_server.certificate
    check = asyncio.create_task(opcua_server.keep_certificate(interval_s=3600.0))
    try:
        await wait_until(lambda: opcua_server.certificate != started, WAIT_S,
                         "the expiring certificate renewed")
    finally:
        check.cancel()
        await asyncio.wait([check])

    assert (folders.replaced / f"{expiring}.der").read_bytes() == expiring_cert.read_bytes()
    assert opcua_server.certificate is not None
    assert opcua_server.certificate.thumbprint == thumbprint(read_certificate(folders.own_cert))
    assert opcua_server.certificate.replaced is not None
    assert f"thumbprint {expiring} ->" in opcua_server.certificate.replaced
