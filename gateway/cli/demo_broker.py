"""The demo's embedded MQTT broker (amqtt), so that `uvelka demo` needs nothing installed.

Production points `[mqtt]` at a real broker (mosquitto, EMQX, HiveMQ); this one runs in the
gateway's own event loop, keeps nothing on disk, and takes anonymous clients on loopback.

Fit for the demo only (issue #14; docs/mqtt.md, "The demo's broker"): amqtt 0.12 speaks
MQTT 3.1.1 only, and on every connect it sends the new client the retained messages of every
client's subscriptions, so the bridge sees asset states on its ack subscription and must
check each topic itself (gateway/mqtt/bridge.py). With that guard it does what the demo
needs (one gateway on loopback, installed with pip); a plant uses a real broker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'uvelka-gateway[demo]'"


class BrokerUnavailable(RuntimeError):
    """The embedded broker cannot run here (amqtt missing, or the port is taken)."""


@asynccontextmanager
async def embedded_broker(host: str, port: int) -> AsyncIterator[None]:
    """An MQTT broker listening on host:port for as long as the context is open."""
    try:
        from amqtt.broker import Broker  # noqa: PLC0415 - only the demo needs it
    except ImportError as exc:
        raise BrokerUnavailable(
            f"the demo's embedded MQTT broker needs amqtt ({INSTALL_HINT}), or give the "
            "demo a broker with --mqtt-url"
        ) from exc
    # amqtt logs every connection at INFO and its plugin loading at WARNING.
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }
    broker = Broker(config)
    try:
        await broker.start()
    except Exception as exc:  # amqtt wraps the bind error in its own BrokerError
        raise BrokerUnavailable(
            f"cannot start the embedded MQTT broker on {host}:{port}: {exc}; free the port, "
            "or give the demo a broker with --mqtt-url"
        ) from exc
    logger.info("embedded MQTT broker listening on %s:%d", host, port)
    try:
        yield
    finally:
        await broker.shutdown()
