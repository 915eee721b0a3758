"""The `[sparkplug]` table: the gateway as a Sparkplug B 3.0 edge node (issue #16), and its
checks across sections."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import AfterValidator, Field

from gateway.config.frozen import Frozen
from gateway.config.model import MqttSection
from gateway.config.problem import Finding

_RESERVED = "+/#"


def _sparkplug_id(value: str) -> str:
    # Sparkplug 3.0 §4.1.1 (tck-id-topic-structure-namespace-valid-group-id, -valid-edge-
    # node-id): group, edge node and host ids are UTF-8 strings without the reserved
    # characters + / #, and hold only what MQTT allows in a topic (tck-id-intro-group-id-
    # chars, -edge-node-id-chars): MQTT forbids NUL and says control characters SHOULD NOT
    # be sent (MQTT 3.1.1 §1.5.3, 5.0 §1.5.4), and mosquitto refuses them.
    if not value:
        raise ValueError("must not be empty")
    if any(char in _RESERVED or unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("must not hold '+', '/', '#' or control characters "
                         "(Sparkplug topic levels)")
    return value


SparkplugId = Annotated[str, AfterValidator(_sparkplug_id)]


class SparkplugSection(Frozen):
    """`[sparkplug]`: publish devices and assets as a Sparkplug B edge node."""

    enabled: bool = True
    group_id: SparkplugId
    edge_node_id: SparkplugId | None = None  # None: the gateway's name
    # With a primary host, births wait for its retained STATE online, and data waits in
    # the outbox while it is offline.
    primary_host_id: SparkplugId | None = None
    # None: the [mqtt] broker (its connection keys; the client id gets "-sparkplug").
    broker: MqttSection | None = None
    writes: bool = False  # whether DCMD may write tags
    outbox_max_messages: Annotated[int, Field(ge=100, le=10_000_000)] = 100_000
    outbox_max_age: Annotated[float, Field(gt=0.0)] = 7 * 86400.0


def check_sparkplug(
    section: SparkplugSection, mqtt: bool, devices: Iterable[str], assets: Mapping[int, str]
) -> list[Finding]:
    """What [sparkplug] needs from the other sections: a broker, and Sparkplug device ids
    unique within the edge node (Sparkplug 3.0 §4.1.1): a device's is its name, an
    asset's "asset-<name>" (gateway/sparkplug/catalogue.py)."""
    findings = []
    if section.enabled and section.broker is None and not mqtt:
        findings.append(Finding(("sparkplug", "broker"),
                                "is required without an [mqtt] section: the broker to use"))
    device_names = set(devices)
    findings += [
        Finding(("assets", index, "name"),
                f"Sparkplug publishes this asset as device 'asset-{name}', which is also "
                "the name of a device: rename one of them")
        for index, name in assets.items()
        if f"asset-{name}" in device_names
    ]
    return findings
