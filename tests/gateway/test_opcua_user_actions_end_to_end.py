"""What OPC UA clients do names the real user everywhere (issue #14), on a real gateway:
a pymodbus device, real mosquitto, the page and the default SignAndEncrypt endpoints. An
operator acknowledges, shelves and unshelves an alarm over OPC UA: each MQTT alarm message
names them, as the page's actions do, and the audit log records them; an engineer's tag
write reaches the device and is audited with their name; a viewer's is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua import Client, ua

from drivers.base import Table
from gateway.app import Gateway
from gateway.config.model import GatewayConfig
from gateway.opcua.pki import PkiFolders
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.mqtt import Mosquitto, SubscriberFactory
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.gateway.opcua.test_conditions_methods import call
from tests.gateway.opcua.test_security import (
    CLIENT_URI,
    PASSWORD,
    POLICIES,
    client_certificate,
)
from tests.gateway.test_alarms_end_to_end import ACKNOWLEDGE, GATEWAY, next_alarm, words
from tests.gateway.test_pki_page import ADMIN_PASSWORD, Session, base_of, logged_in, serving

WAIT_S = 15.0
TIMED_SHELVE = ua.NodeId(ua.ObjectIds.ShelvedStateMachineType_TimedShelve)
UNSHELVE = ua.NodeId(ua.ObjectIds.ShelvedStateMachineType_Unshelve)
GOOD = ua.StatusCode(ua.StatusCodes.Good)


def config_for(device: PymodbusServer, broker: Mosquitto, data_dir: Path) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "gateway": {"name": GATEWAY, "data_dir": str(data_dir), "language": "en"},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test"},
        "devices": [{
            "name": "pump1", "url": device.url, "poll_interval": 0.1,
            "tags": [
                {"name": "pressure", "table": "holding", "address": 0, "type": "float32"},
                {"name": "setpoint", "table": "holding", "address": 2, "type": "uint16",
                 "writable": True},
            ],
        }],
        "alarms": [{"name": "pressure_high", "source": "pump1.pressure", "condition": "above",
                    "limit": 10.0, "hysteresis": 1.0, "severity": 800}],
        "mqtt": {"url": broker.url},
        "web": {"port": 0},
    })


@pytest.fixture
async def gateway(
    modbus_tcp_server: PymodbusServer, mosquitto: Mosquitto, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Gateway]:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", ADMIN_PASSWORD)
    modbus_tcp_server.set(Table.HOLDING, 0, words(5.0))
    async with serving(config_for(modbus_tcp_server, mosquitto, tmp_path / "var")) as running:
        yield running


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A client certificate the gateway trusts."""
    cert, key = client_certificate(tmp_path, "scada")
    folders = PkiFolders(tmp_path / "var" / "pki")
    (folders.certs / "scada.pem").write_bytes(cert.read_bytes())
    return cert, key


def opcua_client(gateway: Gateway, certificate: tuple[Path, Path], user: str) -> Client:
    client = Client(gateway.running.server.endpoint_url, timeout=WAIT_S)
    client.application_uri = CLIENT_URI
    client.set_user(user)
    client.set_password(PASSWORD)
    return client


async def secured(client: Client, certificate: tuple[Path, Path]) -> Client:
    await client.set_security(POLICIES["Basic256Sha256"], str(certificate[0]),
                              str(certificate[1]), mode=ua.MessageSecurityMode.SignAndEncrypt)
    return client


async def audited(admin: Session) -> list[tuple[str, str, str]]:
    status, entries = await admin.get("/api/audit")
    assert status == 200
    return [(e["user"], e["action"], e["detail"]) for e in entries
            if "over OPC UA" in e["action"]]


async def test_opc_ua_actions_name_the_user_on_mqtt_and_in_the_audit_log(
    gateway: Gateway, certificate: tuple[Path, Path], modbus_tcp_server: PymodbusServer,
    mosquitto: Mosquitto, subscribers: SubscriberFactory,
) -> None:
    mes = await subscribers(mosquitto, f"uvelka/{GATEWAY}/alarms/+")
    async with logged_in(base_of(gateway), "admin", ADMIN_PASSWORD) as admin:
        for name, role in (("oleg", "operator"), ("elena", "engineer"), ("vera", "viewer")):
            status, body = await admin.send("POST", "/api/users",
                                            {"name": name, "role": role, "password": PASSWORD})
            assert status == 200, body
        modbus_tcp_server.set(Table.HOLDING, 0, words(12.5))
        raised = await next_alarm(mes)
        assert (raised["kind"], raised["user"]) == ("activated", None)
        ns = gateway.running.server.namespace_index
        condition = ua.NodeId("Alarms.pressure_high", ns)
        shelving = ua.NodeId("Alarms.pressure_high.ShelvingState", ns)

        client = await secured(opcua_client(gateway, certificate, "oleg"), certificate)
        async with client as operator:
            event_id = await operator.get_node(
                ua.NodeId("Alarms.pressure_high.EventId", ns)).read_value()
            acked = await call(operator, condition, ACKNOWLEDGE,
                               ua.Variant(event_id, ua.VariantType.ByteString),
                               ua.Variant(ua.LocalizedText("valve opened"),
                                          ua.VariantType.LocalizedText))
            assert acked.StatusCode == GOOD
            message = await next_alarm(mes)
            assert (message["kind"], message["user"], message["comment"]) == (
                "acknowledged", "oleg", "valve opened")

            shelved = await call(operator, shelving, TIMED_SHELVE,
                                 ua.Variant(2 * 3_600_000.0, ua.VariantType.Double))
            assert shelved.StatusCode == GOOD
            message = await next_alarm(mes)
            assert (message["kind"], message["user"], message["shelved"]) == (
                "shelved", "oleg", True)

            assert (await call(operator, shelving, UNSHELVE)).StatusCode == GOOD
            message = await next_alarm(mes)
            assert (message["kind"], message["user"], message["shelved"]) == (
                "unshelved", "oleg", False)

        setpoint = ua.NodeId("pump1.setpoint", ns)
        value = ua.DataValue(ua.Variant(7, ua.VariantType.UInt16))
        client = await secured(opcua_client(gateway, certificate, "vera"), certificate)
        async with client as viewer:
            [refused] = await viewer.uaclient.write_attributes(
                [setpoint], [value], ua.AttributeIds.Value)
            assert refused == ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
        client = await secured(opcua_client(gateway, certificate, "elena"), certificate)
        async with client as engineer:
            [written] = await engineer.uaclient.write_attributes(
                [setpoint], [value], ua.AttributeIds.Value)
            assert written == GOOD
        await wait_until(lambda: modbus_tcp_server.get(Table.HOLDING, 2, 1) == [7], WAIT_S,
                         "the setpoint written to the device")

        assert await audited(admin) == [
            ("elena", "tag written over OPC UA", "pump1.setpoint = 7"),
            ("oleg", "alarm unshelved over OPC UA", "pressure_high"),
            ("oleg", "alarm shelved over OPC UA", "pressure_high for 2 h"),
            ("oleg", "alarm acknowledged over OPC UA", "pressure_high: valve opened"),
        ]
