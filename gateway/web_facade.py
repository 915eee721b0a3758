"""The gateway as the web page sees it (web.facade.WebFacade): health and metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.metrics import alarm_metrics, device_metrics, mqtt_metrics, render

if TYPE_CHECKING:
    from gateway.app import Gateway


class GatewayWebFacade:
    """Answers from the state the running gateway holds; never blocks."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def health(self) -> Mapping[str, object]:
        gateway = self._gateway
        statuses = [poller.status() for poller in gateway.fleet.pollers.values()]
        return {
            "status": "ok" if gateway.started.is_set() else "starting",
            "devices": len(statuses),
            "devices_connected": sum(status.connected for status in statuses),
        }

    def metrics(self) -> str:
        gateway = self._gateway
        metrics = device_metrics(poller.status() for poller in gateway.fleet.pollers.values())
        if gateway.alarms is not None:
            metrics += alarm_metrics(gateway.alarms)
        if gateway.bridge is not None:
            metrics += mqtt_metrics(gateway.bridge.stats)
        return render(metrics)
