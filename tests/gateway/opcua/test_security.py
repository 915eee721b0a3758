"""OPC UA security (issue #14) through a real asyncua client: SignAndEncrypt with each
policy and the web page's users, roles per write and per method call, UserAccessLevel per
user, client certificates against the trust list (refused, kept in rejected/, trusted
with `uvelka pki trust`, then accepted without a restart), and a None channel held to
discovery when None is not configured."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua
from asyncua.crypto import security_policies
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from gateway.__main__ import main
from gateway.alarms import Alarm
from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.opcua import OpcuaServer
from gateway.opcua.pki import PkiFolders
from tests.fixtures.opcua import (
    LOOPBACK_ENDPOINT,
    PUMP_TAGS,
    WAIT_S,
    AlarmHub,
    EventWatch,
    RecordingWriteHandler,
    device,
)
from tests.gateway.opcua.test_conditions_methods import HOT, SERVER, T0, acknowledge
from web.users import Role, UserStore

PASSWORD = "correct horse battery"  # noqa: S105 - the test users'
CLIENT_URI = "urn:test:security-client"
POLICIES = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
    "Aes128_Sha256_RsaOaep": security_policies.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256_Sha256_RsaPss": security_policies.SecurityPolicyAes256Sha256RsaPss,
}


def secure_config(data_dir: Path, **opcua: Any) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {
            "gateway": {"name": "plant", "data_dir": str(data_dir)},
            "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test", **opcua},
            "devices": [device("pump", PUMP_TAGS)],
        }
    )


def client_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed client application certificate and its key, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(CLIENT_URI)]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def users(tmp_path: Path) -> UserStore:
    store, _ = await UserStore.open(tmp_path / "web", environ={"UVELKA_ADMIN_PASSWORD": PASSWORD})
    for name, role in (("vera", Role.VIEWER), ("oleg", Role.OPERATOR), ("elena", Role.ENGINEER)):
        await store.add(name, role, PASSWORD)
    return store


@pytest.fixture
def opcua_config(tmp_path: Path) -> GatewayConfig:
    return secure_config(tmp_path)


@pytest.fixture
def hub() -> AlarmHub:
    return AlarmHub()


@pytest.fixture
async def opcua_server(
    opcua_config: GatewayConfig,
    write_handler: RecordingWriteHandler,
    hub: AlarmHub,
    users: UserStore,
) -> AsyncIterator[OpcuaServer]:
    async with OpcuaServer(opcua_config, write_handler, hub, users) as server:
        hub.server = server
        yield server
        await hub.settled()


@pytest.fixture
def trusted_client(tmp_path: Path) -> tuple[Path, Path]:
    """A client certificate already in trusted/certs/."""
    cert, key = client_certificate(tmp_path, "trusted-client")
    folders = PkiFolders(tmp_path / "pki")
    folders.make()
    (folders.certs / "trusted-client.pem").write_bytes(cert.read_bytes())
    return cert, key


async def secure_client(
    server: OpcuaServer,
    cert_key: tuple[Path, Path],
    user: str | None,
    policy: str = "Basic256Sha256",
    mode: ua.MessageSecurityMode = ua.MessageSecurityMode.SignAndEncrypt,
) -> Client:
    client = Client(server.endpoint_url, timeout=WAIT_S)
    client.application_uri = CLIENT_URI
    await client.set_security(POLICIES[policy], str(cert_key[0]), str(cert_key[1]), mode=mode)
    if user is not None:
        client.set_user(user)
        client.set_password(PASSWORD)
    return client


def tag(server: OpcuaServer, key: str) -> ua.NodeId:
    return ua.NodeId(key, server.namespace_index)


async def write(client: Client, node: ua.NodeId, value: int) -> ua.StatusCode:
    [status] = await client.uaclient.write_attributes(
        [node], [ua.DataValue(ua.Variant(value, ua.VariantType.UInt16))], ua.AttributeIds.Value
    )
    return status


@pytest.mark.parametrize("policy", list(POLICIES))
async def test_sign_and_encrypt_with_each_policy_and_a_user(
    opcua_server: OpcuaServer,
    trusted_client: tuple[Path, Path],
    policy: str,
) -> None:
    async with await secure_client(opcua_server, trusted_client, "vera", policy) as client:
        value = await client.get_node(tag(opcua_server, "pump.speed")).read_data_value(
            raise_on_bad_status=False
        )
        assert value.StatusCode == ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData)


async def test_the_server_certificate_is_rsa_2048_sha256_with_uri_and_host_names(
    opcua_server: OpcuaServer, tmp_path: Path
) -> None:
    assert opcua_server.certificate is not None
    cert = x509.load_der_x509_certificate(opcua_server.certificate.cert.read_bytes())
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size >= 2048
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:uvelka:plant"]
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert (tmp_path / "pki" / "own" / "private" / "key.pem").stat().st_mode & 0o077 == 0


async def test_a_wrong_password_and_anonymous_are_refused(
    opcua_server: OpcuaServer, trusted_client: tuple[Path, Path]
) -> None:
    client = await secure_client(opcua_server, trusted_client, "vera")
    client.set_password("not the password at all")
    with pytest.raises(ua.uaerrors.BadUserAccessDenied):
        await client.connect()
    client.disconnect_socket()
    anonymous = await secure_client(opcua_server, trusted_client, None)
    with pytest.raises(ua.uaerrors.BadIdentityTokenRejected):
        await anonymous.connect()
    anonymous.disconnect_socket()


async def test_a_viewer_write_is_refused_an_engineer_write_reaches_the_device(
    opcua_server: OpcuaServer,
    trusted_client: tuple[Path, Path],
    write_handler: RecordingWriteHandler,
) -> None:
    speed = tag(opcua_server, "pump.speed")
    async with await secure_client(opcua_server, trusted_client, "vera") as viewer:
        assert await write(viewer, speed, 1200) == ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
        level = await viewer.get_node(speed).read_attribute(ua.AttributeIds.UserAccessLevel)
        assert level.Value.Value == ua.AccessLevel.CurrentRead.mask
    async with await secure_client(opcua_server, trusted_client, "elena") as engineer:
        assert await write(engineer, speed, 1200) == ua.StatusCode(ua.StatusCodes.Good)
        level = await engineer.get_node(speed).read_attribute(ua.AttributeIds.UserAccessLevel)
        assert level.Value.Value == (
            ua.AccessLevel.CurrentRead.mask | ua.AccessLevel.CurrentWrite.mask
        )
    assert write_handler.writes == [("pump.speed", 1200)]


async def test_an_operator_acknowledges_and_the_event_names_them_a_viewer_cannot(
    opcua_server: OpcuaServer,
    trusted_client: tuple[Path, Path],
    hub: AlarmHub,
) -> None:
    hot = await hub.add(Alarm(HOT), device="pump")
    condition = ua.NodeId("Alarms.pump_hot", opcua_server.namespace_index)
    async with await secure_client(opcua_server, trusted_client, "oleg") as operator:
        watch = await EventWatch.on(operator, SERVER)
        await hub.fire(hot.observe(85.0, Quality.GOOD, T0))
        shown = await watch.next()
        async with await secure_client(opcua_server, trusted_client, "vera") as viewer:
            refused = await acknowledge(viewer, condition, shown.EventId, "no")
            assert refused == ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
        result = await acknowledge(operator, condition, shown.EventId, "seen")
        assert result == ua.StatusCode(ua.StatusCodes.Good)
        acked = await watch.next()
    assert hub.acknowledged == [("pump_hot", "oleg", "seen")]
    assert getattr(acked, "AckedState/Id") is True
    assert acked.ClientUserId == "oleg"


async def test_an_unknown_client_certificate_is_refused_kept_then_trusted_with_the_cli(
    opcua_server: OpcuaServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stranger = client_certificate(tmp_path, "stranger")
    client = await secure_client(opcua_server, stranger, "vera")
    with pytest.raises(ua.uaerrors.BadCertificateUntrusted):
        await client.connect()
    client.disconnect_socket()
    [kept] = (tmp_path / "pki" / "trusted" / "rejected").iterdir()
    assert kept.name.startswith("stranger [")
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(
        f'[gateway]\nname = "plant"\ndata_dir = "{tmp_path}"\n', encoding="utf-8"
    )

    assert main(["pki", "-c", str(config_file), "trust", kept.name]) == 0

    assert "trusted CN=stranger" in capsys.readouterr().out
    assert not kept.exists()
    async with await secure_client(opcua_server, stranger, "vera") as accepted:
        assert await accepted.get_namespace_index("urn:uvelka:test") == 2
    assert main(["pki", "-c", str(config_file), "list"]) == 0
    assert "trusted (" in capsys.readouterr().out


async def test_a_none_channel_serves_discovery_only_when_none_is_not_configured(
    opcua_server: OpcuaServer,
) -> None:
    raw = Client(opcua_server.endpoint_url, timeout=WAIT_S)
    await raw.connect_socket()
    try:
        await raw.send_hello()
        await raw.open_secure_channel()  # asyncua opens it: None is every channel's start
        endpoints = await raw.get_endpoints()
        assert {e.SecurityMode for e in endpoints} == {ua.MessageSecurityMode.SignAndEncrypt}
        with pytest.raises(ua.uaerrors.BadSecurityPolicyRejected):
            await raw.create_session()
        register = ua.RegisterServer2Parameters(Server=ua.RegisteredServer(ServerUri="urn:x"))
        with pytest.raises(ua.uaerrors.BadServiceUnsupported):  # not a discovery server
            await raw.uaclient.register_server2(register)
    finally:
        raw.disconnect_socket()


async def test_anonymous_over_none_when_configured(tmp_path: Path, users: UserStore) -> None:
    config = secure_config(tmp_path, security=["None"], anonymous=True)
    async with OpcuaServer(config, RecordingWriteHandler(), None, users) as server:
        assert server.certificate is None  # no secure endpoint: nothing to sign with
        async with Client(server.endpoint_url, timeout=WAIT_S) as client:
            assert await client.get_namespace_index("urn:uvelka:test") == 2
        assert not (tmp_path / "pki").exists()
        async with Client(server.endpoint_url, timeout=WAIT_S) as client:
            with pytest.raises(ua.uaerrors.BadServiceUnsupported):
                await client.uaclient.register_server2(
                    ua.RegisterServer2Parameters(Server=ua.RegisteredServer(ServerUri="urn:x"))
                )


# -- the same through an independent client: node-opcua (bench/subscriber's install) ----

NODE_CLIENT = Path(__file__).parent / "node" / "client.js"
NODE_MODULES = Path(__file__).parents[3] / "bench" / "subscriber" / "node_modules"


async def node_client(
    server: OpcuaServer,
    tmp_path: Path,
    cert_key: tuple[Path, Path],
    user: str | None,
    policy: str = "Basic256Sha256",
    **actions: Any,
) -> dict[str, Any]:
    """Run node-opcua's client once; what it reports."""
    assert (NODE_MODULES / "node-opcua-client").is_dir(), "npm ci in bench/subscriber first"
    settings = tmp_path / f"node-{uuid.uuid4().hex}.json"
    settings.write_text(
        json.dumps(
            {
                "endpoint": server.endpoint_url,
                "policy": policy,
                "user": user,
                "password": PASSWORD,
                "cert": str(cert_key[0]),
                "key": str(cert_key[1]),
                "pkiDir": str(tmp_path / "node-pki"),
                "applicationUri": CLIENT_URI,
                "write": actions.get("write"),
                "acknowledge": actions.get("acknowledge"),
            }
        ),
        encoding="utf-8",
    )
    child = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_CLIENT),
        str(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    out, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("policy", list(POLICIES))
async def test_node_opcua_sign_and_encrypt_with_each_policy_an_engineer_writes(
    opcua_server: OpcuaServer,
    tmp_path: Path,
    trusted_client: tuple[Path, Path],
    write_handler: RecordingWriteHandler,
    policy: str,
) -> None:
    speed = tag(opcua_server, "pump.speed").to_string()
    result = await node_client(
        opcua_server,
        tmp_path,
        trusted_client,
        "elena",
        policy,
        write={"nodeId": speed, "value": 900},
    )

    assert result["error"] is None
    assert result["writeStatus"] == "Good"
    assert write_handler.writes == [("pump.speed", 900)]


async def test_node_opcua_anonymous_refused_and_a_viewer_write_refused(
    opcua_server: OpcuaServer,
    tmp_path: Path,
    trusted_client: tuple[Path, Path],
    write_handler: RecordingWriteHandler,
) -> None:
    anonymous = await node_client(opcua_server, tmp_path, trusted_client, None)
    assert anonymous["connected"] is False
    # The endpoints offer no anonymous token policy, so node-opcua does not even try
    # (asyncua's client does: test_a_wrong_password_and_anonymous_are_refused).
    assert anonymous["error"] == "Cannot find ANONYMOUS user token policy in end point description"

    speed = tag(opcua_server, "pump.speed").to_string()
    viewer = await node_client(
        opcua_server, tmp_path, trusted_client, "vera", write={"nodeId": speed, "value": 900}
    )
    assert viewer["writeStatus"] == "BadUserAccessDenied"
    assert write_handler.writes == []


async def test_node_opcua_an_operator_acknowledges_and_the_event_names_them(
    opcua_server: OpcuaServer,
    tmp_path: Path,
    trusted_client: tuple[Path, Path],
    hub: AlarmHub,
) -> None:
    hot = await hub.add(Alarm(HOT), device="pump")
    await hub.fire(hot.observe(85.0, Quality.GOOD, T0))
    condition = ua.NodeId("Alarms.pump_hot", opcua_server.namespace_index).to_string()

    result = await node_client(
        opcua_server,
        tmp_path,
        trusted_client,
        "oleg",
        acknowledge={"conditionId": condition, "comment": "on it"},
    )

    assert result["error"] is None
    assert result["ack"] == {
        "status": "Good",
        "clientUserId": "oleg",
        "comment": "on it",
        "acked": True,
    }
    assert hub.acknowledged == [("pump_hot", "oleg", "on it")]


async def test_node_opcua_untrusted_then_trusted_with_the_cli(
    opcua_server: OpcuaServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stranger = client_certificate(tmp_path, "node-stranger")
    refused = await node_client(opcua_server, tmp_path, stranger, "vera")
    assert refused["connected"] is False
    [kept] = (tmp_path / "pki" / "trusted" / "rejected").iterdir()
    assert kept.name.startswith("node-stranger [")
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(
        f'[gateway]\nname = "plant"\ndata_dir = "{tmp_path}"\n', encoding="utf-8"
    )

    assert main(["pki", "-c", str(config_file), "trust", kept.name]) == 0

    accepted = await node_client(opcua_server, tmp_path, stranger, "vera")
    assert accepted["connected"] is True
    assert accepted["error"] is None
    assert "trusted CN=node-stranger" in capsys.readouterr().out
