"""The MQTT topics of one gateway, named in one place (docs/mqtt.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic lives under `<prefix>/<gateway>/`; names are validated config names, so
    they hold no '/', '+' or '#' and each is exactly one topic level."""

    prefix: str
    gateway: str

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.gateway}"

    @property
    def status(self) -> str:
        """Retained `online`/`offline`, with the Last Will."""
        return f"{self.root}/status"

    def alarm(self, alarm: str) -> str:
        """One message per alarm event."""
        return f"{self.root}/alarms/{alarm}"

    def ack(self, alarm: str) -> str:
        """Where MES publishes an acknowledgement of `alarm`."""
        return f"{self.alarm(alarm)}/ack"

    @property
    def ack_filter(self) -> str:
        """The subscription that receives every acknowledgement command."""
        return self.ack("+")

    def acked_alarm(self, topic: str) -> str:
        """The alarm name in an acknowledgement topic matched by `ack_filter`."""
        return topic.removeprefix(self.alarm("")).removesuffix("/ack")

    def asset_state(self, asset: str) -> str:
        """The retained state of one asset."""
        return f"{self.root}/assets/{asset}/state"

    def maintenance(self, asset: str) -> str:
        """One message per change of a maintenance entry of `asset` (issue #12)."""
        return f"{self.root}/maintenance/{asset}"
