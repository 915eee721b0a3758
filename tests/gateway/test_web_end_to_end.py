"""The web page in the running gateway: /healthz, the first admin, /metrics from live state."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from drivers.base import Table
from gateway.config.model import GatewayConfig
from tests.fixtures.gateway import running
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.fixtures.prometheus import metric_value
from tests.web.conftest import csrf_field

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test credential


def config_for(device: PymodbusServer, data_dir: Path) -> GatewayConfig:
    return GatewayConfig.model_validate({
        "gateway": {"name": "plant", "data_dir": str(data_dir)},
        "opcua": {"endpoint": LOOPBACK_ENDPOINT, "namespace": "urn:uvelka:test",
                  "security": ["None"], "anonymous": True},
        "devices": [{
            "name": "pump1", "url": device.url, "poll_interval": 0.1,
            "tags": [{"name": "pressure", "table": "holding", "address": 0, "type": "uint16"}],
        }],
        "alarms": [{"name": "pressure_high", "source": "pump1.pressure", "condition": "above",
                    "limit": 10.0}],
        "web": {"port": 0},
    })


async def test_health_and_metrics_come_from_the_running_gateway(
    modbus_tcp_server: PymodbusServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    modbus_tcp_server.set(Table.HOLDING, 0, [12])
    async with running(config_for(modbus_tcp_server, tmp_path)) as (gateway, _):
        assert gateway.running.web.first_admin_password is None  # it came from the environment
        base = f"http://127.0.0.1:{gateway.running.web.port}"
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as client:
            async with client.get(f"{base}/healthz") as response:
                assert (response.status, await response.json()) == (200, {"status": "ok"})
            async with client.get(f"{base}/metrics") as response:
                assert response.status == 401

            async with client.get(f"{base}/login") as response:
                token = csrf_field(await response.text())
            form = {"name": "admin", "password": PASSWORD, "csrf_token": token}
            async with client.post(f"{base}/login", data=form, allow_redirects=False) as response:
                assert response.status == 303

            poller = gateway.running.fleet.pollers["pump1"]
            await wait_until(lambda: gateway.running.hub.alarms["pressure_high"].active, 10.0,
                             "the alarm")
            async with client.get(f"{base}/metrics") as response:
                assert response.status == 200
                assert response.content_type == "text/plain"
                text = await response.text()
    assert metric_value(text, "uvelka_device_connected", device="pump1") == 1
    assert 0 < metric_value(text, "uvelka_device_polls_total", device="pump1") <= poller.poll_count
    assert metric_value(text, "uvelka_alarms", state="active_unacked") == 1
    assert "# TYPE uvelka_device_polls_total counter" in text.splitlines()
