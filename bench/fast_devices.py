"""Cheap simulated Modbus TCP devices for the benchmark, several per process.

pyModbusTCP's threaded server costs about a quarter of pymodbus's per request, so the
devices leave the cores to the gateway being measured. Each device listens on its own
port on 127.0.0.1 (the kernel picks it unless `--ports` names them), holds the map of
`tag_layout`, and changes a fraction of its tags per second, spread over ticks: every
change increments the least significant word of one tag, round-robin, so each change is
exactly one new tag value.

Protocol with the parent (`bench/poll.py`): one JSON line on stdout once every device
listens, `{"ports": [...], "registers": N}`; then one JSON line per second with the
number of tag changes made so far. The process ends when its stdin closes (the parent
went away) or on SIGTERM/SIGINT.

    python bench/fast_devices.py --devices 50 --tags 30 --change 1.0 --seed 0
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from types import FrameType

from pyModbusTCP.server import DataBank, ModbusServer
from tag_layout import TagSpec, initial_image, register_count, tag_layout

TICKS_PER_S = 10


class Device:
    """One simulated device: a data bank, its server, and its round-robin change cursor."""

    def __init__(self, specs: list[TagSpec], seed: int, host: str, port: int) -> None:
        self.specs = specs
        self.image = initial_image(specs, seed)
        # Only the holding table is used: the 64 k default of every table would cost
        # ~2 MB per device, 1 GB for the 500-device scenario.
        self.bank = DataBank(coils_size=0, d_inputs_size=0, i_regs_size=0,
                             h_regs_size=register_count(specs))
        self.bank.set_holding_registers(0, self.image)
        self.server = ModbusServer(host=host, port=port, no_block=True, data_bank=self.bank)
        self.cursor = (seed * 97) % len(specs)
        self.owed = 0.0
        self.changes = 0

    def start(self) -> int:
        """Listen; returns the port the kernel gave."""
        self.server.start()
        # pyModbusTCP 0.3 has no public accessor for the bound port of a port-0 server.
        return int(self.server._service.server_address[1])

    def tick(self, per_tick: float) -> None:
        """Change the next `per_tick` tags (carrying the fraction) and publish the image."""
        self.owed += per_tick
        due = int(self.owed)
        if due == 0:
            return
        self.owed -= due
        count = len(self.specs)
        for _ in range(due):
            address = self.specs[self.cursor].changing_address
            self.image[address] = (self.image[address] + 1) & 0xFFFF
            self.cursor = (self.cursor + 1) % count
        self.changes += due
        self.bank.set_holding_registers(0, self.image)


def _change_loop(devices: list[Device], change: float, stop: threading.Event) -> None:
    """Tick every device on a fixed schedule until `stop` is set."""
    per_tick = change * len(devices[0].specs) / TICKS_PER_S
    period = 1.0 / TICKS_PER_S
    next_tick = time.monotonic()
    while not stop.is_set():
        for device in devices:
            device.tick(per_tick)
        next_tick += period
        # After a stall (a loaded machine) skip missed ticks instead of bursting.
        next_tick = max(next_tick, time.monotonic())
        stop.wait(next_tick - time.monotonic())


def _watch_stdin(stop: threading.Event) -> None:
    """The parent closes our stdin (or dies): time to go."""
    sys.stdin.read()
    stop.set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--tags", type=int, required=True, help="tags per device")
    parser.add_argument("--change", type=float, required=True,
                        help="fraction of each device's tags changed per second (0..1)")
    parser.add_argument("--seed", type=int, default=0, help="first device's seed")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", type=lambda text: [int(p) for p in text.split(",")],
                        help="comma-separated, one per device (default: the kernel picks); "
                             "bench/soak.py restarts a device on the port it had")
    args = parser.parse_args()
    if not (args.devices > 0 and args.tags > 0 and 0.0 <= args.change <= 1.0):
        parser.error("need --devices > 0, --tags > 0 and 0 <= --change <= 1")
    wanted = args.ports or [0] * args.devices
    if len(wanted) != args.devices:
        parser.error(f"--ports names {len(wanted)} ports for {args.devices} devices")

    specs = tag_layout(args.tags)
    devices = [Device(specs, args.seed + i, args.host, port) for i, port in enumerate(wanted)]
    ports = [device.start() for device in devices]

    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
    changer = threading.Thread(target=_change_loop, args=(devices, args.change, stop))
    changer.start()

    try:
        print(json.dumps({"ports": ports, "registers": register_count(specs)}), flush=True)
        while not stop.wait(1.0):
            print(json.dumps({"changes": sum(d.changes for d in devices)}), flush=True)
    except BrokenPipeError:
        pass  # the parent is gone: same as a closed stdin
    finally:
        stop.set()
        changer.join()
    # The servers' threads are daemons (pyModbusTCP sets daemon_threads): leaving main
    # closes every socket at once, where stop() would wait ~0.5 s per server in turn.
    return 0


if __name__ == "__main__":
    sys.exit(main())
