"""User name and password, and TLS (with and without a client certificate), against a
mosquitto set up for them; a refusal is one clear WARNING and the bridge keeps trying."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.config.model import MqttSection
from tests.fixtures.mqtt import Mosquitto, MosquittoFactory, Subscriber, SubscriberFactory, TlsFiles
from tests.gateway.mqtt.support import bridged, event, settings, topic, wait_until

USERS = {"uvelka": "gateway-secret", "mes": "mes-secret"}


async def delivers(section: MqttSection, mes: Subscriber, path: Path) -> None:
    async with bridged(section, path) as bridge:
        await bridge.publish_alarms([event("pump_high")])
        message = await mes.get()
    assert json.loads(message.payload)["alarm"] == "pump_high"


async def tries_three_times(
    section: MqttSection, broker: Mosquitto, path: Path, refusal: str
) -> None:
    """Run the bridge until the broker logged `refusal` three times; it never got in."""
    async with bridged(section, path) as bridge:
        await wait_until(lambda: broker.log().count(refusal) >= 3, f"three times {refusal!r}")
        assert not bridge.stats.connected


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def test_user_and_password(
    mosquitto_factory: MosquittoFactory, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    broker = await mosquitto_factory(users=USERS)
    mes = await subscribers(broker, topic("alarms/+"), username="mes", password=USERS["mes"])
    section = settings(broker.url, username="uvelka", password=USERS["uvelka"])

    await delivers(section, mes, tmp_path / "outbox.db")


@pytest.mark.parametrize("version", ["3.1.1", "5"])
async def test_wrong_password_is_one_warning_and_the_bridge_keeps_trying(
    mosquitto_factory: MosquittoFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    version: str,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.mqtt.bridge")
    broker = await mosquitto_factory(users=USERS)
    wrong = {"username": "uvelka", "password": "not-" + USERS["uvelka"]}
    section = settings(broker.url, version=version, **wrong)

    await tries_three_times(section, broker, tmp_path / "outbox.db", "not authorised")

    assert warnings(caplog) == [
        f"MQTT broker {broker.url} refused the connection: Not authorized; retrying"
    ]


@pytest.mark.parametrize("client_certificate", [False, True])
async def test_mqtts_verifies_the_broker_against_the_ca_file(
    mosquitto_factory: MosquittoFactory,
    subscribers: SubscriberFactory,
    make_tls_files: Callable[[str], TlsFiles],
    tmp_path: Path,
    client_certificate: bool,
) -> None:
    tls = make_tls_files("pki")
    broker = await mosquitto_factory(tls=tls, require_certificate=client_certificate)
    mes = await subscribers(broker, topic("alarms/+"))
    files = {"cert_file": tls.client_cert, "key_file": tls.client_key}
    section = settings(broker.url, ca_file=tls.ca, **(files if client_certificate else {}))

    assert broker.url.startswith("mqtts://")
    await delivers(section, mes, tmp_path / "outbox.db")


async def test_mqtts_with_another_ca_is_one_warning_and_the_bridge_keeps_trying(
    mosquitto_factory: MosquittoFactory,
    make_tls_files: Callable[[str], TlsFiles],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.mqtt.bridge")
    broker = await mosquitto_factory(tls=make_tls_files("pki"))
    section = settings(broker.url, ca_file=make_tls_files("impostor").ca)

    await tries_three_times(section, broker, tmp_path / "outbox.db", "unknown ca")

    (warning,) = warnings(caplog)
    assert warning.startswith(f"MQTT broker {broker.url} cannot be reached: ")
    assert "CERTIFICATE_VERIFY_FAILED" in warning
