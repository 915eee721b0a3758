"""What the validator accepts, the gateway starts (issue #17): a configuration at the edges
of every rule runs against real peers, and inputs that used to pass the check and then
crash the start or the first poll are refused by the same validator.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asyncua import ua

from gateway.config import load_config, validate_text
from tests.fixtures.gateway import has_status, node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT

MAX = "1.7976931348623157e308"  # the largest finite float: valid, if rarely meant
LABEL_63 = "a" * 63
TAG = """
  [[devices.tags]]
  name = "v"
  table = "holding"
  address = 0
  type = "uint16"
"""

EDGES = f"""\
[gateway]
name = "edge"
data_dir = "{{data_dir}}"

[opcua]
endpoint = "{LOOPBACK_ENDPOINT}"
security = ["None"]
anonymous = true

[[devices]]
name = "live"
url = "{{live_url}}"
poll_interval = 0.1
stale_after = 1e300

  [[devices.tags]]
  name = "wide"
  table = "holding"
  address = 0
  type = "int16"
  scale = -{MAX}
  offset = {MAX}
  range = [-{MAX}, {MAX}]
  deadband = {MAX}
  writable = true

  [[devices.tags]]
  name = "tiny"
  table = "holding"
  address = 1
  type = "int16"
  scale = 5e-324
  writable = true

# Hosts that are valid names but resolve nowhere: the link is down, nothing crashes.
[[devices]]
name = "idn"
url = "modbus-tcp://pumpe-süd.invalid"
poll_interval = 0.1
{TAG}
[[devices]]
name = "fqdn"
url = "modbus-tcp://plc1.invalid."
poll_interval = 0.1
stale_after = 1e300
{TAG}
[[devices]]
name = "label_63"
url = "modbus-tcp://{LABEL_63}.invalid:65535"
poll_interval = 0.1
{TAG}
# Units at the ends of their ranges: 255 over TCP, 247 on an RTU line.
[[devices]]
name = "unit_255"
url = "{{live_url}}"
unit_id = 255
poll_interval = 0.1
timeout = 0.2
{TAG}
[[devices]]
name = "rtu_247"
url = "{{rtu_url}}"
unit_id = 247
poll_interval = 0.1
timeout = 0.2
{TAG}
[[alarms]]
name = "edge_high"
source = "live.wide"
condition = "above"
limit = {MAX}
hysteresis = {MAX}
on_delay = 86400
off_delay = 86400
severity = 1000

[[alarms]]
name = "edge_low"
source = "live.tiny"
condition = "below"
limit = -{MAX}

[history]
retention = 31622400
"""


async def test_a_configuration_at_the_edges_starts_and_keeps_running(
    tmp_path: Path, modbus_tcp_server: PymodbusServer, rtu_over_tcp_server: PymodbusServer
) -> None:
    text = EDGES.format(data_dir=tmp_path / "var", live_url=modbus_tcp_server.url,
                        rtu_url=rtu_over_tcp_server.url)
    file = tmp_path / "gateway.toml"
    file.write_text(text, encoding="utf-8")
    config, problems = validate_text(text, "gateway.toml")
    assert [str(problem) for problem in problems] == []
    assert config is not None
    assert load_config(file) == config  # what start loads is what the check accepted

    async with running(config) as (gateway, client):
        node = node_of(gateway, client)
        value = await wait_value(node("live.wide"), has_status(ua.StatusCodes.Good), "wide")
        assert value.Value.Value == float(MAX)  # 0 * scale + offset
        # A write at the scale's edge is refused as out of range, not a crash.
        with pytest.raises(ua.UaStatusCodeError) as refused:
            await node("live.tiny").write_value(ua.Variant(1e10, ua.VariantType.Double))
        assert refused.value.code == ua.StatusCodes.BadOutOfRange
        failing = ("idn", "fqdn", "label_63", "unit_255", "rtu_247")
        pollers = gateway.running.fleet.pollers
        await wait_until(lambda: all(pollers[name].error_count >= 2 for name in failing),
                         15.0, "every unreachable device to fail twice")
        # Still serving: the failures stayed inside their own devices.
        assert (await node("live.wide").read_data_value()).StatusCode.is_good()
        assert gateway.running.fleet.pollers["live"].connected


# Inputs that passed the check on the code before issue #17 and then crashed the start or
# the first poll: the validator now refuses each, so the gateway never meets them.
CRASHED = {
    "alarm limit nan": ('[[alarms]]\nname = "a"\nsource = "d.t"\ncondition = "above"\n'
                        "limit = nan\n", "alarms[0].limit: must be a finite number (got nan)"),
    "alarm hysteresis inf": ('[[alarms]]\nname = "a"\nsource = "d.t"\ncondition = "above"\n'
                             "limit = 1.0\nhysteresis = inf\n",
                             "alarms[0].hysteresis: must be a finite number (got inf)"),
    "empty host label": ('[[devices]]\nname = "e"\nurl = "modbus-tcp://plc1..plant.local"\n',
                         "devices[1].url: 'modbus-tcp://plc1..plant.local': host "
                             "'plc1..plant.local' has an empty label: two dots in a row, or a dot "
                             "at the start; expected modbus-tcp://host[:port]"),
    "endpoint port 70000": ('[opcua]\nendpoint = "opc.tcp://127.0.0.1:70000/u"\n',
                            "opcua.endpoint: port must be a number from 0 to 65535 "
                            "(got 'opc.tcp://127.0.0.1:70000/u')"),
}
BASE = """\
[[devices]]
name = "d"
url = "modbus-tcp://127.0.0.1"
[[devices.tags]]
name = "t"
table = "holding"
address = 0
type = "int16"
"""


@pytest.mark.parametrize("case", sorted(CRASHED))
def test_what_crashed_the_start_is_refused_by_the_check(case: str) -> None:
    extra, line = CRASHED[case]
    config, problems = validate_text(BASE + extra, "gateway.toml")
    assert config is None
    assert [str(problem) for problem in problems] == [f"gateway.toml: {line}"]
