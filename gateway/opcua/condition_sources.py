"""Each configured alarm as an OPC UA condition under its source's object: its asset, or
its tag's device while that device is enabled."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from gateway.alarms.hub import AlarmHub
from gateway.config.model import DeviceConfig
from gateway.config.sources import SourceKind
from gateway.opcua.server import OpcuaServer

logger = logging.getLogger(__name__)


async def add_conditions(
    server: OpcuaServer, hub: AlarmHub, devices: Sequence[DeviceConfig]
) -> None:
    """Each alarm of `hub` as a condition of `server`, under its asset or device."""
    enabled = {device.name for device in devices if device.enabled}
    for name, alarm in hub.alarms.items():
        source = hub.sources[name]
        if source.kind is SourceKind.ASSET:
            await server.add_alarm(alarm, asset=source.owner)
        elif source.owner in enabled:
            await server.add_alarm(alarm, device=source.owner)
        else:
            logger.info("alarm %r: device %r is disabled, so the alarm has no OPC UA "
                        "condition and waits for initial data", name, source.owner)
