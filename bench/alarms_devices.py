"""Simulated Modbus TCP devices whose input registers the alarm benchmark sets.

Each device listens on its own port on 127.0.0.1 (port 0: the kernel picks) and holds
float32 signals (ABCD, two input registers each, from address 0). pyModbusTCP's threaded
server keeps the devices off the gateway's cores as far as a device can be.

Protocol with the parent (`bench/alarms.py`): one JSON line on stdout once every device
listens, `{"ports": [...]}`; then, one JSON line per command on stdin,
`{"device": 3, "values": [150.0, 4.0]}` sets device 3's signals. The process ends when
its stdin closes (the parent went away) or on SIGTERM/SIGINT.

    python bench/alarms_devices.py --devices 20 --signals 2
"""

from __future__ import annotations

import argparse
import json
import signal
import struct
import sys
from types import FrameType

from pyModbusTCP.server import DataBank, ModbusServer

WORDS_PER_SIGNAL = 2  # float32


def float_words(values: list[float]) -> list[int]:
    """float32 values as big-endian register words (ABCD, the Modbus default)."""
    packed = struct.pack(f">{len(values)}f", *values)
    return list(struct.unpack(f">{2 * len(values)}H", packed))


def _start(signals: int, host: str) -> tuple[DataBank, ModbusServer, int]:
    # Only the input table is used: the 64 k default of every table costs ~2 MB a device.
    bank = DataBank(coils_size=0, d_inputs_size=0, h_regs_size=0,
                    i_regs_size=WORDS_PER_SIGNAL * signals)
    server = ModbusServer(host=host, port=0, no_block=True, data_bank=bank)
    server.start()
    # pyModbusTCP 0.3 has no public accessor for the bound port of a port-0 server.
    return bank, server, int(server._service.server_address[1])


def _command(line: str, signals: int) -> tuple[int, list[int]]:
    """The device index and register words of one command line."""
    command = json.loads(line)
    values = [float(v) for v in command["values"]]
    if len(values) != signals:
        raise ValueError(f"expected {signals} values, got {len(values)}: {line!r}")
    return int(command["device"]), float_words(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--signals", type=int, required=True, help="float32 signals a device")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    if args.devices < 1 or args.signals < 1:
        parser.error("need --devices >= 1 and --signals >= 1")

    started = [_start(args.signals, args.host) for _ in range(args.devices)]
    banks = [bank for bank, _, _ in started]

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        # Leaves the blocking read below; the servers' threads are daemons and die with us.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        print(json.dumps({"ports": [port for _, _, port in started]}), flush=True)
    except BrokenPipeError:
        return 0  # the parent is gone already
    for line in sys.stdin:
        if line.strip():
            device, words = _command(line, args.signals)
            # One call, so one lock of the data bank: a read never sees half a command.
            banks[device].set_input_registers(0, words)
    return 0


if __name__ == "__main__":
    sys.exit(main())
