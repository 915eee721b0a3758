"""Sparkplug topics: namespace/group_id/message_type/edge_node_id/[device_id]
(Sparkplug 3.0 §4.1, tck-id-topic-structure, tck-id-topic-structure-namespace-a)."""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "spBv1.0"


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one edge node."""

    group_id: str
    edge_node_id: str

    def node(self, message_type: str) -> str:
        """NBIRTH, NDEATH, NDATA, NCMD: no device id
        (tck-id-topic-structure-namespace-device-id-non-associated-message-types)."""
        return f"{NAMESPACE}/{self.group_id}/{message_type}/{self.edge_node_id}"

    def device(self, message_type: str, device_id: str) -> str:
        """DBIRTH, DDEATH, DDATA, DCMD: with the device id
        (tck-id-topic-structure-namespace-device-id-associated-message-types)."""
        return f"{self.node(message_type)}/{device_id}"

    @property
    def dcmd_filter(self) -> str:
        return self.device("DCMD", "+")

    def commanded_device(self, topic: str) -> str | None:
        """The device id of a DCMD topic of this node, or None."""
        prefix = self.node("DCMD") + "/"
        rest = topic.removeprefix(prefix)
        return rest if rest != topic and rest and "/" not in rest else None


def state_topic(host_id: str) -> str:
    """The primary host's STATE topic (tck-id-host-topic-phid-birth-topic)."""
    return f"{NAMESPACE}/STATE/{host_id}"
