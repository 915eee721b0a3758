"""`uvelka demo`: the simulated plant and the gateway in one process, on embedded defaults."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drivers.modbus.link import LinkSettings
from drivers.modbus.simulator import run_simulator
from gateway.app import Gateway
from gateway.cli.demo_broker import embedded_broker
from gateway.cli.simulate import simulator_options
from gateway.config import ConfigError, GatewayConfig, MqttSection, WebSection, validate_text
from web.users import ADMIN_ENV_VAR

logger = logging.getLogger(__name__)

DEMO_HELP = "simulated pumps and the gateway in one process, on embedded defaults"
DEMO_CONFIG = "defaults/demo.toml"
# The speed-up demo.toml's intervals are written for: one poll and one asset row a second is
# one row per simulated minute, what the shipped models were trained on. Another speed-up
# scales the intervals with it, so the models see the same rows (and the alarms' delays,
# counted in asset intervals, the same simulated time).
DEMO_SPEEDUP = 60.0
EMBEDDED_BROKER = MqttSection(url="mqtt://127.0.0.1:1883")
DEMO_WEB = WebSection(host="127.0.0.1", port=8080)
# The demo's alone, printed at every start; `uvelka run` generates one and prints it once.
DEMO_ADMIN_PASSWORD = "uvelka-demo-admin"  # noqa: S105 - a published demo credential


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mqtt-url", metavar="URL",
        help="publish alarms to this broker (mqtt://host:port) instead of starting an "
             f"embedded one at {EMBEDDED_BROKER.url}",
    )


def shipped_models_base() -> Path:
    """The folder holding `models_onnx/`: the checkout (editable installs) or the install.

    A wheel installs the shipped models as data files under `<prefix>/share/uvelka/`.
    """
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "models_onnx").is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "uvelka"


def demo_config(speedup: float = DEMO_SPEEDUP) -> GatewayConfig:
    """The embedded demo configuration (three pumps on 127.0.0.1:5020..5022), polling and
    scoring at the pace of a plant simulated at `speedup`."""
    text = resources.files("gateway").joinpath(DEMO_CONFIG).read_text(encoding="utf-8")
    config, problems = validate_text(text, DEMO_CONFIG, base_dir=shipped_models_base())
    if config is None:
        raise ConfigError(problems)
    if speedup == DEMO_SPEEDUP:
        return config
    scale = DEMO_SPEEDUP / speedup
    return config.model_copy(update={
        "devices": [device.model_copy(update={"poll_interval": device.poll_interval * scale})
                    for device in config.devices],
        "assets": [asset.model_copy(update={"interval": asset.interval * scale})
                   for asset in config.assets],
    })


def demo_jobs(args: argparse.Namespace) -> list[Coroutine[Any, Any, None]]:
    """The simulator serving exactly the devices the demo configuration polls, and the gateway."""
    if args.speedup <= 0:
        raise SystemExit(f"uvelka: --speedup: the demo needs time to pass (got {args.speedup:g})")
    config = demo_config(args.speedup)
    embedded = args.mqtt_url is None
    mqtt = EMBEDDED_BROKER if embedded else _broker(args.mqtt_url)
    config = config.model_copy(update={"mqtt": mqtt, "web": DEMO_WEB})
    # The web page's first start takes the admin password from the environment: the demo's
    # is fixed, so that it can be printed at every start.
    os.environ.setdefault(ADMIN_ENV_VAR, DEMO_ADMIN_PASSWORD)
    first = LinkSettings.parse(config.devices[0].url)
    options = simulator_options(
        args, demo_plant=True, devices=len(config.devices), host=first.host or "127.0.0.1",
        base_port=first.port or 502,
    )
    gateway = Gateway(config)
    serving = _with_broker(gateway, mqtt) if embedded else gateway.serve()
    return [run_simulator(options), serving, _announce(gateway, options.speedup, embedded)]


def _demo_password() -> str:
    if os.environ.get(ADMIN_ENV_VAR) == DEMO_ADMIN_PASSWORD:
        return DEMO_ADMIN_PASSWORD
    return f"from {ADMIN_ENV_VAR}"


def _broker(url: str) -> MqttSection:
    try:
        return MqttSection(url=url)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise SystemExit(f"uvelka: --mqtt-url {url!r}: {reason}") from None


async def _with_broker(gateway: Gateway, mqtt: MqttSection) -> None:
    async with embedded_broker(mqtt.host, mqtt.port):
        await gateway.serve()


async def _announce(gateway: Gateway, speedup: float, embedded_broker: bool) -> None:
    await gateway.started.wait()
    config = gateway.config
    mqtt = config.mqtt or EMBEDDED_BROKER
    running = gateway.running
    ns = running.server.namespace_index
    device = config.devices[0]
    web_port = running.web.port if running.web is not None else None
    lines = [
        "",
        f"Uvelka demo: {len(config.devices)} simulated pumps, {speedup:g} simulated seconds "
        "per second (bearings wear visibly within minutes)",
        f"  OPC UA endpoint : {running.server.endpoint_url} (no security, anonymous)",
        f"  namespace       : {config.opcua.namespace} (ns={ns})",
        f"  browse          : Objects/{config.gateway.name}/Devices/<pump>/<tag>",
        f"  watch           : ns={ns};s={device.name}.vibration_rms, "
        f"ns={ns};s={device.name}.bearing_temperature",
        f"  status          : ns={ns};s={device.name}.Status.Connected",
        f"  write           : ns={ns};s={device.name}.speed_setpoint (rpm)",
        f"  asset health    : ns={ns};s={device.name}.AnomalyScore, "
        f"ns={ns};s={device.name}.Anomaly, ns={ns};s={device.name}.RemainingUsefulLife (h)",
        "  the plant       : pump1 healthy; pump2 has a bad bearing (its anomaly alarm "
        "comes within minutes: repair it",
        "                    on the Models page or with uvelka simulate --repair 2); pump3 "
        "wears towards its RUL alarm",
        f"  alarms          : {len(running.hub.alarms)} OPC UA conditions (subscribe to "
        f"events on the Server object), e.g. {device.name}_anomaly, {device.name}_rul",
        f"  MQTT            : {mqtt.url}"
        f"{' (embedded broker)' if embedded_broker else ''}; subscribe with",
        f"                    mosquitto_sub -h {mqtt.host} -p {mqtt.port} -v "
        f"-t '{mqtt.topic_prefix}/{config.gateway.name}/#'",
        f"  web page        : http://127.0.0.1:{web_port or DEMO_WEB.port}/ "
        f"(user admin, password {_demo_password()})",
        f"  Modbus devices  : {', '.join(d.url for d in config.devices)}",
        "Press Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)  # noqa: T201 - the demo talks to the person who started it
    await asyncio.Event().wait()
