"""The edge node built from the configuration: its broker, identity, outbox file, saved
bdSeq and link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import metadata

from gateway.config.model import GatewayConfig, MqttSection
from gateway.config.sparkplug import SparkplugSection
from gateway.core.quality import Quality
from gateway.core.storage import StorageHealth
from gateway.mqtt.client import client_id
from gateway.mqtt.numbered import NumberedLink
from gateway.opcua.status import status_code
from gateway.sparkplug import bd_seq, payloads
from gateway.sparkplug.node import SparkplugNode, Write
from gateway.sparkplug.topics import Topics, state_topic
from gateway.store import Outbox

OUTBOX_FILE = "sparkplug.sqlite"


def broker(section: SparkplugSection, mqtt: MqttSection | None, gateway: str) -> MqttSection:
    """[sparkplug.broker], or the [mqtt] connection under a client id of its own (one
    client id on two connections would make the broker drop one for the other); without
    a client id, the link takes "uvelka-<gateway>-sparkplug"."""
    if section.broker is not None:
        return section.broker
    if mqtt is None:
        raise ValueError("[sparkplug] needs a broker: [sparkplug.broker] or [mqtt]")
    return mqtt.model_copy(update={"client_id": f"{client_id(mqtt, gateway)}-sparkplug"})


# The OPC UA StatusCode of each quality, as a number (gateway.opcua.status's map): looked
# up for every sample, so once here.
_OPC_STATUS = {quality: int(status_code(quality).value) for quality in Quality}


@asynccontextmanager
async def edge_node(
    config: GatewayConfig,
    write: Write,
    storage: StorageHealth,
    *,
    running: Callable[[], GatewayConfig] | None = None,
    reconnect_max_s: int = 30,
) -> AsyncIterator[SparkplugNode]:
    """The configured edge node with its outbox open; run it with `node.run()`. `running`
    gives the configuration as the device editor changes it (default: `config` alone)."""
    section = config.sparkplug
    if section is None:
        raise ValueError("no [sparkplug] section")
    gateway = config.gateway.name
    settings = broker(section, config.mqtt, gateway)
    topics = Topics(section.group_id, section.edge_node_id or gateway)
    async with Outbox.open(
        config.gateway.data_dir / OUTBOX_FILE,
        max_messages=section.outbox_max_messages,
        max_age_s=section.outbox_max_age,
        health=storage,
    ) as outbox:
        node = SparkplugNode(
            running or (lambda: config), topics, outbox, write, _OPC_STATUS.__getitem__,
            gateway=gateway, version=_version(), primary_host=section.primary_host_id,
            writes=section.writes,
        )
        # Commands are subscribed before the births (Sparkplug 3.0 §5.4), and the primary
        # host's STATE, which they wait for.
        subscriptions = [topics.node("NCMD"), topics.dcmd_filter]
        if section.primary_host_id is not None:
            subscriptions.append(state_topic(section.primary_host_id))
        saved = bd_seq.BdSeqFile(config.gateway.data_dir / bd_seq.FILE, storage)
        node.attach(NumberedLink(
            settings, settings.client_id or f"uvelka-{gateway}-sparkplug",
            topics.node("NDEATH"), lambda number: payloads.ndeath(number, payloads.epoch_now()),
            subscriptions, node,
            first_number=await asyncio.to_thread(saved.first), keep_number=saved.keep,
            reconnect_max_s=reconnect_max_s,
        ))
        yield node


def _version() -> str:
    try:
        return metadata.version("uvelka-gateway")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"
