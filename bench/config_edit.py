"""Live device edit benchmark (issue #5): what one edit from the web page costs a running
gateway, end to end and on its event loop.

Run by hand; prints a table (a column per configuration size, medians over its edits)
and one JSON line with every edit (definitions in bench/README.md):

    python bench/config_edit.py                        # 1x20, 10x100, 30x500; 3 edits each
    python bench/config_edit.py --sizes 30x500 --repeats 5
    python bench/config_edit.py --field unreachable    # devices on closed loopback ports
    python bench/config_edit.py --sizes 30x500 --edit device   # add a device, remove it, ...

For each size (devices x tags per device) a real `Gateway` serves the configuration from
a real TOML file, its devices polled from simulated Modbus TCP devices in a child
process (`fast_devices.py`). Each edit is one `DeviceEditor.apply_devices` call that
moves one tag of one device to another register (`--edit tag`: adds a tag to it and
removes it again in turn; `--edit device`: adds a copy of it and removes it in turn); a
10 ms ticker on the gateway's event loop measures how late the loop runs meanwhile. The
work folder is removed at the end (`--keep-files` keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import functools
import gc
import json
import logging
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from children import ChildProcesses, exit_code_of
from gateway_config import BenchDevice, device_names, render_config
from report import percentile
from tag_layout import register_count, tag_layout

from gateway.app import Gateway
from gateway.config import load_config
from gateway.config.document import ConfigDocument
from gateway.core.quality import Quality
from gateway.page.device_editor import DeviceEditor

logger = logging.getLogger("bench.config_edit")

FAST_DEVICES = Path(__file__).resolve().parent / "fast_devices.py"
TICK_S = 0.01
START_TIMEOUT_S = 120.0  # the gateway's start at 15,000 tags parses the file twice
MOVED_TAG = "t0000"  # a uint16 at register 0 in tag_layout: moved to the spare register
ADDED = "extra"  # the tag or device `--edit tag|device` adds and removes in turn


@dataclass
class Edit:
    """One apply_devices call."""

    total_s: float
    parts_s: dict[str, float]  # seconds in each part during the call (`timed_parts`)
    parts_cpu_s: dict[str, float]  # CPU seconds of the thread running each worker part
    lag_ticks: int
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    lag_max_ms: float | None
    cpu_s: float  # process CPU, every thread, from the call to the outcome
    gc_collections: int  # garbage collections (any generation, any thread) during the call
    gc_full: int  # of which full (generation 2)
    gc_max_ms: float | None  # the longest one: the GIL is held throughout
    gc_total_s: float
    good_again_s: float | None  # from the call until the moved tag was read Good again

    @property
    def rest_s(self) -> float:
        """What no timed part holds: hand-overs to and from the worker threads, waits for
        the GIL, the outcome's own steps on the loop."""
        plan_s = self.parts_s.get("plan", 0.0)  # validate runs inside plan
        timed = plan_s + sum(self.parts_s.get(p, 0.0) for p in ("with_devices", "save", "live"))
        return self.total_s - timed


@dataclass
class Quiet:
    """The event loop over a window without edits."""

    seconds: float
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    lag_max_ms: float | None
    gc_full: int  # full collections in the window
    gc_full_max_ms: float | None  # the longest of them

    def __str__(self) -> str:
        lags = "/".join(_number(v) for v in (self.lag_p50_ms, self.lag_p99_ms, self.lag_max_ms))
        return f"{lags} ({self.gc_full} full gc, {_number(self.gc_full_max_ms, 0)} ms)"


@dataclass
class SizeFigures:
    """Every edit of one configuration size, and the loop's lag before the first."""

    devices: int
    tags_per_device: int
    field: str
    file_kb: float = 0.0
    start_s: float = 0.0  # Gateway.serve() until started, then until every device was polled
    before: Quiet | None = None  # the loop before the first edit
    after: Quiet | None = None  # and after the last one
    # The process's resident memory (the gateway runs in it) before the first edit and at
    # the end of the window after the last: what an edit leaves held.
    rss_before_mib: float = 0.0
    rss_after_mib: float = 0.0
    edits: list[Edit] = field(default_factory=list)

    def median(self, value: Callable[[Edit], float | None]) -> float | None:
        values = [v for edit in self.edits if (v := value(edit)) is not None]
        return statistics.median(values) if values else None


class Ticker:
    """A task that sleeps TICK_S over and over and notes how late each wake-up was.

    Each sleep is armed from the previous wake-up, so one stall of the loop is one late
    sample (its length), not a burst of catch-up ticks.
    """

    def __init__(self) -> None:
        self.ticks: list[tuple[float, float]] = []  # (due, late by), loop.time() seconds

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            self.ticks.append((due, loop.time() - due))

    def woke_after(self, moment: float) -> bool:
        if not self.ticks:
            return False
        due, late = self.ticks[-1]
        return due + late > moment

    def lags_ms(self, start: float, end: float) -> list[float]:
        """Lateness, in ms, of every tick whose sleep overlapped [start, end]: a stall in
        the span shows in the tick that was waiting through it."""
        return [late * 1000 for due, late in self.ticks
                if due - TICK_S <= end and due + late >= start]


class GcWatch:
    """Every garbage collection while installed: when it started, how long it held the
    GIL (a collection never lets go of it), its generation."""

    def __init__(self) -> None:
        self.collections: list[tuple[float, float, int]] = []  # (start, s, generation)
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = time.monotonic()  # loop.time()'s clock, usable from any thread
        if phase == "start":
            self._started = now
        else:
            self.collections.append((self._started, now - self._started, info["generation"]))

    @contextmanager
    def installed(self) -> Iterator[GcWatch]:
        gc.callbacks.append(self)
        try:
            yield self
        finally:
            gc.callbacks.remove(self)

    def within(self, start: float, end: float) -> list[tuple[float, float, int]]:
        return [c for c in self.collections if start <= c[0] <= end]


@contextmanager
def timed_parts(spans: dict[str, float], cpu: dict[str, float]) -> Iterator[None]:
    """Add the wall time of each part of an edit to `spans` while inside, and the CPU
    time of the worker thread that runs it to `cpu` (not for the event loop's parts,
    whose thread runs the polling too): what a loaded machine's wall times blur.

    The methods are wrapped (and put back on leaving) rather than changed: the code
    measured is the gateway's own. The worker-thread parts run one at a time (the
    editor's lock), so adding into one dict is safe.
    """
    targets: list[tuple[type, str, str]] = [
        (ConfigDocument, "with_devices", "with_devices"),
        (ConfigDocument, "validate", "validate"),
        (ConfigDocument, "save", "save"),
        (DeviceEditor, "_plan", "plan"),
        (DeviceEditor, "_apply_live", "live"),
    ]
    originals = [(owner, name, owner.__dict__[name]) for owner, name, _part in targets]
    for owner, name, part in targets:
        setattr(owner, name, _timed(owner.__dict__[name], part, spans, cpu))
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def _timed(
    function: Callable[..., Any], part: str, spans: dict[str, float], cpu: dict[str, float]
) -> Any:
    def add(started: float) -> None:
        spans[part] = spans.get(part, 0.0) + time.perf_counter() - started

    if asyncio.iscoroutinefunction(function):
        @functools.wraps(function)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                add(started)

        return timed_async

    @functools.wraps(function)
    def timed_sync(*args: Any, **kwargs: Any) -> Any:
        started, thread_started = time.perf_counter(), time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            add(started)
            cpu[part] = cpu.get(part, 0.0) + time.thread_time() - thread_started

    return timed_sync


def _free_port() -> int:
    """A loopback port nobody listens on now: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _device_ports(
    args: argparse.Namespace, devices: int, tags: int, children: ChildProcesses
) -> list[int]:
    """Ports of `devices` simulated devices, or closed ports with `--field unreachable`."""
    if args.field == "unreachable":
        return [_free_port() for _ in range(devices)]
    ports: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()

    def on_line(line: str) -> None:
        message = json.loads(line)
        if "ports" in message and not ports.done():
            ports.set_result(message["ports"])

    # One tag more than configured: its registers are the spare the edit moves a tag to.
    child = await children.start(
        f"devices-{devices}x{tags}",
        [sys.executable, str(FAST_DEVICES), "--devices", str(devices), "--tags",
         str(tags + 1), "--change", str(args.change)],
        on_stdout=on_line, leaves_on_eof=True)
    try:
        return await asyncio.wait_for(asyncio.shield(ports), 30.0)
    except TimeoutError:
        child.check_running()
        raise


async def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.05)  # polling: nothing signals these conditions
    except TimeoutError:
        raise TimeoutError(f"gave up after {timeout_s:.0f} s waiting for {what}") from None


async def measure_size(
    args: argparse.Namespace, devices: int, tags: int, work_dir: Path
) -> SizeFigures:
    figures = SizeFigures(devices, tags, args.field)
    folder = work_dir / f"{devices}x{tags}"
    folder.mkdir(parents=True)
    children = ChildProcesses(folder)
    try:
        ports = await _device_ports(args, devices, tags, children)
        names = device_names(devices)
        path = folder / "gateway.toml"
        text = "# Written by bench/config_edit.py; edited by it while the gateway runs.\n"
        text += render_config(
            endpoint="opc.tcp://127.0.0.1:0/uvelka", namespace="urn:uvelka:bench",
            devices=[BenchDevice(n, p) for n, p in zip(names, ports, strict=True)],
            specs=tag_layout(tags), poll_interval_s=args.poll_interval,
            timeout_s=args.timeout, data_dir=folder / "data")
        path.write_text(text, encoding="utf-8")
        figures.file_kb = len(text.encode()) / 1000
        gateway = Gateway(load_config(path), config_file=path)
        serving = asyncio.create_task(gateway.serve(), name="gateway")
        try:
            await _edits(args, gateway, serving, names, tags, figures)
        finally:
            serving.cancel()
            await asyncio.wait([serving])
            if not serving.cancelled() and serving.exception() is not None:
                raise RuntimeError("the gateway failed") from serving.exception()
    finally:
        await children.aclose()
    return figures


async def _edits(
    args: argparse.Namespace, gateway: Gateway, serving: asyncio.Task[None],
    names: list[str], tags: int, figures: SizeFigures,
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await _wait_for(lambda: gateway.started.is_set() or serving.done(), START_TIMEOUT_S,
                    "the gateway to start")
    if serving.done():
        serving.result()  # raises what stopped it
    if args.field == "devices":
        await _wait_for(
            lambda: all(p.poll_count > 0 for p in gateway.running.fleet.pollers.values()),
            START_TIMEOUT_S, "every device to be polled once")
    figures.start_s = loop.time() - started
    logger.info("%dx%d: serving after %.1f s", figures.devices, tags, figures.start_s)
    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run(), name="ticker")
    with GcWatch().installed() as collections:
        try:
            await _measure(args, gateway, ticker, collections, names, tags, figures)
        finally:
            ticking.cancel()
            await asyncio.wait([ticking])


async def _measure(
    args: argparse.Namespace, gateway: Gateway, ticker: Ticker, collections: GcWatch,
    names: list[str], tags: int, figures: SizeFigures,
) -> None:
    figures.before = await _quiet(ticker, collections, args.settle)
    figures.rss_before_mib = _rss_mib()
    wanted = gateway.running.editor.devices()
    spare = register_count(tag_layout(tags))
    for repeat in range(args.repeats):
        _change(args.edit, wanted, spare)
        edit = await _one_edit(args, gateway, ticker, collections, copy.deepcopy(wanted),
                               names[0])
        figures.edits.append(edit)
        logger.info("%dx%d edit %d: %.3f s, loop lag p99 %s ms", figures.devices, tags,
                    repeat + 1, edit.total_s, _number(edit.lag_p99_ms))
        await asyncio.sleep(args.pause)
    figures.after = await _quiet(ticker, collections, args.after)
    figures.rss_after_mib = _rss_mib()


def _rss_mib() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def _change(kind: str, devices: list[dict[str, Any]], spare: int) -> None:
    """The next edit of `kind` to the first device: one change line each."""
    first = devices[0]
    if kind == "move":
        moved = next(t for t in first["tags"] if t["name"] == MOVED_TAG)
        moved["address"] = spare if moved["address"] == 0 else 0
    elif kind == "tag":
        if first["tags"][-1]["name"] == ADDED:
            first["tags"].pop()
        else:
            first["tags"].append({"name": ADDED, "table": "holding", "address": spare,
                                  "type": "uint16"})
    elif devices[-1]["name"] == ADDED:
        devices.pop()
    else:
        devices.append({**copy.deepcopy(first), "name": ADDED})


async def _quiet(ticker: Ticker, collections: GcWatch, seconds: float) -> Quiet:
    """The loop's lag and the full collections over `seconds` without an edit."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(seconds)
    end = loop.time()
    lags = ticker.lags_ms(start, end)
    full = [s * 1000 for _start, s, generation in collections.within(start, end)
            if generation == 2]
    return Quiet(end - start, percentile(lags, 50), percentile(lags, 99),
                 max(lags, default=None), len(full), max(full, default=None))


async def _one_edit(
    args: argparse.Namespace, gateway: Gateway, ticker: Ticker, collections: GcWatch,
    devices: list[dict[str, Any]], device: str,
) -> Edit:
    loop = asyncio.get_running_loop()
    editor = gateway.running.editor
    spans: dict[str, float] = {}
    parts_cpu: dict[str, float] = {}
    with timed_parts(spans, parts_cpu):
        cpu = time.process_time()
        called = datetime.now(UTC)
        start = loop.time()
        outcome = await editor.apply_devices(devices)
        end = loop.time()
        answered = datetime.now(UTC)
        cpu = time.process_time() - cpu
    if not outcome.applied or len(outcome.changes) != 1:
        raise RuntimeError(f"the edit did not apply as one change: {outcome}")
    # The tick that was asleep when the call returned tells how late the loop ran then.
    await _wait_for(lambda: ticker.woke_after(end), 10.0, "the next tick")
    lags = ticker.lags_ms(start, end)
    pauses = collections.within(start, end)
    good_again = None
    if args.field == "devices" and args.edit == "move":
        read = await _good_again(gateway, f"{device}.{MOVED_TAG}", answered, args)
        good_again = (read - called).total_seconds()
    return Edit(
        total_s=end - start,
        parts_s=spans,
        parts_cpu_s=parts_cpu,
        lag_ticks=len(lags),
        lag_p50_ms=percentile(lags, 50),
        lag_p99_ms=percentile(lags, 99),
        lag_max_ms=max(lags, default=None),
        cpu_s=cpu,
        gc_collections=len(pauses),
        gc_full=sum(1 for _start, _s, generation in pauses if generation == 2),
        gc_max_ms=max((s * 1000 for _start, s, _generation in pauses), default=None),
        gc_total_s=sum(s for _start, s, _generation in pauses),
        good_again_s=good_again,
    )


async def _good_again(gateway: Gateway, key: str, since: datetime,
                      args: argparse.Namespace) -> datetime:
    """The source time of the first Good read of `key` after `since`: the restarted loop's."""
    read: list[datetime] = []

    def read_again() -> bool:
        sample = gateway.running.cache.latest(key)
        if sample is not None and sample.quality is Quality.GOOD and sample.source_time > since:
            read.append(sample.source_time)
        return bool(read)

    await _wait_for(read_again, 3 * args.poll_interval + 10.0, f"{key} read Good again")
    return read[0]


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(sizes: Sequence[SizeFigures]) -> str:
    """Medians over the edits of each size, one column per size."""
    rows: list[tuple[str, Callable[[SizeFigures], str]]] = [
        ("devices x tags", lambda s: f"{s.devices} x {s.tags_per_device}"),
        ("file (kB)", lambda s: _number(s.file_kb, 0)),
        ("start until polled (s)", lambda s: _number(s.start_s)),
        ("no edit, before: lag p50/p99/max ms", lambda s: str(s.before)),
        ("no edit, after", lambda s: str(s.after)),
        ("RSS before the edits / after (MiB)",
         lambda s: f"{s.rss_before_mib:.1f} / {s.rss_after_mib:.1f}"),
        ("edits", lambda s: str(len(s.edits))),
        ("apply_devices (s)", lambda s: _number(s.median(lambda e: e.total_s), 3)),
        ("  with_devices (wall / CPU)", lambda s: _part(s, "with_devices")),
        ("  plan, incl. validate (wall / CPU)", lambda s: _part(s, "plan")),
        ("    validate (wall / CPU)", lambda s: _part(s, "validate")),
        ("  save (wall / CPU)", lambda s: _part(s, "save")),
        ("  live apply", lambda s: _part(s, "live")),
        ("  rest (hand-overs, GIL)", lambda s: _number(s.median(lambda e: e.rest_s), 3)),
        ("CPU during the call (s)", lambda s: _number(s.median(lambda e: e.cpu_s), 3)),
        ("gc runs / full", lambda s: f"{_number(s.median(lambda e: e.gc_collections), 0)}"
                                     f" / {_number(s.median(lambda e: e.gc_full), 0)}"),
        ("gc longest / total (ms)", lambda s: f"{_number(s.median(lambda e: e.gc_max_ms))}"
         f" / {_number(s.median(lambda e: e.gc_total_s * 1000))}"),
        ("loop lag p50 (ms)", lambda s: _number(s.median(lambda e: e.lag_p50_ms))),
        ("loop lag p99 (ms)", lambda s: _number(s.median(lambda e: e.lag_p99_ms))),
        ("loop lag max (ms)", lambda s: _number(s.median(lambda e: e.lag_max_ms))),
        ("ticks during the call", lambda s: _number(s.median(lambda e: e.lag_ticks), 0)),
        ("moved tag Good again (s)", lambda s: _number(s.median(lambda e: e.good_again_s), 2)),
        ("apply_devices each edit (s)", lambda s: " ".join(f"{e.total_s:.3f}" for e in s.edits)),
        ("with_devices CPU each edit (s)", lambda s: " ".join(
            f"{e.parts_cpu_s.get('with_devices', 0.0):.3f}" for e in s.edits)),
        ("loop lag max each edit (ms)", lambda s: " ".join(_number(e.lag_max_ms)
                                                           for e in s.edits)),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["medians over the edits of each size"]
    for name, cell in rows:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{cell(s):>22}" for s in sizes))
    return "\n".join(lines)


def _part(size: SizeFigures, part: str) -> str:
    wall = _number(size.median(lambda e: e.parts_s.get(part, 0.0)), 3)
    if part == "live":  # on the event loop: its thread's CPU is the polling's too
        return wall
    return f"{wall} / {_number(size.median(lambda e: e.parts_cpu_s.get(part, 0.0)), 3)}"


def as_json(args: argparse.Namespace, sizes: Sequence[SizeFigures]) -> str:
    return json.dumps({
        "bench": "uvelka-config-edit",
        "field": args.field,
        "edit": args.edit,
        "poll_interval_s": args.poll_interval,
        "sizes": [asdict(size) for size in sizes],
    })


async def _bench(args: argparse.Namespace, work_dir: Path) -> int:
    sizes = []
    for devices, tags in args.sizes:
        sizes.append(await measure_size(args, devices, tags, work_dir))
    print(table(sizes))
    print(as_json(args, sizes))
    return 0


def _size(text: str) -> tuple[int, int]:
    devices, _, tags = text.partition("x")
    try:
        size = int(devices), int(tags)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not DEVICESxTAGS") from None
    if size[0] < 1 or size[1] < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1 device of 2 tags")
    return size


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=_size, nargs="+",
                        default=[(1, 20), (10, 100), (30, 500)],
                        help="devices x tags per device (default: 1x20 10x100 30x500)")
    parser.add_argument("--repeats", type=int, default=3, help="edits per size")
    parser.add_argument("--field", choices=("devices", "unreachable"), default="devices",
                        help="simulated devices in a child process, or closed loopback "
                             "ports (the loops only retry)")
    parser.add_argument("--edit", choices=("move", "tag", "device"), default="move",
                        help="each edit moves a tag of the first device to another "
                             "register; or adds a tag to it, then removes it, in turn; or "
                             "adds a copy of it, then removes it, in turn")
    parser.add_argument("--change", type=float, default=0.1,
                        help="fraction of each simulated device's tags changed per second")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="s")
    parser.add_argument("--timeout", type=float, default=1.0, help="Modbus timeout, s")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="s of idle loop lag measured before the first edit")
    parser.add_argument("--pause", type=float, default=2.0, help="s between edits")
    parser.add_argument("--after", type=float, default=10.0,
                        help="s of loop lag measured after the last edit")
    parser.add_argument("--keep-files", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="the gateway's INFO logs too")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logger.setLevel(logging.INFO)
    if args.verbose:
        logging.getLogger("gateway").setLevel(logging.INFO)
    work_dir = Path(tempfile.mkdtemp(prefix="uvelka-bench-config-edit-"))

    def cleanup(finished: bool) -> None:
        if args.keep_files or not finished:
            logger.info("files kept in %s", work_dir)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)

    return exit_code_of(_bench(args, work_dir), cleanup)


if __name__ == "__main__":
    sys.exit(main())
