"""The simulated plant's repair, from the page (issue #11): the demo's pumps take a repair
as a write of true to their `maintenance_reset` coil (docs/simulator.md), so an asset whose
inputs all come from one device with such a writable bool tag can be repaired from the
Models page, as a maintenance crew's reset would reach the drive."""

from __future__ import annotations

from gateway.config.model import GatewayConfig

REPAIR_TAG = "maintenance_reset"


def repair_key(config: GatewayConfig, asset: str) -> str | None:
    """The tag ("<device>.maintenance_reset") a repair of `asset` writes; None when the
    asset is unknown or its device has no such writable bool tag."""
    found = next((a for a in config.assets if a.name == asset), None)
    if found is None:
        return None
    devices = {source.partition(".")[0] for source in found.inputs.values()}
    if len(devices) != 1:
        return None
    (device,) = devices
    for configured in config.devices:
        if configured.name == device:
            for tag in configured.tags:
                if tag.name == REPAIR_TAG and tag.writable and tag.type == "bool":
                    return f"{device}.{REPAIR_TAG}"
    return None
