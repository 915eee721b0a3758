"""The demo behaves like a plant (issue #11): its plant and configuration, run four times
faster than `uvelka demo` runs them. The healthy pump raises nothing; the pump with a bad
bearing raises its anomaly alarm, which clears after the simulated repair that
`uvelka simulate --repair 2` sends; asserted through the alarms and over OPC UA.

Its first two pumps only: a pump step costs 20-50 us of Python, and three pumps at a
higher speed-up took the loaded test machine's core from the gateway sharing the loop."""

from __future__ import annotations

from pathlib import Path

from drivers.modbus.simulator import PlantSimulator, SimulatorOptions
from drivers.plant.demo import DEMO_SCENARIOS
from gateway.cli.demo import DEMO_SPEEDUP, demo_config
from gateway.cli.simulate import repair_pump
from gateway.config.model import GatewayConfig
from tests.fixtures.gateway import node_of, running, wait_value
from tests.fixtures.modbus import wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT

SPEEDUP = 4 * DEMO_SPEEDUP  # a simulated minute, one row of the models, every 0.25 s
PUMPS = 2
# In simulated minutes (rows): the bad bearing's defect shows after about 40 and the pump
# trips after about 140-180 (drivers/plant/demo.py); the anomaly clears about 30 rows after
# a repair (the 15-row window, then the model's hold of 20).
WAIT_S = 60.0
# The first start of a data_dir builds asyncua's standard nodes' cache: 5-20 s on the loaded
# test machine with the plant stepping in the same loop (tests/fixtures/gateway.py's default
# is 15).
START_S = 90.0


def plant_config(ports: list[int], data_dir: Path) -> GatewayConfig:
    """The demo's configuration at SPEEDUP, its first pumps polled on `ports`."""
    demo = demo_config(SPEEDUP)
    devices = [
        device.model_copy(update={"url": f"modbus-tcp://127.0.0.1:{port}"})
        for device, port in zip(demo.devices[:PUMPS], ports, strict=True)
    ]
    return demo.model_copy(update={
        "gateway": demo.gateway.model_copy(update={"data_dir": data_dir}),
        "opcua": demo.opcua.model_copy(update={"endpoint": LOOPBACK_ENDPOINT}),
        "history": demo.history.model_copy(update={"enabled": False}),
        "devices": devices,
        "assets": demo.assets[:PUMPS],
    })


def test_the_demo_scales_its_pace_with_the_speedup() -> None:
    at_demo, faster = demo_config(), demo_config(SPEEDUP)
    assert [d.poll_interval for d in at_demo.devices] == [1.0] * 3
    assert [d.poll_interval for d in faster.devices] == [0.25] * 3
    assert [a.interval for a in faster.assets] == [0.25] * 3


async def test_healthy_pump_stays_quiet_and_a_repair_clears_the_bad_bearings_alarm(
    tmp_path: Path,
) -> None:
    options = SimulatorOptions(devices=PUMPS, base_port=0, seed=0, speedup=SPEEDUP,
                               scenarios=DEMO_SCENARIOS)
    async with PlantSimulator(options) as plant:
        config = plant_config(plant.ports, tmp_path / "var")
        async with running(config, start_s=START_S) as (gateway, client):
            hub = gateway.running.hub
            healthy = [hub.alarms["pump1_anomaly"], hub.alarms["pump1_rul"]]
            faulty = hub.alarms["pump2_anomaly"]
            node = node_of(gateway, client)
            threshold = await wait_value(node("pump2.AnomalyThreshold"),
                                         lambda dv: dv.StatusCode.is_good(), "the threshold")

            await wait_until(lambda: faulty.active, WAIT_S, "pump2's anomaly alarm")
            assert not plant.pump(1).reading.tripped  # flagged before the bearing fails
            score = await node("pump2.AnomalyScore").read_value()
            assert score > threshold.Value.Value
            assert await node("pump2.Anomaly").read_value() is True

            await repair_pump("127.0.0.1", plant.ports[1])
            await wait_until(lambda: plant.pump(1).wear < 0.05, WAIT_S, "the new bearing")
            await wait_until(lambda: not faulty.active, WAIT_S, "pump2's alarm to clear")
            await wait_value(node("pump2.Anomaly"), lambda dv: dv.Value.Value is False,
                             "pump2's Anomaly over OPC UA")

            # The healthy pump scored all along and never changed state.
            assert await node("pump1.Anomaly").read_value() is False
            assert [alarm.last_event for alarm in healthy] == [None, None]
            assert not any(alarm.active for alarm in healthy)
