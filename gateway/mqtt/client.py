"""The paho-mqtt client built from the `[mqtt]` settings: protocol, identity, TLS, Last Will.

Sessions are clean (MQTT 3.1.1 clean session, MQTT 5 clean start): the outbox, not the
broker, keeps what must survive a reconnect, and acknowledgements MES publishes while the
gateway is away are not queued for it (docs/mqtt.md).
"""

from __future__ import annotations

import ssl

from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from gateway.config.model import MqttSection

STATUS_QOS = 1
ONLINE = b"online"
OFFLINE = b"offline"
# For the TCP connect and the TLS handshake: paho's 5 s default is short for a TLS broker
# reached over a cellular link.
CONNECT_TIMEOUT_S = 10.0


def client_id(settings: MqttSection, gateway: str) -> str:
    """The configured client id, or "uvelka-<gateway>"."""
    return settings.client_id or f"uvelka-{gateway}"


def make_client(
    settings: MqttSection, gateway: str, status_topic: str, *, reconnect_max_s: int
) -> Client:
    """The bridge's paho client for `settings`, not yet connected, with the `offline` Last
    Will.

    paho's own in-flight limit is off (0): the bridge keeps its window itself (delivery.py),
    and with a limit paho walks its whole queue of unconfirmed messages on every PUBACK
    (`Client._update_inflight`), which cost a tenth of the drain rate at a window of 200.
    """
    client = new_client(settings, client_id(settings, gateway), reconnect_max_s=reconnect_max_s)
    client.max_inflight_messages_set(0)
    client.will_set(status_topic, OFFLINE, qos=STATUS_QOS, retain=True)
    return client


def new_client(settings: MqttSection, client_id: str, *, reconnect_max_s: int) -> Client:
    """A paho client for `settings` (protocol, clean session, timeouts, credentials, TLS)
    under `client_id`, not yet connected, without a Will or callbacks: each connection of
    the gateway (the bridge, the Sparkplug edge node's numbered.py) adds its own."""
    v5 = settings.version == "5"
    client = Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
        clean_session=None if v5 else True,
    )
    client.connect_timeout = CONNECT_TIMEOUT_S
    client.reconnect_delay_set(1, reconnect_max_s)
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set_context(tls_context(settings))
    return client


def tls_context(settings: MqttSection) -> ssl.SSLContext:
    """Verify the broker against `ca_file` (or the system's CAs), host name included; present
    `cert_file`/`key_file` if given."""
    context = ssl.create_default_context(
        cafile=None if settings.ca_file is None else str(settings.ca_file)
    )
    if settings.cert_file is not None:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    context.sslsocket_class = _ClosingSSLSocket
    return context


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the TLS handshake fails: paho 2.2 (`Client._ssl_wrap_socket`)
    drops the socket without closing it, for the garbage collector to close with a
    ResourceWarning, on every attempt against a broker whose certificate does not verify."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def connect(client: Client, settings: MqttSection) -> None:
    """Open the connection and send CONNECT (blocking); raises OSError if the broker is not
    reachable or the TLS handshake fails. The broker's answer arrives in on_connect."""
    if settings.version == "5":
        client.connect(settings.host, settings.port, settings.keepalive, clean_start=True)
    else:
        client.connect(settings.host, settings.port, settings.keepalive)
